package gqlambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store/memory"
)

// ExampleTelemetry writes the server's metrics as CloudWatch Embedded
// Metric Format lines: on Lambda to os.Stdout, where CloudWatch Logs turns
// them into metrics; here to a buffer, read back. One client subscribes and
// one other has gone when an event is published.
func ExampleTelemetry() {
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"news": &graphql.Field{
			Type:      graphql.String,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{"NEWS"}}),
			Resolve:   func(p graphql.ResolveParams) (any, error) { return p.Source, nil },
		},
	}})
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{"ok": &graphql.Field{Type: graphql.Boolean}}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: subscription})
	if err != nil {
		panic(err)
	}
	var metrics bytes.Buffer
	rec := gatewaytest.NewRecorder()
	srv, err := gqlambda.New(gqlambda.Config{
		Engine:    graphqlgo.New(schema, nil),
		Store:     memory.New(nil),
		Sender:    rec,
		Telemetry: gqlambda.Telemetry{Metrics: &metrics, Service: "chat"},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, id := range []string{"alice", "bob"} {
		_, _ = srv.WebSocketHandler(ctx, connectEvent(id))
		_, _ = srv.WebSocketHandler(ctx, frameEvent(id, `{"type":"connection_init"}`))
		_, _ = srv.WebSocketHandler(ctx, frameEvent(id, `{"type":"subscribe","id":"1","payload":{"query":"subscription { news }"}}`))
	}
	rec.SetGone("bob") // bob's client vanished without a $disconnect
	metrics.Reset()
	if _, err := srv.Publish(ctx, "NEWS", "hello"); err != nil {
		panic(err)
	}

	// The publish's one line.
	var line map[string]any
	if err := json.Unmarshal(metrics.Bytes(), &line); err != nil {
		panic(err)
	}
	for _, name := range []string{"Service", "FanOuts", "Deliveries", "Gone", "Failed", "Disconnections", "SubscriptionsEnded"} {
		fmt.Println(name, line[name])
	}
	// Output:
	// Service chat
	// FanOuts 1
	// Deliveries 1
	// Gone 1
	// Failed 0
	// Disconnections 1
	// SubscriptionsEnded 1
}
