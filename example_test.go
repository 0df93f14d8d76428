package gqlambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store/memory"
)

// The events API Gateway sends when a client connects and sends frames,
// reduced to what the server reads.
func connectEvent(id string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Headers: map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"},
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			EventType: "CONNECT", RouteKey: "$connect", ConnectionID: id,
			DomainName: "abc123.execute-api.eu-west-1.amazonaws.com", Stage: "prod",
		},
	}
}

func frameEvent(id, body string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			EventType: "MESSAGE", RouteKey: "$default", ConnectionID: id,
			DomainName: "abc123.execute-api.eu-west-1.amazonaws.com", Stage: "prod",
		},
	}
}

// Example is the quickstart: a schema whose subscription field listens to a
// topic, a server, and an event published to it. On Lambda the server's
// WebSocketHandler is the function handler (lambda.Start(srv.WebSocketHandler))
// and the Sender is API Gateway's @connections API (apigw.NewDefault); here a
// recorder stands in for API Gateway.
func Example() {
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"messageBroadcast": &graphql.Field{
			Type:      graphql.String,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{"NEW_MESSAGE"}}),
			// The event's payload is the source of the subscription field.
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
		panic(err)
	}

	gateway := gatewaytest.NewRecorder()
	srv, err := gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(schema, nil),
		Store:  memory.New(nil),
		Sender: gateway,
	})
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	srv.WebSocketHandler(ctx, connectEvent("conn-1"))
	srv.WebSocketHandler(ctx, frameEvent("conn-1", `{"type":"connection_init"}`))
	srv.WebSocketHandler(ctx, frameEvent("conn-1", `{"type":"subscribe","id":"1","payload":{"query":"subscription { messageBroadcast }"}}`))

	res, err := srv.Publish(ctx, "NEW_MESSAGE", map[string]any{"message": "hello"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", res)
	for _, frame := range gateway.Frames("conn-1") {
		fmt.Println(frame)
	}
	// Output:
	// {Matched:1 Filtered:0 Delivered:1 Gone:0 Failed:0 Duplicates:0 Stored:false Split:<nil>}
	// {"type":"connection_ack"}
	// {"type":"next","id":"1","payload":{"data":{"messageBroadcast":"hello"}}}
}

// ExampleSubscribeOptions_filter computes a subscription's filter from its
// arguments: a subscriber of chat(chatId: "42") receives the messages of chat
// 42 only. The filter is fixed when the subscription starts and evaluated for
// every event of the topic.
func ExampleSubscribeOptions_filter() {
	message := graphql.NewObject(graphql.ObjectConfig{Name: "Message", Fields: graphql.Fields{
		"chatId": &graphql.Field{Type: graphql.ID},
		"text":   &graphql.Field{Type: graphql.String},
	}})
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"chat": &graphql.Field{
			Type: message,
			Args: graphql.FieldConfigArgument{"chatId": {Type: graphql.NewNonNull(graphql.ID)}},
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{
				Topics: []string{"MESSAGES"},
				FilterFunc: func(ctx context.Context, args map[string]any) (filter.Filter, error) {
					return filter.All(filter.Where("chatId", filter.Eq, args["chatId"])), nil
				},
			}),
			Resolve: func(p graphql.ResolveParams) (any, error) { return p.Source, nil },
		},
	}})
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"ok": &graphql.Field{Type: graphql.Boolean},
	}})
	schema, _ := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: subscription})
	gateway := gatewaytest.NewRecorder()
	srv, _ := gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(schema, nil), Store: memory.New(nil), Sender: gateway})

	ctx := context.Background()
	srv.WebSocketHandler(ctx, connectEvent("conn-1"))
	srv.WebSocketHandler(ctx, frameEvent("conn-1", `{"type":"connection_init"}`))
	srv.WebSocketHandler(ctx, frameEvent("conn-1", `{"type":"subscribe","id":"1","payload":{"query":"subscription { chat(chatId: \"42\") { text } }"}}`))

	for _, msg := range []map[string]any{{"chatId": "7", "text": "elsewhere"}, {"chatId": "42", "text": "here"}} {
		res, _ := srv.Publish(ctx, "MESSAGES", msg)
		fmt.Printf("chat %s: delivered %d, filtered out %d\n", msg["chatId"], res.Delivered, res.Filtered)
	}
	fmt.Println(gateway.Frames("conn-1")[1])
	// Output:
	// chat 7: delivered 0, filtered out 1
	// chat 42: delivered 1, filtered out 0
	// {"type":"next","id":"1","payload":{"data":{"chat":{"text":"here"}}}}
}

// ExampleHooks authenticates clients in OnConnectionInit: the token arrives
// in the connection_init payload, is checked, and only the user it names is
// kept (never the token itself). Resolvers read it back from the context.
func ExampleHooks() {
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"me": &graphql.Field{Type: graphql.String, Resolve: func(p graphql.ResolveParams) (any, error) {
			conn, _ := gqlambda.ConnFromContext(p.Context)
			var session struct{ User string }
			if err := conn.DecodeContext(&session); err != nil {
				return nil, err
			}
			return session.User, nil
		}},
	}})
	schema, _ := graphql.NewSchema(graphql.SchemaConfig{Query: query})
	users := map[string]string{"t0ken": "ann"} // your token check goes here

	gateway := gatewaytest.NewRecorder()
	srv, _ := gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(schema, nil),
		Store:  memory.New(nil),
		Sender: gateway,
		Hooks: gqlambda.Hooks{
			OnConnectionInit: func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (gqlambda.InitResult, error) {
				var p struct{ Token string }
				if err := json.Unmarshal(payload, &p); err != nil {
					return gqlambda.InitResult{}, err
				}
				user, ok := users[p.Token]
				if !ok {
					return gqlambda.InitResult{}, errors.New("invalid token") // closes with 4403
				}
				return gqlambda.InitResult{Context: map[string]string{"user": user}}, nil
			},
		},
	})

	ctx := context.Background()
	srv.WebSocketHandler(ctx, connectEvent("good"))
	srv.WebSocketHandler(ctx, frameEvent("good", `{"type":"connection_init","payload":{"token":"t0ken"}}`))
	srv.WebSocketHandler(ctx, frameEvent("good", `{"type":"subscribe","id":"q","payload":{"query":"{ me }"}}`))
	srv.WebSocketHandler(ctx, connectEvent("bad"))
	srv.WebSocketHandler(ctx, frameEvent("bad", `{"type":"connection_init","payload":{"token":"stolen"}}`))

	for _, frame := range gateway.Frames("good") {
		fmt.Println(frame)
	}
	code, reason, _ := gateway.Closed("bad")
	fmt.Println("bad closed:", code, reason)
	// Output:
	// {"type":"connection_ack"}
	// {"type":"next","id":"q","payload":{"data":{"me":"ann"}}}
	// {"type":"complete","id":"q"}
	// bad closed: 4403 Forbidden
}
