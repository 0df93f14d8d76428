package memory

import (
	"fmt"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// sizes reports how many records each index holds.
func (s *Store) sizes() (conns, subs, byConn, topics, topicEntries int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ti := range s.topics {
		topicEntries += len(ti.entries)
	}
	return len(s.conns), len(s.subs), len(s.byConn), len(s.topics), topicEntries
}

// TestPurgeFreesMemory checks that expired records leave every index once
// the writes since the last purge reach the records it left, without any method
// touching them.
func TestPurgeFreesMemory(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := New(&Options{Now: func() time.Time { return now }})
	const n = 500
	for i := range n {
		c := store.Connection{ID: fmt.Sprint("old", i), ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		sub := store.Subscription{ConnectionID: c.ID, ID: "1", Topics: []string{"t", fmt.Sprint("own", i)}, ExpiresAt: c.ExpiresAt}
		if err := s.CreateSubscription(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Hour) // every record has expired; the clock is read only by the store's calls below
	if c, sb, bc, tp, te := s.sizes(); c != n || sb != n || bc != n || tp != n+1 || te != 2*n {
		t.Fatalf("before any write: sizes %d %d %d %d %d, want the expired records still held", c, sb, bc, tp, te)
	}
	// 2n writes of live records: more than the n+n records held.
	for i := range 2 * n {
		if err := s.CreateConnection(ctx, store.Connection{ID: fmt.Sprint("new", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c, sb, bc, tp, te := s.sizes()
	if c != 2*n || sb != 0 || bc != 0 || tp != 0 || te != 0 {
		t.Errorf("after %d writes: connections %d (want %d), subscriptions %d, by connection %d, topics %d, topic entries %d (want 0)",
			2*n, c, 2*n, sb, bc, tp, te)
	}
}

// TestTopicCompaction checks that deleting most subscriptions of a big topic
// shrinks its index, and that iteration stays exact across compactions.
func TestTopicCompaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(nil)
	if err := s.CreateConnection(ctx, store.Connection{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	const n = 4 * pageSize
	for i := range n {
		if err := s.CreateSubscription(ctx, store.Subscription{ConnectionID: "c", ID: fmt.Sprint(i), Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Delete every subscription except those whose number ends in 7, three
	// per subscription yielded, so that compactions happen between pages.
	keep := func(id string) bool { return id[len(id)-1] == '7' }
	yielded := map[string]int{}
	next := 0
	for sub, err := range s.TopicSubscriptions(ctx, "t") {
		if err != nil {
			t.Fatal(err)
		}
		yielded[sub.ID]++
		for k := 3; k > 0 && next < n; next++ {
			if id := fmt.Sprint(next); !keep(id) {
				if _, err := s.DeleteSubscription(ctx, "c", id); err != nil {
					t.Fatalf("DeleteSubscription %q inside the loop: %v", id, err)
				}
				k--
			}
		}
	}
	if next != n {
		t.Fatalf("the loop deleted up to subscription %d of %d: it ended early", next, n)
	}
	for id, k := range yielded {
		if k != 1 {
			t.Errorf("subscription %q yielded %d times", id, k)
		}
	}
	for i := range n {
		if id := fmt.Sprint(i); keep(id) && yielded[id] != 1 {
			t.Errorf("subscription %q, never deleted, yielded %d times, want 1", id, yielded[id])
		}
	}
	live := 0
	for i := range n {
		if keep(fmt.Sprint(i)) {
			live++
		}
	}
	if _, _, _, _, te := s.sizes(); te > 2*live+pageSize {
		t.Errorf("topic index holds %d entries for %d live subscriptions: removed entries are not compacted", te, live)
	}
}

// deliveryCount is the number of records the delivery log holds, expired
// ones included.
func (s *Store) deliveryCount() int {
	s.deliveries.mu.Lock()
	defer s.deliveries.mu.Unlock()
	return len(s.deliveries.records)
}

// TestDeliveryLogPurge checks that expired delivery records leave the log
// once the claims since the last purge reach the records it left.
func TestDeliveryLogPurge(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := New(&Options{Now: func() time.Time { return now }})
	claim := func(event string, i int) {
		t.Helper()
		d := store.Delivery{EventID: event, ConnectionID: fmt.Sprint("c", i), SubscriptionID: "1"}
		st, err := s.ClaimDelivery(ctx, d, "token", now.Add(time.Minute), now.Add(time.Hour))
		if err != nil || st != store.Claimed {
			t.Fatalf("ClaimDelivery(%+v) = %v, %v; want claimed", d, st, err)
		}
		if err := s.FinishDelivery(ctx, d, "token", true); err != nil {
			t.Fatal(err)
		}
	}
	const n = 500
	for i := range n {
		claim("old", i)
	}
	now = now.Add(2 * time.Hour) // every record has expired
	for i := range n {
		claim("new", i)
	}
	if got := s.deliveryCount(); got > n+minPurgeWrites {
		t.Errorf("the delivery log holds %d records after %d expired and %d live ones: expired records are not purged", got, n, n)
	}
}
