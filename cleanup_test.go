package gqlambda_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store"
)

// refusingStore is a store whose deletions fail, as a store that refuses
// connections does, while refuse is above zero (each failure counts it
// down), or for good while down is set.
type refusingStore struct {
	store.Store
	refuse atomic.Int64
	down   atomic.Bool
	calls  atomic.Int64
}

func (r *refusingStore) DeleteConnection(ctx context.Context, id string) (store.Connection, []store.Subscription, error) {
	r.calls.Add(1)
	if r.down.Load() || r.refuse.Add(-1) >= 0 {
		return store.Connection{}, nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connection refused", Addr: "127.0.0.1:1"}}
	}
	return r.Store.DeleteConnection(ctx, id)
}

// TestFailedCleanupIsRetried: a $disconnect whose deletion the store
// refuses is tried again with backoff; a store that keeps refusing past
// those tries has the deletion remembered and retried by later
// invocations once it answers: no row is left, and the hooks of what was
// deleted run once.
func TestFailedCleanupIsRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		refusals int64
		down     bool
	}{
		{"the store refuses twice", 2, false},
		{"the store is down, then answers", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var rs *refusingStore
				h := newHarness(t, func(c *gqlambda.Config, log *hookLog) {
					rs = &refusingStore{Store: c.Store}
					c.Store = rs
					c.Hooks.OnDisconnect = func(_ context.Context, conn gqlambda.Conn, _ gqlambda.DisconnectInfo) error {
						log.add("OnDisconnect %s", conn.ID)
						return nil
					}
				})
				h.ready("c1")
				h.subscribe("c1", "s1", "subscription { multi { id } }")
				h.subscribe("c1", "s2", "subscription { multi { id } }")
				h.ready("c2")
				if n := len(h.subscriptions("A")); n != 2 {
					t.Fatalf("%d subscriptions, want 2", n)
				}

				rs.refuse.Store(tc.refusals)
				rs.down.Store(tc.down)
				h.hangUp("c1", 1000, "")
				if tc.down {
					if n := h.srv.PendingCleanups(); n != 1 {
						t.Fatalf("PendingCleanups %d after the store refused every try, want 1", n)
					}
					if got := rs.calls.Load(); got < 3 {
						t.Errorf("the deletion was tried %d times, want 3 (and once more after the event)", got)
					}
					// Later invocations while the store is still down pause
					// between their tries.
					before := rs.calls.Load()
					for range 5 {
						h.send("c2", `{"type":"ping"}`)
					}
					if tries := rs.calls.Load() - before; tries > 1 {
						t.Errorf("5 frames in a row tried the pending deletion %d times, want at most 1", tries)
					}
					rs.down.Store(false)
					time.Sleep(time.Minute) // past the longest pause
					h.send("c2", `{"type":"ping"}`)
				}
				if n := h.srv.PendingCleanups(); n != 0 {
					t.Errorf("PendingCleanups %d, want 0", n)
				}
				h.expectNoState("c1", "A")
				if n := h.log.count("OnDisconnect c1"); n != 1 {
					t.Errorf("OnDisconnect ran %d times, want 1", n)
				}
				if n := len(h.subscriptions("A")); n != 0 {
					t.Errorf("%d subscriptions left, want 0", n)
				}
			})
		})
	}
}
