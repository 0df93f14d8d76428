package gqlambda_test

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store"
)

// boundedRecorder is a recorder that says it has at most n posts in flight
// (gateway.Bounded).
type boundedRecorder struct {
	*gatewaytest.Recorder
	n int
}

func (b boundedRecorder) MaxInFlight() int { return b.n }

// TestFanOutConcurrency checks that a fan-out runs exactly
// Limits.FanOutConcurrency deliveries at once when it has more
// subscriptions than that, or the sender's MaxInFlight when it is a
// gateway.Bounded with a lower one: the posts of the first wave wait for
// each other, so a fan-out that started fewer would deadlock (which
// synctest reports), and one that started more would be seen.
func TestFanOutConcurrency(t *testing.T) {
	tests := []struct {
		limit, bounded, subs int
	}{
		{limit: 1, subs: 5},
		{limit: 4, subs: 50},
		{limit: 16, subs: 16},
		{limit: 64, subs: 200},
		{limit: 64, bounded: 4, subs: 50},
		{limit: 4, bounded: 64, subs: 50},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d (sender %d) of %d", tt.limit, tt.bounded, tt.subs), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
					c.Limits.FanOutConcurrency = tt.limit
					if tt.bounded > 0 {
						c.Sender = boundedRecorder{c.Sender.(*gatewaytest.Recorder), tt.bounded}
					}
				})
				want := tt.limit
				if tt.bounded > 0 {
					want = min(want, tt.bounded)
				}
				for i := range tt.subs {
					id := fmt.Sprint("c", i)
					h.ready(id)
					h.subscribe(id, "s", `subscription { messages { id } }`)
				}
				var mu sync.Mutex
				inFlight, peak, posts := 0, 0, 0
				wave := make(chan struct{}) // closed when the first wave is in flight
				h.rec.Hook = func(ctx context.Context, endpoint, id string, frame []byte) error {
					mu.Lock()
					inFlight++
					posts++
					peak = max(peak, inFlight)
					first := posts <= want
					if posts == want {
						close(wave)
					}
					mu.Unlock()
					if first {
						<-wave
					}
					mu.Lock()
					inFlight--
					mu.Unlock()
					return nil
				}
				res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "c", "text": "t"})
				if res.Delivered != tt.subs {
					t.Fatalf("%+v, want %d delivered", res, tt.subs)
				}
				if peak != want {
					t.Errorf("at most %d posts in flight, want %d", peak, want)
				}
			})
		})
	}
}

// gatedStore yields the first subscription of a topic, then waits for gate
// to close before it yields the others: a fan-out must deliver the first
// one while it still reads.
type gatedStore struct {
	store.Store
	gate chan struct{}
}

func (s *gatedStore) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		first := true
		for sub, err := range s.Store.TopicSubscriptions(ctx, topic) {
			if !first {
				<-s.gate
			}
			first = false
			if !yield(sub, err) {
				return
			}
		}
	}
}

func TestFirstDeliveryWhileReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
			c.Store = &gatedStore{Store: c.Store, gate: gate}
		})
		for i := range 10 {
			id := fmt.Sprint("c", i)
			h.ready(id)
			h.subscribe(id, "s", `subscription { messages { id } }`)
		}
		var once sync.Once
		h.rec.Hook = func(ctx context.Context, endpoint, id string, frame []byte) error {
			once.Do(func() { close(gate) })
			return nil
		}
		if res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "c", "text": "t"}); res.Delivered != 10 {
			t.Fatalf("%+v, want 10 delivered", res)
		}
	})
}
