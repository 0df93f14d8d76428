package localgateway_test

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/localgateway"
	"github.com/gqlambda/gqlambda/store/memory"
)

// chatSchema has a subscription to the topic NEW_MESSAGE.
func chatSchema(t *testing.T) graphql.Schema {
	t.Helper()
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"messageBroadcast": &graphql.Field{
			Type:      graphql.String,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{"NEW_MESSAGE"}}),
			Resolve: func(p graphql.ResolveParams) (any, error) {
				return p.Source.(map[string]any)["message"], nil
			},
		},
	}})
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"hello": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) { return "world", nil }},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: subscription})
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// TestGQLambda runs the gqlambda server behind the gateway with a
// graphql-transport-ws client, once with the gateway itself as Sender (close
// codes reach the client) and once with the production @connections client
// (they cannot, as on AWS).
func TestGQLambda(t *testing.T) {
	for _, tc := range []struct {
		name       string
		production bool
		wantClose  websocket.StatusCode
		wantReason string
	}{
		{name: "in-process sender", wantClose: 4401, wantReason: "Unauthorized"},
		{name: "production client", production: true, wantClose: websocket.StatusNoStatusRcvd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *gqlambda.Server
			rec := &recorder{}
			handled := &recorder{} // the events once the server handled them
			g, hs := start(t, rec, localgateway.Options{Handler: func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				rec.handle(ctx, ev)           // record only
				defer handled.handle(ctx, ev) // record only
				return srv.WebSocketHandler(ctx, ev)
			}})
			var sender gateway.Sender = g
			if tc.production {
				// The endpoint comes from the events: http://127.0.0.1:{port}/local.
				sender = productionClient()
			}
			var err error
			srv, err = gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(chatSchema(t), nil), Store: memory.New(nil), Sender: sender})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			opts := func() *websocket.DialOptions {
				return &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}}
			}

			c := dial(t, wsURL(hs, "/graphql"), "subscriber", opts())
			if c.Subprotocol() != "graphql-transport-ws" {
				t.Fatalf("subprotocol %q", c.Subprotocol())
			}
			write(t, c, websocket.MessageText, []byte(`{"type":"connection_init"}`))
			if got := readText(t, c); got != `{"type":"connection_ack"}` {
				t.Fatalf("got %s, want connection_ack", got)
			}
			write(t, c, websocket.MessageText, []byte(`{"type":"subscribe","id":"1","payload":{"query":"subscription { messageBroadcast }"}}`))
			// The subscribe message is handled in the background: once the
			// server has handled it (after connection_init), it is stored.
			handled.wait(t, "MESSAGE", rec.connectionID(t, "subscriber"), 2)
			if res, err := srv.Publish(ctx, "NEW_MESSAGE", map[string]any{"message": "hello"}); err != nil || res.Delivered != 1 {
				t.Fatalf("Publish: %+v, %v; want 1 delivered", res, err)
			}
			if got, want := readText(t, c), `{"type":"next","id":"1","payload":{"data":{"messageBroadcast":"hello"}}}`; got != want {
				t.Fatalf("got %s, want %s", got, want)
			}

			// Subscribing before connection_init is refused.
			early := dial(t, wsURL(hs, "/graphql"), "early", opts())
			write(t, early, websocket.MessageText, []byte(`{"type":"subscribe","id":"1","payload":{"query":"subscription { messageBroadcast }"}}`))
			if got, want := readText(t, early), `{"type":"error","id":"1","payload":[{"message":"Unauthorized"}]}`; got != want {
				t.Errorf("got %s, want %s", got, want)
			}
			if ce := readClose(t, early); ce.Code != tc.wantClose || ce.Reason != tc.wantReason {
				t.Errorf("close %d %q, want %d %q", ce.Code, ce.Reason, tc.wantClose, tc.wantReason)
			}

			// The subscriber leaves: its $disconnect deletes the
			// subscription.
			c.Close(websocket.StatusNormalClosure, "")
			handled.wait(t, "DISCONNECT", rec.connectionID(t, "subscriber"), 1)
			res, err := srv.Publish(ctx, "NEW_MESSAGE", map[string]any{"message": "again"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Matched != 0 {
				t.Errorf("publish after disconnect matched %d subscriptions", res.Matched)
			}
		})
	}
}

// TestGQLambdaRefusesUnknownSubprotocol: the server's $connect refuses a
// client offering no protocol it speaks, and the handshake fails with 400.
func TestGQLambdaRefusesUnknownSubprotocol(t *testing.T) {
	var srv *gqlambda.Server
	g, hs := start(t, &recorder{}, localgateway.Options{Handler: func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return srv.WebSocketHandler(ctx, ev)
	}})
	var err error
	srv, err = gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(chatSchema(t), nil), Store: memory.New(nil), Sender: g})
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := websocket.Dial(t.Context(), wsURL(hs, "/graphql"), &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("dial: %v, want a 400 refusal", err)
	}
}
