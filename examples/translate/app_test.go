package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/examples/translate/translator"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/localbus"
)

// apertium is the real translator of the local runs. scripts/test installs
// it; without it the test is skipped, unless GQLAMBDA_E2E says the setup
// ran, and then it fails.
func apertium(t *testing.T) *translator.Apertium {
	t.Helper()
	a, err := translator.NewApertium(t.Context(), translator.ApertiumOptions{})
	if err != nil {
		if os.Getenv("GQLAMBDA_E2E") != "" {
			t.Fatalf("GQLAMBDA_E2E is set but Apertium is missing: %v", err)
		}
		t.Skipf("Apertium: %v", err)
	}
	return a
}

// start serves the app on free loopback ports until the test ends.
func start(t *testing.T, opts LocalOptions) *LocalApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := StartLocal(t.Context(), ln, opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a
}

// wsClient is a graphql-transport-ws client over a real socket.
type wsClient struct {
	t    *testing.T
	ws   *websocket.Conn
	mu   sync.Mutex
	msgs []map[string]any
	got  chan struct{}
}

func dial(t *testing.T, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, ws: ws, got: make(chan struct{}, 1)}
	t.Cleanup(func() { ws.Close(websocket.StatusNormalClosure, "") })
	go func() {
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				c.mu.Lock()
				c.msgs = append(c.msgs, m)
				c.mu.Unlock()
				select {
				case c.got <- struct{}{}:
				default:
				}
			}
		}
	}()
	c.send(map[string]any{"type": "connection_init"})
	c.wait(func(m map[string]any) bool { return m["type"] == "connection_ack" })
	return c
}

func (c *wsClient) send(m map[string]any) {
	c.t.Helper()
	data, _ := json.Marshal(m)
	if err := c.ws.Write(c.t.Context(), websocket.MessageText, data); err != nil {
		c.t.Fatal(err)
	}
}

// wait waits up to 15 s for a message that ok accepts.
func (c *wsClient) wait(ok func(map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		for _, m := range c.all() {
			if ok(m) {
				return m
			}
		}
		select {
		case <-c.got:
		case <-deadline:
			c.t.Fatalf("no such message within 15 s; got %v", c.all())
		}
	}
}

func (c *wsClient) all() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.msgs...)
}

// subscribe subscribes to the translations of a chat and waits until the
// subscription is stored (a query on the same connection is answered after
// it).
func (c *wsClient) subscribe(id, query, chat string) {
	c.t.Helper()
	c.send(map[string]any{"type": "subscribe", "id": id, "payload": map[string]any{"query": query, "variables": map[string]any{"c": chat}}})
	c.send(map[string]any{"type": "subscribe", "id": id + "-probe", "payload": map[string]any{"query": "{ getEvent }"}})
	c.wait(func(m map[string]any) bool { return m["id"] == id+"-probe" && m["type"] == "complete" })
}

// nexts returns the payloads of the next messages of operation id.
func (c *wsClient) nexts(id string) []map[string]any {
	var out []map[string]any
	for _, m := range c.all() {
		if m["id"] == id && m["type"] == "next" {
			out = append(out, m["payload"].(map[string]any))
		}
	}
	return out
}

// postGraphQL runs a GraphQL request over HTTP.
func postGraphQL(t *testing.T, url, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	return out
}

const putEventMutation = `mutation($m: String!, $c: String!) { putEvent(message: $m, chatId: $c) { Entries { EventId ErrorCode ErrorMessage } FailedEntries } }`

// TestTranslatedChat runs the whole flow with the real Apertium, on the
// in-memory store and on DynamoDB Local: two subscribers of one chat (one on
// chat, one on translations) and one of another chat; a putEvent over HTTP
// returns the bus's event id, each subscriber of that chat receives every
// translation exactly once, and the other chat nothing. An event put on the
// bus's endpoint by another EventBridge client is translated too.
func TestTranslatedChat(t *testing.T) {
	tr := apertium(t)
	scenarios := []struct {
		name string
		opts func(t *testing.T) LocalOptions
	}{
		{"memory", func(*testing.T) LocalOptions { return LocalOptions{} }},
		{"dynamodb", func(t *testing.T) LocalOptions {
			_, endpoint := dynamotest.Config(t)
			return LocalOptions{DynamoDB: endpoint, TablePrefix: dynamotest.Prefix(t)}
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			opts := sc.opts(t)
			opts.Translator, opts.Languages = tr, []string{"es", "ca"}
			a := start(t, opts)
			ann, bob, cid := dial(t, a.WebSocketURL), dial(t, a.WebSocketURL), dial(t, a.WebSocketURL)
			ann.subscribe("1", `subscription($c: String!) { chat(chatId: $c) }`, "room")
			bob.subscribe("1", `subscription($c: String!) { translations(chatId: $c) { chatId language message original error } }`, "room")
			cid.subscribe("1", `subscription($c: String!) { chat(chatId: $c) }`, "other")

			res := postGraphQL(t, a.HTTPURL, putEventMutation, map[string]any{"m": "Good morning", "c": "room"})
			put := res["data"].(map[string]any)["putEvent"].(map[string]any)
			entries := put["Entries"].([]any)
			if put["FailedEntries"] != float64(0) || len(entries) != 1 || entries[0].(map[string]any)["EventId"] == nil {
				t.Fatalf("putEvent = %v", res)
			}

			// Another client of the bus's EventBridge API.
			eb := eventbridge.New(eventbridge.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), BaseEndpoint: aws.String(a.BusURL)})
			out, err := eb.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
				EventBusName: aws.String(BusName), Source: aws.String(SourceRequest), DetailType: aws.String(DetailTypeReceived),
				Detail: aws.String(`{"message": "Thank you", "chatId": "room"}`),
			}}})
			if err != nil || out.FailedEntryCount != 0 {
				t.Fatalf("PutEvents: %v %+v", err, out)
			}

			want := map[string]bool{"Buenos días": true, "Bon dia": true, "Gracias": true, "Gràcies": true}
			for _, c := range []*wsClient{ann, bob} {
				c.wait(func(map[string]any) bool { return len(c.nexts("1")) >= len(want) })
			}
			if err := a.Bus.Drain(t.Context()); err != nil {
				t.Fatal(err)
			}
			// Anything more would arrive now: the bus is idle.
			time.Sleep(200 * time.Millisecond) // real-server wait: posts in flight on the sockets
			got := map[string]int{}
			for _, p := range ann.nexts("1") {
				got[p["data"].(map[string]any)["chat"].(string)]++
			}
			for text, n := range got {
				if !want[text] || n != 1 {
					t.Errorf("chat subscriber: %q arrived %d times; want each of %v once", text, n, want)
				}
			}
			if len(got) != len(want) {
				t.Errorf("chat subscriber got %v, want %v", got, want)
			}
			langs := map[string]int{}
			for _, p := range bob.nexts("1") {
				tr := p["data"].(map[string]any)["translations"].(map[string]any)
				if tr["chatId"] != "room" || tr["error"] != nil || !want[tr["message"].(string)] {
					t.Errorf("translations subscriber got %v", tr)
				}
				langs[tr["language"].(string)+":"+tr["original"].(string)]++
			}
			if len(langs) != 4 || langs["es:Good morning"] != 1 || langs["ca:Thank you"] != 1 {
				t.Errorf("translations subscriber got %v, want es and ca of both messages once", langs)
			}
			if n := len(cid.nexts("1")); n != 0 {
				t.Errorf("the other chat's subscriber got %d events: %v", n, cid.all())
			}
		})
	}
}

// TestProcessorFailsOnce fails the Spanish processor's first invocation
// after it put its translation, as a function that crashes at its end: the
// bus delivers the message again, the processor translates it again, and
// the subscriber still receives the Spanish translation once.
func TestProcessorFailsOnce(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	a := start(t, LocalOptions{
		Translator: apertium(t), Languages: []string{"es", "ca"},
		Retry: localbus.RetryPolicy{Backoff: 50 * time.Millisecond},
		WrapTarget: func(rule string, target localbus.Target) localbus.Target {
			if rule != "translate-es" {
				return target
			}
			return func(ctx context.Context, ev events.EventBridgeEvent) error {
				if err := target(ctx, ev); err != nil {
					return err
				}
				if calls.Add(1) == 1 {
					return errors.New("crashed after putting the translation")
				}
				return nil
			}
		},
	})
	c := dial(t, a.WebSocketURL)
	c.subscribe("1", `subscription($c: String!) { chat(chatId: $c) }`, "chat")
	postGraphQL(t, a.HTTPURL, putEventMutation, map[string]any{"m": "Good morning", "c": "chat"})
	c.wait(func(map[string]any) bool { return len(c.nexts("1")) >= 2 })
	if err := a.Bus.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // real-server wait: posts in flight on the socket
	if calls.Load() != 2 {
		t.Errorf("the Spanish processor ran %d times, want 2 (one failure, one retry)", calls.Load())
	}
	got := map[string]int{}
	for _, p := range c.nexts("1") {
		got[p["data"].(map[string]any)["chat"].(string)]++
	}
	if len(got) != 2 || got["Buenos días"] != 1 || got["Bon dia"] != 1 {
		t.Errorf("got %v, want Buenos días and Bon dia once each", got)
	}
}

// unreliable is a translator whose language "de" is throttled, for the test
// of failures: the other languages go to Apertium.
type unreliable struct {
	translator.Translator
	calls atomic.Int32
}

func (u *unreliable) Translate(ctx context.Context, text, from, to string) (string, error) {
	if to == "de" {
		u.calls.Add(1)
		return "", translator.ErrThrottled
	}
	return u.Translator.Translate(ctx, text, from, to)
}

// TestTranslationFailures asks for a language Apertium lacks (French) and one
// whose translator stays throttled (German): each reaches the client as a
// message for that language, after bounded retries, and Spanish arrives as
// usual.
func TestTranslationFailures(t *testing.T) {
	t.Parallel()
	u := &unreliable{Translator: apertium(t)}
	a := start(t, LocalOptions{Translator: u, Languages: []string{"es", "fr", "de"}})
	c := dial(t, a.WebSocketURL)
	c.subscribe("1", `subscription($c: String!) { translations(chatId: $c) { language message error } }`, "chat")
	postGraphQL(t, a.HTTPURL, putEventMutation, map[string]any{"m": "Good morning", "c": "chat"})
	c.wait(func(map[string]any) bool { return len(c.nexts("1")) >= 3 })
	got := map[string]map[string]any{}
	for _, p := range c.nexts("1") {
		tr := p["data"].(map[string]any)["translations"].(map[string]any)
		got[tr["language"].(string)] = tr
	}
	if got["es"]["message"] != "Buenos días" || got["es"]["error"] != nil {
		t.Errorf("es: %v", got["es"])
	}
	if msg, _ := got["fr"]["message"].(string); msg != "[French] no translation: the translator does not translate into this language" || got["fr"]["error"] == nil {
		t.Errorf("fr: %v", got["fr"])
	}
	if msg, _ := got["de"]["message"].(string); !strings.HasPrefix(msg, "[German] no translation: the translator is busy") {
		t.Errorf("de: %v", got["de"])
	}
	if n := u.calls.Load(); n != 3 {
		t.Errorf("the throttled translator was tried %d times, want 3", n)
	}
}

// TestPutEventRefusesBadArguments checks putEvent's bounds.
func TestPutEventRefusesBadArguments(t *testing.T) {
	t.Parallel()
	a := start(t, LocalOptions{Translator: apertium(t), Languages: []string{"es"}})
	for _, tt := range []struct{ message, chat, want string }{
		{"", "chat", "message is empty"},
		{strings.Repeat("a", MaxMessage+1), "chat", "longer than 2000"},
		{"hi", "", "chatId is empty"},
		{"hi", strings.Repeat("c", MaxChatID+1), "chatId is longer"},
	} {
		res := postGraphQL(t, a.HTTPURL, putEventMutation, map[string]any{"m": tt.message, "c": tt.chat})
		errs, _ := json.Marshal(res["errors"])
		if !strings.Contains(string(errs), tt.want) {
			t.Errorf("putEvent(%.20q, %.20q) = %v, want an error containing %q", tt.message, tt.chat, res, tt.want)
		}
	}
}

// TestSampleFrames speaks to the app as the sample's README does: a
// WebSocket without subprotocol, the sample's own frames, and its answers
// {"data": ...}.
func TestSampleFrames(t *testing.T) {
	t.Parallel()
	a := start(t, LocalOptions{Translator: apertium(t), Languages: []string{"es", "ca"}, Plain: true})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, a.WebSocketURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != "" {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	write := func(frame string) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write(`{"query":"subscription Subscription {\nchat(chatId: \"chat\")\n}","variables":{}}`)
	write(`{"query":"query { getEvent }","variables":{}}`)
	if got := read(); got != `{"data":"Hello from Apollo!"}` {
		t.Fatalf("query: %s", got)
	}
	write(`{"query":"mutation postMessage {\n  putEvent(message: \"Good morning\", chatId: \"chat\") { Entries { EventId } }\n}","variables":{}}`)
	got := map[string]int{}
	var put string
	for len(got) < 2 || put == "" {
		frame := read()
		var m struct{ Data json.RawMessage }
		if err := json.Unmarshal([]byte(frame), &m); err != nil {
			t.Fatalf("frame %s", frame)
		}
		var s string
		if json.Unmarshal(m.Data, &s) == nil {
			got[s]++
			continue
		}
		put = frame
	}
	if !strings.Contains(put, `{"data":{"Entries":[{"EventId":"`) {
		t.Errorf("putEvent answer %s", put)
	}
	if got["Buenos días"] != 1 || got["Bon dia"] != 1 {
		t.Errorf("translations %v", got)
	}
}

// TestNoTranslator: without a translator, the app says so and does not
// start.
func TestNoTranslator(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, args := range [][]string{{"-translator", "apertium"}, {"-translator", "babel"}} {
		err := runLocal(t.Context(), nil, append(args, "-addr", "127.0.0.1:0", "-bus-addr", "127.0.0.1:0"), io.Discard)
		if !errors.Is(err, ErrNoTranslator) {
			t.Errorf("runLocal %v = %v, want ErrNoTranslator", args, err)
		}
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	if err := runLocal(t.Context(), nil, []string{"-translator", "amazon", "-addr", "127.0.0.1:0", "-bus-addr", "127.0.0.1:0"}, io.Discard); !errors.Is(err, ErrNoTranslator) {
		t.Errorf("amazon without credentials: %v, want ErrNoTranslator", err)
	}
}
