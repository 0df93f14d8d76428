package localgateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/localgateway"
)

// productionClient is the @connections client gqlambda uses on AWS, with
// static credentials: every request it sends is SigV4-signed.
func productionClient() *apigw.Client {
	return apigw.New(apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCALGATEWAY", "secret", ""),
	}), &apigw.Options{MaxAttempts: 2})
}

// clock is a settable clock.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// TestProductionClient drives the @connections API with apigw.Client, as
// gqlambda does on AWS: posts, connection info, oversize posts, delete, and
// 410 for a gone connection mapped to gateway.ErrGone.
func TestProductionClient(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 15, 38, 512e6, time.UTC)
	clk := newClock(t0)
	rec := &recorder{}
	gw, srv := start(t, rec, localgateway.Options{Now: clk.now})
	c := dial(t, wsURL(srv, "/graphql"), "one", &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {"agent/2"}}})
	id := rec.connectionID(t, "one")
	endpoint := srv.URL + "/local"
	client := productionClient()
	ctx := t.Context()

	clk.add(3 * time.Second)
	if err := client.Post(ctx, endpoint, id, []byte(`{"type":"next"}`)); err != nil {
		t.Fatalf("post: %v", err)
	}
	if got := readText(t, c); got != `{"type":"next"}` {
		t.Errorf("client got %q", got)
	}
	if err := client.Post(ctx, endpoint, id, []byte{0xff, 0x00}); err != nil {
		t.Fatalf("binary post: %v", err)
	}
	if typ, b, err := c.Read(ctx); err != nil || typ != websocket.MessageBinary || !bytes.Equal(b, []byte{0xff, 0x00}) {
		t.Errorf("binary post arrived as %v %v %v", typ, b, err)
	}

	info, err := client.Get(ctx, endpoint, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !info.ConnectedAt.Equal(t0) || !info.LastActiveAt.Equal(t0.Add(3*time.Second)) ||
		info.SourceIP != "127.0.0.1" || info.UserAgent != "agent/2" {
		t.Errorf("connection info %+v", info)
	}
	// The Gateway answers the same in process (gateway.Inspector).
	if direct, err := gw.Get(ctx, "", id); err != nil || direct != info {
		t.Errorf("Gateway.Get: %+v, %v; want %+v as over HTTP", direct, err, info)
	}

	if err := client.Post(ctx, endpoint, id, make([]byte, 128<<10+1)); !errors.Is(err, gateway.ErrPayloadTooLarge) {
		t.Errorf("oversize post: %v, want ErrPayloadTooLarge", err)
	}

	if err := client.Close(ctx, endpoint, id, 4401, "Unauthorized"); err != nil {
		t.Fatalf("close: %v", err)
	}
	// DeleteConnection sends no close code; the client sees 1005.
	if ce := readClose(t, c); ce.Code != websocket.StatusNoStatusRcvd || ce.Reason != "" {
		t.Errorf("client saw close %v, want one without status code", ce)
	}
	rc := rec.wait(t, "DISCONNECT", id, 1)[0].RequestContext
	if rc.DisconnectStatusCode != 1000 || *rc.DisconnectReason != "Connection Closed Normally" {
		t.Errorf("$disconnect %d %q, want 1000 Connection Closed Normally", rc.DisconnectStatusCode, *rc.DisconnectReason)
	}

	if err := client.Post(ctx, endpoint, id, []byte("late")); !errors.Is(err, gateway.ErrGone) {
		t.Errorf("post after delete: %v, want ErrGone", err)
	}
	if _, err := client.Get(ctx, endpoint, id); !errors.Is(err, gateway.ErrGone) {
		t.Errorf("get after delete: %v, want ErrGone", err)
	}
	if _, err := gw.Get(ctx, "", id); !errors.Is(err, gateway.ErrGone) {
		t.Errorf("Gateway.Get after delete: %v, want ErrGone", err)
	}
	if err := client.Close(ctx, endpoint, id, 1000, ""); err != nil {
		t.Errorf("delete of a gone connection: %v, want success", err)
	}
	if err := client.Post(ctx, srv.URL+"/@connections", id, []byte("x")); err == nil {
		t.Error("post through a wrong endpoint succeeded")
	}
}

// TestConnectionsHTTP checks the raw @connections API: routes, the
// Authorization requirement, AWS error shapes and the close headers.
func TestConnectionsHTTP(t *testing.T) {
	for _, tc := range []struct {
		name       string
		method     string
		path       string // {id} is replaced by the connection id
		header     http.Header
		body       string
		wantStatus int
		wantType   string // x-amzn-ErrorType
		// wantClient is what the client sees: a message, or a close.
		wantMessage string
		wantClose   websocket.StatusCode
		wantReason  string
	}{
		{name: "post without stage", method: "POST", path: "/@connections/{id}", body: "hello", wantStatus: 200, wantMessage: "hello"},
		{name: "post with stage", method: "POST", path: "/local/@connections/{id}", body: "hi", wantStatus: 200, wantMessage: "hi"},
		{name: "escaped id", method: "POST", path: "/local/%40connections/{escaped}", body: "esc", wantStatus: 200, wantMessage: "esc"},
		{name: "unknown connection", method: "POST", path: "/local/@connections/AAAAAAAAAAAAAAA=", body: "x", wantStatus: 410, wantType: "GoneException"},
		{name: "get unknown", method: "GET", path: "/@connections/AAAAAAAAAAAAAAA=", wantStatus: 410, wantType: "GoneException"},
		{name: "unsigned", method: "POST", path: "/local/@connections/{id}", header: http.Header{"Authorization": nil}, body: "x", wantStatus: 403, wantType: "ForbiddenException"},
		{name: "oversize", method: "POST", path: "/local/@connections/{id}", body: strings.Repeat("x", 128<<10+1), wantStatus: 413, wantType: "PayloadTooLargeException"},
		{name: "delete", method: "DELETE", path: "/local/@connections/{id}", wantStatus: 204, wantClose: websocket.StatusNoStatusRcvd},
		{name: "delete with code", method: "DELETE", path: "/local/@connections/{id}", header: http.Header{"X-Gqlambda-Close-Code": {"4001"}, "X-Gqlambda-Close-Reason": {"kicked"}}, wantStatus: 204, wantClose: 4001, wantReason: "kicked"},
		{name: "delete with reason", method: "DELETE", path: "/local/@connections/{id}", header: http.Header{"X-Gqlambda-Close-Reason": {"bye"}}, wantStatus: 204, wantClose: 1000, wantReason: "bye"},
		{name: "delete with bad code", method: "DELETE", path: "/local/@connections/{id}", header: http.Header{"X-Gqlambda-Close-Code": {"1005"}}, wantStatus: 400, wantType: "BadRequestException"},
		{name: "delete with junk code", method: "DELETE", path: "/local/@connections/{id}", header: http.Header{"X-Gqlambda-Close-Code": {"abc"}}, wantStatus: 400, wantType: "BadRequestException"},
		{name: "put", method: "PUT", path: "/local/@connections/{id}", wantStatus: 405, wantType: "MethodNotAllowedException"},
		{name: "other stage", method: "POST", path: "/prod/@connections/{id}", body: "x", wantStatus: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			_, srv := start(t, rec, localgateway.Options{})
			c := dial(t, wsURL(srv, "/graphql"), "one", nil)
			id := rec.connectionID(t, "one")
			path := strings.ReplaceAll(tc.path, "{id}", id)
			path = strings.ReplaceAll(path, "{escaped}", strings.ReplaceAll(id, "=", "%3D"))
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0")
			for k, vs := range tc.header {
				req.Header.Del(k)
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.wantStatus)
			}
			if got := resp.Header.Get("x-amzn-ErrorType"); got != tc.wantType {
				t.Errorf("x-amzn-ErrorType %q, want %q", got, tc.wantType)
			}
			if tc.wantType != "" {
				var msg struct{ Message *string }
				if err := json.Unmarshal(body, &msg); err != nil || msg.Message == nil {
					t.Errorf("error body %s is not AWS JSON", body)
				}
			}
			switch {
			case tc.wantMessage != "":
				if got := readText(t, c); got != tc.wantMessage {
					t.Errorf("client got %q, want %q", got, tc.wantMessage)
				}
			case tc.wantClose != 0:
				if ce := readClose(t, c); ce.Code != tc.wantClose || ce.Reason != tc.wantReason {
					t.Errorf("client saw close %v, want %d %q", ce, tc.wantClose, tc.wantReason)
				}
			default:
				// Nothing reached the client: a post now is its next message.
				write(t, c, websocket.MessageText, []byte("still open"))
				rec.wait(t, "MESSAGE", id, 1)
			}
		})
	}
}

func TestConnectionInfoJSON(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 15, 38, 512e6, time.UTC)
	rec := &recorder{}
	_, srv := start(t, rec, localgateway.Options{Now: func() time.Time { return t0 }})
	dial(t, wsURL(srv, "/graphql"), "one", &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {"agent/3"}}})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/local/@connections/"+rec.connectionID(t, "one"), nil)
	req.Header.Set("Authorization", "x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `{"connectedAt":"2026-11-21T10:15:38.512Z","identity":{"sourceIp":"127.0.0.1","userAgent":"agent/3"},"lastActiveAt":"2026-11-21T10:15:38.512Z"}`
	if string(body) != want || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET answered %s (%s), want %s", body, resp.Header.Get("Content-Type"), want)
	}
}

func TestServe(t *testing.T) {
	rec := &recorder{}
	g, err := localgateway.New(localgateway.Options{Handler: rec.handle, Stage: "dev", Path: "/ws"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := g.Serve(ln)
	base := "http://" + ln.Addr().String()
	if s.URL != base || s.WebSocketURL != "ws://"+ln.Addr().String()+"/ws" || s.HTTPURL != base+"/ws" || s.Endpoint != base+"/dev" {
		t.Errorf("URLs %+v", s)
	}
	c := dial(t, s.WebSocketURL, "one", nil)
	id := rec.connectionID(t, "one")
	if err := productionClient().Post(t.Context(), s.Endpoint, id, []byte("served")); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); got != "served" {
		t.Errorf("client got %q", got)
	}
	closed := closeAsync(t, c)
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ce := <-closed; ce.Code != websocket.StatusGoingAway {
		t.Errorf("close %v, want 1001", ce)
	}
	if n := len(rec.events("DISCONNECT", id)); n != 1 {
		t.Errorf("%d $disconnect events, want 1", n)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// written, when not nil, is closed at the next write: see waitFor.
	written chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written != nil {
		close(b.written)
		b.written = nil
	}
	return b.buf.Write(p)
}

// waitFor waits until cond holds of the text written, looking again at
// each write; it fails the test after 10 seconds.
func (b *syncBuffer) waitFor(t *testing.T, what string, cond func(text string) bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		if b.written == nil {
			b.written = make(chan struct{})
		}
		written, text := b.written, b.buf.String()
		b.mu.Unlock()
		if cond(text) {
			return
		}
		select {
		case <-written:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestListenAndServe(t *testing.T) {
	var logs syncBuffer
	rec := &recorder{}
	g, err := localgateway.New(localgateway.Options{Handler: rec.handle, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.ListenAndServe(ctx, "127.0.0.1:0") }()

	var url string
	logs.waitFor(t, "the URLs in the log", func(text string) bool {
		var rec struct{ Websocket string }
		for line := range strings.Lines(text) {
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Websocket != "" {
				url = rec.Websocket
				return true
			}
		}
		return false
	})
	c := dial(t, url, "one", nil)
	closed := closeAsync(t, c)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ListenAndServe: %v", err)
	}
	if ce := <-closed; ce.Code != websocket.StatusGoingAway {
		t.Errorf("close %v, want 1001", ce)
	}
	if err := g.ListenAndServe(t.Context(), "127.0.0.1:-1"); err == nil {
		t.Error("ListenAndServe on a bad address succeeded")
	}
}
