package dynamodb_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// TestFanOutDeliversEveryPageOnce publishes through a Server on the DynamoDB
// store to 1,000 subscriptions of one topic, spread over 3 shards and read in
// pages of 100 (about 4 pages per shard): every subscription must get the
// event exactly once. (The conformance suite reads 3,000 subscriptions of a
// topic, beyond DynamoDB's 1 MB page, through TopicSubscriptions.)
func TestFanOutDeliversEveryPageOnce(t *testing.T) {
	client := dynamotest.Client(t)
	prefix := dynamotest.Prefix(t)
	tables := dynamodb.PrefixedTables(prefix)
	if err := dynamodb.CreateTables(t.Context(), client, tables); err != nil {
		t.Fatal(err)
	}
	st := dynamodb.New(client, &dynamodb.Options{Tables: tables, Shards: 3, PageSize: 100})

	const topic, connections, perConnection = "TICKS", 250, 4
	sub := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"ticks": &graphql.Field{
			Type:      graphql.Int,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{topic}}),
			Resolve:   func(p graphql.ResolveParams) (any, error) { return p.Source.(map[string]any)["n"], nil },
		},
	}})
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{"ok": &graphql.Field{Type: graphql.Boolean}}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: sub})
	if err != nil {
		t.Fatal(err)
	}
	rec := gatewaytest.NewRecorder()
	srv, err := gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(schema, nil), Store: st, Sender: rec})
	if err != nil {
		t.Fatal(err)
	}

	// The records are written directly (a connection may hold several
	// subscriptions of one topic): what is tested is the read side.
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, connections)
	sem := make(chan struct{}, 16)
	for c := range connections {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			id := fmt.Sprintf("conn-%04d", c)
			conn := store.Connection{ID: id, Endpoint: "https://example.com/test", Protocol: "graphql-transport-ws",
				Acknowledged: true, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := st.CreateConnection(t.Context(), conn); err != nil {
				errs <- err
				return
			}
			for s := range perConnection {
				err := st.CreateSubscription(t.Context(), store.Subscription{
					ConnectionID: id, ID: fmt.Sprint(s), Topics: []string{topic}, Query: "subscription { ticks }",
					Endpoint: conn.Endpoint, Protocol: conn.Protocol, CreatedAt: now, ExpiresAt: conn.ExpiresAt,
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	res, err := srv.Publish(t.Context(), topic, map[string]any{"n": 7})
	if err != nil {
		t.Fatal(err)
	}
	if want := (gqlambda.PublishResult{Matched: connections * perConnection, Delivered: connections * perConnection}); res != want {
		t.Fatalf("Publish = %+v, want %+v", res, want)
	}
	var problems []string
	for c := range connections {
		id := fmt.Sprintf("conn-%04d", c)
		frames := rec.Frames(id)
		seen := map[string]int{}
		for _, f := range frames {
			for s := range perConnection {
				if strings.Contains(f, fmt.Sprintf(`"id":"%d"`, s)) && strings.Contains(f, `"ticks":7`) {
					seen[fmt.Sprint(s)]++
				}
			}
		}
		for s := range perConnection {
			if n := seen[fmt.Sprint(s)]; n != 1 {
				problems = append(problems, fmt.Sprintf("%s subscription %d: %d frames", id, s, n))
			}
		}
		if len(frames) != perConnection {
			problems = append(problems, fmt.Sprintf("%s: %d frames, want %d", id, len(frames), perConnection))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("%d problems, first: %s", len(problems), strings.Join(problems[:min(5, len(problems))], "; "))
	}
}
