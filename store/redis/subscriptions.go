package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/store"
)

// CreateSubscription stores sub, in two steps, because a subscription's
// record and its topics' indexes are in different cluster slots:
//
//  1. It adds an entry for this revision of the subscription to the index
//     of each of its topics (one pipeline, one script per topic shard).
//  2. One script on the connection's slot writes the record, on condition
//     that the connection exists and is unexpired (else an error wrapping
//     [store.ErrConnectionNotFound]) and holds no unexpired subscription
//     with sub.ID (else [store.ErrSubscriptionExists]); an expired one is
//     replaced.
//
// A refused subscription's entries are deleted again. Until then, and if
// that fails, readers skip them: an index entry counts only when the
// connection's subscriptions hash holds a record of the same revision. So a
// subscription is visible exactly when step 2 wrote it, and a
// DeleteConnection that ran before step 2 makes step 2 refuse it.
//
// When step 2 fails for another reason (the server went away) the error is
// returned and the entries are left: the script may have run, and then they
// are the subscription's.
//
// A subscription needs a connection id, an id and at least one topic. The
// keys of its record and entries expire at sub.ExpiresAt, or later if
// others in the same key live longer.
func (s *Store) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	return s.CreateBoundedSubscription(ctx, sub, 0)
}

// CreateBoundedSubscription is CreateSubscription that refuses, with
// [store.ErrSubscriptionLimit], a subscription of a connection whose hash
// holds limit or more records, expired ones not yet removed included
// (store.BoundedSubscriptions). The bound is checked in step 2's script, so
// concurrent subscribes of one connection cannot pass it.
func (s *Store) CreateBoundedSubscription(ctx context.Context, sub store.Subscription, limit int) error {
	fail := func(err error) error {
		return fmt.Errorf("redis: create subscription %q of connection %q: %w", sub.ID, sub.ConnectionID, err)
	}
	if err := ctx.Err(); err != nil {
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
	}
	filterJSON, err := encodeFilter(sub.Filter)
	if err != nil {
		return fail(fmt.Errorf("encode filter: %w", err))
	}
	now := s.now()
	rev := newRev(now)
	record := encodeSubscription(sub, rev, filterJSON)
	expiresAt := millis(sub.ExpiresAt)
	self := subRecord{sub: sub, rev: rev, expiresAt: expiresAt}

	// Step 1. A subscription that has expired already is stored but never
	// read, so it needs no entries.
	indexed := !expiredAt(expiresAt, now)
	if indexed {
		shard := shardOf(sub.ConnectionID, sub.ID, s.shards)
		m := member(sub.ConnectionID, sub.ID, rev)
		calls := make([]scriptCall, len(topics))
		for i, t := range topics {
			calls[i] = scriptCall{script: s.scripts.index, keys: []string{s.keys.topic(t, shard)}, args: []any{m, expiresAt}}
		}
		var (
			failed error
			added  []string // the topics whose entry was written
		)
		for i, cmd := range runAll(ctx, s.rdb, calls) {
			if err := cmd.Err(); err != nil {
				failed = cmp.Or(failed, fmt.Errorf("index it in topic %q: %w", topics[i], err))
			} else {
				added = append(added, topics[i])
			}
		}
		if failed != nil {
			// Entries written on other nodes of a cluster go again; on a
			// server that went away, none was.
			if len(added) > 0 {
				partial := self
				partial.sub.Topics = added
				s.unindex(ctx, []subRecord{partial})
			}
			return fail(failed)
		}
	}

	// Step 2.
	keys := []string{s.keys.connection(sub.ConnectionID), s.keys.subscriptions(sub.ConnectionID)}
	v, err := s.run(ctx, s.scripts.subscribe, keys, now.UnixMilli(), sub.ID, record, expiresAt, rev, max(limit, 0)).Slice()
	if err != nil {
		return fail(err)
	}
	status := ""
	if len(v) > 0 {
		status, _ = v[0].(string)
	}
	switch {
	case status == "OK" && len(v) == 1:
		return nil
	case status == "REPLACED" && len(v) == 2:
		// The expired subscription that held the id loses its entries.
		if old, ok := v[1].(string); ok {
			if r, err := decodeSubscription(sub.ConnectionID, sub.ID, old); err == nil {
				s.unindex(ctx, []subRecord{r})
			}
		}
		return nil
	case status == "NOCONN":
		err = store.ErrConnectionNotFound
	case status == "EXISTS":
		err = store.ErrSubscriptionExists
	case status == "LIMIT":
		err = fmt.Errorf("%w (%d)", store.ErrSubscriptionLimit, limit)
	default:
		err = unexpected(v)
	}
	if indexed {
		s.unindex(ctx, []subRecord{self})
	}
	return fail(err)
}

// GetSubscription returns the subscription, or an error wrapping
// [store.ErrSubscriptionNotFound] if it is missing or expired. It is one
// HGET. The subscriptions of a connection that has expired are still found.
func (s *Store) GetSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	fail := func(err error) (store.Subscription, error) {
		return store.Subscription{}, fmt.Errorf("redis: get subscription %q of connection %q: %w", id, connectionID, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if connectionID == "" || id == "" {
		return fail(store.ErrSubscriptionNotFound)
	}
	v, err := s.rdb.HGet(ctx, s.keys.subscriptions(connectionID), id).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return fail(store.ErrSubscriptionNotFound)
	case err != nil:
		return fail(err)
	}
	r, err := decodeSubscription(connectionID, id, v)
	if err != nil {
		return fail(err)
	}
	if expiredAt(r.expiresAt, s.now()) {
		return fail(store.ErrSubscriptionNotFound)
	}
	return r.sub, nil
}

// DeleteSubscription deletes the subscription and returns it, or fails with
// an error wrapping [store.ErrSubscriptionNotFound] if it is missing or
// expired (an expired one is deleted too). One script takes the record out
// of its connection's hash, so of concurrent deletions, here or through
// DeleteConnection, exactly one returns it. Its index entries are deleted
// after that, as DeleteConnection deletes them.
func (s *Store) DeleteSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	fail := func(err error) (store.Subscription, error) {
		return store.Subscription{}, fmt.Errorf("redis: delete subscription %q of connection %q: %w", id, connectionID, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if connectionID == "" || id == "" {
		return fail(store.ErrSubscriptionNotFound)
	}
	keys := []string{s.keys.subscriptions(connectionID), s.keys.deleted(connectionID, deletedSubscription, newToken())}
	v, err := s.run(ctx, s.scripts.unsubscribe, keys, id, keepDeleted.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return fail(store.ErrSubscriptionNotFound)
	case err != nil:
		return fail(err)
	}
	r, err := decodeSubscription(connectionID, id, v)
	if err != nil {
		return fail(err)
	}
	s.unindex(ctx, []subRecord{r})
	if expiredAt(r.expiresAt, s.now()) {
		return fail(store.ErrSubscriptionNotFound)
	}
	return r.sub, nil
}
