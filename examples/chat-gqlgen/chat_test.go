package main

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/examples/chat/app"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store/memory"
)

// TestChat drives the chat through a server on the in-memory store, as API
// Gateway would: the subscriptions, both mutations and the query, without
// the Node clients of the end-to-end tests.
func TestChat(t *testing.T) {
	t.Parallel()
	engine, err := newEngine(app.NewMemoryMessages())
	if err != nil {
		t.Fatal(err)
	}
	rec := gatewaytest.NewRecorder()
	srv, err := gqlambda.New(gqlambda.Config{Engine: engine, Store: memory.New(nil), Sender: rec, Hooks: app.Hooks()})
	if err != nil {
		t.Fatal(err)
	}
	send := func(conn, eventType, route, body string) {
		t.Helper()
		ev := events.APIGatewayWebsocketProxyRequest{
			Body:    body,
			Headers: map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"},
			RequestContext: events.APIGatewayWebsocketProxyRequestContext{
				EventType: eventType, RouteKey: route, ConnectionID: conn,
				DomainName: "example.execute-api.eu-west-1.amazonaws.com", Stage: "test",
			},
		}
		if conn == "dee" && route == "$connect" {
			// What the chat's authorizer gives API Gateway for Dee's token.
			ev.RequestContext.Authorizer = map[string]any{"principalId": "u-dee", "sub": "u-dee", "name": "Dee", "integrationLatency": 3}
		}
		resp, err := srv.WebSocketHandler(t.Context(), ev)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: status %d, %v", route, body, resp.StatusCode, err)
		}
	}
	operation := func(conn, id, query string) {
		t.Helper()
		send(conn, "MESSAGE", "$default", fmt.Sprintf(`{"type":"subscribe","id":%q,"payload":{"query":%q}}`, id, query))
	}
	for conn, init := range map[string]string{"alice": `{"name":"alice"}`, "bob": `{}`, "carol": `{}`, "dee": `{"name":"mallory"}`} {
		send(conn, "CONNECT", "$connect", "")
		send(conn, "MESSAGE", "$default", `{"type":"connection_init","payload":`+init+`}`)
	}
	operation("bob", "b", `subscription { messageBroadcast }`)
	operation("bob", "c", `subscription { chat(chatId: "room1") { chatId text author } }`)
	operation("carol", "c", `subscription { chat(chatId: "room2") { text } }`)

	operation("alice", "1", `mutation { broadcastMessage(message: "hello all") }`)
	operation("alice", "2", `mutation { sendMessage(chatId: "room1", text: "hi room1") { chatId text author } }`)
	// With an authorizer the author is the identity's name, whatever the
	// connection_init said; the client cannot name an author.
	operation("dee", "3", `mutation { sendMessage(chatId: "room2", text: "hi room2") { text author } }`)
	operation("alice", "5", `mutation { sendMessage(chatId: "room2", text: "forged", author: "al") { text author } }`)
	operation("alice", "4", `{ messages(chatId: "room1") { chatId text author sentAt id } }`)

	want := map[string][]string{
		"alice": {
			`{"type":"connection_ack"}`,
			`{"type":"next","id":"1","payload":{"data":{"broadcastMessage":"hello all"}}}`,
			`{"type":"complete","id":"1"}`,
			`{"type":"next","id":"2","payload":{"data":{"sendMessage":{"chatId":"room1","text":"hi room1","author":"alice"}}}}`,
			`{"type":"complete","id":"2"}`,
			`{"type":"error","id":"5","payload":[{"message":"Unknown argument \"author\" on field \"Mutation.sendMessage\".","locations":[{"line":1,"column":12}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`,
			`{"type":"next","id":"4","payload":{"data":{"messages":[{"chatId":"room1","text":"hi room1","author":"alice","sentAt":"TIME","id":"ID"}]}}}`,
			`{"type":"complete","id":"4"}`,
		},
		"dee": {
			`{"type":"connection_ack"}`,
			`{"type":"next","id":"3","payload":{"data":{"sendMessage":{"text":"hi room2","author":"Dee"}}}}`,
			`{"type":"complete","id":"3"}`,
		},
		"bob": {
			`{"type":"connection_ack"}`,
			`{"type":"next","id":"b","payload":{"data":{"messageBroadcast":"hello all"}}}`,
			`{"type":"next","id":"c","payload":{"data":{"chat":{"chatId":"room1","text":"hi room1","author":"alice"}}}}`,
		},
		"carol": {
			`{"type":"connection_ack"}`,
			`{"type":"next","id":"c","payload":{"data":{"chat":{"text":"hi room2"}}}}`,
		},
	}
	generated := regexp.MustCompile(`"sentAt":"[^"]+","id":"[^"]+"`)
	for conn, frames := range want {
		got := rec.Frames(conn)
		for i, f := range got {
			got[i] = generated.ReplaceAllString(f, `"sentAt":"TIME","id":"ID"`)
		}
		if !slices.Equal(got, frames) {
			t.Errorf("frames of %s:\n got %q\nwant %q", conn, got, frames)
		}
	}
}
