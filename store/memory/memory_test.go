package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/memory"
	"github.com/gqlambda/gqlambda/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) store.Store { return memory.New(nil) }, &storetest.Options{
		NewClockedStore: func(_ *testing.T, now func() time.Time) store.Store {
			return memory.New(&memory.Options{Now: now})
		},
	})
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var epoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestDefaultClockIsWallClock(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]*memory.Options{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := memory.New(opts)
			past := store.Connection{ID: "past", ExpiresAt: time.Now().Add(-time.Minute)}
			future := store.Connection{ID: "future", ExpiresAt: time.Now().Add(time.Hour)}
			for _, c := range []store.Connection{past, future} {
				if err := s.CreateConnection(ctx, c); err != nil {
					t.Fatalf("CreateConnection %q: %v", c.ID, err)
				}
			}
			if _, err := s.GetConnection(ctx, "past"); !errors.Is(err, store.ErrConnectionNotFound) {
				t.Errorf("GetConnection of a connection that expired a minute ago by the wall clock: want ErrConnectionNotFound, got %v", err)
			}
			if _, err := s.GetConnection(ctx, "future"); err != nil {
				t.Errorf("GetConnection of a connection expiring in an hour by the wall clock: want it, got %v", err)
			}
		})
	}
}

// TestNowDecidesExpiry checks that Options.Now alone decides expiry, at the
// exact instant, for every kind of record and method.
func TestNowDecidesExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := &fakeClock{t: epoch}
	s := memory.New(&memory.Options{Now: clock.Now})
	conn := store.Connection{ID: "c", ExpiresAt: epoch.Add(time.Minute)}
	forever := store.Connection{ID: "forever"}
	sub := store.Subscription{ConnectionID: "c", ID: "1", Topics: []string{"t"}, ExpiresAt: epoch.Add(30 * time.Second)}
	for _, c := range []store.Connection{conn, forever} {
		if err := s.CreateConnection(ctx, c); err != nil {
			t.Fatalf("CreateConnection %q: %v", c.ID, err)
		}
	}
	if err := s.CreateSubscription(ctx, sub); err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}

	clock.advance(30*time.Second - time.Nanosecond)
	if _, err := s.GetSubscription(ctx, "c", "1"); err != nil {
		t.Errorf("GetSubscription a nanosecond before ExpiresAt: %v", err)
	}
	clock.advance(time.Nanosecond)
	if _, err := s.GetSubscription(ctx, "c", "1"); !errors.Is(err, store.ErrSubscriptionNotFound) {
		t.Errorf("GetSubscription at ExpiresAt: want ErrSubscriptionNotFound, got %v", err)
	}
	if n := count(t, s, "t"); n != 0 {
		t.Errorf("TopicSubscriptions at the subscription's ExpiresAt: yielded %d, want 0", n)
	}
	if _, err := s.GetConnection(ctx, "c"); err != nil {
		t.Errorf("GetConnection before its ExpiresAt: %v", err)
	}

	clock.advance(30 * time.Second)
	if _, err := s.GetConnection(ctx, "c"); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Errorf("GetConnection at ExpiresAt: want ErrConnectionNotFound, got %v", err)
	}
	clock.advance(100 * 365 * 24 * time.Hour)
	if _, err := s.GetConnection(ctx, "forever"); err != nil {
		t.Errorf("GetConnection of a connection with a zero ExpiresAt a century later: want it (zero never expires), got %v", err)
	}
}

// TestExpiredRecordsArePurged checks the lazy purge from the outside: once
// enough writes have happened, an expired connection's id and an expired
// subscription's topic behave as if they had never existed, and iterating a
// topic of expired subscriptions yields nothing.
func TestExpiredRecordsArePurged(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := &fakeClock{t: epoch}
	s := memory.New(&memory.Options{Now: clock.Now})
	const n = 1000
	for i := range n {
		c := store.Connection{ID: fmt.Sprint("c", i), ExpiresAt: epoch.Add(time.Minute)}
		if err := s.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSubscription(ctx, store.Subscription{ConnectionID: c.ID, ID: "1", Topics: []string{"t"}, ExpiresAt: c.ExpiresAt}); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(time.Minute)
	if got := count(t, s, "t"); got != 0 {
		t.Fatalf("TopicSubscriptions after every subscription expired: yielded %d, want 0", got)
	}
	// Writes that trigger the purge; the expired ids are free again.
	for i := range 2 * n {
		c := store.Connection{ID: fmt.Sprint("c", i)}
		if err := s.CreateConnection(ctx, c); err != nil {
			t.Fatalf("CreateConnection %q over an expired record: %v", c.ID, err)
		}
	}
	for i := range n {
		if _, err := s.GetSubscription(ctx, fmt.Sprint("c", i), "1"); !errors.Is(err, store.ErrSubscriptionNotFound) {
			t.Fatalf("GetSubscription of a purged subscription: want ErrSubscriptionNotFound, got %v", err)
		}
	}
}

func count(t *testing.T, s *memory.Store, topic string) int {
	t.Helper()
	n := 0
	for _, err := range s.TopicSubscriptions(t.Context(), topic) {
		if err != nil {
			t.Fatalf("TopicSubscriptions(%q): %v", topic, err)
		}
		n++
	}
	return n
}

// fullSubscription has every field set that can be shared by reference.
func fullSubscription() store.Subscription {
	return store.Subscription{
		ConnectionID: "c",
		ID:           "1",
		Topics:       []string{"a", "b"},
		Filter: filter.Filter{Groups: []filter.Group{{Conditions: []filter.Condition{
			{Field: "chatId", Operator: filter.Eq, Value: "42"},
		}}}},
		Query:     "subscription { x }",
		Variables: json.RawMessage(`{"v":1}`),
		Context:   json.RawMessage(`{"c":1}`),
		ExpiresAt: epoch.Add(time.Hour),
	}
}

// scribble overwrites everything of sub reachable through its slices.
func scribble(sub store.Subscription) {
	sub.Topics[0] = "scribbled"
	sub.Variables[1] = 'X'
	sub.Context[1] = 'X'
	sub.Filter.Groups[0].Conditions[0] = filter.Condition{Field: "scribbled"}
}

// TestCopies checks that no slice passed in or handed out aliases what the
// store holds.
func TestCopies(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := &fakeClock{t: epoch}
	s := memory.New(&memory.Options{Now: clock.Now})
	conn := store.Connection{ID: "c", Context: json.RawMessage(`{"c":1}`), Authorizer: json.RawMessage(`{"a":1}`), ExpiresAt: epoch.Add(time.Hour)}
	if err := s.CreateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Context[1], conn.Authorizer[1] = 'X', 'X'
	ackCtx := json.RawMessage(`{"k":1}`)
	if err := s.AcknowledgeConnection(ctx, "c", ackCtx); err != nil {
		t.Fatal(err)
	}
	ackCtx[1] = 'X'
	got, err := s.GetConnection(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Context) != `{"k":1}` || string(got.Authorizer) != `{"a":1}` {
		t.Errorf("after changing the slices passed in: stored Context %s, Authorizer %s; want {\"k\":1} and {\"a\":1}", got.Context, got.Authorizer)
	}
	got.Context[1], got.Authorizer[1] = 'Y', 'Y'
	if again, _ := s.GetConnection(ctx, "c"); string(again.Context) != `{"k":1}` || string(again.Authorizer) != `{"a":1}` {
		t.Errorf("after changing a connection returned by GetConnection: stored Context %s, Authorizer %s", again.Context, again.Authorizer)
	}

	in := fullSubscription()
	if err := s.CreateSubscription(ctx, in); err != nil {
		t.Fatal(err)
	}
	scribble(in)
	want := fullSubscription()
	check := func(when string) {
		t.Helper()
		got, err := s.GetSubscription(ctx, "c", "1")
		if err != nil {
			t.Fatalf("%s: GetSubscription: %v", when, err)
		}
		if got.Topics[0] != "a" || string(got.Variables) != string(want.Variables) || string(got.Context) != string(want.Context) ||
			got.Filter.Groups[0].Conditions[0].Field != "chatId" {
			t.Errorf("%s: the stored subscription changed: %+v", when, got)
		}
	}
	check("after changing the subscription passed to CreateSubscription")

	sub, _ := s.GetSubscription(ctx, "c", "1")
	scribble(sub)
	check("after changing a subscription returned by GetSubscription")

	for sub, err := range s.TopicSubscriptions(ctx, "a") {
		if err != nil {
			t.Fatal(err)
		}
		scribble(sub)
	}
	check("after changing a subscription yielded by TopicSubscriptions")
	if n := count(t, s, "scribbled"); n != 0 {
		t.Errorf("changing Topics of a yielded subscription re-indexed it: topic \"scribbled\" yields %d", n)
	}
}

func TestInvalidRecordsRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := memory.New(nil)
	if err := s.CreateConnection(ctx, store.Connection{}); err == nil {
		t.Error("CreateConnection with an empty id: want an error, got nil")
	}
	if err := s.CreateConnection(ctx, store.Connection{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	for name, sub := range map[string]store.Subscription{
		"empty connection id":   {ID: "1", Topics: []string{"t"}},
		"empty subscription id": {ConnectionID: "c", Topics: []string{"t"}},
		"no topics":             {ConnectionID: "c", ID: "1"},
	} {
		err := s.CreateSubscription(ctx, sub)
		if err == nil || errors.Is(err, store.ErrConnectionNotFound) || errors.Is(err, store.ErrSubscriptionExists) {
			t.Errorf("CreateSubscription with %s: want a validation error, got %v", name, err)
		}
	}
}

// TestDuplicateTopicsIndexOnce checks that a topic listed twice in Topics
// yields the subscription once.
func TestDuplicateTopicsIndexOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := memory.New(nil)
	if err := s.CreateConnection(ctx, store.Connection{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSubscription(ctx, store.Subscription{ConnectionID: "c", ID: "1", Topics: []string{"t", "u", "t"}}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "t"); n != 1 {
		t.Errorf("subscription listing topic \"t\" twice: TopicSubscriptions yielded it %d times, want 1", n)
	}
	got, err := s.DeleteSubscription(ctx, "c", "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Topics) != 3 {
		t.Errorf("DeleteSubscription returned Topics %q, want the three topics as stored", got.Topics)
	}
	if n := count(t, s, "t") + count(t, s, "u"); n != 0 {
		t.Errorf("after DeleteSubscription, the topics still yield %d subscriptions", n)
	}
}

// TestDeleteConnectionOrder checks that DeleteConnection returns the
// subscriptions in the order they were created.
func TestDeleteConnectionOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := memory.New(nil)
	if err := s.CreateConnection(ctx, store.Connection{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	ids := []string{"z", "a", "m", "b", "y"}
	for _, id := range ids {
		if err := s.CreateSubscription(ctx, store.Subscription{ConnectionID: "c", ID: id, Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	_, subs, err := s.DeleteConnection(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sub := range subs {
		got = append(got, sub.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("DeleteConnection returned subscriptions %v, want creation order %v", got, ids)
	}
}

// TestTopicSubscriptionsContextBetweenPages checks that a context cancelled
// during iteration is noticed at the next page: the rest of the current
// page (at most 256 subscriptions) is yielded, then the error.
func TestTopicSubscriptionsContextBetweenPages(t *testing.T) {
	t.Parallel()
	s := memory.New(nil)
	const n = 1000
	populate(t, s, "t", n)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	yielded := 0
	var last error
	for _, err := range s.TopicSubscriptions(ctx, "t") {
		if err != nil {
			last = err
			continue
		}
		yielded++
		cancel()
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("iteration cancelled after the first subscription: want an error wrapping context.Canceled, got %v", last)
	}
	if yielded != 256 {
		t.Errorf("iteration cancelled after the first subscription yielded %d subscriptions, want the first page, 256", yielded)
	}
}

func populate(tb testing.TB, s *memory.Store, topic string, n int) {
	tb.Helper()
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprint("c", i)
		if err := s.CreateConnection(ctx, store.Connection{ID: id}); err != nil {
			tb.Fatal(err)
		}
		if err := s.CreateSubscription(ctx, store.Subscription{ConnectionID: id, ID: "1", Topics: []string{topic}, Query: "subscription { x }"}); err != nil {
			tb.Fatal(err)
		}
	}
}

func BenchmarkCreateSubscription(b *testing.B) {
	ctx := context.Background()
	s := memory.New(nil)
	if err := s.CreateConnection(ctx, store.Connection{ID: "c"}); err != nil {
		b.Fatal(err)
	}
	sub := fullSubscription()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		sub.ID = fmt.Sprint(i)
		i++
		if err := s.CreateSubscription(ctx, sub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTopicSubscriptions10000(b *testing.B) {
	s := memory.New(nil)
	const n = 10000
	populate(b, s, "t", n)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		got := 0
		for _, err := range s.TopicSubscriptions(ctx, "t") {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("yielded %d, want %d", got, n)
		}
	}
}

func ExampleNew() {
	ctx := context.Background()
	s := memory.New(nil)

	_ = s.CreateConnection(ctx, store.Connection{ID: "conn-1", Protocol: "graphql-transport-ws", ExpiresAt: time.Now().Add(2 * time.Hour)})
	_ = s.CreateSubscription(ctx, store.Subscription{ConnectionID: "conn-1", ID: "op-1", Topics: []string{"NEW_MESSAGE"}})
	_ = s.CreateSubscription(ctx, store.Subscription{ConnectionID: "conn-1", ID: "op-2", Topics: []string{"NEW_MESSAGE", "TYPING"}})

	// A second subscription with the same operation id is refused.
	err := s.CreateSubscription(ctx, store.Subscription{ConnectionID: "conn-1", ID: "op-1", Topics: []string{"TYPING"}})
	fmt.Println(errors.Is(err, store.ErrSubscriptionExists))

	for sub, err := range s.TopicSubscriptions(ctx, "NEW_MESSAGE") {
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println("NEW_MESSAGE →", sub.ConnectionID, sub.ID)
	}

	// $disconnect: the connection goes, with every subscription of it.
	_, subs, _ := s.DeleteConnection(ctx, "conn-1")
	fmt.Println("deleted", len(subs), "subscriptions")
	err = s.CreateSubscription(ctx, store.Subscription{ConnectionID: "conn-1", ID: "op-3", Topics: []string{"TYPING"}})
	fmt.Println(errors.Is(err, store.ErrConnectionNotFound))
	// Output:
	// true
	// NEW_MESSAGE → conn-1 op-1
	// NEW_MESSAGE → conn-1 op-2
	// deleted 2 subscriptions
	// true
}
