package gqlambda

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// This file keeps redelivered events from reaching a subscription twice:
// each delivery of an event with an id goes through the store's delivery
// log (store.DeliveryLog), claimed before the subscription's document runs
// and finished once the post's outcome is known.

// Redelivery configures how [Server.Deliver] (and every stream and source
// handler, which call it) keeps an event that its source delivers again from
// reaching a subscription twice. SQS, SNS, EventBridge, Kinesis and DynamoDB
// Streams all deliver at least once, and a record retried after a partial
// failure would otherwise reach again the subscriptions that had it.
//
// It needs a store that implements [store.DeliveryLog] (store/memory and
// store/dynamodb do); with another store, redelivered events reach again the
// subscriptions that had them. Each delivery of an event with an id costs
// two writes to the store (claim and outcome; on DynamoDB two write units)
// and a record kept for Window. Publish and Complete (direct fan-out) and
// Complete events do not use it: they have no redelivery, and a completed
// subscription is deleted, which a second Complete finds gone.
type Redelivery struct {
	// Window is how long the store remembers that an event (by its id)
	// reached a subscription: the same event delivered again within it is
	// skipped for that subscription, after it delivered again. It should
	// cover the retries of every source (SQS redrives and visibility
	// timeouts, the 24 hours of a DynamoDB stream, EventBridge's 24 hours of
	// retries). Default 24 hours; negative: off.
	Window time.Duration
	// Lease is how long a claimed delivery keeps other invocations from
	// delivering the same event to the same subscription. It must be longer
	// than one delivery takes (the execution and the post with every retry
	// of the Sender). A delivery whose invocation crashed after its claim
	// becomes deliverable again when its lease ends. Default 1 minute.
	Lease time.Duration
}

// Defaults of [Redelivery].
const (
	DefaultRedeliveryWindow = 24 * time.Hour
	DefaultRedeliveryLease  = time.Minute
)

// finishTimeout bounds the write that records a delivery's outcome, which
// runs even when the delivery's context is done.
const finishTimeout = 5 * time.Second

// configureRedelivery sets the server's delivery log from cfg and its store.
func (s *Server) configureRedelivery(cfg Redelivery) {
	s.window, s.lease = cfg.Window, cfg.Lease
	if s.window == 0 {
		s.window = DefaultRedeliveryWindow
	}
	if s.lease <= 0 {
		s.lease = DefaultRedeliveryLease
	}
	if s.window < 0 {
		return
	}
	if dl, ok := s.store.(store.DeliveryLog); ok {
		s.deliveries = dl
		return
	}
	s.log.Info("the store has no delivery log (store.DeliveryLog): events delivered again by their source may reach a subscription twice",
		slog.String("store", fmt.Sprintf("%T", s.store)))
}

// dedup is the delivery log of one Deliver.
type dedup struct {
	log   store.DeliveryLog
	event string
	token string // this fan-out's claims
}

// newDedup returns the delivery log of a fan-out of p, nil when it needs
// none: no log, no event id, or a Complete.
func (s *Server) newDedup(p publication, complete bool) *dedup {
	log := s.deliveries
	if p.log != nil {
		log = p.log
	}
	if log == nil || p.id == "" || complete {
		return nil
	}
	return &dedup{log: log, event: p.id, token: rand.Text()}
}

func (d *dedup) delivery(sub store.Subscription) store.Delivery {
	return store.Delivery{EventID: d.event, ConnectionID: sub.ConnectionID, SubscriptionID: sub.ID}
}

// claim claims the delivery to sub. It reports whether the fan-out holds a
// claim it must finish, and whether to deliver. A nil d delivers unclaimed.
func (d *dedup) claim(ctx context.Context, f *fanout, sub store.Subscription) (claimed, proceed bool) {
	if d == nil {
		return false, true
	}
	s := f.s
	now := s.now()
	st, err := d.log.ClaimDelivery(ctx, d.delivery(sub), d.token, now.Add(s.lease), now.Add(s.window))
	switch {
	case err != nil:
		f.fail(ctx, sub, fmt.Errorf("event %s: claim delivery: %w", d.event, err))
		return false, false
	case st == store.AlreadyDelivered:
		f.duplicates.Add(1)
		s.log.DebugContext(ctx, "event delivered before: skipped", slog.String("event_id", d.event), slog.String("topic", f.pub.topic),
			slog.String("connection_id", sub.ConnectionID), slog.String("subscription_id", sub.ID))
		return false, false
	case st != store.Claimed:
		f.fail(ctx, sub, fmt.Errorf("event %s: %w", d.event, ErrDeliveryInProgress))
		return false, false
	}
	return true, true
}

// finish records the outcome of a claimed delivery. A failure to record it
// is reported; the claim then blocks redeliveries until its lease ends.
func (d *dedup) finish(ctx context.Context, f *fanout, sub store.Subscription, delivered bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := d.log.FinishDelivery(ctx, d.delivery(sub), d.token, delivered); err != nil {
		f.s.reportError(ctx, fmt.Errorf("gqlambda: topic %q connection %s subscription %s: event %s: finish delivery (delivered %v): %w",
			f.pub.topic, sub.ConnectionID, sub.ID, d.event, delivered, err),
			slog.String("topic", f.pub.topic), slog.String("connection_id", sub.ConnectionID), slog.String("subscription_id", sub.ID))
	}
}
