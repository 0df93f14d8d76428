package gqlambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store"
)

func TestSubprotocolNegotiation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		offered []string
		status  int
		echo    string // "" = no Sec-WebSocket-Protocol header in the response
	}{
		{"graphql-transport-ws", []string{"graphql-transport-ws"}, 200, "graphql-transport-ws"},
		{"preferred among several", []string{"chat.v2", "graphql-transport-ws"}, 200, "graphql-transport-ws"},
		{"legacy graphql-ws", []string{"graphql-ws"}, 200, "graphql-ws"},
		{"both: graphql-transport-ws preferred", []string{"graphql-ws", "graphql-transport-ws"}, 200, "graphql-transport-ws"},
		{"none offered: default, nothing echoed", nil, 200, ""},
		{"only unknown protocols", []string{"mqtt", "wamp.2.json"}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			resp := h.connectWith("c1", tt.offered...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Headers["Sec-WebSocket-Protocol"]; got != tt.echo {
				t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, tt.echo)
			}
			_, err := h.store.GetConnection(context.Background(), "c1")
			if stored := err == nil; stored != (tt.status == 200) {
				t.Errorf("connection stored = %v, want %v", stored, tt.status == 200)
			}
			if tt.status == 200 {
				h.send("c1", `{"type":"connection_init"}`)
				h.expect("c1", `{"type":"connection_ack"}`)
			}
		})
	}
}

func TestConnectionStoredFromEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.open("BJq2UdL9joECGhg=")
	c, err := h.store.GetConnection(context.Background(), "BJq2UdL9joECGhg=")
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod" {
		t.Errorf("endpoint %q, want https://{domainName}/{stage} of the event", c.Endpoint)
	}
	if !jsonEqual(string(c.Authorizer), `{"principalId":"user-42","tenant":"acme"}`) { // integrationLatency is left out
		t.Errorf("authorizer %s", c.Authorizer)
	}
	if want := time.UnixMilli(1795256138512); !c.ConnectedAt.Equal(want) {
		t.Errorf("connectedAt %v, want %v", c.ConnectedAt, want)
	}
	// The TTL counts from when $connect was handled (the fixture's
	// connectedAt is a fixed date in the past).
	if d := c.ExpiresAt.Sub(h.now()); d <= 2*time.Hour || d > 3*time.Hour {
		t.Errorf("TTL %v, want just over API Gateway's 2 h", d)
	}
	if c.Acknowledged {
		t.Error("acknowledged before connection_init")
	}
}

func TestEndpointOverride(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { c.Endpoint = "https://ws.example.com/graphql" })
	h.ready("c1")
	h.subscribe("c1", "s1", `subscription { multi { id } }`)
	h.publish("A", map[string]any{"id": "1"})
	if eps := h.rec.Endpoints("c1"); len(eps) == 0 || eps[len(eps)-1] != "https://ws.example.com/graphql" {
		t.Fatalf("posts went to %v, want the configured endpoint", eps)
	}
}

func TestEndpointFromEvent(t *testing.T) {
	t.Parallel()
	tests := []struct{ domain, stage, want string }{
		{"abc123defg.execute-api.eu-west-1.amazonaws.com", "prod", "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"},
		{"ws.example.com", "v1", "https://ws.example.com/v1"},
		// A local emulator on loopback serves @connections over plain HTTP.
		{"127.0.0.1:4000", "local", "http://127.0.0.1:4000/local"},
		{"localhost:4000", "local", "http://localhost:4000/local"},
		{"[::1]:4000", "local", "http://[::1]:4000/local"},
		{"127.example.com", "prod", "https://127.example.com/prod"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			h := newHarness(t, nil)
			h.connect.RequestContext.DomainName = tt.domain
			h.connect.RequestContext.Stage = tt.stage
			h.open("c1")
			c, err := h.store.GetConnection(context.Background(), "c1")
			if err != nil {
				t.Fatal(err)
			}
			if c.Endpoint != tt.want {
				t.Errorf("endpoint %q, want %q", c.Endpoint, tt.want)
			}
		})
	}
}

func TestProtocolFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.open("c1")

	// ping is allowed before connection_init, and its payload echoed.
	h.send("c1", `{"type":"ping","payload":{"n":1}}`)
	h.expect("c1", `{"type":"pong","payload":{"n":1}}`)
	h.send("c1", `{"type":"ping"}`)
	h.expect("c1", `{"type":"pong"}`)
	// An unsolicited pong is fine and unanswered.
	h.send("c1", `{"type":"pong"}`)
	h.expect("c1")

	h.send("c1", `{"type":"connection_init","payload":{"token":"t"}}`)
	h.expect("c1", `{"type":"connection_ack"}`)

	// A subscription receives events of its topic until the client completes it.
	h.subscribe("c1", "s1", `subscription { messages { id text } }`)
	h.expect("c1")
	res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "a", "text": "hi"})
	if res != (gqlambda.PublishResult{Matched: 1, Delivered: 1}) {
		t.Errorf("publish result %+v", res)
	}
	h.expect("c1", `{"type":"next","id":"s1","payload":{"data":{"messages":{"id":"1","text":"hi"}}}}`)
	h.publish("OTHER", map[string]any{"id": "2"})
	h.expect("c1")

	h.send("c1", `{"type":"complete","id":"s1"}`)
	h.expect("c1") // the server sends nothing for a client's complete
	if res := h.publish("MESSAGES", map[string]any{"id": "3", "chatId": "a", "text": "late"}); res.Matched != 0 {
		t.Errorf("after complete: %+v", res)
	}
	h.expect("c1")

	// Completing an unknown or completed id is ignored.
	h.send("c1", `{"type":"complete","id":"s1"}`)
	h.send("c1", `{"type":"complete","id":"nope"}`)
	h.expect("c1")
	h.expectOpen("c1")

	// An id may be reused once its operation completed.
	h.subscribe("c1", "s1", `subscription { messages { text } }`)
	h.publish("MESSAGES", map[string]any{"id": "4", "chatId": "a", "text": "again"})
	h.expect("c1", `{"type":"next","id":"s1","payload":{"data":{"messages":{"text":"again"}}}}`)

	h.hangUp("c1", 1000, "bye")
	h.expectNoState("c1", "MESSAGES")
	if len(h.errs.list()) != 0 {
		t.Errorf("errors reported: %v", h.errs.list())
	}
}

func TestQueriesAndMutationsOverTheSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
		c.Hooks.OnConnectionInit = func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (gqlambda.InitResult, error) {
			return gqlambda.InitResult{Context: map[string]string{"user": "ann"}}, nil
		}
	})
	h.ready("c1")
	h.ready("c2")
	h.subscribe("c2", "watch", `subscription { messages(chatId: "7") { text author } }`)

	tests := []struct {
		name, frame string
		want        []string
	}{
		{"query", `{"type":"subscribe","id":"q1","payload":{"query":"{ hello }"}}`,
			[]string{`{"type":"next","id":"q1","payload":{"data":{"hello":"world"}}}`, `{"type":"complete","id":"q1"}`}},
		{"named query among several operations", `{"type":"subscribe","id":"q2","payload":{"query":"query A { hello } subscription B { multi { id } }","operationName":"A"}}`,
			[]string{`{"type":"next","id":"q2","payload":{"data":{"hello":"world"}}}`, `{"type":"complete","id":"q2"}`}},
		{"resolver sees connection context and ids", `{"type":"subscribe","id":"q3","payload":{"query":"{ whoami }"}}`,
			[]string{`{"type":"next","id":"q3","payload":{"data":{"whoami":"ann@c1#q3"}}}`, `{"type":"complete","id":"q3"}`}},
		{"resolver error travels in next", `{"type":"subscribe","id":"q4","payload":{"query":"{ boom }"}}`,
			[]string{`{"type":"next","id":"q4","payload":{"errors":[{"message":"boom","locations":[{"line":1,"column":3}],"path":["boom"]}],"data":{"boom":null}}}`, `{"type":"complete","id":"q4"}`}},
		{"invalid variables travel in next", `{"type":"subscribe","id":"q5","payload":{"query":"query($n: Int!) { large(size: $n) }","variables":{"n":"x"}}}`,
			nil}, // checked below: next with errors, then complete
		{"mutation publishes from its resolver", `{"type":"subscribe","id":"m1","payload":{"query":"mutation { send(chatId: \"7\", text: \"yo\", author: \"ann\") { text chatId } }"}}`,
			[]string{`{"type":"next","id":"m1","payload":{"data":{"send":{"text":"yo","chatId":"7"}}}}`, `{"type":"complete","id":"m1"}`}},
	}
	for _, tt := range tests {
		h.send("c1", tt.frame)
		if tt.want == nil {
			got := h.take("c1")
			if len(got) != 2 || !strings.Contains(got[0], `"type":"next"`) || !strings.Contains(got[0], `"errors"`) || !jsonEqual(got[1], `{"type":"complete","id":"q5"}`) {
				t.Errorf("%s: got %v", tt.name, got)
			}
			continue
		}
		h.expect("c1", tt.want...)
	}
	// The mutation's publish reached the subscriber; fields in query order.
	h.expect("c2", `{"type":"next","id":"watch","payload":{"data":{"messages":{"text":"yo","author":"ann"}}}}`)
	if got := h.rec.Frames("c2"); !strings.Contains(got[len(got)-1], `{"text":"yo","author":"ann"}`) {
		t.Errorf("fields not in query order: %s", got[len(got)-1])
	}
	h.expectOpen("c1")
}

func TestResponseFieldsInQueryOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("c1")
	h.subscribe("c1", "s", `subscription { messages { text id ...F author } } fragment F on Message { priority chatId }`)
	h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "a", "text": "t", "author": "z", "priority": 3})
	got := h.take("c1")
	want := `{"type":"next","id":"s","payload":{"data":{"messages":{"text":"t","id":"1","priority":3,"chatId":"a","author":"z"}}}}`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %v\nwant %s", got, want)
	}
}

func TestSubscriptionDetectedFromParsedDocument(t *testing.T) {
	t.Parallel()
	docs := []struct{ name, query, opName string }{
		{"comment first", "# query { hello }\nsubscription { multi { id } }", ""},
		{"fragment first", "fragment F on Message { id }\nsubscription S { multi { ...F } }", ""},
		{"named among operations", "query Q { hello }\nsubscription S { multi { id } }", "S"},
		{"leading whitespace and no keyword confusion", "  \n\tsubscription queryLike { multi { id } }", ""},
	}
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			h.ready("c1")
			b, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "s", "payload": map[string]any{"query": d.query, "operationName": d.opName}})
			h.send("c1", string(b))
			h.expect("c1") // a subscription answers nothing until an event
			h.publish("A", map[string]any{"id": "1"})
			h.expect("c1", `{"type":"next","id":"s","payload":{"data":{"multi":{"id":"1"}}}}`)
		})
	}
	t.Run("query that mentions subscription", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil)
		h.ready("c1")
		h.send("c1", `{"type":"subscribe","id":"q","payload":{"query":"# subscription { multi { id } }\n{ hello }"}}`)
		h.expect("c1", `{"type":"next","id":"q","payload":{"data":{"hello":"world"}}}`, `{"type":"complete","id":"q"}`)
	})
}

func TestInvalidGraphQLIsAnErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, query, opName, message string
	}{
		{"syntax error", "subscription {", "", "Syntax Error"},
		{"unknown field", "subscription { nope }", "", `Cannot query field "nope"`},
		{"two root fields", "subscription { multi { id } room(chatId: 1) { id } }", "", "must select only one top level field"},
		{"two root fields through a fragment", "subscription S { ...F } fragment F on Subscription { multi { id } big }", "", `Subscription "S" must select only one top level field`},
		{"introspection root field", "subscription { __typename }", "", "must not select an introspection top level field"},
		{"type definition in a request", "type Foo { a: Int } query { hello }", "", "not executable"},
		{"several operations without a name", "query A { hello } query B { hello }", "", "Must provide operation name"},
		{"unknown operation name", "query A { hello }", "B", `Unknown operation named "B"`},
		{"missing required argument", "subscription { room { id } }", "", `Field "room" argument "chatId"`},
		{"invalid filter from arguments", `subscription { messages(where: "{\"filterGroup\":[{\"filters\":[{\"fieldName\":\"x\",\"operator\":\"nope\",\"value\":1}]}]}") { id } }`, "", "operator"},
		{"subscribe resolver not made by graphqlgo.Subscribe", "subscription { unmanaged }", "", "must declare its topics with graphqlgo.Subscribe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			h.ready("c1")
			b, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "bad", "payload": map[string]any{"query": tt.query, "operationName": tt.opName}})
			h.send("c1", string(b))
			got := h.take("c1")
			if len(got) != 1 {
				t.Fatalf("got %d frames %v, want one error", len(got), got)
			}
			var msg struct {
				Type, ID string
				Payload  []gqlambda.Error
			}
			if err := json.Unmarshal([]byte(got[0]), &msg); err != nil {
				t.Fatal(err)
			}
			if msg.Type != "error" || msg.ID != "bad" || len(msg.Payload) == 0 || !strings.Contains(msg.Payload[0].Message, tt.message) {
				t.Fatalf("got %s, want an error for id bad mentioning %q", got[0], tt.message)
			}
			h.expectOpen("c1")
			if n := len(h.subscriptions("MESSAGES")) + len(h.subscriptions("A")); n != 0 {
				t.Errorf("%d subscriptions stored for a rejected operation", n)
			}
			// The connection still works.
			h.send("c1", `{"type":"subscribe","id":"ok","payload":{"query":"{ hello }"}}`)
			h.expect("c1", `{"type":"next","id":"ok","payload":{"data":{"hello":"world"}}}`, `{"type":"complete","id":"ok"}`)
		})
	}
}

func TestProtocolViolationsClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		init   bool     // send connection_init first
		setup  []string // frames before the violation
		frame  string
		code   int
		before []string // frames the server sends before closing
	}{
		{name: "subscribe before connection_ack", frame: `{"type":"subscribe","id":"s1","payload":{"query":"{ hello }"}}`, code: 4401,
			before: []string{`{"type":"error","id":"s1","payload":[{"message":"Unauthorized"}]}`}},
		{name: "second connection_init", init: true, frame: `{"type":"connection_init"}`, code: 4429},
		{name: "duplicate subscription id", init: true, setup: []string{`{"type":"subscribe","id":"s1","payload":{"query":"subscription { multi { id } }"}}`},
			frame: `{"type":"subscribe","id":"s1","payload":{"query":"subscription { multi { id } }"}}`, code: 4409,
			before: []string{`{"type":"error","id":"s1","payload":[{"message":"Subscriber for s1 already exists"}]}`}},
		{name: "query with the id of an active subscription", init: true, setup: []string{`{"type":"subscribe","id":"s1","payload":{"query":"subscription { multi { id } }"}}`},
			frame: `{"type":"subscribe","id":"s1","payload":{"query":"{ hello }"}}`, code: 4409,
			before: []string{`{"type":"error","id":"s1","payload":[{"message":"Subscriber for s1 already exists"}]}`}},
		// The id is checked before the document: the protocol closes with
		// 4409 whatever the new operation is.
		{name: "invalid document with the id of an active subscription", init: true, setup: []string{`{"type":"subscribe","id":"s1","payload":{"query":"subscription { multi { id } }"}}`},
			frame: `{"type":"subscribe","id":"s1","payload":{"query":"subscription { nosuchfield }"}}`, code: 4409,
			before: []string{`{"type":"error","id":"s1","payload":[{"message":"Subscriber for s1 already exists"}]}`}},
		{name: "unparsable document with the id of an active subscription", init: true, setup: []string{`{"type":"subscribe","id":"s1","payload":{"query":"subscription { multi { id } }"}}`},
			frame: `{"type":"subscribe","id":"s1","payload":{"query":"subscription {"}}`, code: 4409,
			before: []string{`{"type":"error","id":"s1","payload":[{"message":"Subscriber for s1 already exists"}]}`}},
		{name: "refused subscription with the id of an active subscription", init: true, setup: []string{`{"type":"subscribe","id":"s1","payload":{"query":"subscription { multi { id } }"}}`},
			frame: `{"type":"subscribe","id":"s1","payload":{"query":"subscription { hooked(reject: true) }"}}`, code: 4409,
			before: []string{`{"type":"error","id":"s1","payload":[{"message":"Subscriber for s1 already exists"}]}`}},
		{name: "not JSON", frame: `hello`, code: 4400},
		{name: "JSON but not an object", init: true, frame: `[1,2]`, code: 4400},
		{name: "unknown message type", init: true, frame: `{"type":"start","id":"1","payload":{"query":"{ hello }"}}`, code: 4400},
		{name: "server message sent by the client", init: true, frame: `{"type":"next","id":"1","payload":{}}`, code: 4400},
		{name: "subscribe without id", init: true, frame: `{"type":"subscribe","payload":{"query":"{ hello }"}}`, code: 4400},
		{name: "subscribe without query", init: true, frame: `{"type":"subscribe","id":"1","payload":{}}`, code: 4400},
		{name: "variables not an object", init: true, frame: `{"type":"subscribe","id":"1","payload":{"query":"{ hello }","variables":[1]}}`, code: 4400},
		{name: "empty frame", frame: ``, code: 4400},
		{name: "oversized frame", init: true, frame: `{"type":"ping","payload":{"pad":"` + strings.Repeat("x", 128<<10) + `"}}`, code: 1009},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			if tt.init {
				h.ready("c1")
			} else {
				h.open("c1")
			}
			for _, f := range tt.setup {
				h.send("c1", f)
			}
			h.take("c1")
			h.send("c1", tt.frame)
			h.expect("c1", tt.before...)
			h.expectClosed("c1", tt.code)
			// The server deletes the connection's state at once, without
			// waiting for a $disconnect that may never come.
			h.expectNoState("c1", "A", "B")
			if errs := h.errs.list(); len(errs) != 0 {
				t.Errorf("a client's violation is not a server error: %v", errs)
			}
		})
	}
}

func TestFrameForUnknownConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { c.ConnectionTTL = time.Minute })
	// Never connected.
	h.send("ghost", `{"type":"connection_init"}`)
	h.expectClosed("ghost", 1013)
	h.expect("ghost")

	// Expired: its record outlived its TTL.
	h.ready("c1")
	h.advance(2 * time.Minute)
	h.send("c1", `{"type":"ping"}`)
	h.expect("c1")
	h.expectClosed("c1", 1013)
}

func TestHooks(t *testing.T) {
	t.Parallel()
	var sawConnect gqlambda.ConnectRequest
	h := newHarness(t, func(c *gqlambda.Config, log *hookLog) {
		c.Hooks.OnConnect = func(ctx context.Context, req gqlambda.ConnectRequest) (gqlambda.ConnectResult, error) {
			log.add("OnConnect %s", req.ConnectionID)
			sawConnect = req
			if req.Query.Get("room") == "closed" {
				return gqlambda.ConnectResult{}, &gqlambda.StatusError{Status: http.StatusUnauthorized, Reason: "room closed"}
			}
			if req.Header.Get("X-Block") != "" {
				return gqlambda.ConnectResult{}, errors.New("blocked")
			}
			return gqlambda.ConnectResult{}, nil
		}
		c.Hooks.OnConnectionInit = func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (gqlambda.InitResult, error) {
			var p struct{ Token string }
			_ = json.Unmarshal(payload, &p)
			log.add("OnConnectionInit %s authorizer=%s", conn.ID, conn.Authorizer)
			if p.Token != "secret" {
				return gqlambda.InitResult{}, errors.New("bad token")
			}
			// Keep who the user is, never the token.
			return gqlambda.InitResult{Context: map[string]string{"user": "ann"}, Ack: map[string]any{"welcome": "ann"}}, nil
		}
		c.Hooks.OnSubscribe = func(ctx context.Context, req gqlambda.SubscribeRequest) error {
			log.add("OnSubscribe %s %s %s", req.Conn.ID, req.ID, req.Type)
			if strings.Contains(req.Request.Query, "big") {
				return &gqlambda.Error{Message: "big is off limits", Extensions: map[string]any{"code": "FORBIDDEN"}}
			}
			return nil
		}
		c.Hooks.OnComplete = func(ctx context.Context, sub store.Subscription, reason gqlambda.CompleteReason) error {
			log.add("OnComplete %s %s %s", sub.ConnectionID, sub.ID, reason)
			return nil
		}
		c.Hooks.OnDisconnect = func(ctx context.Context, conn gqlambda.Conn, info gqlambda.DisconnectInfo) error {
			log.add("OnDisconnect %s %s %d %s", conn.ID, info.Cause, info.Code, info.Reason)
			return nil
		}
		c.Hooks.OnPing = func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (json.RawMessage, error) {
			log.add("OnPing %s %s", conn.ID, payload)
			return json.RawMessage(`{"from":"server"}`), nil
		}
		c.Hooks.OnPong = func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) error {
			log.add("OnPong %s", conn.ID)
			return nil
		}
	})

	// OnConnect sees the headers, query string and authorizer, and may refuse.
	h.open("c1")
	if sawConnect.Header.Get("Origin") != "https://chat.example.com" || sawConnect.Query.Get("room") != "lobby" ||
		sawConnect.Authorizer["principalId"] != "user-42" || sawConnect.SourceIP != "203.0.113.24" || sawConnect.Subprotocol != "graphql-transport-ws" {
		t.Errorf("OnConnect saw %+v", sawConnect)
	}
	refused := h.connect
	refused.RequestContext.ConnectionID = "c-refused"
	refused.QueryStringParameters = map[string]string{"room": "closed"}
	refused.MultiValueQueryStringParameters = map[string][]string{"room": {"closed"}}
	resp, _ := h.srv.WebSocketHandler(context.Background(), refused)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("StatusError refusal: status %d, want 401", resp.StatusCode)
	}
	blocked := h.connect
	blocked.RequestContext.ConnectionID = "c-blocked"
	blocked.MultiValueHeaders = cloneMultiMap(blocked.MultiValueHeaders)
	blocked.MultiValueHeaders["X-Block"] = []string{"1"}
	if resp, _ := h.srv.WebSocketHandler(context.Background(), blocked); resp.StatusCode != http.StatusForbidden {
		t.Errorf("plain error refusal: status %d, want 403", resp.StatusCode)
	}
	for _, id := range []string{"c-refused", "c-blocked"} {
		if _, err := h.store.GetConnection(context.Background(), id); err == nil {
			t.Errorf("refused connection %s stored", id)
		}
	}

	// OnConnectionInit refuses with 4403, or keeps a context without secrets.
	h.open("c-bad")
	h.send("c-bad", `{"type":"connection_init","payload":{"token":"wrong"}}`)
	h.expect("c-bad")
	h.expectClosed("c-bad", 4403)
	h.expectNoState("c-bad")

	h.send("c1", `{"type":"connection_init","payload":{"token":"secret"}}`)
	h.expect("c1", `{"type":"connection_ack","payload":{"welcome":"ann"}}`)
	stored, _ := h.store.GetConnection(context.Background(), "c1")
	if !jsonEqual(string(stored.Context), `{"user":"ann"}`) || strings.Contains(string(stored.Context), "secret") {
		t.Errorf("stored context %s", stored.Context)
	}

	h.send("c1", `{"type":"ping","payload":{"n":1}}`)
	h.expect("c1", `{"type":"pong","payload":{"from":"server"}}`)
	h.send("c1", `{"type":"pong"}`)

	// OnSubscribe may reject with GraphQL errors; the connection stays.
	h.subscribe("c1", "s-big", `subscription { big }`)
	h.expect("c1", `{"type":"error","id":"s-big","payload":[{"message":"big is off limits","extensions":{"code":"FORBIDDEN"}}]}`)
	h.expectOpen("c1")

	// Per-field hooks: OnSubscribe may reject; OnAfterSubscribe sends an
	// initial event to this subscription only; OnComplete runs once.
	h.subscribe("c1", "h-no", `subscription { hooked(reject: true, label: "no") }`)
	h.expect("c1", `{"type":"error","id":"h-no","payload":[{"message":"not allowed","extensions":{"code":"FORBIDDEN"}}]}`)
	h.subscribe("c1", "h1", `subscription { hooked(initial: "first", label: "one") }`)
	h.expect("c1", `{"type":"next","id":"h1","payload":{"data":{"hooked":"first"}}}`)
	h.subscribe("c1", "h2", `subscription { hooked(label: "two") }`)
	h.expect("c1")
	h.publish("HOOKED", map[string]any{"text": "both"})
	got := h.take("c1")
	slices.Sort(got)
	if len(got) != 2 || !jsonEqual(got[0], `{"type":"next","id":"h1","payload":{"data":{"hooked":"both"}}}`) ||
		!jsonEqual(got[1], `{"type":"next","id":"h2","payload":{"data":{"hooked":"both"}}}`) {
		t.Errorf("publish to both: %v", got)
	}
	h.send("c1", `{"type":"complete","id":"h1"}`)
	h.subscribe("c1", "q", `{ hello }`)
	h.take("c1")

	// $disconnect completes the remaining subscription, then disconnects.
	h.hangUp("c1", 1001, "Going away")

	want := []string{
		"OnConnect c1",
		"OnConnect c-refused",
		"OnConnect c-blocked",
		"OnConnect c-bad",
		`OnConnectionInit c-bad authorizer={"principalId":"user-42","tenant":"acme"}`,
		"OnDisconnect c-bad server-close 4403 Forbidden",
		`OnConnectionInit c1 authorizer={"principalId":"user-42","tenant":"acme"}`,
		`OnPing c1 {"n":1}`,
		"OnPong c1",
		"OnSubscribe c1 s-big subscription",
		"OnSubscribe c1 h-no subscription",
		"field.OnSubscribe h-no no",
		"OnSubscribe c1 h1 subscription",
		"field.OnSubscribe h1 one",
		"field.OnAfterSubscribe h1 one",
		"OnSubscribe c1 h2 subscription",
		"field.OnSubscribe h2 two",
		"field.OnAfterSubscribe h2 two",
		"field.OnComplete h1 one",
		"OnComplete c1 h1 client",
		"OnSubscribe c1 q query",
		"field.OnComplete h2 two",
		"OnComplete c1 h2 disconnect",
		"OnDisconnect c1 disconnect 1001 Going away",
	}
	if got := h.log.list(); !slices.Equal(got, want) {
		t.Errorf("hook calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A late $disconnect of an already deleted connection runs nothing more.
	h.hangUp("c1", 1001, "again")
	if n := h.log.count("OnDisconnect c1"); n != 1 {
		t.Errorf("OnDisconnect ran %d times for c1", n)
	}
}

func TestHookErrorsClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
		c.Hooks.OnPing = func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (json.RawMessage, error) {
			return nil, errors.New("ping hook failed")
		}
	})
	h.ready("c1")
	h.send("c1", `{"type":"ping"}`)
	h.expect("c1")
	h.expectClosed("c1", 4500)
	if errs := h.errs.list(); len(errs) != 1 || !strings.Contains(errs[0], "ping hook failed") {
		t.Errorf("OnError got %v", errs)
	}
}

func TestContextLimitAndAckPayload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
		c.Limits.MaxContextBytes = 64
		c.Hooks.OnConnectionInit = func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (gqlambda.InitResult, error) {
			if string(payload) == `{"big":true}` {
				return gqlambda.InitResult{Context: strings.Repeat("x", 100)}, nil
			}
			return gqlambda.InitResult{Context: json.RawMessage(`{"ok":1}`), Ack: json.RawMessage(`{"v":2}`)}, nil
		}
	})
	h.open("big")
	h.send("big", `{"type":"connection_init","payload":{"big":true}}`)
	h.expectClosed("big", 4403)
	if errs := h.errs.list(); len(errs) != 1 || !strings.Contains(errs[0], "MaxContextBytes") {
		t.Errorf("OnError got %v", errs)
	}
	h.open("ok")
	h.send("ok", `{"type":"connection_init"}`)
	h.expect("ok", `{"type":"connection_ack","payload":{"v":2}}`)
}

func TestTwoServersInOneProcess(t *testing.T) {
	t.Parallel()
	a := newHarness(t, nil)
	b := newHarness(t, nil)
	a.ready("same-id")
	b.ready("same-id")
	a.subscribe("same-id", "s", `subscription { multi { id } }`)
	if res := b.publish("A", map[string]any{"id": "1"}); res.Matched != 0 {
		t.Fatalf("server b saw server a's subscription: %+v", res)
	}
	if res := a.publish("A", map[string]any{"id": "1"}); res.Delivered != 1 {
		t.Fatalf("server a: %+v", res)
	}
	b.expect("same-id")
	a.expect("same-id", `{"type":"next","id":"s","payload":{"data":{"multi":{"id":"1"}}}}`)
}

func TestNewValidatesConfig(t *testing.T) {
	if _, err := gqlambda.New(gqlambda.Config{}); !errors.Is(err, gqlambda.ErrNoEngine) {
		t.Errorf("no engine: %v", err)
	}
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "chat")
	newHarness(t, nil) // an explicit store is fine on Lambda
	if _, err := gqlambda.New(gqlambda.Config{Engine: fakeEngine{}}); !errors.Is(err, gqlambda.ErrMemoryStoreOnLambda) {
		t.Errorf("on Lambda without a store: %v", err)
	}
}

// TestNoSender: without Config.Sender, the server cannot reach WebSocket
// clients: it refuses connections with 500 and reports why, and Publish says
// so; GraphQL over HTTP still works.
func TestNoSender(t *testing.T) {
	t.Parallel()
	var reported []error
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
		c.Sender = nil
		c.Hooks.OnError = func(_ context.Context, err error) { reported = append(reported, err) }
	})
	if resp := h.connectWith("c1", "graphql-transport-ws"); resp.StatusCode != 500 {
		t.Errorf("$connect without a sender: status %d, want 500", resp.StatusCode)
	}
	if len(reported) != 1 || !errors.Is(reported[0], gqlambda.ErrNoSender) {
		t.Errorf("reported %v, want ErrNoSender", reported)
	}
	if _, err := h.store.GetConnection(t.Context(), "c1"); err == nil {
		t.Error("the refused connection was stored")
	}
	if _, err := h.srv.Publish(t.Context(), "MESSAGES", map[string]any{"text": "x"}); !errors.Is(err, gqlambda.ErrNoSender) {
		t.Errorf("Publish without a sender: %v, want ErrNoSender", err)
	}
	rr := httptest.NewRecorder()
	h.srv.HTTPHandler(nil).ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/graphql?query=%7Bhello%7D", nil))
	if rr.Code != 200 || !strings.Contains(rr.Body.String(), `"world"`) {
		t.Errorf("GraphQL over HTTP without a sender: %d %s", rr.Code, rr.Body)
	}
}

type fakeEngine struct{}

func (fakeEngine) Prepare(context.Context, string, string) (gqlambda.Operation, error) {
	return nil, fmt.Errorf("unused")
}

// TestOnConnectData: what OnConnect keeps reaches the later hooks of the
// connection; data that cannot be kept (not JSON, over the context limit)
// refuses the connection with 500 and is reported.
func TestOnConnectData(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, log *hookLog) {
		c.Limits.MaxContextBytes = 64
		c.Hooks.OnConnect = func(ctx context.Context, req gqlambda.ConnectRequest) (gqlambda.ConnectResult, error) {
			switch req.ConnectionID {
			case "big":
				return gqlambda.ConnectResult{Data: strings.Repeat("x", 100)}, nil
			case "bad":
				return gqlambda.ConnectResult{Data: json.RawMessage(`{"user":`)}, nil
			}
			return gqlambda.ConnectResult{Data: map[string]string{"user": "ann"}}, nil
		}
		c.Hooks.OnConnectionInit = func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (gqlambda.InitResult, error) {
			var d struct{ User string }
			err := conn.DecodeData(&d)
			log.add("OnConnectionInit %s %s %v", conn.ID, d.User, err)
			return gqlambda.InitResult{}, nil
		}
		c.Hooks.OnDisconnect = func(ctx context.Context, conn gqlambda.Conn, info gqlambda.DisconnectInfo) error {
			log.add("OnDisconnect %s %s", conn.ID, conn.Data)
			return nil
		}
	})
	h.ready("c1")
	h.hangUp("c1", 1000, "bye")
	if got, want := h.log.list(), []string{"OnConnectionInit c1 ann <nil>", `OnDisconnect c1 {"user":"ann"}`}; !slices.Equal(got, want) {
		t.Errorf("hooks %q, want %q", got, want)
	}
	for _, id := range []string{"big", "bad"} {
		if resp := h.connectWith(id, "graphql-transport-ws"); resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("$connect %s: status %d, want 500", id, resp.StatusCode)
		}
		h.expectNoState(id)
	}
	if errs := h.errs.list(); len(errs) != 2 || !strings.Contains(errs[0], "over Limits.MaxContextBytes") || !strings.Contains(errs[1], "invalid JSON") {
		t.Errorf("OnError: %q", errs)
	}
}
