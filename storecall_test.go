package gqlambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store"
)

// hangingStore is a store that, once hang is set, answers no call until the
// caller's context ends: a frozen DynamoDB or Redis.
type hangingStore struct {
	store.Store
	hang atomic.Bool
}

func (h *hangingStore) wait(ctx context.Context) error {
	if !h.hang.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h *hangingStore) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	if err := h.wait(ctx); err != nil {
		return store.Connection{}, err
	}
	return h.Store.GetConnection(ctx, id)
}

func (h *hangingStore) CreateSubscription(ctx context.Context, s store.Subscription) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.Store.CreateSubscription(ctx, s)
}

func (h *hangingStore) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		if err := h.wait(ctx); err != nil {
			yield(store.Subscription{}, err)
			return
		}
		for s, err := range h.Store.TopicSubscriptions(ctx, topic) {
			if !yield(s, err) {
				return
			}
		}
	}
}

// TestStoreHangs: a store that stops answering holds no frame longer than
// Limits.StoreTimeout; the connections stay open (the store failed, not
// them), a ping still gets its pong, an operation gets a retryable error,
// Publish says what happened, and everything works again once the store
// answers.
func TestStoreHangs(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(proto, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var hs *hangingStore
				h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
					hs = &hangingStore{Store: c.Store}
					c.Store = hs
				})
				start := func(id string) string {
					if proto == "graphql-ws" {
						return `{"type":"start","id":"` + id + `","payload":{"query":"subscription { multi { id } }"}}`
					}
					return `{"type":"subscribe","id":"` + id + `","payload":{"query":"subscription { multi { id } }"}}`
				}
				if resp := h.connectWith("c1", proto); resp.StatusCode != 200 {
					t.Fatalf("$connect: %d", resp.StatusCode)
				}
				h.send("c1", `{"type":"connection_init"}`)
				h.send("c1", start("s1"))
				h.take("c1")

				hs.hang.Store(true)
				began := time.Now()
				if proto == "graphql-transport-ws" {
					h.send("c1", `{"type":"ping"}`)
					h.expect("c1", `{"type":"pong"}`)
				}
				h.send("c1", start("s2"))
				got := h.take("c1")
				if len(got) != 1 || !strings.Contains(got[0], `"type":"error"`) || !strings.Contains(got[0], "SERVICE_UNAVAILABLE") {
					t.Errorf("an operation while the store hangs: %q, want an error coded SERVICE_UNAVAILABLE", got)
				}
				_, err := h.srv.Publish(t.Context(), "A", map[string]any{"id": "x"})
				if !errors.Is(err, gqlambda.ErrStoreTimeout) {
					t.Errorf("Publish while the store hangs: %v, want ErrStoreTimeout", err)
				}
				// Two frames (or three) and a publish, each bounded by the
				// default 5 s.
				if waited := time.Since(began); waited > 20*time.Second {
					t.Errorf("the calls waited %s in all", waited)
				}
				h.expectOpen("c1")
				if errs := h.errs.list(); len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), gqlambda.ErrStoreTimeout.Error()) {
					t.Errorf("OnError: %q, want the store's timeout", errs)
				}

				hs.hang.Store(false)
				h.send("c1", start("s3"))
				h.take("c1")
				if res := h.publish("A", map[string]any{"id": "y"}); res.Delivered != 2 {
					t.Errorf("Publish once the store answers again: %+v, want s1 and s3", res)
				}
				var ids []string
				for _, f := range h.take("c1") {
					var m struct{ ID string }
					_ = json.Unmarshal([]byte(f), &m)
					ids = append(ids, m.ID)
				}
				if strings.Join(ids, ",") != "s1,s3" && strings.Join(ids, ",") != "s3,s1" {
					t.Errorf("frames for %v, want s1 and s3", ids)
				}
			})
		})
	}
}
