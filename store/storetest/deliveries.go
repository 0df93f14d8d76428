package storetest

import (
	"context"
	"fmt"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// The cases of the optional capability store.DeliveryLog. A store without
// it skips them.

// deliveryLog returns the store as a DeliveryLog, or skips the case.
func (e *env) deliveryLog() store.DeliveryLog {
	e.t.Helper()
	return optional[store.DeliveryLog](e, ": redelivered events may reach a subscription twice on it")
}

// delivery returns the delivery of event name to subscription sub of
// connection conn in this case.
func (e *env) delivery(event, conn, sub string) store.Delivery {
	return store.Delivery{EventID: e.prefix + event, ConnectionID: e.id(conn), SubscriptionID: sub}
}

// claim claims d for token with a lease and a window relative to the case's
// clock and checks the outcome.
func (e *env) claim(dl store.DeliveryLog, op string, d store.Delivery, token string, lease, window time.Duration, want store.ClaimStatus) {
	e.t.Helper()
	now := e.now()
	got, err := dl.ClaimDelivery(e.ctx, d, token, now.Add(lease), now.Add(window))
	if err != nil {
		e.t.Fatalf("%s: ClaimDelivery(%+v, %q): want %v, got error %v", op, d, token, want, err)
	}
	if got != want {
		e.t.Fatalf("%s: ClaimDelivery(%+v, %q): want %v, got %v", op, d, token, want, got)
	}
}

// finish finishes token's claim of d.
func (e *env) finish(dl store.DeliveryLog, op string, d store.Delivery, token string, delivered bool) {
	e.t.Helper()
	if err := dl.FinishDelivery(e.ctx, d, token, delivered); err != nil {
		e.t.Fatalf("%s: FinishDelivery(%+v, %q, %v): want nil, got %v", op, d, token, delivered, err)
	}
}

// testDeliveryClaim: a delivery is claimed once; while the claim holds,
// other callers get InProgress; once finished as delivered, AlreadyDelivered.
// Other subscriptions and other events are independent.
func testDeliveryClaim(e *env) {
	dl := e.deliveryLog()
	d := e.delivery("e1", "c", "1")
	e.claim(dl, "first claim", d, "a", time.Minute, time.Hour, store.Claimed)
	e.claim(dl, "claim by another caller while the first holds it", d, "b", time.Minute, time.Hour, store.InProgress)
	e.claim(dl, "claim by the same token again while it holds it", d, "a", time.Minute, time.Hour, store.InProgress)
	e.claim(dl, "claim of the same event for another subscription of the connection", e.delivery("e1", "c", "2"), "a", time.Minute, time.Hour, store.Claimed)
	e.claim(dl, "claim of the same event for another connection", e.delivery("e1", "other", "1"), "a", time.Minute, time.Hour, store.Claimed)
	e.claim(dl, "claim of another event for the same subscription", e.delivery("e2", "c", "1"), "a", time.Minute, time.Hour, store.Claimed)
	e.finish(dl, "finish as delivered", d, "a", true)
	e.claim(dl, "claim after the delivery was finished as delivered", d, "b", time.Minute, time.Hour, store.AlreadyDelivered)
	e.claim(dl, "claim by the token that delivered it", d, "a", time.Minute, time.Hour, store.AlreadyDelivered)
}

// testDeliveryReleased: a claim finished as not delivered is removed, and
// the next claim gets the delivery.
func testDeliveryReleased(e *env) {
	dl := e.deliveryLog()
	d := e.delivery("e", "c", "1")
	e.claim(dl, "first claim", d, "a", time.Minute, time.Hour, store.Claimed)
	e.finish(dl, "finish as not delivered", d, "a", false)
	e.claim(dl, "claim after a claim finished as not delivered", d, "b", time.Minute, time.Hour, store.Claimed)
	e.finish(dl, "finish the second claim as delivered", d, "b", true)
	e.claim(dl, "claim after the second claim delivered", d, "c", time.Minute, time.Hour, store.AlreadyDelivered)
}

// testDeliveryFinishOtherToken: FinishDelivery with a token that does not
// hold the claim, and of a delivery never claimed, changes nothing.
func testDeliveryFinishOtherToken(e *env) {
	dl := e.deliveryLog()
	d := e.delivery("e", "c", "1")
	e.finish(dl, "finish of a delivery never claimed", d, "a", true)
	e.claim(dl, "claim after a finish of a delivery never claimed", d, "a", time.Minute, time.Hour, store.Claimed)
	e.finish(dl, "finish as not delivered by a token that does not hold the claim", d, "intruder", false)
	e.claim(dl, "claim after a foreign finish as not delivered", d, "b", time.Minute, time.Hour, store.InProgress)
	e.finish(dl, "finish as delivered by a token that does not hold the claim", d, "intruder", true)
	e.claim(dl, "claim after a foreign finish as delivered", d, "b", time.Minute, time.Hour, store.InProgress)
	e.finish(dl, "finish by the holder", d, "a", false)
	e.claim(dl, "claim after the holder released it", d, "b", time.Minute, time.Hour, store.Claimed)
}

// testDeliveryConcurrentClaims: of concurrent claims of one delivery,
// exactly one gets Claimed; the others get InProgress.
func testDeliveryConcurrentClaims(e *env) {
	dl := e.deliveryLog()
	d := e.delivery("e", "c", "1")
	n := e.o.Concurrency
	got := make([]store.ClaimStatus, n)
	errs := make([]error, n)
	now := e.now()
	e.within("concurrent ClaimDelivery", func() {
		forEach(n, n, func(i int) {
			got[i], errs[i] = dl.ClaimDelivery(e.ctx, d, fmt.Sprint("token", i), now.Add(time.Minute), now.Add(time.Hour))
		})
	})
	claimed := 0
	for i := range n {
		switch {
		case errs[i] != nil:
			e.t.Errorf("concurrent ClaimDelivery %d: want no error, got %v", i, errs[i])
		case got[i] == store.Claimed:
			claimed++
		case got[i] != store.InProgress:
			e.t.Errorf("concurrent ClaimDelivery %d: want claimed or in-progress, got %v", i, got[i])
		}
	}
	if claimed != 1 {
		e.t.Errorf("%d concurrent ClaimDelivery of one delivery: %d got claimed, want exactly 1", n, claimed)
	}
}

// testDeliveryAwkwardIDs: deliveries whose ids would collide under naive
// concatenation are independent.
func testDeliveryAwkwardIDs(e *env) {
	dl := e.deliveryLog()
	ds := []store.Delivery{
		{EventID: e.prefix + "a#d", ConnectionID: e.id("c"), SubscriptionID: "1"},
		{EventID: e.prefix + "a", ConnectionID: e.id("c"), SubscriptionID: "1"},
		{EventID: e.prefix + "x", ConnectionID: e.id("c:1"), SubscriptionID: "2"},
		{EventID: e.prefix + "x", ConnectionID: e.id("c"), SubscriptionID: "1:2"},
		{EventID: e.prefix + "y#0", ConnectionID: e.id("c"), SubscriptionID: "1"},
		{EventID: e.prefix + "y", ConnectionID: e.id("c"), SubscriptionID: "#0"},
		{EventID: e.prefix + "z:é", ConnectionID: e.id(""), SubscriptionID: ""},
	}
	for i, d := range ds {
		e.claim(dl, fmt.Sprintf("claim %d", i), d, "a", time.Minute, time.Hour, store.Claimed)
		e.finish(dl, fmt.Sprintf("finish %d", i), d, "a", i%2 == 0)
	}
	for i, d := range ds {
		want := store.Claimed
		if i%2 == 0 {
			want = store.AlreadyDelivered
		}
		e.claim(dl, fmt.Sprintf("claim %d again", i), d, "b", time.Minute, time.Hour, want)
	}
}

// testDeliveriesInvisible: delivery records do not show up as subscriptions,
// neither of a topic named like the event nor of the connection.
func testDeliveriesInvisible(e *env) {
	dl := e.deliveryLog()
	topic := e.topic("t")
	c := e.connection("c")
	e.mustCreateConnection(c)
	sub := e.subscription(c.ID, "1", topic)
	e.mustCreateSubscription(sub)
	for _, event := range []string{topic, topic + "#0", topic + "#d", topic + "#d#0"} {
		d := store.Delivery{EventID: event, ConnectionID: c.ID, SubscriptionID: sub.ID}
		e.claim(dl, "claim a delivery of event "+event, d, "a", time.Minute, time.Hour, store.Claimed)
		e.finish(dl, "finish it", d, "a", true)
		if event != topic {
			e.expectTopic("after a delivery of an event named like the topic's keys was recorded", event)
		}
	}
	e.expectTopic("after deliveries to the subscription were recorded", topic, sub)
	_, subs, err := e.s.DeleteConnection(e.ctx, c.ID)
	if err != nil {
		e.t.Fatalf("DeleteConnection %q: want nil, got %v", c.ID, err)
	}
	e.matchSubscriptions("DeleteConnection after deliveries were recorded", "returned", []store.Subscription{sub}, subs)
}

// testDeliveryCancelledContext: both methods honour a cancelled context.
func testDeliveryCancelledContext(e *env) {
	dl := e.deliveryLog()
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	d := e.delivery("e", "c", "1")
	now := e.now()
	_, err := dl.ClaimDelivery(ctx, d, "a", now.Add(time.Minute), now.Add(time.Hour))
	e.expectErr("ClaimDelivery with a cancelled context", err, context.Canceled)
	e.expectErr("FinishDelivery with a cancelled context", dl.FinishDelivery(ctx, d, "a", true), context.Canceled)
	e.claim(dl, "claim after a cancelled claim", d, "a", time.Minute, time.Hour, store.Claimed)
}

// testDeliveryLeaseTakeover: a claim whose lease ended is taken over by the
// next caller; the old holder's finish then changes nothing.
func testDeliveryLeaseTakeover(e *env) {
	dl := e.deliveryLog()
	d := e.delivery("e", "c", "1")
	start := e.now()
	e.claim(dl, "first claim, lease of a minute", d, "crashed", time.Minute, time.Hour, store.Claimed)
	e.clock.set(start.Add(time.Minute - time.Millisecond))
	e.claim(dl, "claim a millisecond before the lease ends", d, "b", time.Minute, time.Hour, store.InProgress)
	e.clock.set(start.Add(time.Minute))
	e.claim(dl, "claim at the instant the lease ends", d, "b", time.Minute, time.Hour, store.Claimed)
	e.finish(dl, "late finish by the holder whose claim was taken over", d, "crashed", false)
	e.claim(dl, "claim after the late finish", d, "c", time.Minute, time.Hour, store.InProgress)
	e.finish(dl, "finish by the new holder", d, "b", true)
	e.claim(dl, "claim after the new holder delivered", d, "c", time.Minute, time.Hour, store.AlreadyDelivered)
}

// testDeliveryWindowEnds: a delivered record is forgotten when it expires.
func testDeliveryWindowEnds(e *env) {
	dl := e.deliveryLog()
	d := e.delivery("e", "c", "1")
	start := e.now()
	e.claim(dl, "claim with a window of an hour", d, "a", time.Minute, time.Hour, store.Claimed)
	e.finish(dl, "finish as delivered", d, "a", true)
	e.clock.set(start.Add(time.Hour - time.Millisecond))
	e.claim(dl, "claim a millisecond before the window ends", d, "b", time.Minute, time.Hour, store.AlreadyDelivered)
	e.clock.set(start.Add(time.Hour))
	e.claim(dl, "claim at the instant the window ends", d, "b", time.Minute, time.Hour, store.Claimed)
}
