package redis

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/store"
)

// page is what the reader of TopicSubscriptions hands to the loop: the
// subscriptions of one page of a topic shard, or an error.
type page struct {
	subs []store.Subscription
	err  error
}

// pagesAhead is how many pages the reader may read ahead of the loop.
const pagesAhead = 2

// TopicSubscriptions yields every unexpired subscription listening to topic,
// each once, in no particular order. It reads the topic's shards in turn,
// each a sorted set read page after page by member (ZRANGE BYLEX from the
// last member read, so entries added or removed meanwhile never shift a
// page), and for each page reads the records the entries point to from
// their connections' hashes, in one pipeline. An entry counts only when its
// record exists with the same revision and is unexpired; entries without
// one, older than 15 minutes, are pruned.
//
// A goroutine reads at most two pages ahead of the loop; yield is called on
// the caller's goroutine only. When the loop breaks, the reader stops before
// the sequence returns. An error (a failed read, an undecodable record, or
// the context ending, which gives an error wrapping ctx.Err()) ends the
// sequence.
func (s *Store) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		fail := func(err error) {
			yield(store.Subscription{}, fmt.Errorf("redis: subscriptions of topic %q: %w", topic, err))
		}
		if err := ctx.Err(); err != nil {
			fail(err)
			return
		}
		rctx, cancel := context.WithCancel(ctx)
		pages := make(chan page, pagesAhead)
		go func() {
			defer close(pages)
			s.readTopic(rctx, topic, pages)
		}()
		defer func() {
			cancel()
			for range pages {
				// Drain until the reader has returned.
			}
		}()
		for p := range pages {
			if p.err != nil {
				if err := ctx.Err(); err != nil {
					fail(err)
				} else {
					fail(p.err)
				}
				return
			}
			for _, sub := range p.subs {
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				if !yield(sub, nil) {
					return
				}
			}
		}
		// The reader stops early, without a word, only when the context ends.
		if err := ctx.Err(); err != nil {
			fail(err)
		}
	}
}

// readTopic sends to out the pages of every shard of topic, one shard after
// another, until they are all sent, an error is sent, or ctx ends.
func (s *Store) readTopic(ctx context.Context, topic string, out chan<- page) {
	send := func(p page) bool {
		select {
		case out <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for shard := range s.shards {
		key := s.keys.topic(topic, shard)
		start, count := "-", min(firstPageSize, s.pageSize)
		for {
			members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: start, Stop: "+", ByLex: true, Count: int64(count)}).Result()
			if err != nil {
				send(page{err: fmt.Errorf("read shard %d: %w", shard, err)})
				return
			}
			if len(members) == 0 {
				break
			}
			subs, err := s.resolve(ctx, key, members)
			if err != nil {
				send(page{err: err})
				return
			}
			if len(subs) > 0 && !send(page{subs: subs}) {
				return
			}
			if len(members) < count {
				break
			}
			start = "(" + members[len(members)-1]
			count = s.pageSize
		}
	}
}

// resolve reads the records the entries of one page of index key point to,
// in one pipeline, and returns the unexpired subscriptions whose record has
// the entry's revision. It prunes entries left without a record.
func (s *Store) resolve(ctx context.Context, key string, members []string) ([]store.Subscription, error) {
	type entry struct{ conn, sub, rev string }
	entries := make([]entry, len(members))
	cmds := make([]*redis.StringCmd, len(members))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			conn, sub, rev, ok := parseMember(m)
			if !ok {
				continue
			}
			entries[i] = entry{conn, sub, rev}
			cmds[i] = p.HGet(ctx, s.keys.subscriptions(conn), sub)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read records: %w", err)
	}
	now := s.now()
	subs := make([]store.Subscription, 0, len(members))
	var prune []any
	for i, cmd := range cmds {
		e := entries[i]
		if cmd == nil {
			prune = append(prune, members[i]) // not an entry this store writes
			continue
		}
		v, err := cmd.Result()
		switch {
		case errors.Is(err, redis.Nil):
			if s.stale(e.rev, now) {
				prune = append(prune, members[i])
			}
			continue
		case err != nil:
			return nil, fmt.Errorf("read record of subscription %q of connection %q: %w", e.sub, e.conn, err)
		}
		ex, rev, _, err := recordHeader(v)
		if err != nil {
			return nil, fmt.Errorf("read record of subscription %q of connection %q: %w", e.sub, e.conn, err)
		}
		if rev != e.rev {
			if s.stale(e.rev, now) {
				prune = append(prune, members[i])
			}
			continue
		}
		if expiredAt(ex, now) {
			continue
		}
		r, err := decodeSubscription(e.conn, e.sub, v)
		if err != nil {
			return nil, err
		}
		subs = append(subs, r.sub)
	}
	if len(prune) > 0 {
		if err := s.rdb.ZRem(ctx, key, prune...).Err(); err != nil && ctx.Err() == nil {
			s.log.LogAttrs(ctx, slog.LevelDebug, "redis: pruning index entries failed",
				slog.String("key", key), slog.Int("entries", len(prune)), slog.String("error", err.Error()))
		} else {
			s.log.LogAttrs(ctx, slog.LevelDebug, "redis: pruned index entries without a record",
				slog.String("key", key), slog.Int("entries", len(prune)))
		}
	}
	return subs, nil
}

// stale reports whether an index entry of revision rev is old enough to be
// pruned when it has no record.
func (s *Store) stale(rev string, now time.Time) bool {
	at, ok := revTime(rev)
	return !ok || now.Sub(at) >= pruneAfter
}
