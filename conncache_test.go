package gqlambda_test

import (
	"context"
	"testing"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store/memory"
)

// TestStoreCallsPerFrame counts the store calls of a client's $connect,
// connection_init and subscribe: with the connection cache one each, the
// fewest that keep the store's guarantees; without it, each frame also
// reads its connection.
func TestStoreCallsPerFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cache gqlambda.ConnectionCache
		reads int64
	}{
		{"cache", gqlambda.ConnectionCache{}, 0},
		{"no cache", gqlambda.ConnectionCache{Size: -1}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cs *countingStore
			h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
				cs = &countingStore{Store: c.Store.(*memory.Store)}
				c.Store = cs
				c.ConnectionCache = tc.cache
			})
			h.ready("c1")
			h.subscribe("c1", "s1", "subscription { multi { id } }")
			if got := h.take("c1"); len(got) != 0 {
				t.Fatalf("subscribe answered %v", got)
			}
			if res := h.publish("A", map[string]any{"id": "x"}); res.Delivered != 1 {
				t.Fatalf("publish: %+v, want the subscription delivered", res)
			}
			got := [4]int64{cs.create.Load(), cs.ack.Load(), cs.subscribe.Load(), cs.get.Load()}
			if want := [4]int64{1, 1, 1, tc.reads}; got != want {
				t.Errorf("store calls (create, acknowledge, subscribe, read connection) = %v, want %v", got, want)
			}
		})
	}
}

// TestCachedConnectionDeletedElsewhere: a frame whose connection this
// process has cached but another process deleted (a $disconnect handled
// elsewhere, a sweep) is answered as a frame of an unknown connection:
// closed with 1013 and nothing stored.
func TestCachedConnectionDeletedElsewhere(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("c1")
	if _, _, err := h.store.DeleteConnection(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	h.subscribe("c1", "s1", "subscription { multi { id } }")
	h.expectClosed("c1", 1013)
	h.expectNoState("c1", "A")
}

// TestCachedUnacknowledgedConnection: a process that cached a connection
// before its connection_init, handled by another process, reads the store
// again for a frame that needs the acknowledgement, instead of refusing it
// on its stale record.
func TestCachedUnacknowledgedConnection(t *testing.T) {
	t.Parallel()
	var cfg *gqlambda.Config
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { cfg = c })
	other, err := gqlambda.New(*cfg) // another Lambda instance on the same store
	if err != nil {
		t.Fatal(err)
	}
	first := h.srv
	h.open("c1") // cached, unacknowledged, by first
	h.srv = other
	h.send("c1", `{"type":"connection_init"}`)
	h.expect("c1", `{"type":"connection_ack"}`)
	h.srv = first
	h.subscribe("c1", "s1", "subscription { multi { id } }")
	h.expectOpen("c1")
	if res := h.publish("A", map[string]any{"id": "x"}); res.Delivered != 1 {
		t.Fatalf("publish: %+v, want the subscription delivered", res)
	}
	// A second connection_init on the first process, whose record of the
	// connection is now the store's acknowledged one: refused as a repeat.
	h.take("c1")
	h.send("c1", `{"type":"connection_init"}`)
	h.expectClosed("c1", 4429)
}
