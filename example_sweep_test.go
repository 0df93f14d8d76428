package gqlambda_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store/memory"
)

// ExampleServer_Sweep removes a connection whose client vanished without a
// $disconnect. On Lambda a schedule invokes a function running
// lambda.Start(srv.SweepHandler); locally srv.SweepEvery(ctx, interval)
// does the same. Here a recorder stands in for API Gateway, and a clock the
// example moves for the time that passes.
func ExampleServer_Sweep() {
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"hello": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) { return "world", nil }},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query})
	if err != nil {
		panic(err)
	}
	var elapsed atomic.Int64
	start := time.Now()
	now := func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
	gateway := gatewaytest.NewRecorder()
	srv, err := gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(schema, nil),
		Store:  memory.New(&memory.Options{Now: now}),
		Sender: gateway,
		Now:    now,
		// Connections idle for 5 minutes are checked (the default).
		Liveness: gqlambda.Liveness{IdleAfter: 5 * time.Minute},
		Hooks: gqlambda.Hooks{
			OnDisconnect: func(ctx context.Context, c gqlambda.Conn, info gqlambda.DisconnectInfo) error {
				fmt.Println("OnDisconnect", c.ID, info.Cause)
				return nil
			},
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, id := range []string{"alive", "vanished"} {
		srv.WebSocketHandler(ctx, connectEvent(id))
		srv.WebSocketHandler(ctx, frameEvent(id, `{"type":"connection_init"}`))
	}
	// One client vanishes; API Gateway loses its $disconnect and answers
	// 410 Gone for it from then on.
	gateway.SetGone("vanished")

	elapsed.Store(int64(6 * time.Minute))
	res, err := srv.Sweep(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("idle %d, alive %d, gone %d\n", res.Idle, res.Alive, res.Gone)
	// Output:
	// OnDisconnect vanished swept-gone
	// idle 2, alive 1, gone 1
}
