package gqlgen_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/gqlgen/internal/testschema"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store/memory"
)

// TestServer runs the engine under a gqlambda server, driven by API Gateway
// events the way the WebSocket Lambda function is: subscriptions declare
// their topics and filters through gqlgen.Subscribe, and published events
// reach their subscribers as typed payloads.
func TestServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rec := gatewaytest.NewRecorder()
	srv, err := gqlambda.New(gqlambda.Config{Engine: newEngine(nil), Store: memory.New(nil), Sender: rec})
	if err != nil {
		t.Fatal(err)
	}
	send := func(conn, eventType, route, body string) {
		t.Helper()
		resp, err := srv.WebSocketHandler(ctx, events.APIGatewayWebsocketProxyRequest{
			Body:    body,
			Headers: map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"},
			RequestContext: events.APIGatewayWebsocketProxyRequestContext{
				EventType: eventType, RouteKey: route, ConnectionID: conn,
				DomainName: "example.execute-api.eu-west-1.amazonaws.com", Stage: "test",
			},
		})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: status %d, %v", route, body, resp.StatusCode, err)
		}
	}
	subscribe := func(conn, id, query, variables string) {
		t.Helper()
		send(conn, "MESSAGE", "$default", fmt.Sprintf(`{"type":"subscribe","id":%q,"payload":{"query":%q,"variables":%s}}`, id, query, variables))
	}
	for _, conn := range []string{"a", "b"} {
		send(conn, "CONNECT", "$connect", "")
		send(conn, "MESSAGE", "$default", `{"type":"connection_init"}`)
	}
	subscribe("a", "m", `subscription($room: String!) { messageAdded(room: $room) { text author { name } } }`, `{"room":"lobby"}`)
	subscribe("b", "c", `subscription($s: Int!) { n: counter(step: $s) }`, `{"s":2}`)
	subscribe("b", "bad", `subscription { rogue }`, `{}`)

	publish := func(topic string, payload any, want gqlambda.PublishResult) {
		t.Helper()
		res, err := srv.Publish(ctx, topic, payload)
		if err != nil || res != want {
			t.Errorf("Publish(%s, %v) = %+v, %v; want %+v", topic, payload, res, err, want)
		}
	}
	// messageAdded's filter wants room "r": this event is filtered out.
	publish(testschema.MessagesTopic, map[string]any{"room": "other", "text": "no"}, gqlambda.PublishResult{Filtered: 1})
	publish(testschema.MessagesTopic, map[string]any{"room": "r", "text": "hi", "author": map[string]any{"name": "ann"}}, gqlambda.PublishResult{Matched: 1, Delivered: 1})
	publish("counter:2", 7, gqlambda.PublishResult{Matched: 1, Delivered: 1})
	publish("counter:3", 8, gqlambda.PublishResult{})

	want := map[string][]string{
		"a": {
			`{"type":"connection_ack"}`,
			`{"type":"next","id":"m","payload":{"data":{"messageAdded":{"text":"hi","author":{"name":"ann"}}}}}`,
		},
		"b": {
			`{"type":"connection_ack"}`,
			`{"type":"error","id":"bad","payload":[{"message":"Subscription field \"rogue\" must declare its topics with gqlgen.Subscribe."}]}`,
			`{"type":"next","id":"c","payload":{"data":{"n":7}}}`,
		},
	}
	for conn, frames := range want {
		if got := rec.Frames(conn); !slices.Equal(got, frames) {
			t.Errorf("frames of %s:\n got %q\nwant %q", conn, got, frames)
		}
	}
}
