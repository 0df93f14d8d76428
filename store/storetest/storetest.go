// Package storetest checks that a [store.Store] implementation behaves as the
// interface documents. Every store runs [Run] from its tests, against a real
// backend where it has one:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New(nil) }, nil)
//	}
//
// Each case is a subtest that builds a fresh store, uses connection ids and
// topics no other case (and no other run) uses, and explains each failure in
// store terms, such as "CreateSubscription after DeleteConnection: want
// ErrConnectionNotFound, got nil". The cases cover round trips of every
// field, the conditions of each write (existence, duplicate ids, single
// acknowledgement, single deletion), expiry, ids that break naive key
// concatenation, pagination and mutation during iteration of
// TopicSubscriptions, context cancellation, and the races between
// concurrent invocations that leave orphan rows behind: subscribe against
// disconnect, delete against delete. A store that implements the optional
// [store.DeliveryLog] is also checked for it (claims, leases, the window);
// one that does not skips those cases, each with a named reason; so does one
// without the optional [store.ActivityIndex] (recorded activity, pings, idle
// connections read by key).
//
// The package knows nothing of GraphQL or of the server: what the server
// does with a store (a lost $disconnect cleaned up when a delivery is
// answered 410 Gone, subscribe frames racing $disconnect) is tested by the
// server's own suite, which runs over every store.
package storetest

import (
	"crypto/rand"
	"reflect"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// Options tunes [Run]. The zero value, and a nil *Options, give the defaults.
type Options struct {
	// ManySubscriptions is how many subscriptions the pagination cases put on
	// one topic. It should exceed what the store reads in one page, so that
	// iteration crosses page boundaries (a DynamoDB page holds about 1 MB).
	// Default 3000.
	ManySubscriptions int

	// Concurrency is how many goroutines the race cases run at once.
	// Default 32.
	Concurrency int

	// RacePairs is how many (CreateSubscription, DeleteConnection) pairs, each
	// on a connection of its own, the subscribe/disconnect race runs.
	// Default 1000.
	RacePairs int

	// NewClockedStore builds a fresh store that decides expiry with now
	// instead of the wall clock. When it is set, Run adds the cases in which
	// records expire while the store holds them: a connection that outlives
	// its TTL, subscriptions left behind by a $disconnect that never came,
	// and the exact expiry instant (a record whose ExpiresAt equals now is
	// expired). The clock starts at the wall-clock time, truncated to the
	// millisecond, and moves only when a case moves it. Default nil: those
	// cases are skipped.
	NewClockedStore func(t *testing.T, now func() time.Time) store.Store

	// IdleConnections is how many connections the case of
	// store.ActivityIndex.IdleConnections makes, half of them idle. It
	// should exceed what the store reads in one page. Default 300.
	IdleConnections int

	// Sequential runs the cases one after another. By default they run in
	// parallel (t.Parallel), which needs newStore to be safe to call from
	// parallel subtests; the stores it returns may share a backend (a table,
	// a database), since every case uses ids and topics of its own.
	Sequential bool
}

// withDefaults returns a copy of o (which may be nil) with every unset field
// set to its default.
func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.ManySubscriptions <= 0 {
		out.ManySubscriptions = 3000
	}
	if out.Concurrency <= 0 {
		out.Concurrency = 32
	}
	if out.IdleConnections <= 0 {
		out.IdleConnections = 300
	}
	if out.RacePairs <= 0 {
		out.RacePairs = 1000
	}
	return out
}

// testCase is one conformance case.
type testCase struct {
	name    string
	clocked bool // needs Options.NewClockedStore
	run     func(e *env)
}

// cases lists every conformance case, in the order Run starts them.
func cases() []testCase {
	return []testCase{
		// Connections.
		{name: "ConnectionRoundTrip", run: testConnectionRoundTrip},
		{name: "CreateConnectionDuplicate", run: testCreateConnectionDuplicate},
		{name: "CreateConnectionConcurrent", run: testCreateConnectionConcurrent},
		{name: "GetConnectionMissing", run: testGetConnectionMissing},
		{name: "ConnectionExpiredAtCreation", run: testConnectionExpiredAtCreation},
		{name: "Acknowledge", run: testAcknowledge},
		{name: "AcknowledgeTwice", run: testAcknowledgeTwice},
		{name: "AcknowledgeMissing", run: testAcknowledgeMissing},
		{name: "AcknowledgeConcurrent", run: testAcknowledgeConcurrent},

		// Subscriptions.
		{name: "SubscriptionRoundTrip", run: testSubscriptionRoundTrip},
		{name: "SubscriptionSeveralTopics", run: testSubscriptionSeveralTopics},
		{name: "SubscriptionsOfOneConnectionOnOneTopic", run: testSubscriptionsOfOneConnectionOnOneTopic},
		{name: "SameSubscriptionIDOnTwoConnections", run: testSameSubscriptionIDOnTwoConnections},
		{name: "AwkwardIDs", run: testAwkwardIDs},
		{name: "CreateSubscriptionDuplicate", run: testCreateSubscriptionDuplicate},
		{name: "CreateSubscriptionConcurrent", run: testCreateSubscriptionConcurrent},
		{name: "CreateSubscriptionWithoutConnection", run: testCreateSubscriptionWithoutConnection},
		{name: "CreateSubscriptionExpiredConnection", run: testCreateSubscriptionExpiredConnection},
		{name: "CreateSubscriptionAfterDeleteConnection", run: testCreateSubscriptionAfterDeleteConnection},
		{name: "SubscriptionExpiredAtCreation", run: testSubscriptionExpiredAtCreation},
		{name: "GetSubscriptionMissing", run: testGetSubscriptionMissing},
		{name: "DeleteSubscription", run: testDeleteSubscription},
		{name: "DeleteSubscriptionConcurrent", run: testDeleteSubscriptionConcurrent},

		// DeleteConnection.
		{name: "DeleteConnection", run: testDeleteConnection},
		{name: "DeleteConnectionTwice", run: testDeleteConnectionTwice},
		{name: "BoundedSubscriptions", run: testBoundedSubscriptions},
		{name: "DeleteConnectionMissing", run: testDeleteConnectionMissing},
		{name: "DeleteConnectionWithoutSubscriptions", run: testDeleteConnectionWithoutSubscriptions},
		{name: "ConnectionRecreatedAfterDelete", run: testConnectionRecreatedAfterDelete},
		{name: "DeleteConnectionConcurrent", run: testDeleteConnectionConcurrent},
		{name: "DeleteConnectionRacingDeleteSubscription", run: testDeleteConnectionRacingDeleteSubscription},

		// Subscribe against disconnect.
		{name: "SubscribeDisconnectRace", run: testSubscribeDisconnectRace},

		// TopicSubscriptions.
		{name: "TopicManySubscriptions", run: testTopicManySubscriptions},
		{name: "TopicIsolation", run: testTopicIsolation},
		{name: "TopicEarlyBreak", run: testTopicEarlyBreak},
		{name: "TopicMutationDuringIteration", run: testTopicMutationDuringIteration},
		{name: "TopicCancelMidIteration", run: testTopicCancelMidIteration},

		// Context cancellation.
		{name: "CancelledContext", run: testCancelledContext},

		// The delivery log (store.DeliveryLog, optional).
		{name: "DeliveryClaim", run: testDeliveryClaim},
		{name: "DeliveryReleased", run: testDeliveryReleased},
		{name: "DeliveryFinishOtherToken", run: testDeliveryFinishOtherToken},
		{name: "DeliveryConcurrentClaims", run: testDeliveryConcurrentClaims},
		{name: "DeliveryAwkwardIDs", run: testDeliveryAwkwardIDs},
		{name: "DeliveriesInvisibleToSubscriptions", run: testDeliveriesInvisible},
		{name: "DeliveryCancelledContext", run: testDeliveryCancelledContext},

		// The activity index (store.ActivityIndex, optional).
		{name: "ActivityRecorded", run: testActivityRecorded},
		{name: "IdleConnections", run: testIdleConnections},
		{name: "ActivityConcurrent", run: testActivityConcurrent},
		{name: "IdleConnectionsCancelled", run: testIdleCancelled},
		// Scale-out fan-out (store.RangeReader, store.SplitLog, store.Budget; optional).
		{name: "RangesCoverTopic", run: testRangesCoverTopic},
		{name: "RangeAfterDelete", run: testRangeAfterDelete},
		{name: "RangeClaim", run: testRangeClaim},
		{name: "SplitCompletion", run: testSplitCompletion},
		{name: "RangeConcurrentClaims", run: testRangeConcurrentClaims},
		{name: "Budget", run: testBudget},
		{name: "RangeLeaseTakeover", clocked: true, run: testRangeLeaseTakeover},

		// Expiry while held (Options.NewClockedStore).
		{name: "ConnectionExpiresWhileHeld", clocked: true, run: testConnectionExpiresWhileHeld},
		{name: "LostDisconnectOrphans", clocked: true, run: testLostDisconnectOrphans},
		{name: "SubscriptionExpiresWhileHeld", clocked: true, run: testSubscriptionExpiresWhileHeld},
		{name: "DeliveryLeaseTakeover", clocked: true, run: testDeliveryLeaseTakeover},
		{name: "DeliveryWindowEnds", clocked: true, run: testDeliveryWindowEnds},
	}
}

// Run runs the conformance suite, one subtest per case, each on a fresh
// store from newStore (or, for the cases that move the clock, from
// opts.NewClockedStore). opts may be nil.
//
// The cases set expiry times relative to the wall clock (an hour ahead for
// live records, an hour behind for expired ones), so the stores newStore
// returns must decide expiry with the wall clock, or one close to it.
// Unless opts.Sequential is set, the cases run in parallel. Run must be
// called from the test's own goroutine.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts *Options) {
	t.Helper()
	o := opts.withDefaults()
	// The nonce keeps ids of this run apart from those of earlier runs on a
	// shared backend, such as a DynamoDB table that outlives the test.
	nonce := rand.Text()[:8]
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			if !o.Sequential {
				t.Parallel()
			}
			e := &env{t: t, o: o, prefix: nonce + "." + c.name + ".", ctx: t.Context()}
			if c.clocked {
				if o.NewClockedStore == nil {
					t.Skip("Options.NewClockedStore is nil: this case lets records expire while held, which needs a store on a clock the case can move")
				}
				e.clock = &clock{t: time.Now().Truncate(time.Millisecond)}
				e.s = o.NewClockedStore(t, e.clock.Now)
			} else {
				e.s = newStore(t)
			}
			if e.s == nil {
				t.Fatal("the function building the store returned nil")
			}
			c.run(e)
		})
	}
}

// optional returns the store as its optional capability T, or skips the
// case, saying that the store does not implement T and what lacking it
// means (lacking is appended to the message).
func optional[T any](e *env, lacking string) T {
	e.t.Helper()
	c, ok := e.s.(T)
	if !ok {
		e.t.Skipf("%T does not implement %s (an optional capability)%s", e.s, reflect.TypeFor[T](), lacking)
	}
	return c
}
