package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/store"
)

// DynamoDB's limits on key sizes.
const (
	maxPartitionKey = 2048
	maxSortKey      = 1024
)

// storable reports whether a subscription with these ids can be stored: a
// subscription for which it is false does not exist.
func storable(connID, subID string) bool {
	return connID != "" && subID != "" && len(sortKey(connID, subID)) <= maxSortKey
}

// CreateSubscription stores sub in one transaction: it adds the
// subscription to its connection's item, on condition that the connection
// exists, is unexpired and is not being deleted (else an error wrapping
// [store.ErrConnectionNotFound]) and has no unexpired subscription sub.ID
// (else [store.ErrSubscriptionExists]), and puts one item per distinct
// topic. An expired subscription with that id is deleted first.
//
// A subscription needs a connection id, an id and 1 to 99 distinct topics
// (more wrap [ErrTooManyTopics]). When the connection's item cannot list one
// more subscription within DynamoDB's 400 KB, the error wraps
// [ErrTooManySubscriptions].
func (s *Store) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	fail := func(err error) error {
		return fmt.Errorf("dynamodb: create subscription %q of connection %q: %w", sub.ID, sub.ConnectionID, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	topics := distinctTopics(sub.Topics)
	switch {
	case sub.ConnectionID == "":
		return fail(errors.New("empty connection id"))
	case sub.ID == "":
		return fail(errors.New("empty subscription id"))
	case len(topics) == 0:
		return fail(errors.New("no topics"))
	case len(topics) > maxTopics:
		return fail(fmt.Errorf("%w: %d distinct topics, at most %d", ErrTooManyTopics, len(topics), maxTopics))
	case len(sortKey(sub.ConnectionID, sub.ID)) > maxSortKey:
		return fail(fmt.Errorf("the ids are too long: their key would exceed %d bytes", maxSortKey))
	}
	shard := shardOf(sub.ConnectionID, sub.ID, s.shards)
	for _, topic := range topics {
		// Checked with the longest shard number, as TopicSubscriptions is.
		if len(partitionKey(topic, s.shards-1)) > maxPartitionKey {
			return fail(fmt.Errorf("topic %.40q... is too long: its key would exceed %d bytes", topic, maxPartitionKey))
		}
	}
	filterJSON, err := encodeFilter(sub.Filter)
	if err != nil {
		return fail(fmt.Errorf("encode filter: %w", err))
	}
	now := s.now()

	for attempt := 0; ; attempt++ {
		e := entry{topics: topics, shard: shard, rev: newRev(), expiresAt: millis(sub.ExpiresAt)}
		var x expr
		x.alias("sid", sub.ID)
		update := x.use("SET #subs.#sid = :entry")
		cond := x.use(liveCondition + " AND attribute_not_exists(#subs.#sid)")
		x.value("entry", e.encode())
		x.value("now", num(now.UnixMilli()))
		items := []types.TransactWriteItem{{Update: &types.Update{
			TableName:                           &t.Connections,
			Key:                                 item{AttrID: str(sub.ConnectionID)},
			UpdateExpression:                    &update,
			ConditionExpression:                 &cond,
			ExpressionAttributeNames:            x.attrNames(),
			ExpressionAttributeValues:           x.attrValues(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}}
		for _, topic := range topics {
			var x expr
			items = append(items, types.TransactWriteItem{Put: &types.Put{
				TableName:                           &t.Subscriptions,
				Item:                                encodeSubscription(sub, topic, shard, e.rev, filterJSON),
				ConditionExpression:                 new(x.use("attribute_not_exists(#pk)")),
				ExpressionAttributeNames:            x.attrNames(),
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}})
		}
		err := s.transact(ctx, "create subscription", items)
		if err == nil {
			return nil
		}
		if tooLarge(err, 0) {
			return fail(fmt.Errorf("%w: %w", ErrTooManySubscriptions, err))
		}
		if code, old, ok := cancellation(err, 0); ok && code == reasonConditionalFailed {
			// The connection as it was when the condition failed tells why.
			if len(old) == 0 {
				return fail(store.ErrConnectionNotFound)
			}
			ci, derr := decodeConnection(old)
			if derr != nil {
				return fail(derr)
			}
			if !ci.live(now) {
				return fail(store.ErrConnectionNotFound)
			}
			prev, ok := ci.subs[sub.ID]
			switch {
			case ok && !expiredAt(prev.expiresAt, now):
				return fail(store.ErrSubscriptionExists)
			case ok:
				// An expired subscription holds the id: delete it, then try
				// again. If another call replaced it meanwhile, the next
				// attempt reports that one.
				if _, _, err := s.removeEntry(ctx, t, sub.ConnectionID, sub.ID, prev); err != nil {
					return fail(err)
				}
			}
		} else if i := cancelledAt(err, reasonConditionalFailed); i > 0 {
			// An item of the subscription exists without an entry in the
			// connection's map: one left by a connection item that DynamoDB
			// deleted. Unexpired, it still holds the id.
			_, old, _ := cancellation(err, i)
			if len(old) > 0 {
				rec, derr := decodeSubscription(old)
				if derr != nil {
					return fail(derr)
				}
				if !expiredAt(rec.expiresAt, now) {
					return fail(store.ErrSubscriptionExists)
				}
				key := item{AttrPK: old[AttrPK], AttrSK: old[AttrSK]}
				if _, _, err := s.deleteItemOfRev(ctx, t, key, rec.rev); err != nil {
					return fail(err)
				}
			}
		} else {
			return fail(err)
		}
		if attempt+1 >= s.maxAttempts {
			return fail(fmt.Errorf("the subscription id kept changing hands (after %d attempts): %w", attempt+1, err))
		}
	}
}

// removeEntry deletes the subscription that entry e of the connection's map
// records, in one transaction: the entry, on condition that the connection
// item exists, is not being deleted and still holds e (same revision), and
// every item of the subscription. If the condition fails, done is false and
// old is the connection item as it was (nil: there was none).
func (s *Store) removeEntry(ctx context.Context, t Tables, connID, subID string, e entry) (done bool, old item, err error) {
	var x expr
	x.alias("sid", subID)
	update := x.use("REMOVE #subs.#sid")
	cond := x.use("attribute_exists(#id) AND attribute_not_exists(#deletingAt) AND #subs.#sid.#rev = :rev")
	x.value("rev", str(e.rev))
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName:                           &t.Connections,
		Key:                                 item{AttrID: str(connID)},
		UpdateExpression:                    &update,
		ConditionExpression:                 &cond,
		ExpressionAttributeNames:            x.attrNames(),
		ExpressionAttributeValues:           x.attrValues(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}}
	for _, k := range e.keys(connID, subID) {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &t.Subscriptions, Key: k}})
	}
	err = s.transact(ctx, "delete subscription", items)
	if code, old, ok := cancellation(err, 0); ok && code == reasonConditionalFailed {
		return false, old, nil
	}
	if err != nil {
		return false, nil, err
	}
	return true, nil, nil
}

// GetSubscription returns the subscription, or an error wrapping
// [store.ErrSubscriptionNotFound] if it is missing or expired, or its
// connection is being deleted. The subscriptions of a connection that has
// expired are still found; so are those of a connection whose item DynamoDB
// deleted, through the byConnection index.
func (s *Store) GetSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	fail := func(err error) (store.Subscription, error) {
		return store.Subscription{}, fmt.Errorf("dynamodb: get subscription %q of connection %q: %w", id, connectionID, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	if !storable(connectionID, id) {
		return fail(store.ErrSubscriptionNotFound)
	}
	now := s.now()
	ci, found, err := s.connection(ctx, t, connectionID)
	if err != nil {
		return fail(err)
	}
	var key item
	switch e, ok := ci.subs[id]; {
	case !found:
		groups, err := s.orphanKeys(ctx, t, connectionID, sortKey(connectionID, id))
		if err != nil {
			return fail(err)
		}
		rec, shard, found, err := s.orphanRecord(ctx, t, groups[sortKey(connectionID, id)])
		if err != nil {
			return fail(err)
		}
		if !found {
			return fail(store.ErrSubscriptionNotFound)
		}
		e := entry{topics: distinctTopics(rec.sub.Topics), shard: shard}
		key = e.keys(connectionID, id)[0]
	case ci.deletingAt != 0 || !ok || expiredAt(e.expiresAt, now):
		return fail(store.ErrSubscriptionNotFound)
	default:
		key = e.keys(connectionID, id)[0]
	}
	it, err := s.getItem(ctx, t.Subscriptions, key)
	if err != nil {
		return fail(err)
	}
	if it == nil {
		return fail(store.ErrSubscriptionNotFound)
	}
	rec, err := decodeSubscription(it)
	if err != nil {
		return fail(err)
	}
	if expiredAt(rec.expiresAt, now) {
		return fail(store.ErrSubscriptionNotFound)
	}
	return rec.sub, nil
}

// DeleteSubscription deletes the subscription and returns it, or fails with
// an error wrapping [store.ErrSubscriptionNotFound] if it is missing or
// expired (an expired one is deleted too). The transaction that deletes it
// is conditioned on the entry it read, so of concurrent deletions, here or
// through DeleteConnection, exactly one returns it. A subscription whose
// connection item DynamoDB deleted is found through the byConnection index.
func (s *Store) DeleteSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	fail := func(err error) (store.Subscription, error) {
		return store.Subscription{}, fmt.Errorf("dynamodb: delete subscription %q of connection %q: %w", id, connectionID, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	if !storable(connectionID, id) {
		return fail(store.ErrSubscriptionNotFound)
	}
	now := s.now()
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		ci, found, err := s.connection(ctx, t, connectionID)
		if err != nil {
			return fail(err)
		}
		if !found {
			return s.deleteOrphanSubscription(ctx, t, connectionID, id, now)
		}
		e, ok := ci.subs[id]
		if ci.deletingAt != 0 || !ok {
			return fail(store.ErrSubscriptionNotFound)
		}
		// Reading the record first is safe: only the caller whose
		// transaction removes this very entry returns it.
		it, err := s.getItem(ctx, t.Subscriptions, e.keys(connectionID, id)[0])
		if err != nil {
			return fail(err)
		}
		done, old, err := s.removeEntry(ctx, t, connectionID, id, e)
		switch {
		case err != nil:
			return fail(err)
		case !done && len(old) == 0:
			continue // the connection item went meanwhile: its subscriptions are orphans now
		case !done:
			return fail(store.ErrSubscriptionNotFound)
		case it == nil:
			return fail(store.ErrSubscriptionNotFound)
		}
		rec, err := decodeSubscription(it)
		if err != nil {
			return fail(err)
		}
		if expiredAt(rec.expiresAt, now) {
			return fail(store.ErrSubscriptionNotFound)
		}
		return rec.sub, nil
	}
	return fail(store.ErrSubscriptionNotFound)
}

// deleteOrphanSubscription deletes a subscription whose connection item is
// gone, found through the byConnection index.
func (s *Store) deleteOrphanSubscription(ctx context.Context, t Tables, connID, id string, now time.Time) (store.Subscription, error) {
	fail := func(err error) (store.Subscription, error) {
		return store.Subscription{}, fmt.Errorf("dynamodb: delete subscription %q of connection %q: %w", id, connID, err)
	}
	sk := sortKey(connID, id)
	groups, err := s.orphanKeys(ctx, t, connID, sk)
	if err != nil {
		return fail(err)
	}
	if len(groups[sk]) == 0 {
		return fail(store.ErrSubscriptionNotFound)
	}
	rec, won, err := s.deleteOrphan(ctx, t, groups[sk])
	switch {
	case err != nil:
		return fail(err)
	case !won || expiredAt(rec.expiresAt, now):
		return fail(store.ErrSubscriptionNotFound)
	}
	return rec.sub, nil
}

// shardResult is what a shard reader of TopicSubscriptions hands to the
// loop: a subscription or an error.
type shardResult struct {
	sub store.Subscription
	err error
}

// TopicSubscriptions yields every unexpired subscription listening to topic,
// each once, in no particular order. It reads the topic's shards in
// parallel, each with strongly consistent Queries of one partition key,
// page after page, at most a few dozen subscriptions ahead of the loop; yield
// is called on the caller's goroutine only. When the loop breaks, the
// readers stop before the sequence returns. An error (a failed Query, an
// undecodable item, or the context ending, which gives an error wrapping
// ctx.Err()) ends the sequence.
func (s *Store) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		fail := func(err error) {
			yield(store.Subscription{}, fmt.Errorf("dynamodb: subscriptions of topic %q: %w", topic, err))
		}
		t, err := s.begin(ctx)
		if err != nil {
			fail(err)
			return
		}
		if len(partitionKey(topic, s.shards-1)) > maxPartitionKey {
			return // too long a topic for a key: no subscription has it
		}
		rctx, cancel := context.WithCancel(ctx)
		results := make(chan shardResult, readAhead)
		var wg sync.WaitGroup
		for shard := range s.shards {
			wg.Go(func() { s.readShard(rctx, t, topic, shard, results) })
		}
		go func() {
			wg.Wait()
			close(results)
		}()
		defer func() {
			cancel()
			for range results {
				// Drain until every reader has returned.
			}
		}()
		for r := range results {
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			if r.err != nil {
				fail(r.err)
				return
			}
			if !yield(r.sub, nil) {
				return
			}
		}
		// Readers stop early, without a word, only when the context ends.
		if err := ctx.Err(); err != nil {
			fail(err)
		}
	}
}

// readShard sends to out the unexpired subscriptions of topic in one shard,
// page after page, until they are all sent, an error is sent, or ctx ends.
func (s *Store) readShard(ctx context.Context, t Tables, topic string, shard int, out chan<- shardResult) {
	send := func(r shardResult) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var x expr
	cond := x.use("#pk = :pk")
	x.value("pk", str(partitionKey(topic, shard)))
	in := &dynamodb.QueryInput{
		TableName:                 &t.Subscriptions,
		KeyConditionExpression:    &cond,
		ExpressionAttributeNames:  x.attrNames(),
		ExpressionAttributeValues: x.attrValues(),
		ConsistentRead:            new(true),
	}
	if s.pageSize > 0 {
		in.Limit = new(s.pageSize)
	}
	for {
		page, err := s.api.Query(ctx, in)
		if err != nil {
			if ctx.Err() == nil {
				send(shardResult{err: fmt.Errorf("query shard %d: %w", shard, err)})
			}
			return
		}
		now := s.now()
		for _, it := range page.Items {
			rec, err := decodeSubscription(it)
			if err != nil {
				send(shardResult{err: err})
				return
			}
			if expiredAt(rec.expiresAt, now) {
				continue
			}
			if !send(shardResult{sub: rec.sub}) {
				return
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
