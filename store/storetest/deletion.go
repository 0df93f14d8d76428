package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gqlambda/gqlambda/store"
)

// testDeleteConnection: DeleteConnection removes the connection and every
// subscription of it from every topic, returns exactly those, and leaves
// other connections' subscriptions on the same topics.
func testDeleteConnection(e *env) {
	t1, t2, t3 := e.topic("1"), e.topic("2"), e.topic("3")
	a, b := e.connection("a"), e.connection("b")
	e.mustCreateConnection(a)
	e.mustCreateConnection(b)
	if err := e.s.AcknowledgeConnection(e.ctx, a.ID, json.RawMessage(`{"user":"a"}`)); err != nil {
		e.t.Fatalf("AcknowledgeConnection %q: want nil, got %v", a.ID, err)
	}
	a.Acknowledged, a.Context = true, json.RawMessage(`{"user":"a"}`)
	aSubs := []store.Subscription{e.subscription(a.ID, "1", t1, t2), e.subscription(a.ID, "2", t1), e.subscription(a.ID, "3", t3)}
	aSubs[0].Filter = nestedFilter()
	bSubs := []store.Subscription{e.subscription(b.ID, "1", t1), e.subscription(b.ID, "2", t3)}
	for _, s := range append(append([]store.Subscription(nil), aSubs...), bSubs...) {
		e.mustCreateSubscription(s)
	}

	got, subs, err := e.s.DeleteConnection(e.ctx, a.ID)
	if err != nil {
		e.t.Fatalf("DeleteConnection %q: want nil, got %v", a.ID, err)
	}
	e.checkConnection("DeleteConnection", a, got)
	e.matchSubscriptions(fmt.Sprintf("DeleteConnection %q", a.ID), "returned", aSubs, subs)

	e.expectNoConnection("after DeleteConnection", a.ID)
	for _, s := range aSubs {
		e.expectNoSubscription("after DeleteConnection", s.ConnectionID, s.ID)
	}
	e.expectTopic("after DeleteConnection of one of two connections", t1, bSubs[0])
	e.expectTopic("after DeleteConnection of one of two connections", t2)
	e.expectTopic("after DeleteConnection of one of two connections", t3, bSubs[1])
	e.expectConnection("after DeleteConnection of another connection", b)
	for _, s := range bSubs {
		e.expectSubscription("after DeleteConnection of another connection", s)
	}
}

// testDeleteConnectionTwice: the second DeleteConnection finds nothing.
func testDeleteConnectionTwice(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	e.mustCreateSubscription(e.subscription(c.ID, "1", e.topic("t")))
	if _, _, err := e.s.DeleteConnection(e.ctx, c.ID); err != nil {
		e.t.Fatalf("first DeleteConnection: want nil, got %v", err)
	}
	got, subs, err := e.s.DeleteConnection(e.ctx, c.ID)
	e.expectErr("second DeleteConnection", err, store.ErrConnectionNotFound)
	if got.ID != "" || len(subs) != 0 {
		e.t.Errorf("second DeleteConnection: want no connection and no subscriptions, got connection %q and %d subscriptions", got.ID, len(subs))
	}
}

// testDeleteConnectionMissing: deleting a connection never created finds
// nothing.
func testDeleteConnectionMissing(e *env) {
	got, subs, err := e.s.DeleteConnection(e.ctx, e.id("nobody"))
	e.expectErr("DeleteConnection of a connection never created", err, store.ErrConnectionNotFound)
	if got.ID != "" || len(subs) != 0 {
		e.t.Errorf("DeleteConnection of a connection never created: want no connection and no subscriptions, got connection %q and %d subscriptions", got.ID, len(subs))
	}
}

// testDeleteConnectionWithoutSubscriptions: a connection without
// subscriptions is deleted and returned with none.
func testDeleteConnectionWithoutSubscriptions(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	got, subs, err := e.s.DeleteConnection(e.ctx, c.ID)
	if err != nil {
		e.t.Fatalf("DeleteConnection of a connection without subscriptions: want nil, got %v", err)
	}
	e.checkConnection("DeleteConnection", c, got)
	if len(subs) != 0 {
		e.t.Errorf("DeleteConnection of a connection without subscriptions: returned %d subscriptions, want none", len(subs))
	}
	e.expectNoConnection("after DeleteConnection", c.ID)
}

// testConnectionRecreatedAfterDelete: a connection id created again after
// DeleteConnection starts empty.
func testConnectionRecreatedAfterDelete(e *env) {
	topic := e.topic("t")
	c := e.connection("c")
	e.mustCreateConnection(c)
	if err := e.s.AcknowledgeConnection(e.ctx, c.ID, json.RawMessage(`{"n":1}`)); err != nil {
		e.t.Fatalf("AcknowledgeConnection: want nil, got %v", err)
	}
	s := e.subscription(c.ID, "1", topic)
	e.mustCreateSubscription(s)
	if _, _, err := e.s.DeleteConnection(e.ctx, c.ID); err != nil {
		e.t.Fatalf("DeleteConnection: want nil, got %v", err)
	}
	again := e.connection("c")
	again.Protocol = "graphql-ws"
	if err := e.s.CreateConnection(e.ctx, again); err != nil {
		e.t.Fatalf("CreateConnection of a deleted id: want nil, got %v", err)
	}
	e.expectConnection("connection created again after DeleteConnection (not acknowledged, new fields)", again)
	e.expectNoSubscription("connection created again after DeleteConnection", c.ID, "1")
	e.expectTopic("connection created again after DeleteConnection", topic)
	if err := e.s.CreateSubscription(e.ctx, s); err != nil {
		e.t.Errorf("CreateSubscription of an id deleted with its connection: want nil, got %v", err)
	}
}

// deletions gathers what concurrent deletions returned, to check that each
// record went to exactly one caller.
type deletions struct {
	mu    sync.Mutex
	conns int                 // calls that got the connection
	subs  map[subKey][]string // subscription → the calls that returned it
	errs  []string
}

func (d *deletions) connection(who string, subs []store.Subscription, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err == nil:
		d.conns++
	case !errors.Is(err, store.ErrConnectionNotFound):
		d.errs = append(d.errs, fmt.Sprintf("%s: want nil or ErrConnectionNotFound, got %v", who, err))
	}
	for _, s := range subs {
		d.subs[keyOf(s)] = append(d.subs[keyOf(s)], who)
	}
}

func (d *deletions) subscription(who string, s store.Subscription, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err == nil:
		d.subs[keyOf(s)] = append(d.subs[keyOf(s)], who)
	case !errors.Is(err, store.ErrSubscriptionNotFound):
		d.errs = append(d.errs, fmt.Sprintf("%s: want the subscription or ErrSubscriptionNotFound, got %v", who, err))
	}
}

// check reports every subscription of want not returned exactly once, and
// any subscription returned that is not in want.
func (d *deletions) check(e *env, what string, want []store.Subscription) {
	e.t.Helper()
	problems := d.errs
	wanted := make(map[subKey]bool, len(want))
	for _, s := range want {
		wanted[keyOf(s)] = true
		switch who := d.subs[keyOf(s)]; len(who) {
		case 1:
		case 0:
			problems = append(problems, fmt.Sprintf("subscription %s was deleted but returned to no caller", keyOf(s)))
		default:
			problems = append(problems, fmt.Sprintf("subscription %s was returned %d times (by %s), want once", keyOf(s), len(who), strings.Join(who, ", ")))
		}
	}
	for k := range d.subs {
		if !wanted[k] {
			problems = append(problems, fmt.Sprintf("subscription %s was returned but never existed", k))
		}
	}
	if len(problems) > 0 {
		e.t.Errorf("%s:\n\t%s", what, strings.Join(limit(problems), "\n\t"))
	}
}

// testDeleteConnectionConcurrent: of concurrent DeleteConnection calls,
// exactly one gets the connection, and each subscription is returned once.
func testDeleteConnectionConcurrent(e *env) {
	n := e.o.Concurrency
	c := e.connection("c")
	e.mustCreateConnection(c)
	topic := e.topic("t")
	var subs []store.Subscription
	for i := range 20 {
		s := e.subscription(c.ID, fmt.Sprint(i), topic)
		e.mustCreateSubscription(s)
		subs = append(subs, s)
	}
	d := &deletions{subs: map[subKey][]string{}}
	fs := make([]func(), n)
	for i := range fs {
		fs[i] = func() {
			_, got, err := e.s.DeleteConnection(e.ctx, c.ID)
			d.connection(fmt.Sprintf("DeleteConnection call %d", i), got, err)
		}
	}
	race(fs...)
	if d.conns != 1 {
		e.t.Errorf("%d concurrent DeleteConnection of one connection: %d returned nil, want exactly one (the others get ErrConnectionNotFound)", n, d.conns)
	}
	d.check(e, fmt.Sprintf("%d concurrent DeleteConnection of a connection with %d subscriptions", n, len(subs)), subs)
	e.expectNoConnection("after concurrent DeleteConnection", c.ID)
	e.expectTopic("after concurrent DeleteConnection", topic)
}

// testDeleteConnectionRacingDeleteSubscription: DeleteConnection racing
// DeleteSubscription of each of the connection's subscriptions (as a
// $disconnect races client `complete` frames and a 410 cleanup) returns each
// subscription exactly once overall, and leaves nothing behind.
func testDeleteConnectionRacingDeleteSubscription(e *env) {
	const rounds = 8
	perConn := max(4, e.o.Concurrency/2)
	topic := e.topic("t")
	for r := range rounds {
		c := e.connection(fmt.Sprintf("c%d", r))
		e.mustCreateConnection(c)
		var subs []store.Subscription
		for i := range perConn {
			s := e.subscription(c.ID, fmt.Sprint(i), topic)
			e.mustCreateSubscription(s)
			subs = append(subs, s)
		}
		d := &deletions{subs: map[subKey][]string{}}
		var fs []func()
		for i := range 2 {
			fs = append(fs, func() {
				_, got, err := e.s.DeleteConnection(e.ctx, c.ID)
				d.connection(fmt.Sprintf("DeleteConnection call %d", i), got, err)
			})
		}
		for _, s := range subs {
			fs = append(fs, func() {
				got, err := e.s.DeleteSubscription(e.ctx, s.ConnectionID, s.ID)
				d.subscription(fmt.Sprintf("DeleteSubscription %q", s.ID), got, err)
			})
		}
		race(fs...)
		if d.conns != 1 {
			e.t.Errorf("round %d: two DeleteConnection racing DeleteSubscription: %d got the connection, want exactly one", r, d.conns)
		}
		d.check(e, fmt.Sprintf("round %d: DeleteConnection racing DeleteSubscription of each of %d subscriptions", r, perConn), subs)
		for _, s := range subs {
			e.expectNoSubscription(fmt.Sprintf("round %d: after DeleteConnection racing DeleteSubscription", r), s.ConnectionID, s.ID)
		}
	}
	e.expectTopic("after DeleteConnection racing DeleteSubscription", topic)
}

// testSubscribeDisconnectRace is reliability target 6: RacePairs pairs of
// CreateSubscription and DeleteConnection, each pair on a connection of its
// own, run Concurrency pairs at a time. Afterwards no subscription of those
// connections is visible (0 rows left), and every CreateSubscription either
// was refused with ErrConnectionNotFound or had its subscription returned by
// the DeleteConnection of its pair.
func testSubscribeDisconnectRace(e *env) {
	n := e.o.RacePairs
	hot1, hot2 := e.topic("hot1"), e.topic("hot2")
	subs := make([]store.Subscription, n)
	var mu sync.Mutex
	var setup []string
	forEach(n, e.o.Concurrency, func(i int) {
		c := e.connection(fmt.Sprintf("c%d", i))
		subs[i] = e.subscription(c.ID, "1", hot1, hot2)
		if err := e.s.CreateConnection(e.ctx, c); err != nil {
			mu.Lock()
			setup = append(setup, fmt.Sprintf("CreateConnection %q: want nil, got %v", c.ID, err))
			mu.Unlock()
		}
	})
	if len(setup) > 0 {
		e.t.Fatalf("creating %d connections:\n\t%s", n, strings.Join(limit(setup), "\n\t"))
	}

	createErrs := make([]error, n)
	deleteErrs := make([]error, n)
	deleted := make([][]store.Subscription, n)
	forEach(n, e.o.Concurrency, func(i int) {
		race(
			func() { createErrs[i] = e.s.CreateSubscription(e.ctx, subs[i]) },
			func() { _, deleted[i], deleteErrs[i] = e.s.DeleteConnection(e.ctx, subs[i].ConnectionID) },
		)
	})

	var problems []string
	created, refused := 0, 0
	for i, s := range subs {
		if deleteErrs[i] != nil {
			problems = append(problems, fmt.Sprintf("DeleteConnection %q (the connection existed): want nil, got %v", s.ConnectionID, deleteErrs[i]))
		}
		returned := 0
		for _, d := range deleted[i] {
			if keyOf(d) == keyOf(s) {
				returned++
			} else {
				problems = append(problems, fmt.Sprintf("DeleteConnection %q returned subscription %s, which was never created", s.ConnectionID, keyOf(d)))
			}
		}
		switch err := createErrs[i]; {
		case err == nil:
			created++
			if returned != 1 {
				problems = append(problems, fmt.Sprintf("CreateSubscription %s succeeded, so DeleteConnection %q must return it once; it returned it %d times", keyOf(s), s.ConnectionID, returned))
			}
		case errors.Is(err, store.ErrConnectionNotFound):
			refused++
			if returned != 0 {
				problems = append(problems, fmt.Sprintf("CreateSubscription %s was refused, yet DeleteConnection %q returned it", keyOf(s), s.ConnectionID))
			}
		default:
			problems = append(problems, fmt.Sprintf("CreateSubscription %s racing DeleteConnection: want nil or ErrConnectionNotFound, got %v", keyOf(s), err))
		}
	}
	e.t.Logf("%d pairs: %d subscriptions created before their connection was deleted, %d refused", n, created, refused)

	// Reliability target 6: 0 rows left.
	var left []string
	var leftMu sync.Mutex
	forEach(n, e.o.Concurrency, func(i int) {
		s := subs[i]
		_, err := e.s.GetSubscription(e.ctx, s.ConnectionID, s.ID)
		if !errors.Is(err, store.ErrSubscriptionNotFound) {
			leftMu.Lock()
			left = append(left, fmt.Sprintf("GetSubscription %s: want ErrSubscriptionNotFound, got %s", keyOf(s), errText(err)))
			leftMu.Unlock()
		}
	})
	for _, topic := range []string{hot1, hot2} {
		rows, err := e.list(e.ctx, topic)
		if err != nil {
			left = append(left, fmt.Sprintf("TopicSubscriptions(%q): want no error, got %v", topic, err))
		}
		for _, s := range rows {
			left = append(left, fmt.Sprintf("TopicSubscriptions(%q) yielded %s", topic, keyOf(s)))
		}
	}
	if len(left) > 0 {
		e.t.Errorf("after %d CreateSubscription racing DeleteConnection of their connections, a subscription outlived its connection (0 rows must be left):\n\t%s",
			n, strings.Join(limit(left), "\n\t"))
	}
	if len(problems) > 0 {
		e.t.Errorf("%d CreateSubscription racing DeleteConnection of their connections, %d at a time: %d problems:\n\t%s",
			n, e.o.Concurrency, len(problems), strings.Join(limit(problems), "\n\t"))
	}
}

// testBoundedSubscriptions: a store.BoundedSubscriptions refuses, with
// store.ErrSubscriptionLimit, a subscription past the bound, counts those
// deleted out again, and lets no more than the bound through when the
// subscribes of one connection race.
func testBoundedSubscriptions(e *env) {
	bounded := optional[store.BoundedSubscriptions](e, ": the server cannot bound the subscriptions of a connection on it")
	c := e.connection("c")
	e.mustCreateConnection(c)
	for _, id := range []string{"1", "2", "3"} {
		if err := bounded.CreateBoundedSubscription(e.ctx, e.subscription(c.ID, id, e.topic("t")), 3); err != nil {
			e.t.Fatalf("CreateBoundedSubscription(%s, limit 3): %v", id, err)
		}
	}
	if err := bounded.CreateBoundedSubscription(e.ctx, e.subscription(c.ID, "4", e.topic("t")), 3); !errors.Is(err, store.ErrSubscriptionLimit) {
		e.t.Errorf("a 4th subscription with limit 3: %v; want ErrSubscriptionLimit", err)
	}
	if err := bounded.CreateBoundedSubscription(e.ctx, e.subscription(c.ID, "2", e.topic("t")), 3); !errors.Is(err, store.ErrSubscriptionExists) {
		e.t.Errorf("a duplicate id at the limit: %v; want ErrSubscriptionExists", err)
	}
	if err := bounded.CreateBoundedSubscription(e.ctx, e.subscription(e.id("unknown"), "1", e.topic("t")), 3); !errors.Is(err, store.ErrConnectionNotFound) {
		e.t.Errorf("a subscription of an unknown connection: %v; want ErrConnectionNotFound", err)
	}
	if _, err := e.s.DeleteSubscription(e.ctx, c.ID, "2"); err != nil {
		e.t.Fatal(err)
	}
	if err := bounded.CreateBoundedSubscription(e.ctx, e.subscription(c.ID, "4", e.topic("t")), 3); err != nil {
		e.t.Errorf("a subscription after one of 3 was deleted, limit 3: %v", err)
	}
	if err := bounded.CreateBoundedSubscription(e.ctx, e.subscription(c.ID, "5", e.topic("t")), 0); err != nil {
		e.t.Errorf("limit 0 (no bound): %v", err)
	}
	ids := func(topic string) []string {
		var ids []string
		for _, sub := range e.mustList("TopicSubscriptions", topic) {
			ids = append(ids, sub.ID)
		}
		slices.Sort(ids)
		return ids
	}
	// The refused subscription left nothing a fan-out reads.
	got := ids(e.topic("t"))
	if want := []string{"1", "3", "4", "5"}; !slices.Equal(got, want) {
		e.t.Errorf("subscriptions of the topic: %v; want %v", got, want)
	}

	// Racing subscribes of one connection: exactly the bound wins.
	r := e.connection("race")
	e.mustCreateConnection(r)
	const n, limit = 20, 5
	var wg sync.WaitGroup
	var won, refused atomic.Int64
	for i := range n {
		wg.Go(func() {
			switch err := bounded.CreateBoundedSubscription(e.ctx, e.subscription(r.ID, strconv.Itoa(i), e.topic("race")), limit); {
			case err == nil:
				won.Add(1)
			case errors.Is(err, store.ErrSubscriptionLimit):
				refused.Add(1)
			default:
				e.t.Errorf("racing subscribe %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if won.Load() != limit || refused.Load() != n-limit {
		e.t.Errorf("%d racing subscribes with limit %d: %d created, %d refused; want %d and %d", n, limit, won.Load(), refused.Load(), limit, n-limit)
	}
	if got := ids(e.topic("race")); len(got) != limit {
		e.t.Errorf("the topic lists %d subscriptions after the race; want %d: %v", len(got), limit, got)
	}
}
