package localgateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/localgateway"
)

// idPattern is the shape of API Gateway's connection, request and message
// ids.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{15}=$`)

// recorder is a handler that records the events it gets. connect and
// message, when set, answer $connect and $default.
type recorder struct {
	connect func(ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)
	message func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) error

	mu  sync.Mutex
	evs []events.APIGatewayWebsocketProxyRequest
	// recorded, when not nil, is closed at the next event: see wait.
	recorded chan struct{}
}

func (rec *recorder) handle(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rec.mu.Lock()
	rec.evs = append(rec.evs, ev)
	if rec.recorded != nil {
		close(rec.recorded)
		rec.recorded = nil
	}
	rec.mu.Unlock()
	switch ev.RequestContext.EventType {
	case "CONNECT":
		if rec.connect != nil {
			return rec.connect(ev)
		}
		resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
		if p := ev.Headers["Sec-WebSocket-Protocol"]; p != "" {
			// Accept the first subprotocol offered, as servers do.
			first, _, _ := strings.Cut(p, ",")
			resp.Headers = map[string]string{"Sec-WebSocket-Protocol": strings.TrimSpace(first)}
		}
		return resp, nil
	case "MESSAGE":
		if rec.message != nil {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, rec.message(ctx, ev)
		}
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

// events returns the recorded events of a type ("" for all) and connection
// ("" for all).
func (rec *recorder) events(eventType, connectionID string) []events.APIGatewayWebsocketProxyRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []events.APIGatewayWebsocketProxyRequest
	for _, ev := range rec.evs {
		if (eventType == "" || ev.RequestContext.EventType == eventType) &&
			(connectionID == "" || ev.RequestContext.ConnectionID == connectionID) {
			out = append(out, ev)
		}
	}
	return out
}

// wait waits for n events of a type and connection and returns them,
// looking again at each event; it fails the test after 10 seconds.
func (rec *recorder) wait(t *testing.T, eventType, connectionID string, n int) []events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		rec.mu.Lock()
		if rec.recorded == nil {
			rec.recorded = make(chan struct{})
		}
		recorded := rec.recorded
		rec.mu.Unlock()
		if evs := rec.events(eventType, connectionID); len(evs) >= n {
			return evs
		}
		select {
		case <-recorded:
		case <-timeout:
			t.Fatalf("timed out waiting for %d %s event(s) of %q", n, eventType, connectionID)
		}
	}
}

// connectionID returns the id of the connection whose handshake carried
// X-Test: name.
func (rec *recorder) connectionID(t *testing.T, name string) string {
	t.Helper()
	for _, ev := range rec.events("CONNECT", "") {
		if ev.Headers["X-Test"] == name {
			return ev.RequestContext.ConnectionID
		}
	}
	t.Fatalf("no $connect with X-Test %q", name)
	return ""
}

// start serves a gateway with opts (Handler defaulting to rec.handle) on a
// test server; both are shut down when the test ends.
func start(t *testing.T, rec *recorder, opts localgateway.Options) (*localgateway.Gateway, *httptest.Server) {
	t.Helper()
	if opts.Handler == nil {
		opts.Handler = rec.handle
	}
	g, err := localgateway.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
	})
	return g, srv
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

// dial connects a client named name (sent as X-Test).
func dial(t *testing.T, url, name string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	if opts.HTTPHeader == nil {
		opts.HTTPHeader = http.Header{}
	}
	opts.HTTPHeader.Set("X-Test", name)
	c, _, err := websocket.Dial(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// closeOf reads until the connection closes and returns the close status
// the client received.
func closeOf(ctx context.Context, c *websocket.Conn) (websocket.CloseError, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		ce, ok := errors.AsType[websocket.CloseError](err)
		if !ok {
			return ce, fmt.Errorf("read: %w, want a close frame", err)
		}
		return ce, nil
	}
}

// readClose is closeOf for the test's goroutine.
func readClose(t *testing.T, c *websocket.Conn) websocket.CloseError {
	t.Helper()
	ce, err := closeOf(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return ce
}

// closeAsync reads c in the background until it closes, so that the
// gateway's close handshake completes while the test waits elsewhere.
func closeAsync(t *testing.T, c *websocket.Conn) <-chan websocket.CloseError {
	ch := make(chan websocket.CloseError, 1)
	go func() {
		ce, err := closeOf(context.Background(), c)
		if err != nil {
			t.Error(err)
		}
		ch <- ce
	}()
	return ch
}

func readText(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("message type %v, want text", typ)
	}
	return string(b)
}

func write(t *testing.T, c *websocket.Conn, typ websocket.MessageType, b []byte) {
	t.Helper()
	if err := c.Write(t.Context(), typ, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestNewRequiresHandler(t *testing.T) {
	if _, err := localgateway.New(localgateway.Options{}); !errors.Is(err, localgateway.ErrNoHandler) {
		t.Fatalf("New without handler: %v, want ErrNoHandler", err)
	}
	if _, err := localgateway.New(localgateway.Options{Handler: (&recorder{}).handle, Path: "graphql"}); err == nil {
		t.Fatal("New accepted a path without /")
	}
}

func TestConnectEvent(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 31, 17, 250e6, time.UTC)
	rec := &recorder{}
	g, srv := start(t, rec, localgateway.Options{Now: func() time.Time { return now }, Stage: "dev", APIID: "abc123defg"})
	host := strings.TrimPrefix(srv.URL, "http://")
	header := http.Header{"User-Agent": {"test-agent/1.0"}, "X-Multi": {"a", "b"}, "X-Forwarded-For": {"203.0.113.9"}}
	c := dial(t, wsURL(srv, "/graphql?room=lobby&tag=x&tag=y"), "one", &websocket.DialOptions{
		HTTPHeader: header, Subprotocols: []string{"graphql-transport-ws"},
	})
	if got := c.Subprotocol(); got != "graphql-transport-ws" {
		t.Errorf("subprotocol %q, want graphql-transport-ws", got)
	}
	ev := rec.wait(t, "CONNECT", "", 1)[0]
	rc := ev.RequestContext

	checks := []struct {
		name      string
		got, want any
	}{
		{"routeKey", rc.RouteKey, "$connect"},
		{"eventType", rc.EventType, "CONNECT"},
		{"messageDirection", rc.MessageDirection, "IN"},
		{"stage", rc.Stage, "dev"},
		{"apiId", rc.APIID, "abc123defg"},
		{"domainName", rc.DomainName, host},
		{"requestTime", rc.RequestTime, "02/Dec/2026:00:31:17 +0000"},
		{"connectedAt", rc.ConnectedAt, now.UnixMilli()},
		{"requestTimeEpoch", rc.RequestTimeEpoch, now.UnixMilli()},
		{"extendedRequestId", rc.ExtendedRequestID, rc.RequestID},
		{"identity.sourceIp", rc.Identity.SourceIP, "127.0.0.1"},
		{"identity.userAgent", rc.Identity.UserAgent, "test-agent/1.0"},
		{"isBase64Encoded", ev.IsBase64Encoded, false},
		{"connections", fmt.Sprint(g.Connections()), fmt.Sprint([]string{rc.ConnectionID})},
		{"Gateway.Stage", g.Stage(), "dev"},
		{"Gateway.APIID", g.APIID(), "abc123defg"},
		{"Gateway.Path", g.Path(), "/graphql"},
		{"Host", ev.Headers["Host"], host},
		{"Sec-WebSocket-Version", ev.Headers["Sec-WebSocket-Version"], "13"},
		{"Sec-WebSocket-Protocol", ev.Headers["Sec-WebSocket-Protocol"], "graphql-transport-ws"},
		{"User-Agent", ev.Headers["User-Agent"], "test-agent/1.0"},
		{"X-Forwarded-For", ev.Headers["X-Forwarded-For"], "203.0.113.9, 127.0.0.1"},
		{"X-Forwarded-Port", ev.Headers["X-Forwarded-Port"], srv.URL[strings.LastIndex(srv.URL, ":")+1:]},
		{"X-Forwarded-Proto", ev.Headers["X-Forwarded-Proto"], "http"},
		{"X-Multi", ev.Headers["X-Multi"], "b"},
		{"multi X-Multi", fmt.Sprint(ev.MultiValueHeaders["X-Multi"]), "[a b]"},
		{"multi Host", fmt.Sprint(ev.MultiValueHeaders["Host"]), "[" + host + "]"},
		{"query", fmt.Sprint(ev.QueryStringParameters), "map[room:lobby tag:y]"},
		{"multi query", fmt.Sprint(ev.MultiValueQueryStringParameters), "map[room:[lobby] tag:[x y]]"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, id := range []string{rc.ConnectionID, rc.RequestID} {
		if !idPattern.MatchString(id) {
			t.Errorf("id %q is not shaped like API Gateway's", id)
		}
	}
	if !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`).MatchString(ev.Headers["X-Amzn-Trace-Id"]) {
		t.Errorf("X-Amzn-Trace-Id = %q", ev.Headers["X-Amzn-Trace-Id"])
	}
	if k := ev.Headers["Sec-WebSocket-Key"]; k == "" {
		t.Error("no Sec-WebSocket-Key header")
	}
	for _, hop := range []string{"Connection", "Upgrade", "Sec-Websocket-Key"} {
		if _, ok := ev.Headers[hop]; ok {
			t.Errorf("header %s passed to $connect", hop)
		}
	}
	if len(ev.Headers) != len(ev.MultiValueHeaders) {
		t.Errorf("headers %v and multi-value headers %v differ", slices.Sorted(maps.Keys(ev.Headers)), slices.Sorted(maps.Keys(ev.MultiValueHeaders)))
	}
}

func TestConnectEventWithoutQuery(t *testing.T) {
	rec := &recorder{}
	_, srv := start(t, rec, localgateway.Options{})
	dial(t, wsURL(srv, "/graphql"), "one", nil)
	ev := rec.wait(t, "CONNECT", "", 1)[0]
	if ev.QueryStringParameters != nil || ev.MultiValueQueryStringParameters != nil {
		t.Errorf("query parameters %v %v, want nil", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
	}
}

// keyTree is the structure of a JSON document: its object keys, nested.
func keyTree(t *testing.T, v any) any {
	t.Helper()
	if b, ok := v.([]byte); ok {
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		v = doc
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, child := range v {
			out[k] = keyTree(t, child)
		}
		return out
	default:
		return nil
	}
}

// TestEventsMatchFixtures compares the JSON structure of the events with
// those API Gateway sent (testdata/events): the same keys, nested, with the
// same headers for $disconnect. The $connect fixture comes from an API with
// an authorizer, which the gateway does not emulate.
func TestEventsMatchFixtures(t *testing.T) {
	rec := &recorder{message: func(context.Context, events.APIGatewayWebsocketProxyRequest) error { return nil }}
	_, srv := start(t, rec, localgateway.Options{})
	c := dial(t, wsURL(srv, "/graphql?room=lobby"), "one", &websocket.DialOptions{
		Subprotocols:    []string{"graphql-transport-ws"},
		CompressionMode: websocket.CompressionContextTakeover,
		HTTPHeader:      http.Header{"Origin": {"https://chat.example.com"}, "User-Agent": {"Mozilla/5.0"}},
	})
	id := rec.connectionID(t, "one")
	write(t, c, websocket.MessageText, []byte(`{"type":"connection_init","payload":{}}`))
	rec.wait(t, "MESSAGE", id, 1)
	c.Close(websocket.StatusGoingAway, "Going away")
	rec.wait(t, "DISCONNECT", id, 1)

	for _, tc := range []struct {
		fixture, eventType string
		// ignore lists keys of requestContext or headers that only one
		// side has: the fixture's authorizer, and the headers only the
		// test's client sends (X-Test, and Accept-Encoding, added by Go's
		// HTTP client).
		ignore []string
	}{
		{"connect.json", "CONNECT", []string{"authorizer", "X-Test", "Accept-Encoding"}},
		{"message.json", "MESSAGE", nil},
		{"disconnect.json", "DISCONNECT", nil},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			raw, err := os.ReadFile("../testdata/events/" + tc.fixture)
			if err != nil {
				t.Fatal(err)
			}
			ours, err := json.Marshal(rec.events(tc.eventType, id)[0])
			if err != nil {
				t.Fatal(err)
			}
			want, got := keyTree(t, raw).(map[string]any), keyTree(t, ours).(map[string]any)
			for _, m := range []map[string]any{want, got} {
				for _, sub := range []string{"requestContext", "headers", "multiValueHeaders"} {
					if inner, ok := m[sub].(map[string]any); ok {
						for _, k := range tc.ignore {
							delete(inner, k)
						}
					}
				}
			}
			wb, _ := json.Marshal(want)
			gb, _ := json.Marshal(got)
			if !bytes.Equal(wb, gb) {
				t.Errorf("structure differs from API Gateway's:\n got %s\nwant %s", gb, wb)
			}
		})
	}
}

// handshake sends a WebSocket handshake offering protocols and returns the
// response; the connection is closed when the test ends.
func handshake(t *testing.T, srv *httptest.Server, protocols string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/graphql", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "q8Yu0nXdC7jKmS2vPbLc0w==")
	if protocols != "" {
		req.Header.Set("Sec-WebSocket-Protocol", protocols)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestSubprotocol(t *testing.T) {
	for _, tc := range []struct {
		name     string
		offered  []string
		returned string // the handler's Sec-WebSocket-Protocol
		want     string
		// fails: a client must refuse the handshake, whose response
		// carries the handler's subprotocol as API Gateway passes it.
		fails bool
	}{
		{name: "negotiated", offered: []string{"graphql-transport-ws"}, returned: "graphql-transport-ws", want: "graphql-transport-ws"},
		{name: "second offered", offered: []string{"a", "b"}, returned: "b", want: "b"},
		{name: "none", offered: nil, returned: "", want: ""},
		{name: "offered, none returned", offered: []string{"a"}, returned: "", want: ""},
		{name: "not offered", offered: []string{"a"}, returned: "x", fails: true},
		{name: "none offered, one returned", offered: nil, returned: "x", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{connect: func(events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
				if tc.returned != "" {
					resp.Headers = map[string]string{"sec-websocket-protocol": tc.returned}
				}
				return resp, nil
			}}
			_, srv := start(t, rec, localgateway.Options{})
			if tc.fails {
				resp := handshake(t, srv, strings.Join(tc.offered, ", "))
				if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Protocol") != tc.returned {
					t.Fatalf("handshake answered %d with subprotocol %q, want 101 with %q",
						resp.StatusCode, resp.Header.Get("Sec-WebSocket-Protocol"), tc.returned)
				}
				// The client refuses and hangs up: an abnormal closure.
				resp.Body.Close()
				ev := rec.wait(t, "DISCONNECT", "", 1)[0]
				if ev.RequestContext.DisconnectStatusCode != 1006 {
					t.Errorf("disconnect status %d, want 1006", ev.RequestContext.DisconnectStatusCode)
				}
				return
			}
			c, _, err := websocket.Dial(t.Context(), wsURL(srv, "/graphql"), &websocket.DialOptions{Subprotocols: tc.offered})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if got := c.Subprotocol(); got != tc.want {
				t.Errorf("subprotocol %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConnectRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		resp       events.APIGatewayProxyResponse
		err        error
		panics     bool
		wantStatus int
		wantBody   string
	}{
		{name: "401", resp: events.APIGatewayProxyResponse{StatusCode: 401, Body: "Unauthorized"}, wantStatus: 401, wantBody: "Unauthorized"},
		{name: "403 base64", resp: events.APIGatewayProxyResponse{StatusCode: 403, Body: base64.StdEncoding.EncodeToString([]byte("no")), IsBase64Encoded: true}, wantStatus: 403, wantBody: "no"},
		{name: "400", resp: events.APIGatewayProxyResponse{StatusCode: 400, Body: "unsupported WebSocket subprotocol"}, wantStatus: 400, wantBody: "unsupported WebSocket subprotocol"},
		{name: "302", resp: events.APIGatewayProxyResponse{StatusCode: 302}, wantStatus: 302},
		{name: "informational status", resp: events.APIGatewayProxyResponse{StatusCode: 101}, wantStatus: 500},
		{name: "handler error", err: errors.New("boom"), wantStatus: 500, wantBody: `{"message": "Internal server error"}`},
		{name: "handler panic", panics: true, wantStatus: 500, wantBody: `{"message": "Internal server error"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{connect: func(events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				if tc.panics {
					panic("boom")
				}
				return tc.resp, tc.err
			}}
			g, srv := start(t, rec, localgateway.Options{})
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			c, resp, err := websocket.Dial(t.Context(), wsURL(srv, "/graphql"), &websocket.DialOptions{HTTPClient: client})
			if err == nil {
				c.CloseNow()
				t.Fatal("handshake succeeded")
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			// The client library keeps the first 1024 bytes of the body.
			body, _ := io.ReadAll(resp.Body)
			if string(body) != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
			if n := len(rec.events("DISCONNECT", "")); n != 0 {
				t.Errorf("%d $disconnect for a refused connection", n)
			}
			if ids := g.Connections(); len(ids) != 0 {
				t.Errorf("connections %v after a refusal", ids)
			}
		})
	}
}

func TestMalformedHandshakeSkipsConnect(t *testing.T) {
	rec := &recorder{}
	_, srv := start(t, rec, localgateway.Options{})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "8")
	req.Header.Set("Sec-WebSocket-Key", "q8Yu0nXdC7jKmS2vPbLc0w==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
	if n := len(rec.events("", "")); n != 0 {
		t.Errorf("%d events for a malformed handshake", n)
	}
}

// TestMessagesInOrder sends 50 messages at once; the handler holds each
// until the test lets it go. In a synctest bubble, once every goroutine is
// blocked the gateway has read what it could: exactly one message, the
// next in order, is being handled.
func TestMessagesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 50
		var inFlight atomic.Int32
		var current atomic.Value // the body of the message being handled
		next := make(chan struct{})
		rec := &recorder{message: func(_ context.Context, ev events.APIGatewayWebsocketProxyRequest) error {
			inFlight.Add(1)
			current.Store(ev.Body)
			<-next
			inFlight.Add(-1)
			return nil
		}}
		_, srv, opts := startPipe(t, rec, localgateway.Options{})
		c := dial(t, srv.WebSocketURL, "one", opts)
		id := rec.connectionID(t, "one")
		go func() {
			for i := range n {
				if err := c.Write(t.Context(), websocket.MessageText, []byte(strconv.Itoa(i))); err != nil {
					t.Errorf("write %d: %v", i, err)
					return
				}
			}
		}()
		for i := range n {
			synctest.Wait()
			if k := inFlight.Load(); k != 1 || current.Load() != strconv.Itoa(i) {
				t.Errorf("%d messages handled at once, the last %v; want message %d alone", k, current.Load(), i)
				break
			}
			next <- struct{}{}
		}
		close(next) // lets the rest go, after a failure

		evs := rec.wait(t, "MESSAGE", id, n)
		seen := map[string]bool{}
		for i, ev := range evs {
			rc := ev.RequestContext
			if ev.Body != strconv.Itoa(i) {
				t.Fatalf("message %d has body %q: out of order", i, ev.Body)
			}
			msgID, _ := rc.MessageID.(string)
			if rc.RouteKey != "$default" || rc.EventType != "MESSAGE" || ev.IsBase64Encoded || ev.Headers != nil ||
				!idPattern.MatchString(msgID) || seen[msgID] || rc.ConnectionID != id || rc.MessageDirection != "IN" {
				t.Fatalf("message %d: unexpected event %+v", i, ev)
			}
			seen[msgID] = true
		}
	})
}

// TestConnectionsConcurrent shows that a slow handler of one connection does
// not hold up another: the first connection's handler waits for the second
// connection's message.
func TestConnectionsConcurrent(t *testing.T) {
	second := make(chan struct{})
	rec := &recorder{message: func(_ context.Context, ev events.APIGatewayWebsocketProxyRequest) error {
		switch ev.Body {
		case "first":
			select {
			case <-second:
			case <-time.After(10 * time.Second):
				return errors.New("the second connection's message never arrived")
			}
		case "second":
			close(second)
		}
		return nil
	}}
	_, srv := start(t, rec, localgateway.Options{})
	a := dial(t, wsURL(srv, "/graphql"), "a", nil)
	b := dial(t, wsURL(srv, "/graphql"), "b", nil)
	write(t, a, websocket.MessageText, []byte("first"))
	rec.wait(t, "MESSAGE", rec.connectionID(t, "a"), 1)
	write(t, b, websocket.MessageText, []byte("second"))
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second connection's message waited for the first's handler")
	}
}

func TestHandlerErrorSendsInternalServerError(t *testing.T) {
	rec := &recorder{message: func(context.Context, events.APIGatewayWebsocketProxyRequest) error { return errors.New("boom") }}
	_, srv := start(t, rec, localgateway.Options{})
	c := dial(t, wsURL(srv, "/graphql"), "one", nil)
	id := rec.connectionID(t, "one")
	write(t, c, websocket.MessageText, []byte("hi"))
	got := readText(t, c)
	ev := rec.wait(t, "MESSAGE", id, 1)[0]
	want := fmt.Sprintf(`{"message": "Internal server error", "connectionId":"%s", "requestId":"%s"}`, id, ev.RequestContext.RequestID)
	if got != want {
		t.Errorf("client got %s, want %s", got, want)
	}
}

func TestBinaryMessages(t *testing.T) {
	data := []byte{0xff, 0x00, 0x01}
	for _, tc := range []struct {
		name   string
		accept bool
	}{
		{"refused as by API Gateway", false},
		{"accepted", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			_, srv := start(t, rec, localgateway.Options{AcceptBinary: tc.accept})
			c := dial(t, wsURL(srv, "/graphql"), "one", nil)
			id := rec.connectionID(t, "one")
			write(t, c, websocket.MessageBinary, data)
			if !tc.accept {
				if ce := readClose(t, c); ce.Code != websocket.StatusUnsupportedData {
					t.Errorf("close %v, want 1003", ce)
				}
				ev := rec.wait(t, "DISCONNECT", id, 1)[0]
				if ev.RequestContext.DisconnectStatusCode != 1003 {
					t.Errorf("$disconnect status %d, want 1003", ev.RequestContext.DisconnectStatusCode)
				}
				if n := len(rec.events("MESSAGE", id)); n != 0 {
					t.Errorf("%d binary messages delivered", n)
				}
				return
			}
			ev := rec.wait(t, "MESSAGE", id, 1)[0]
			if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString(data) {
				t.Errorf("body %q base64 %v, want %q base64", ev.Body, ev.IsBase64Encoded, base64.StdEncoding.EncodeToString(data))
			}
		})
	}
}

func TestClientDisconnect(t *testing.T) {
	for _, tc := range []struct {
		name       string
		close      func(*websocket.Conn)
		wantCode   int64
		wantReason string
	}{
		{"normal", func(c *websocket.Conn) { c.Close(websocket.StatusNormalClosure, "bye") }, 1000, "bye"},
		{"going away", func(c *websocket.Conn) { c.Close(websocket.StatusGoingAway, "Going away") }, 1001, "Going away"},
		{"application code", func(c *websocket.Conn) { c.Close(4000, "custom") }, 4000, "custom"},
		{"no status code", func(c *websocket.Conn) { c.Close(websocket.StatusNoStatusRcvd, "") }, 1005, ""},
		{"abrupt drop", func(c *websocket.Conn) { c.CloseNow() }, 1006, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			g, srv := start(t, rec, localgateway.Options{})
			c := dial(t, wsURL(srv, "/graphql"), "one", nil)
			id := rec.connectionID(t, "one")
			tc.close(c)
			ev := rec.wait(t, "DISCONNECT", id, 1)[0]
			rc := ev.RequestContext
			if rc.DisconnectStatusCode != tc.wantCode || rc.DisconnectReason == nil || *rc.DisconnectReason != tc.wantReason {
				t.Errorf("$disconnect %d %v, want %d %q", rc.DisconnectStatusCode, rc.DisconnectReason, tc.wantCode, tc.wantReason)
			}
			if rc.RouteKey != "$disconnect" || rc.EventType != "DISCONNECT" || ev.Headers["Host"] != rc.DomainName {
				t.Errorf("unexpected $disconnect %+v", ev)
			}
			if err := g.Post(t.Context(), "", id, []byte("late")); !errors.Is(err, gateway.ErrGone) {
				t.Errorf("post after disconnect: %v, want ErrGone", err)
			}
			// Exactly once, also after a shutdown.
			if err := g.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := len(rec.events("DISCONNECT", id)); n != 1 {
				t.Errorf("%d $disconnect events, want 1", n)
			}
		})
	}
}

func TestServerClose(t *testing.T) {
	for _, tc := range []struct {
		name       string
		codeless   bool
		code       int
		reason     string
		wantCode   websocket.StatusCode
		wantReason string
		// the $disconnect event's status
		eventCode   int64
		eventReason string
	}{
		{name: "code and reason", code: 4401, reason: "Unauthorized", wantCode: 4401, wantReason: "Unauthorized", eventCode: 4401, eventReason: "Unauthorized"},
		{name: "normal", code: 1000, reason: "", wantCode: 1000, eventCode: 1000},
		{name: "long reason cut", code: 4400, reason: strings.Repeat("é", 100), wantCode: 4400, wantReason: strings.Repeat("é", 61), eventCode: 4400, eventReason: strings.Repeat("é", 61)},
		{name: "codeless", codeless: true, code: 4401, reason: "Unauthorized", wantCode: websocket.StatusNoStatusRcvd, eventCode: 1000, eventReason: "Connection Closed Normally"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			g, srv := start(t, rec, localgateway.Options{CodelessClose: tc.codeless})
			c := dial(t, wsURL(srv, "/graphql"), "one", nil)
			id := rec.connectionID(t, "one")
			if err := g.Close(t.Context(), "", id, tc.code, tc.reason); err != nil {
				t.Fatal(err)
			}
			if err := g.Post(t.Context(), "", id, []byte("late")); !errors.Is(err, gateway.ErrGone) {
				t.Errorf("post after close: %v, want ErrGone", err)
			}
			if ids := g.Connections(); len(ids) != 0 {
				t.Errorf("connections %v after close", ids)
			}
			if ce := readClose(t, c); ce.Code != tc.wantCode || ce.Reason != tc.wantReason {
				t.Errorf("client saw close %d %q, want %d %q", ce.Code, ce.Reason, tc.wantCode, tc.wantReason)
			}
			rc := rec.wait(t, "DISCONNECT", id, 1)[0].RequestContext
			if rc.DisconnectStatusCode != tc.eventCode || *rc.DisconnectReason != tc.eventReason {
				t.Errorf("$disconnect %d %q, want %d %q", rc.DisconnectStatusCode, *rc.DisconnectReason, tc.eventCode, tc.eventReason)
			}
			// Closing again, or an unknown connection, succeeds.
			if err := g.Close(t.Context(), "", id, 1000, ""); err != nil {
				t.Errorf("second close: %v", err)
			}
		})
	}
}

func TestCloseInvalidCode(t *testing.T) {
	rec := &recorder{}
	g, srv := start(t, rec, localgateway.Options{})
	dial(t, wsURL(srv, "/graphql"), "one", nil)
	id := rec.connectionID(t, "one")
	for _, code := range []int{0, 999, 1005, 1006, 1015, 2999, 5000} {
		if err := g.Close(t.Context(), "", id, code, ""); err == nil {
			t.Errorf("close with %d succeeded", code)
		}
	}
	if ids := g.Connections(); len(ids) != 1 {
		t.Errorf("connections %v, want the one still open", ids)
	}
}

func TestPostMessageTypes(t *testing.T) {
	rec := &recorder{}
	g, srv := start(t, rec, localgateway.Options{})
	c := dial(t, wsURL(srv, "/graphql"), "one", nil)
	id := rec.connectionID(t, "one")
	big := bytes.Repeat([]byte("x"), 100<<10)
	for _, tc := range []struct {
		name string
		data []byte
		typ  websocket.MessageType
	}{
		{"text", []byte(`{"type":"next"}`), websocket.MessageText},
		{"binary", []byte{0xff, 0xfe}, websocket.MessageBinary},
		{"fragmented", big, websocket.MessageText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := g.Post(t.Context(), "", id, tc.data); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.Read(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.typ || !bytes.Equal(got, tc.data) {
				t.Errorf("got %v message of %d bytes, want %v of %d", typ, len(got), tc.typ, len(tc.data))
			}
		})
	}
	if err := g.Post(t.Context(), "", id, make([]byte, 128<<10+1)); !errors.Is(err, gateway.ErrPayloadTooLarge) {
		t.Errorf("oversize post: %v, want ErrPayloadTooLarge", err)
	}
	if err := g.Post(t.Context(), "", "AAAAAAAAAAAAAAA=", []byte("x")); !errors.Is(err, gateway.ErrGone) {
		t.Errorf("post to an unknown connection: %v, want ErrGone", err)
	}
}

// sendFrames sends one message of size bytes in frames of at most frame
// bytes.
func sendFrames(t *testing.T, c *websocket.Conn, size, frame int) {
	t.Helper()
	w, err := c.Writer(t.Context(), websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("a"), size)
	for len(data) > 0 {
		n := min(len(data), frame)
		if _, err := w.Write(data[:n]); err != nil {
			return // the gateway may already have closed
		}
		data = data[n:]
	}
	w.Close()
}

func TestSizeLimits(t *testing.T) {
	const kib = 1 << 10
	for _, tc := range []struct {
		name        string
		size, frame int
		tooBig      bool
	}{
		{"128 KiB in 32 KiB frames", 128 * kib, 32 * kib, false},
		{"128 KiB + 1 in 32 KiB frames", 128*kib + 1, 32 * kib, true},
		{"one 32 KiB frame", 32 * kib, 32 * kib, false},
		{"one frame of 32 KiB + 1", 32*kib + 1, 64 * kib, true},
		{"one frame of 100 KiB", 100 * kib, 100 * kib, true},
		{"small frames", 64 * kib, 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			_, srv := start(t, rec, localgateway.Options{})
			c := dial(t, wsURL(srv, "/graphql"), "one", nil)
			id := rec.connectionID(t, "one")
			// A message before the offending one is still delivered.
			write(t, c, websocket.MessageText, []byte("before"))
			sendFrames(t, c, tc.size, tc.frame)
			if tc.tooBig {
				if ce := readClose(t, c); ce.Code != websocket.StatusMessageTooBig || ce.Reason != "Message too big" {
					t.Errorf("close %v, want 1009 Message too big", ce)
				}
				rc := rec.wait(t, "DISCONNECT", id, 1)[0].RequestContext
				if rc.DisconnectStatusCode != 1009 || *rc.DisconnectReason != "Message too big" {
					t.Errorf("$disconnect %d %q", rc.DisconnectStatusCode, *rc.DisconnectReason)
				}
				if evs := rec.events("MESSAGE", id); len(evs) != 1 || evs[0].Body != "before" {
					t.Errorf("messages %d, want only the one before", len(evs))
				}
				return
			}
			evs := rec.wait(t, "MESSAGE", id, 2)
			if len(evs[1].Body) != tc.size {
				t.Errorf("message of %d bytes, want %d", len(evs[1].Body), tc.size)
			}
		})
	}
}

func TestConfiguredSizeLimits(t *testing.T) {
	rec := &recorder{}
	_, srv := start(t, rec, localgateway.Options{MaxMessageBytes: 10, MaxFrameBytes: 4})
	c := dial(t, wsURL(srv, "/graphql"), "one", nil)
	id := rec.connectionID(t, "one")
	sendFrames(t, c, 10, 4)
	rec.wait(t, "MESSAGE", id, 1)
	sendFrames(t, c, 5, 5)
	if ce := readClose(t, c); ce.Code != websocket.StatusMessageTooBig {
		t.Errorf("close %v, want 1009", ce)
	}
}

func TestIdleTimeout(t *testing.T) {
	rec := &recorder{}
	_, srv := start(t, rec, localgateway.Options{IdleTimeout: 50 * time.Millisecond})
	c := dial(t, wsURL(srv, "/graphql"), "one", nil)
	id := rec.connectionID(t, "one")
	if ce := readClose(t, c); ce.Code != websocket.StatusGoingAway || ce.Reason != "Going away" {
		t.Errorf("close %v, want 1001 Going away", ce)
	}
	rc := rec.wait(t, "DISCONNECT", id, 1)[0].RequestContext
	if rc.DisconnectStatusCode != 1001 || *rc.DisconnectReason != "Going away" {
		t.Errorf("$disconnect %d %q, want 1001 Going away", rc.DisconnectStatusCode, *rc.DisconnectReason)
	}
}

// TestActivityDefersIdleTimeout keeps a connection busy for two idle
// timeouts with client messages, then two with posts, one every tenth of
// an idle timeout, then lets it idle: it must stay open while busy and
// close one idle timeout after the last message. On a synctest bubble's
// clock the pauses are exact, however busy the machine.
func TestActivityDefersIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 300 * time.Millisecond
		rec := &recorder{}
		g, srv, opts := startPipe(t, rec, localgateway.Options{IdleTimeout: idle})
		c := dial(t, srv.WebSocketURL, "one", opts)
		id := rec.connectionID(t, "one")
		closed := closeAsync(t, c) // reads the posts, then the close
		tick := time.NewTicker(idle / 10)
		defer tick.Stop()
		for _, phase := range []struct {
			name string
			send func() error
		}{
			{"client message", func() error { return c.Write(t.Context(), websocket.MessageText, []byte("ping")) }},
			{"post", func() error { return g.Post(t.Context(), "", id, []byte("pong")) }},
		} {
			for begin := time.Now(); time.Since(begin) < 2*idle; {
				<-tick.C
				if err := phase.send(); err != nil || len(g.Connections()) != 1 {
					t.Fatalf("connection closed while active, at a %s: %v", phase.name, err)
				}
			}
		}
		last := time.Now()
		if ce := <-closed; ce.Code != websocket.StatusGoingAway {
			t.Errorf("close %v, want 1001", ce)
		}
		if quiet := time.Since(last); quiet != idle {
			t.Errorf("closed %v after the last message, want the idle timeout, %v", quiet, idle)
		}
		rec.wait(t, "DISCONNECT", id, 1)
	})
}

func TestMaxConnectionDuration(t *testing.T) {
	rec := &recorder{}
	_, srv := start(t, rec, localgateway.Options{MaxConnectionDuration: 50 * time.Millisecond})
	c := dial(t, wsURL(srv, "/graphql"), "one", nil)
	id := rec.connectionID(t, "one")
	if ce := readClose(t, c); ce.Code != websocket.StatusGoingAway {
		t.Errorf("close %v, want 1001", ce)
	}
	if rc := rec.wait(t, "DISCONNECT", id, 1)[0].RequestContext; rc.DisconnectStatusCode != 1001 {
		t.Errorf("$disconnect %d, want 1001", rc.DisconnectStatusCode)
	}
}

// TestSlowClient posts to a client that reads nothing until its buffers
// fill: the post fails with ErrGone within WriteTimeout and the client is
// disconnected, while another client is served meanwhile.
func TestSlowClient(t *testing.T) {
	rec := &recorder{}
	// A post never waits for room (TestStalledClientDelaysNoOther: the
	// queue): the write timeout is what ends the slow client.
	g, srv := start(t, rec, localgateway.Options{WriteTimeout: 300 * time.Millisecond, QueueLength: 256, PostTimeout: time.Hour})
	dial(t, wsURL(srv, "/graphql"), "slow", nil)
	fast := dial(t, wsURL(srv, "/graphql"), "fast", nil)
	slowID, fastID := rec.connectionID(t, "slow"), rec.connectionID(t, "fast")

	failed := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte("s"), 128<<10)
		for range 20000 { // posts are queued; once the queue is full they wait until the connection ends
			if err := g.Post(context.Background(), "", slowID, chunk); err != nil {
				failed <- err
				return
			}
		}
		failed <- nil
	}()
	for i := range 20 {
		if err := g.Post(t.Context(), "", fastID, []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("post to the fast client: %v", err)
		}
		if got := readText(t, fast); got != strconv.Itoa(i) {
			t.Fatalf("fast client got %q", got)
		}
	}
	select {
	case err := <-failed:
		if !errors.Is(err, gateway.ErrGone) {
			t.Fatalf("posts to the slow client: %v, want ErrGone", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("posts to a client that reads nothing never failed")
	}
	if rc := rec.wait(t, "DISCONNECT", slowID, 1)[0].RequestContext; rc.DisconnectStatusCode != 1006 {
		t.Errorf("$disconnect %d, want 1006", rc.DisconnectStatusCode)
	}
}

// TestStalledClientDelaysNoOther: posts are answered once queued, as API
// Gateway answers once it has accepted a message. A client that stopped
// reading fills its own queue; a post that finds it full waits at most
// PostTimeout, then the connection is closed with 1008 and gone (410) for
// every later call, while another client gets each of its messages at
// once.
func TestStalledClientDelaysNoOther(t *testing.T) {
	const postTimeout = 200 * time.Millisecond
	rec := &recorder{}
	g, srv := start(t, rec, localgateway.Options{WriteTimeout: time.Minute, QueueLength: 4, PostTimeout: postTimeout})
	dial(t, wsURL(srv, "/graphql"), "stalled", nil) // never read
	live := dial(t, wsURL(srv, "/graphql"), "live", nil)
	stalledID, liveID := rec.connectionID(t, "stalled"), rec.connectionID(t, "live")

	// Posts to the stalled client, as a fan-out makes them, interleaved
	// with posts to the live one: no post waits longer than PostTimeout
	// (with room for a loaded machine), and the live client reads each of
	// its messages at once.
	chunk := bytes.Repeat([]byte("s"), 128<<10)
	var stalledErr error
	for i := 0; stalledErr == nil; i++ {
		if i == 2000 {
			t.Fatal("2,000 posts (256 MB) to a client that reads nothing were all accepted")
		}
		began := time.Now()
		stalledErr = g.Post(t.Context(), "", stalledID, chunk)
		if d := time.Since(began); d > postTimeout+time.Second {
			t.Fatalf("post %d to the stalled client took %v, over PostTimeout (%v)", i, d, postTimeout)
		}
		began = time.Now()
		if err := g.Post(t.Context(), "", liveID, []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("post %d to the live client: %v", i, err)
		}
		if got := readText(t, live); got != strconv.Itoa(i) {
			t.Fatalf("live client got %q, want %d", got, i)
		}
		if d := time.Since(began); d > time.Second {
			t.Fatalf("message %d reached the live client after %v", i, d)
		}
	}
	if !errors.Is(stalledErr, gateway.ErrGone) {
		t.Fatalf("post to the stalled client: %v, want ErrGone", stalledErr)
	}
	if rc := rec.wait(t, "DISCONNECT", stalledID, 1)[0].RequestContext; rc.DisconnectStatusCode != 1008 {
		t.Errorf("$disconnect %d, want 1008", rc.DisconnectStatusCode)
	}
	if err := g.Post(t.Context(), "", stalledID, []byte("after")); !errors.Is(err, gateway.ErrGone) {
		t.Errorf("post after the close: %v, want ErrGone", err)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/local/@connections/"+stalledID, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "any, in the default development mode")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("@connections POST after the close: %d, want 410", resp.StatusCode)
	}
}

func TestRouting(t *testing.T) {
	files := fstest.MapFS{
		"index.html": {Data: []byte("<h1>chat</h1>")},
		"app.js":     {Data: []byte("console.log(1)")},
	}
	httpHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "graphql %s", r.Method)
	})
	for _, tc := range []struct {
		name       string
		opts       localgateway.Options
		method     string
		path       string
		wantStatus int
		wantBody   string
	}{
		{"POST /graphql", localgateway.Options{HTTP: httpHandler, Files: files}, "POST", "/graphql", 200, "graphql POST"},
		{"GET /graphql", localgateway.Options{HTTP: httpHandler, Files: files}, "GET", "/graphql?query=%7Bok%7D", 200, "graphql GET"},
		{"index", localgateway.Options{HTTP: httpHandler, Files: files}, "GET", "/", 200, "<h1>chat</h1>"},
		{"file", localgateway.Options{HTTP: httpHandler, Files: files}, "GET", "/app.js", 200, "console.log(1)"},
		{"missing file", localgateway.Options{HTTP: httpHandler, Files: files}, "GET", "/nope.js", 404, ""},
		{"no HTTP handler", localgateway.Options{Files: files}, "POST", "/graphql", 404, ""},
		{"nothing", localgateway.Options{}, "GET", "/", 404, ""},
		{"custom path", localgateway.Options{HTTP: httpHandler, Path: "/api"}, "POST", "/api", 200, "graphql POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := start(t, &recorder{}, tc.opts)
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantBody != "" && string(body) != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
		})
	}
}

func TestWebSocketPaths(t *testing.T) {
	files := fstest.MapFS{"index.html": {Data: []byte("hi")}}
	for _, path := range []string{"/graphql", "/", "/local", "/graphql?x=1"} {
		t.Run(path, func(t *testing.T) {
			rec := &recorder{}
			_, srv := start(t, rec, localgateway.Options{Files: files, HTTP: http.NotFoundHandler()})
			c := dial(t, wsURL(srv, path), "one", nil)
			c.Close(websocket.StatusNormalClosure, "")
			rec.wait(t, "DISCONNECT", "", 1)
		})
	}
	t.Run("elsewhere", func(t *testing.T) {
		_, srv := start(t, &recorder{}, localgateway.Options{})
		if _, _, err := websocket.Dial(t.Context(), wsURL(srv, "/other"), nil); err == nil {
			t.Error("handshake accepted at /other")
		}
	})
}

func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	rec := &recorder{message: func(_ context.Context, ev events.APIGatewayWebsocketProxyRequest) error {
		if ev.Body == "block" {
			<-release
		}
		return nil
	}}
	g, srv := start(t, rec, localgateway.Options{})
	var clients []*websocket.Conn
	for i := range 3 {
		clients = append(clients, dial(t, wsURL(srv, "/graphql"), strconv.Itoa(i), nil))
	}
	write(t, clients[0], websocket.MessageText, []byte("block"))
	rec.wait(t, "MESSAGE", "", 1)
	blocked := closeAsync(t, clients[0])

	shutdown := make(chan error, 1)
	go func() { shutdown <- g.Shutdown(context.Background()) }()
	for _, c := range clients[1:] {
		if ce := readClose(t, c); ce.Code != websocket.StatusGoingAway || ce.Reason != "Going away" {
			t.Errorf("close %v, want 1001 Going away", ce)
		}
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a handler was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-shutdown; err != nil {
		t.Fatal(err)
	}
	if ce := <-blocked; ce.Code != websocket.StatusGoingAway {
		t.Errorf("close %v, want 1001", ce)
	}
	evs := rec.events("DISCONNECT", "")
	if len(evs) != 3 {
		t.Fatalf("%d $disconnect events, want 3", len(evs))
	}
	for _, ev := range evs {
		if ev.RequestContext.DisconnectStatusCode != 1001 {
			t.Errorf("$disconnect %d, want 1001", ev.RequestContext.DisconnectStatusCode)
		}
	}
	if ids := g.Connections(); len(ids) != 0 {
		t.Errorf("connections %v after Shutdown", ids)
	}
	_, resp, err := websocket.Dial(t.Context(), wsURL(srv, "/graphql"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("handshake after Shutdown: %v, want 503", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rec := &recorder{message: func(ctx context.Context, _ events.APIGatewayWebsocketProxyRequest) error {
		select {
		case <-release:
		case <-ctx.Done(): // cancelled when Shutdown gives up
		}
		return nil
	}}
	g, srv := start(t, rec, localgateway.Options{})
	c := dial(t, wsURL(srv, "/graphql"), "one", nil)
	write(t, c, websocket.MessageText, []byte("block"))
	rec.wait(t, "MESSAGE", "", 1)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := g.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	rec.wait(t, "DISCONNECT", "", 1)
}

// clientFrame encodes a masked client frame.
func clientFrame(opcode byte, payload []byte) []byte {
	b := []byte{0x80 | opcode, 0x80}
	switch n := len(payload); {
	case n < 126:
		b[1] |= byte(n)
	case n <= 0xffff:
		b[1] |= 126
		b = append(b, byte(n>>8), byte(n))
	default:
		b[1] |= 127
		for shift := 56; shift >= 0; shift -= 8 {
			b = append(b, byte(n>>shift))
		}
	}
	key := []byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// TestPipelinedFrames sends frames in the same write as the handshake, so
// that the HTTP server has buffered them when the connection is hijacked:
// they are delivered, and measured, like any other.
func TestPipelinedFrames(t *testing.T) {
	for _, tc := range []struct {
		name     string
		frames   [][]byte
		messages []string
		close    int64 // the $disconnect status
	}{
		{"delivered", [][]byte{clientFrame(1, []byte("early")), clientFrame(1, []byte("bird")), clientFrame(8, []byte{0x03, 0xe8})}, []string{"early", "bird"}, 1000},
		{"measured", [][]byte{clientFrame(1, []byte("ok")), clientFrame(1, bytes.Repeat([]byte("x"), 40<<10))}, []string{"ok"}, 1009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			_, srv := start(t, rec, localgateway.Options{})
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := "GET /graphql HTTP/1.1\r\nHost: " + strings.TrimPrefix(srv.URL, "http://") +
				"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
				"Sec-WebSocket-Key: q8Yu0nXdC7jKmS2vPbLc0w==\r\nX-Test: raw\r\n\r\n"
			if _, err := conn.Write(append([]byte(req), bytes.Join(tc.frames, nil)...)); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, conn) // the 101 and the close frame
			rec.wait(t, "CONNECT", "", 1)
			id := rec.connectionID(t, "raw")
			ev := rec.wait(t, "DISCONNECT", id, 1)[0]
			if ev.RequestContext.DisconnectStatusCode != tc.close {
				t.Errorf("$disconnect %d, want %d", ev.RequestContext.DisconnectStatusCode, tc.close)
			}
			var got []string
			for _, ev := range rec.events("MESSAGE", id) {
				got = append(got, ev.Body)
			}
			if !slices.Equal(got, tc.messages) {
				t.Errorf("messages %q, want %q", got, tc.messages)
			}
		})
	}
}

// TestSlowRequestBodyIsCut: a client that sends an HTTP request body a byte
// at a time is disconnected once Options.ReadTimeout runs out, instead of
// holding its connection (and a goroutine) for as long as it likes.
func TestSlowRequestBodyIsCut(t *testing.T) {
	t.Parallel()
	g, err := localgateway.New(localgateway.Options{
		Handler:     (&recorder{}).handle,
		HTTP:        http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.ReadAll(r.Body) }),
		ReadTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := g.Serve(ln)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	// real-server wait: the deadline is the HTTP server's own, on a real
	// socket; the client goes on trickling until the server hangs up.
	began := time.Now()
	_ = conn.SetReadDeadline(began.Add(5 * time.Second))
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, conn)
		closed <- err
	}()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case err := <-closed:
			// A hang-up reads as EOF (nil here) or, when the client's
			// trickle was unread, a reset; only the client's own deadline
			// means the server held on.
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the server did not hang up before the client's own deadline: %v", err)
			}
			if waited := time.Since(began); waited > 3*time.Second {
				t.Errorf("hung up after %s, want about the 300 ms ReadTimeout", waited)
			}
			return
		case <-ticker.C:
			_, _ = io.WriteString(conn, " ")
		}
	}
}
