package storetest

import (
	"encoding/json"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// testConnectionExpiresWhileHeld: a connection is visible until the instant
// its ExpiresAt is reached and absent from then on, to every method; its id
// can then be created again, starting unacknowledged.
func testConnectionExpiresWhileHeld(e *env) {
	start := e.clock.Now()
	c := e.connection("c")
	c.ExpiresAt = start.Add(time.Minute)
	e.mustCreateConnection(c)
	if err := e.s.AcknowledgeConnection(e.ctx, c.ID, json.RawMessage(`{"n":1}`)); err != nil {
		e.t.Fatalf("AcknowledgeConnection: want nil, got %v", err)
	}
	c.Acknowledged, c.Context = true, json.RawMessage(`{"n":1}`)

	e.clock.set(c.ExpiresAt.Add(-time.Millisecond))
	e.expectConnection("a millisecond before ExpiresAt", c)

	e.clock.set(c.ExpiresAt)
	e.expectNoConnection("at ExpiresAt (a record whose ExpiresAt is not after now is expired)", c.ID)
	e.expectErr("AcknowledgeConnection after the connection expired",
		e.s.AcknowledgeConnection(e.ctx, c.ID, json.RawMessage(`{}`)), store.ErrConnectionNotFound)
	s := e.subscription(c.ID, "1", e.topic("t"))
	e.expectErr("CreateSubscription after the connection expired", e.s.CreateSubscription(e.ctx, s), store.ErrConnectionNotFound)
	e.expectNoSubscription("after CreateSubscription on an expired connection", c.ID, "1")

	again := e.connection("c")
	again.Protocol = "graphql-ws"
	if err := e.s.CreateConnection(e.ctx, again); err != nil {
		e.t.Fatalf("CreateConnection of an id whose connection expired while held: want nil, got %v", err)
	}
	e.expectConnection("after replacing an expired connection (the new one is not acknowledged)", again)
	if err := e.s.AcknowledgeConnection(e.ctx, again.ID, json.RawMessage(`{"n":2}`)); err != nil {
		e.t.Errorf("AcknowledgeConnection of a connection that replaced an expired acknowledged one: want nil, got %v", err)
	}
}

// testLostDisconnectOrphans: $disconnect is best effort, so a connection
// record may expire while its subscriptions live on. DeleteConnection (run
// when API Gateway reports the connection gone) must still delete and return
// them, with ErrConnectionNotFound, and leave nothing behind.
func testLostDisconnectOrphans(e *env) {
	start := e.clock.Now()
	t1, t2 := e.topic("1"), e.topic("2")
	c := e.connection("c")
	c.ExpiresAt = start.Add(time.Minute)
	e.mustCreateConnection(c)
	orphans := []store.Subscription{e.subscription(c.ID, "1", t1, t2), e.subscription(c.ID, "2", t1)}
	for i := range orphans {
		// The subscriptions outlive the connection's record.
		orphans[i].ExpiresAt = start.Add(time.Hour)
		e.mustCreateSubscription(orphans[i])
	}

	e.clock.set(start.Add(2 * time.Minute))
	e.expectNoConnection("after the connection expired", c.ID)
	for _, s := range orphans {
		e.expectSubscription("subscription of an expired connection (it has not expired itself)", s)
	}
	e.expectTopic("subscriptions of an expired connection", t1, orphans...)

	got, subs, err := e.s.DeleteConnection(e.ctx, c.ID)
	e.expectErr("DeleteConnection of an expired connection that still has subscriptions", err, store.ErrConnectionNotFound)
	if got.ID != "" {
		e.t.Errorf("DeleteConnection of an expired connection: returned connection %q, want none (an expired record is absent)", got.ID)
	}
	e.matchSubscriptions("DeleteConnection of an expired connection (its subscriptions are deleted all the same)", "returned", orphans, subs)
	for _, s := range orphans {
		e.expectNoSubscription("after DeleteConnection of an expired connection", s.ConnectionID, s.ID)
	}
	e.expectTopic("after DeleteConnection of an expired connection", t1)
	e.expectTopic("after DeleteConnection of an expired connection", t2)

	_, subs, err = e.s.DeleteConnection(e.ctx, c.ID)
	e.expectErr("second DeleteConnection of an expired connection", err, store.ErrConnectionNotFound)
	if len(subs) != 0 {
		e.t.Errorf("second DeleteConnection of an expired connection: returned %d subscriptions, want none", len(subs))
	}
}

// testSubscriptionExpiresWhileHeld: a subscription is visible until the
// instant its ExpiresAt is reached and absent from then on, to every method
// including DeleteConnection; its id can then be used again.
func testSubscriptionExpiresWhileHeld(e *env) {
	start := e.clock.Now()
	topic := e.topic("t")
	c := e.connection("c")
	c.ExpiresAt = start.Add(time.Hour)
	e.mustCreateConnection(c)
	short := e.subscription(c.ID, "short", topic)
	short.ExpiresAt = start.Add(time.Minute)
	long := e.subscription(c.ID, "long", topic)
	long.ExpiresAt = start.Add(time.Hour)
	e.mustCreateSubscription(short)
	e.mustCreateSubscription(long)

	e.clock.set(short.ExpiresAt.Add(-time.Millisecond))
	e.expectSubscription("a millisecond before ExpiresAt", short)
	e.expectTopic("a millisecond before ExpiresAt", topic, short, long)

	e.clock.set(short.ExpiresAt)
	e.expectNoSubscription("at ExpiresAt (a record whose ExpiresAt is not after now is expired)", c.ID, "short")
	e.expectTopic("at the ExpiresAt of one of two subscriptions", topic, long)
	_, err := e.s.DeleteSubscription(e.ctx, c.ID, "short")
	e.expectErr("DeleteSubscription of an expired subscription", err, store.ErrSubscriptionNotFound)

	again := e.subscription(c.ID, "short", topic)
	again.Query = "subscription { again }"
	again.ExpiresAt = start.Add(time.Hour)
	if err := e.s.CreateSubscription(e.ctx, again); err != nil {
		e.t.Fatalf("CreateSubscription of an id whose subscription expired while held: want nil, got %v", err)
	}
	e.expectSubscription("after replacing an expired subscription", again)

	soon := e.subscription(c.ID, "soon", topic)
	soon.ExpiresAt = start.Add(2 * time.Minute)
	e.mustCreateSubscription(soon)
	e.clock.set(start.Add(3 * time.Minute))
	_, subs, err := e.s.DeleteConnection(e.ctx, c.ID)
	e.expectErr("DeleteConnection", err, nil)
	e.matchSubscriptions("DeleteConnection of a connection holding an expired subscription (expired records are absent)", "returned",
		[]store.Subscription{again, long}, subs)
}
