package dynamodb

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store"
)

// benchSubscription returns a subscription of the size the server stores.
func benchSubscription(connID, id, topic string, now time.Time) store.Subscription {
	return store.Subscription{
		ConnectionID: connID, ID: id, Topics: []string{topic},
		Query:     "subscription OnMessage($chat: ID!) { messageAdded(chatId: $chat) { id text author { name } } }",
		Variables: []byte(`{"chat":"42"}`), Context: []byte(`{"user":"u1"}`),
		Endpoint: "https://abc123.execute-api.eu-west-1.amazonaws.com/prod", Protocol: "graphql-transport-ws",
		CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour),
	}
}

// BenchmarkSubscribe measures CreateSubscription on DynamoDB Local: one
// transaction of the connection item and one subscription item.
func BenchmarkSubscribe(b *testing.B) {
	client := dynamotest.Client(b)
	s := New(client, &Options{Tables: localTables(b, client)})
	ctx := b.Context()
	now := time.Now()
	// A connection item lists its subscriptions; a new connection every
	// perConn subscriptions keeps it at a realistic size.
	const perConn = 100
	var conn string
	i := 0
	for b.Loop() {
		if i%perConn == 0 {
			b.StopTimer()
			conn = fmt.Sprintf("conn-%d", i/perConn)
			if err := s.CreateConnection(ctx, store.Connection{ID: conn, ConnectedAt: now, ExpiresAt: now.Add(2 * time.Hour)}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if err := s.CreateSubscription(ctx, benchSubscription(conn, fmt.Sprint(i), "bench", now)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTopicSubscriptions1000 measures reading the 1000 subscriptions of
// one topic, with one shard and with four read in parallel.
func BenchmarkTopicSubscriptions1000(b *testing.B) {
	const n = 1000
	client := dynamotest.Client(b)
	for _, shards := range []int{1, 4} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			s := New(client, &Options{Tables: localTables(b, client), Shards: shards})
			ctx := b.Context()
			now := time.Now()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 32)
			for c := range n / 10 {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					conn := fmt.Sprintf("conn-%d", c)
					if err := s.CreateConnection(ctx, store.Connection{ID: conn, ExpiresAt: now.Add(2 * time.Hour)}); err != nil {
						b.Error(err)
						return
					}
					for i := range 10 {
						if err := s.CreateSubscription(ctx, benchSubscription(conn, fmt.Sprint(i), "bench", now)); err != nil {
							b.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if b.Failed() {
				b.FailNow()
			}
			for b.Loop() {
				got := 0
				for _, err := range s.TopicSubscriptions(ctx, "bench") {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != n {
					b.Fatalf("TopicSubscriptions yielded %d subscriptions, want %d", got, n)
				}
			}
		})
	}
}
