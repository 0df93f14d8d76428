package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/store"
)

// CreateConnection stores c, in one script: it fails with an error wrapping
// [store.ErrConnectionExists] if an unexpired connection with c.ID exists.
// An expired connection is replaced; its subscriptions stay attached to the
// id, as the other stores keep them. The connection's key expires at
// c.ExpiresAt. An empty c.ID is refused.
func (s *Store) CreateConnection(ctx context.Context, c store.Connection) error {
	fail := func(err error) error { return fmt.Errorf("redis: create connection %q: %w", c.ID, err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if c.ID == "" {
		return errors.New("redis: create connection: empty connection id")
	}
	fields := connectionFields(c)
	args := make([]any, 0, 3+len(fields))
	args = append(args, s.now().UnixMilli(), newToken(), millis(c.ExpiresAt))
	args = append(args, fields...)
	reply, err := s.run(ctx, s.scripts.createConnection, []string{s.keys.connection(c.ID)}, args...).Text()
	switch {
	case err != nil:
		return fail(err)
	case reply == "EXISTS":
		return fail(store.ErrConnectionExists)
	case reply != "OK":
		return fail(unexpected(reply))
	}
	// The record first, then its index entry, so that readers of the index
	// may take an entry without a record for one left by a deletion.
	if err := s.indexActivity(ctx, c); err != nil {
		return fail(fmt.Errorf("index activity: %w", err))
	}
	return nil
}

// GetConnection returns the connection, or an error wrapping
// [store.ErrConnectionNotFound] if it is missing or expired. It is one
// HGETALL.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	fail := func(err error) (store.Connection, error) {
		return store.Connection{}, fmt.Errorf("redis: get connection %q: %w", id, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if id == "" {
		return fail(store.ErrConnectionNotFound)
	}
	fields, err := s.rdb.HGetAll(ctx, s.keys.connection(id)).Result()
	if err != nil {
		return fail(err)
	}
	if len(fields) == 0 {
		return fail(store.ErrConnectionNotFound)
	}
	r, err := decodeConnection(id, fields)
	if err != nil {
		return fail(err)
	}
	if expiredAt(r.expiresAt, s.now()) {
		return fail(store.ErrConnectionNotFound)
	}
	return r.conn, nil
}

// AcknowledgeConnection marks the connection acknowledged and stores connCtx
// as its Context, in one script: it fails with an error wrapping
// [store.ErrConnectionNotFound] if the connection is missing or expired, and
// with one wrapping [store.ErrAlreadyAcknowledged] if it was acknowledged
// before. Of concurrent calls exactly one succeeds.
func (s *Store) AcknowledgeConnection(ctx context.Context, id string, connCtx json.RawMessage) error {
	fail := func(err error) error { return fmt.Errorf("redis: acknowledge connection %q: %w", id, err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if id == "" {
		return fail(store.ErrConnectionNotFound)
	}
	reply, err := s.run(ctx, s.scripts.acknowledge, []string{s.keys.connection(id)},
		s.now().UnixMilli(), newToken(), string(connCtx)).Text()
	switch {
	case err != nil:
		return fail(err)
	case reply == "NOTFOUND":
		return fail(store.ErrConnectionNotFound)
	case reply == "ACKED":
		return fail(store.ErrAlreadyAcknowledged)
	case reply != "OK":
		return fail(unexpected(reply))
	}
	return nil
}

// DeleteConnection deletes the connection and every subscription of it, and
// returns the connection and its unexpired subscriptions, in the order they
// were created. Expired subscriptions are deleted but not returned.
//
// One script takes the connection's two hashes (record and subscriptions)
// away at once, so of concurrent calls exactly one gets them, and each
// subscription goes either to it or to a DeleteSubscription, never to both;
// a CreateSubscription after it finds no connection. The entries of the
// subscriptions in their topics' indexes are deleted after that; if that
// fails (the server went away), the call still succeeds, and readers of the
// topics skip, then prune, entries without a record.
//
// If the connection is missing or has expired, its subscriptions are still
// deleted and returned, and the error wraps [store.ErrConnectionNotFound].
func (s *Store) DeleteConnection(ctx context.Context, id string) (store.Connection, []store.Subscription, error) {
	wrap := func(err error) error { return fmt.Errorf("redis: delete connection %q: %w", id, err) }
	if err := ctx.Err(); err != nil {
		return store.Connection{}, nil, wrap(err)
	}
	if id == "" {
		return store.Connection{}, nil, wrap(store.ErrConnectionNotFound)
	}
	token := newToken()
	keys := []string{
		s.keys.connection(id), s.keys.subscriptions(id),
		s.keys.deleted(id, deletedConnection, token), s.keys.deleted(id, deletedSubscriptions, token),
	}
	v, err := s.run(ctx, s.scripts.disconnect, keys, keepDeleted.Milliseconds()).Slice()
	if err != nil {
		return store.Connection{}, nil, wrap(err)
	}
	if len(v) != 2 {
		return store.Connection{}, nil, wrap(unexpected(v))
	}
	connFields, err := pairs(v[0])
	if err != nil {
		return store.Connection{}, nil, wrap(err)
	}
	subFields, err := pairs(v[1])
	if err != nil {
		return store.Connection{}, nil, wrap(err)
	}
	now := s.now()

	// What the script took is this call's alone from here on.
	records := make([]subRecord, 0, len(subFields))
	var decodeErr error
	for subID, value := range subFields {
		r, err := decodeSubscription(id, subID, value)
		if err != nil {
			decodeErr = cmp.Or(decodeErr, err)
			continue
		}
		records = append(records, r)
	}
	s.unindex(ctx, records)
	if len(connFields) > 0 {
		// Best effort: IdleConnections prunes entries without a record.
		if err := s.rdb.ZRem(ctx, s.keys.activity(activityShard(id)), id).Err(); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "redis: removing a deleted connection from the activity index failed; readers prune it",
				slog.String("connection_id", id), slog.Any("error", err))
		}
	}
	subs := make([]store.Subscription, 0, len(records))
	for _, r := range records {
		if !expiredAt(r.expiresAt, now) {
			subs = append(subs, r.sub)
		}
	}
	slices.SortFunc(subs, byCreation)
	if decodeErr != nil {
		return store.Connection{}, subs, wrap(decodeErr)
	}
	if len(connFields) == 0 {
		return store.Connection{}, subs, wrap(store.ErrConnectionNotFound)
	}
	c, err := decodeConnection(id, connFields)
	if err != nil {
		return store.Connection{}, subs, wrap(err)
	}
	if expiredAt(c.expiresAt, now) {
		return store.Connection{}, subs, wrap(store.ErrConnectionNotFound)
	}
	return c.conn, subs, nil
}

// unindex deletes the entries of records from their topics' indexes, in one
// pipeline. A failure is logged, not returned: the records are gone, and
// readers skip and prune entries without one.
func (s *Store) unindex(ctx context.Context, records []subRecord) {
	type entry struct{ key, member string }
	var entries []entry
	for _, r := range records {
		shard := shardOf(r.sub.ConnectionID, r.sub.ID, s.shards)
		m := member(r.sub.ConnectionID, r.sub.ID, r.rev)
		for _, t := range distinctTopics(r.sub.Topics) {
			entries = append(entries, entry{s.keys.topic(t, shard), m})
		}
	}
	if len(entries) == 0 {
		return
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range entries {
			p.ZRem(ctx, e.key, e.member)
		}
		return nil
	})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "redis: index entries of deleted subscriptions left behind (readers prune them)",
			slog.Int("entries", len(entries)), slog.String("error", err.Error()))
	}
}

// byCreation orders subscriptions by creation time, then id.
func byCreation(a, b store.Subscription) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
}
