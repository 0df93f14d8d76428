package gqlambda_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/localgateway"
	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/plainws"
	"github.com/gqlambda/gqlambda/store/memory"
)

// plainFrame is a request of the plain dialect, as the AWS sample's clients
// send it.
func plainFrame(query string) string {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{}})
	return string(b)
}

// TestPlainProtocol: with Config.PlainProtocol, a connection that offers no
// subprotocol speaks the plain dialect: no subprotocol echoed, no
// connection_init, requests in, bare results out, no complete messages, a
// subscription sent twice kept once; connections that offer a subprotocol
// are not affected.
func TestPlainProtocol(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { c.PlainProtocol = true })
	resp := h.connectWith("p")
	if resp.StatusCode != 200 || resp.Headers["Sec-WebSocket-Protocol"] != "" {
		t.Fatalf("$connect without subprotocol: %+v", resp)
	}
	if c, err := h.store.GetConnection(context.Background(), "p"); err != nil || c.Protocol != plainws.Name {
		t.Fatalf("stored connection %+v, %v; want protocol %q", c, err, plainws.Name)
	}
	sub := plainFrame(`subscription { messages(chatId: "c") { id text } }`)
	h.send("p", sub)
	h.send("p", sub) // the same subscription again: still one
	h.expect("p")
	if subs := h.subscriptions("MESSAGES"); len(subs) != 1 || subs[0].ID != plainws.OperationID(mustRequest(t, sub)) {
		t.Fatalf("subscriptions %+v, want one, named after its request", subs)
	}
	h.send("p", plainFrame(`{ hello }`))
	h.expect("p", `{"data":"world"}`)
	h.send("p", plainFrame(`{ nosuchfield }`))
	if got := h.take("p"); len(got) != 1 || !strings.HasPrefix(got[0], `{"errors":[`) || !strings.Contains(got[0], "nosuchfield") {
		t.Errorf("invalid GraphQL: %q", got)
	}
	h.send("p", `{"type":"connection_init"}`)
	if got := h.take("p"); len(got) != 1 || !strings.Contains(got[0], "Invalid message received") {
		t.Errorf("a subprotocol's message: %q", got)
	}
	h.expectOpen("p")

	if res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "c", "text": "Bonjour"}); res.Delivered != 1 {
		t.Errorf("Publish = %+v", res)
	}
	h.expect("p", `{"data":{"id":"1","text":"Bonjour"}}`) // the root field's value
	res, err := h.srv.Complete(context.Background(), "MESSAGES", nil)
	if err != nil || res.Matched != 1 || res.Delivered != 1 {
		t.Errorf("Complete = %+v, %v", res, err)
	}
	h.expect("p") // no message for the end of an operation
	if subs := h.subscriptions("MESSAGES"); len(subs) != 0 {
		t.Errorf("subscriptions after Complete: %+v", subs)
	}

	// A client that offers a subprotocol speaks it.
	h.open("t")
	if c, _ := h.store.GetConnection(context.Background(), "t"); c.Protocol != "graphql-transport-ws" {
		t.Errorf("protocol of a graphql-ws client: %q", c.Protocol)
	}
	h.hangUp("p", 1000, "")
	h.expectNoState("p", "MESSAGES")
	if errs := h.errs.list(); len(errs) != 0 {
		t.Errorf("OnError: %q", errs)
	}
}

// TestPlainProtocolOff: without Config.PlainProtocol, a connection that
// offers no subprotocol speaks graphql-transport-ws, which refuses the plain
// dialect's requests with 4400.
func TestPlainProtocolOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.connectWith("p")
	h.send("p", plainFrame(`{ hello }`))
	h.expectClosed("p", 4400)
}

func mustRequest(t *testing.T, frame string) protocol.Request {
	t.Helper()
	m, err := plainws.DecodeClient([]byte(frame))
	if err != nil {
		t.Fatal(err)
	}
	return m.Request
}

// TestSeed002OnTheLocalGateway runs the flow of the AWS sample "Using Apollo
// Server on AWS Lambda with Amazon EventBridge" on the local gateway, with a
// WebSocket client that speaks it as the sample's clients do (no
// subprotocol, the sample's own frames): it subscribes to a chat, queries,
// and receives each translation that the EventBridge handler delivers from
// the sample's ClientMessageTranslated events, once although EventBridge
// delivers one of them twice, and nothing of another chat.
func TestSeed002OnTheLocalGateway(t *testing.T) {
	t.Parallel()
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"getEvent": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) { return "Hello from Apollo!", nil }},
	}})
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"chat": &graphql.Field{
			Type: graphql.String,
			Args: graphql.FieldConfigArgument{"chatId": {Type: graphql.NewNonNull(graphql.String)}},
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{TopicsFunc: func(_ context.Context, args map[string]any) ([]string, error) {
				return []string{args["chatId"].(string)}, nil
			}}),
			Resolve: func(p graphql.ResolveParams) (any, error) { return p.Source.(map[string]any)["message"], nil },
		},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: subscription})
	if err != nil {
		t.Fatal(err)
	}
	var srv *gqlambda.Server
	gw, err := localgateway.New(localgateway.Options{
		Handler: func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return srv.WebSocketHandler(ctx, ev)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err = gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(schema, nil), Store: memory.New(nil), Sender: gw, PlainProtocol: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := gw.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = served.Shutdown(ctx)
	})

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, served.WebSocketURL, nil) // no subprotocol
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols || ws.Subprotocol() != "" {
		t.Fatalf("handshake: %d, subprotocol %q", resp.StatusCode, ws.Subprotocol())
	}
	write := func(frame string) {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		t.Helper()
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// The sample's frames, as its README gives them.
	write(`{"query":"subscription Subscription {\n  chat(chatId: \"chat\")\n}","variables":{}}`)
	write(`{"query":"query { getEvent }","variables":{}}`)
	// The local gateway runs each frame in order: once the query is
	// answered, the subscription is stored.
	if got := read(); got != `{"data":"Hello from Apollo!"}` {
		t.Fatalf("query answer %s", got)
	}

	handler := srv.EventBridgeHandler(gqlambda.EventBridgeMapping{TopicField: "chatId"}.Map)
	translated := func(id, chat, message string) events.EventBridgeEvent {
		detail, _ := json.Marshal(map[string]string{"chatId": chat, "message": message})
		return events.EventBridgeEvent{ID: id, DetailType: "ClientMessageTranslated", Source: "translate", Detail: detail}
	}
	for _, ev := range []events.EventBridgeEvent{
		translated("e-de", "chat", "Guten Morgen"),
		translated("e-de", "chat", "Guten Morgen"), // delivered again by EventBridge
		translated("e-other", "another chat", "Hola"),
		translated("e-fr", "chat", "Bonjour"),
	} {
		if err := handler(ctx, ev); err != nil {
			t.Fatalf("EventBridge handler: %v", err)
		}
	}
	// The sample's response handler sends {"data": <translation>}.
	for _, want := range []string{`{"data":"Guten Morgen"}`, `{"data":"Bonjour"}`} {
		if got := read(); got != want {
			t.Fatalf("frame %s, want %s", got, want)
		}
	}
}
