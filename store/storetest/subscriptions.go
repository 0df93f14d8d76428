package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/store"
)

// nestedFilter is a filter with several groups, nested field paths, and list
// and number values, written in the form a JSON round trip gives back
// (numbers as float64, lists as []any).
func nestedFilter() filter.Filter {
	return filter.Filter{Groups: []filter.Group{
		{Conditions: []filter.Condition{
			{Field: "chatId", Operator: filter.Eq, Value: "42"},
			{Field: "author.role", Operator: filter.In, Value: []any{"admin", "mod"}},
		}},
		{Conditions: []filter.Condition{
			{Field: "score", Operator: filter.Between, Value: []any{1.5, 10.0}},
			{Field: "flags.pinned", Operator: filter.Eq, Value: true},
			{Field: "tags", Operator: filter.ContainsAny, Value: []any{"go", "graphql", "ü日本"}},
		}},
		{Conditions: []filter.Condition{
			{Field: "priority", Operator: filter.Ge, Value: 8.0},
		}},
	}}
}

// testSubscriptionRoundTrip: every field of a subscription comes back from
// GetSubscription and TopicSubscriptions as it was stored, and so does a
// minimal record.
func testSubscriptionRoundTrip(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	now := e.now()
	full := store.Subscription{
		ConnectionID:  c.ID,
		ID:            "1",
		Topics:        []string{e.topic("a"), e.topic("b")},
		Filter:        nestedFilter(),
		Query:         "subscription OnMessage($chat: ID!) {\n  messageAdded(chatId: $chat) { id text author { name } }\n}",
		OperationName: "OnMessage",
		Variables:     json.RawMessage(`{"chat": "42", "opts": {"limit": 10, "tags": ["a", "b"]}}`),
		Context:       json.RawMessage(`{"user":{"id":"u1"}}`),
		Data:          json.RawMessage(`{"principal":{"id":"u1","groups":["a","b"]},"n":2.5}`),
		Authorizer:    json.RawMessage(`{"principalId":"u1","name":"Ann","admin":true,"integrationLatency":12}`),
		Endpoint:      c.Endpoint,
		Protocol:      c.Protocol,
		CompleteHook:  true,
		Predicate:     true,
		CreatedAt:     now.Add(-345678 * time.Nanosecond),
		ExpiresAt:     now.Add(time.Hour + 321*time.Microsecond),
	}
	minimal := store.Subscription{ConnectionID: c.ID, ID: "2", Topics: []string{e.topic("c")}, Query: "subscription { tick }"}
	for _, s := range []store.Subscription{full, minimal} {
		e.mustCreateSubscription(s)
		e.expectSubscription("after CreateSubscription", s)
	}
	e.expectTopic("after CreateSubscription", e.topic("a"), full)
	e.expectTopic("after CreateSubscription", e.topic("b"), full)
	e.expectTopic("after CreateSubscription", e.topic("c"), minimal)
}

// testSubscriptionSeveralTopics: a subscription is yielded once under each of
// its topics and under no other.
func testSubscriptionSeveralTopics(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	t1, t2, t3, t4 := e.topic("1"), e.topic("2"), e.topic("3"), e.topic("4")
	wide := e.subscription(c.ID, "wide", t1, t2, t3)
	narrow := e.subscription(c.ID, "narrow", t2)
	e.mustCreateSubscription(wide)
	e.mustCreateSubscription(narrow)
	e.expectTopic("subscriptions on several topics", t1, wide)
	e.expectTopic("subscriptions on several topics", t2, wide, narrow)
	e.expectTopic("subscriptions on several topics", t3, wide)
	e.expectTopic("a topic nobody listens to", t4)
}

// testSubscriptionsOfOneConnectionOnOneTopic: one connection may hold many
// subscriptions on one topic, each yielded and deleted on its own.
func testSubscriptionsOfOneConnectionOnOneTopic(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	topic := e.topic("t")
	subs := []store.Subscription{e.subscription(c.ID, "1", topic), e.subscription(c.ID, "2", topic), e.subscription(c.ID, "3", topic)}
	for _, s := range subs {
		e.mustCreateSubscription(s)
	}
	e.expectTopic("three subscriptions of one connection", topic, subs...)
	if _, err := e.s.DeleteSubscription(e.ctx, c.ID, "2"); err != nil {
		e.t.Fatalf("DeleteSubscription %s: want nil, got %v", keyOf(subs[1]), err)
	}
	e.expectTopic("after deleting one of three subscriptions of one connection", topic, subs[0], subs[2])
	e.expectSubscription("after deleting a sibling", subs[0])
	e.expectSubscription("after deleting a sibling", subs[2])
}

// testSameSubscriptionIDOnTwoConnections: subscription ids are per
// connection.
func testSameSubscriptionIDOnTwoConnections(e *env) {
	topic := e.topic("t")
	var subs []store.Subscription
	for i, name := range []string{"c1", "c2"} {
		c := e.connection(name)
		e.mustCreateConnection(c)
		s := e.subscription(c.ID, "1", topic)
		s.Query = fmt.Sprintf("subscription { n%d }", i)
		if err := e.s.CreateSubscription(e.ctx, s); err != nil {
			e.t.Fatalf("CreateSubscription %s, an id another connection uses: want nil, got %v", keyOf(s), err)
		}
		subs = append(subs, s)
	}
	e.expectSubscription("same id on two connections", subs[0])
	e.expectSubscription("same id on two connections", subs[1])
	e.expectTopic("same id on two connections", topic, subs...)
	got, err := e.s.DeleteSubscription(e.ctx, subs[0].ConnectionID, "1")
	if err != nil {
		e.t.Fatalf("DeleteSubscription %s: want nil, got %v", keyOf(subs[0]), err)
	}
	e.checkSubscription("DeleteSubscription of an id two connections use", subs[0], got)
	e.expectSubscription("after deleting the same id of the other connection", subs[1])
	e.expectTopic("after deleting the same id of the other connection", topic, subs[1])
}

// testAwkwardIDs: connection ids, subscription ids and topics containing
// separators, unicode, or 128 characters are kept apart exactly. For each
// separator, two subscriptions whose naively concatenated keys collide
// ("c" + sep + "x" + sep + "y") must stay distinct.
func testAwkwardIDs(e *env) {
	for i, sep := range []string{"#", "|", ":", "=", "/", "*", "%", " ", ".", "\\"} {
		name := fmt.Sprintf("k%d", i)
		a, b := e.connection(name), e.connection(name+sep+"x")
		ta, tb := e.topic(name), e.topic(name+sep+"x")
		e.mustCreateConnection(a)
		e.mustCreateConnection(b)
		sa := e.subscription(a.ID, "x"+sep+"y", ta)
		sa.Query = "subscription { a }"
		sb := e.subscription(b.ID, "y", tb)
		sb.Query = "subscription { b }"
		e.mustCreateSubscription(sa)
		if err := e.s.CreateSubscription(e.ctx, sb); err != nil {
			e.t.Errorf("CreateSubscription %s after %s (the keys collide when joined with %q): want nil, got %v", keyOf(sb), keyOf(sa), sep, err)
			continue
		}
		op := fmt.Sprintf("ids containing %q", sep)
		e.expectSubscription(op, sa)
		e.expectSubscription(op, sb)
		e.expectNoSubscription(op, a.ID, "y")
		e.expectTopic(op, ta, sa)
		e.expectTopic(op, tb, sb)
		_, subs, err := e.s.DeleteConnection(e.ctx, a.ID)
		if err != nil {
			e.t.Errorf("%s: DeleteConnection %q: want nil, got %v", op, a.ID, err)
		}
		e.matchSubscriptions(fmt.Sprintf("%s: DeleteConnection %q", op, a.ID), "returned", []store.Subscription{sa}, subs)
		e.expectConnection(op+": after deleting the other connection", b)
		e.expectSubscription(op+": after deleting the other connection", sb)
	}

	long := func(prefix string) string { return prefix + strings.Repeat("x", 128-len(prefix)) }
	for _, tc := range []struct {
		name        string
		conn, id, t string
	}{
		{"unicode", e.id("ü日本🎉"), "é/ö#🎉", e.topic("chat:日本")},
		{"base64-like", e.id("BJq2UdL9joECGhg="), "a+b/c==", e.topic("a+b/c==")},
		{"128-characters", long(e.id("")), strings.Repeat("s", 128), e.topic(strings.Repeat("t", 128))},
	} {
		c := e.connection("")
		c.ID = tc.conn
		e.mustCreateConnection(c)
		s := e.subscription(c.ID, tc.id, tc.t)
		e.mustCreateSubscription(s)
		e.expectConnection(tc.name+" ids", c)
		e.expectSubscription(tc.name+" ids", s)
		e.expectTopic(tc.name+" ids", tc.t, s)
		got, err := e.s.DeleteSubscription(e.ctx, c.ID, tc.id)
		if err != nil {
			e.t.Errorf("%s ids: DeleteSubscription %s: want nil, got %v", tc.name, keyOf(s), err)
		} else {
			e.checkSubscription(tc.name+" ids: DeleteSubscription", s, got)
		}
	}
}

// testCreateSubscriptionDuplicate: a second subscription with a live id is
// refused and leaves the first, on its topics only.
func testCreateSubscriptionDuplicate(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	first := e.subscription(c.ID, "1", e.topic("first"))
	first.Query = "subscription { first }"
	e.mustCreateSubscription(first)
	second := e.subscription(c.ID, "1", e.topic("second"))
	second.Query = "subscription { second }"
	e.expectErr("CreateSubscription of an id the connection uses", e.s.CreateSubscription(e.ctx, second), store.ErrSubscriptionExists)
	e.expectSubscription("after a refused duplicate CreateSubscription", first)
	e.expectTopic("after a refused duplicate CreateSubscription", e.topic("first"), first)
	e.expectTopic("after a refused duplicate CreateSubscription (its topics must not be written)", e.topic("second"))
}

// testCreateSubscriptionConcurrent: of concurrent creations of one
// subscription id, exactly one succeeds and its record is the one stored.
func testCreateSubscriptionConcurrent(e *env) {
	n := e.o.Concurrency
	c := e.connection("c")
	e.mustCreateConnection(c)
	topic := e.topic("t")
	base := e.subscription(c.ID, "1", topic)
	variant := func(i int) store.Subscription {
		s := base
		s.Query = fmt.Sprintf("subscription { n%d }", i)
		return s
	}
	errs := make([]error, n)
	forEach(n, n, func(i int) { errs[i] = e.s.CreateSubscription(e.ctx, variant(i)) })
	winner := e.oneWinner(fmt.Sprintf("%d concurrent CreateSubscription of one id", n), errs, store.ErrSubscriptionExists)
	e.expectSubscription("after concurrent CreateSubscription (the stored record is the winner's)", variant(winner))
	e.expectTopic("after concurrent CreateSubscription", topic, variant(winner))
}

// testCreateSubscriptionWithoutConnection: a subscription of a connection
// that never existed is refused, leaves nothing behind, and does not create
// the connection.
func testCreateSubscriptionWithoutConnection(e *env) {
	topic := e.topic("t")
	s := e.subscription(e.id("nobody"), "1", topic)
	e.expectErr("CreateSubscription of a connection never created", e.s.CreateSubscription(e.ctx, s), store.ErrConnectionNotFound)
	e.expectNoSubscription("after a refused CreateSubscription", s.ConnectionID, s.ID)
	e.expectTopic("after a refused CreateSubscription", topic)
	e.expectNoConnection("after a refused CreateSubscription (it must not create the connection)", s.ConnectionID)
}

// testCreateSubscriptionExpiredConnection: a subscription of an expired
// connection is refused.
func testCreateSubscriptionExpiredConnection(e *env) {
	c := e.connection("c")
	c.ExpiresAt = e.now().Add(-time.Second)
	e.mustCreateConnection(c)
	topic := e.topic("t")
	s := e.subscription(c.ID, "1", topic)
	e.expectErr("CreateSubscription of an expired connection", e.s.CreateSubscription(e.ctx, s), store.ErrConnectionNotFound)
	e.expectNoSubscription("after a refused CreateSubscription", s.ConnectionID, s.ID)
	e.expectTopic("after a refused CreateSubscription", topic)
}

// testCreateSubscriptionAfterDeleteConnection: once a connection is deleted,
// its subscriptions are refused: a late subscribe frame cannot leave an
// orphan row.
func testCreateSubscriptionAfterDeleteConnection(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	topic := e.topic("t")
	if _, _, err := e.s.DeleteConnection(e.ctx, c.ID); err != nil {
		e.t.Fatalf("DeleteConnection %q: want nil, got %v", c.ID, err)
	}
	s := e.subscription(c.ID, "1", topic)
	e.expectErr("CreateSubscription after DeleteConnection", e.s.CreateSubscription(e.ctx, s), store.ErrConnectionNotFound)
	e.expectNoSubscription("after CreateSubscription after DeleteConnection", c.ID, "1")
	e.expectTopic("after CreateSubscription after DeleteConnection", topic)
	e.expectNoConnection("after CreateSubscription after DeleteConnection (it must not resurrect the connection)", c.ID)
}

// testSubscriptionExpiredAtCreation: a subscription whose ExpiresAt has
// passed is stored but absent to every method, its id can be used again,
// and DeleteConnection does not return it.
func testSubscriptionExpiredAtCreation(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	topic := e.topic("t")
	old := e.subscription(c.ID, "1", topic)
	old.ExpiresAt = e.now().Add(-time.Minute)
	if err := e.s.CreateSubscription(e.ctx, old); err != nil {
		e.t.Fatalf("CreateSubscription of a subscription already expired: want nil (the record is stored and treated as absent), got %v", err)
	}
	e.expectNoSubscription("expired subscription", c.ID, "1")
	e.expectTopic("expired subscription", topic)
	_, err := e.s.DeleteSubscription(e.ctx, c.ID, "1")
	e.expectErr("DeleteSubscription of an expired subscription", err, store.ErrSubscriptionNotFound)

	stale := e.subscription(c.ID, "stale", topic)
	stale.ExpiresAt = e.now().Add(-time.Minute)
	e.mustCreateSubscription(stale)
	fresh := e.subscription(c.ID, "1", topic)
	fresh.Query = "subscription { fresh }"
	if err := e.s.CreateSubscription(e.ctx, fresh); err != nil {
		e.t.Fatalf("CreateSubscription of an id whose subscription expired: want nil (an expired subscription is replaced), got %v", err)
	}
	e.expectSubscription("after replacing an expired subscription", fresh)
	e.expectTopic("after replacing an expired subscription", topic, fresh)

	_, subs, err := e.s.DeleteConnection(e.ctx, c.ID)
	e.expectErr("DeleteConnection", err, nil)
	e.matchSubscriptions("DeleteConnection of a connection holding an expired subscription (expired records are absent)", "returned",
		[]store.Subscription{fresh}, subs)
}

// testGetSubscriptionMissing: ids never created, prefixes of existing ids,
// and subscriptions of unknown connections are not found.
func testGetSubscriptionMissing(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	e.mustCreateSubscription(e.subscription(c.ID, "10", e.topic("t")))
	e.expectNoSubscription("never created", c.ID, "2")
	e.expectNoSubscription("a prefix of an existing id", c.ID, "1")
	e.expectNoSubscription("an extension of an existing id", c.ID, "100")
	e.expectNoSubscription("a connection never created", e.id("nobody"), "10")
}

// testDeleteSubscription: DeleteSubscription returns the subscription once,
// removes it from every topic, leaves its siblings and connection, and frees
// its id.
func testDeleteSubscription(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	t1, t2 := e.topic("1"), e.topic("2")
	one := e.subscription(c.ID, "1", t1, t2)
	one.Filter = nestedFilter()
	two := e.subscription(c.ID, "2", t1)
	e.mustCreateSubscription(one)
	e.mustCreateSubscription(two)

	got, err := e.s.DeleteSubscription(e.ctx, c.ID, "1")
	if err != nil {
		e.t.Fatalf("DeleteSubscription %s: want the subscription, got %v", keyOf(one), err)
	}
	e.checkSubscription("DeleteSubscription", one, got)
	e.expectNoSubscription("after DeleteSubscription", c.ID, "1")
	e.expectTopic("after DeleteSubscription", t1, two)
	e.expectTopic("after DeleteSubscription", t2)
	e.expectSubscription("after deleting a sibling", two)
	e.expectConnection("after DeleteSubscription (the connection stays)", c)

	_, err = e.s.DeleteSubscription(e.ctx, c.ID, "1")
	e.expectErr("second DeleteSubscription", err, store.ErrSubscriptionNotFound)
	_, err = e.s.DeleteSubscription(e.ctx, e.id("nobody"), "1")
	e.expectErr("DeleteSubscription of a connection never created", err, store.ErrSubscriptionNotFound)

	if err := e.s.CreateSubscription(e.ctx, one); err != nil {
		e.t.Fatalf("CreateSubscription of an id freed by DeleteSubscription: want nil, got %v", err)
	}
	e.expectTopic("after re-creating a deleted subscription", t2, one)
}

// testDeleteSubscriptionConcurrent: of concurrent deletions of one
// subscription, exactly one returns it.
func testDeleteSubscriptionConcurrent(e *env) {
	n := e.o.Concurrency
	c := e.connection("c")
	e.mustCreateConnection(c)
	s := e.subscription(c.ID, "1", e.topic("t"))
	e.mustCreateSubscription(s)
	got := make([]store.Subscription, n)
	errs := make([]error, n)
	forEach(n, n, func(i int) { got[i], errs[i] = e.s.DeleteSubscription(e.ctx, c.ID, "1") })
	var winners []string
	for i, err := range errs {
		switch {
		case err == nil:
			winners = append(winners, fmt.Sprint(i))
			e.checkSubscription(fmt.Sprintf("concurrent DeleteSubscription %d", i), s, got[i])
		case !errors.Is(err, store.ErrSubscriptionNotFound):
			e.t.Errorf("concurrent DeleteSubscription %d: want the subscription or ErrSubscriptionNotFound, got %v", i, err)
		}
	}
	if len(winners) != 1 {
		e.t.Errorf("%d concurrent DeleteSubscription of one subscription: %d returned it (calls %s), want exactly one; the others must get ErrSubscriptionNotFound",
			n, len(winners), strings.Join(winners, ", "))
	}
	e.expectNoSubscription("after concurrent DeleteSubscription", c.ID, "1")
}
