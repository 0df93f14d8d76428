package gqlambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"sync/atomic"

	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/memory"
)

// countingStore counts the calls a server makes to a memory store, and
// fails a read of a topic's subscriptions after failTopicAfter of them
// when failTopicAfter > 0.
type countingStore struct {
	*memory.Store
	get, create, ack, subscribe atomic.Int64
	topicReads, rangeReads      atomic.Int64
	failTopicAfter              int
}

func (c *countingStore) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	c.get.Add(1)
	return c.Store.GetConnection(ctx, id)
}

func (c *countingStore) CreateConnection(ctx context.Context, conn store.Connection) error {
	c.create.Add(1)
	return c.Store.CreateConnection(ctx, conn)
}

func (c *countingStore) AcknowledgeConnection(ctx context.Context, id string, kept json.RawMessage) error {
	c.ack.Add(1)
	return c.Store.AcknowledgeConnection(ctx, id, kept)
}

func (c *countingStore) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	c.subscribe.Add(1)
	return c.Store.CreateSubscription(ctx, sub)
}

func (c *countingStore) CreateBoundedSubscription(ctx context.Context, sub store.Subscription, limit int) error {
	c.subscribe.Add(1)
	return c.Store.CreateBoundedSubscription(ctx, sub, limit)
}

var errReadFailed = errors.New("read failed")

func (c *countingStore) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	c.topicReads.Add(1)
	return func(yield func(store.Subscription, error) bool) {
		n := 0
		for sub, err := range c.Store.TopicSubscriptions(ctx, topic) {
			if c.failTopicAfter > 0 && n == c.failTopicAfter {
				yield(store.Subscription{}, errReadFailed)
				return
			}
			n++
			if !yield(sub, err) {
				return
			}
		}
	}
}

func (c *countingStore) TopicRanges(ctx context.Context, topic string, size int) iter.Seq2[store.Range, error] {
	c.rangeReads.Add(1)
	return c.Store.TopicRanges(ctx, topic, size)
}
