package gqlambda

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// This file bounds the time of every store call: a store that hangs (a
// network partition, a frozen node) answers within Limits.StoreTimeout with
// an error wrapping ErrStoreTimeout, instead of holding every frame, ping
// included, for as long as it hangs.

// boundedStore is the server's store with a deadline on every call. Reading
// a topic's subscriptions is bounded per page: the deadline starts again
// with each subscription read, so a long fan-out is not cut short, but a
// read that stalls is.
type boundedStore struct {
	s       store.Store
	timeout time.Duration
}

var _ store.Store = boundedStore{}

// bounded is the deadline of the server's store calls, for the calls to the
// store's optional capabilities that do not go through s.store.
func (s *Server) bounded() boundedStore {
	return boundedStore{timeout: s.limits.StoreTimeout}
}

// call runs f with a context bounded by the timeout, and marks an error the
// deadline caused with ErrStoreTimeout.
func call[T any](b boundedStore, ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, b.timeout, ErrStoreTimeout)
	defer cancel()
	v, err := f(ctx)
	return v, b.mark(ctx, err)
}

// mark wraps err with ErrStoreTimeout when ctx's deadline caused it, and
// marks it as the store's, so that a resolver that returns it (from a
// Publish) has it masked for the client (see MaskError).
func (b boundedStore) mark(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if context.Cause(ctx) == ErrStoreTimeout {
		err = fmt.Errorf("%w (%s): %w", ErrStoreTimeout, b.timeout, err)
	}
	return &storeFailure{err}
}

func (b boundedStore) CreateConnection(ctx context.Context, c store.Connection) error {
	_, err := call(b, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, b.s.CreateConnection(ctx, c) })
	return err
}

func (b boundedStore) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	return call(b, ctx, func(ctx context.Context) (store.Connection, error) { return b.s.GetConnection(ctx, id) })
}

func (b boundedStore) AcknowledgeConnection(ctx context.Context, id string, c json.RawMessage) error {
	_, err := call(b, ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.s.AcknowledgeConnection(ctx, id, c)
	})
	return err
}

func (b boundedStore) DeleteConnection(ctx context.Context, id string) (store.Connection, []store.Subscription, error) {
	type deleted struct {
		conn store.Connection
		subs []store.Subscription
	}
	d, err := call(b, ctx, func(ctx context.Context) (deleted, error) {
		c, subs, err := b.s.DeleteConnection(ctx, id)
		return deleted{c, subs}, err
	})
	return d.conn, d.subs, err
}

func (b boundedStore) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	_, err := call(b, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, b.s.CreateSubscription(ctx, sub) })
	return err
}

// CreateBoundedSubscription forwards to the store's, or to its
// CreateSubscription when it has none (store.BoundedSubscriptions).
func (b boundedStore) CreateBoundedSubscription(ctx context.Context, sub store.Subscription, limit int) error {
	_, err := call(b, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, createBounded(b.s, ctx, sub, limit) })
	return err
}

func (b boundedStore) GetSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	return call(b, ctx, func(ctx context.Context) (store.Subscription, error) {
		return b.s.GetSubscription(ctx, connectionID, id)
	})
}

func (b boundedStore) DeleteSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	return call(b, ctx, func(ctx context.Context) (store.Subscription, error) {
		return b.s.DeleteSubscription(ctx, connectionID, id)
	})
}

// TopicSubscriptions bounds the wait for each subscription (and so for
// each page): the deadline is armed while the store is read and disarmed
// while the caller handles what it yielded.
func (b boundedStore) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return boundedSeq(b, ctx, func(ctx context.Context) iter.Seq2[store.Subscription, error] {
		return b.s.TopicSubscriptions(ctx, topic)
	})
}

// boundedSeq reads the sequence open returns for the context it is given,
// with the deadline of b's timeout on each item read, as TopicSubscriptions
// bounds them; the ranges of a topic and the subscriptions of a range, in
// a split publish, are read so too (scaleout.go).
func boundedSeq[T any](b boundedStore, ctx context.Context, open func(context.Context) iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		timer := time.AfterFunc(b.timeout, func() { cancel(ErrStoreTimeout) })
		defer timer.Stop()
		for v, err := range open(ctx) {
			timer.Stop()
			if !yield(v, b.mark(ctx, err)) {
				return
			}
			timer.Reset(b.timeout)
		}
	}
}
