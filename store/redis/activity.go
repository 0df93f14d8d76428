package redis

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/internal/shard"
	"github.com/gqlambda/gqlambda/store"
)

var _ store.ActivityIndex = (*Store)(nil)

// ActivityShards is the number of sorted sets of the activity index, read
// one after another by IdleConnections; on Redis Cluster they spread over
// the slots. It never changes, since connections are found by it.
const ActivityShards = 16

// idlePage is how many index entries one read of IdleConnections takes.
const idlePage = 100

// activityShard is the activity shard of connection id: FNV-1a of the id
// modulo ActivityShards, as store/dynamodb shards its index.
func activityShard(id string) int {
	return shard.OfConnection(id, ActivityShards)
}

// indexActivity adds new connection c to its shard of the activity index,
// in one script that also keeps the shard's Time to Live at least as long
// as c's record, so that a shard whose connections all expired expires too.
func (s *Store) indexActivity(ctx context.Context, c store.Connection) error {
	la := millis(lastActive(c))
	if la == 0 {
		return nil
	}
	return s.run(ctx, indexActivityScript, []string{s.keys.activity(activityShard(c.ID))}, la, c.ID, millis(c.ExpiresAt)).Err()
}

// scriptIndexActivity adds a new connection to a shard of the activity
// index and makes the shard's Time to Live last at least as long as the
// connection's record: a new shard takes the record's, a shard that expires
// sooner is extended, and a record that never expires makes the shard
// persistent.
//
//	KEYS[1] the shard's sorted set
//	ARGV[1] the connection's last activity (Unix ms), ARGV[2] its id, ARGV[3] its expiry (Unix ms, 0: never)
//	reply   "OK"
const scriptIndexActivity = `
local fresh = redis.call('EXISTS', KEYS[1]) == 0
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
local exp = tonumber(ARGV[3])
if exp == 0 then
  redis.call('PERSIST', KEYS[1])
  return 'OK'
end
local cur = redis.call('PEXPIRETIME', KEYS[1])
if fresh or (cur >= 0 and cur < exp) then
  redis.call('PEXPIREAT', KEYS[1], exp)
end
return 'OK'
`

// scriptRecordActivity moves a live connection's last activity forward and
// clears its ping.
//
//	KEYS[1] connection hash
//	ARGV[1] now, ARGV[2] the activity (Unix ms)
//	reply   "NOTFOUND", "OK" (not later: unchanged) or "MOVED"
const scriptRecordActivity = `
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'w', 'ex', 'la')
if not f[1] then return 'NOTFOUND' end
local ex = tonumber(f[2] or '0')
if ex ~= 0 and ex <= now then return 'NOTFOUND' end
if f[3] and tonumber(f[3]) >= tonumber(ARGV[2]) then return 'OK' end
redis.call('HSET', KEYS[1], 'la', ARGV[2])
redis.call('HDEL', KEYS[1], 'pa')
return 'MOVED'
`

// scriptRecordPing sets a live connection's ping time.
//
//	KEYS[1] connection hash
//	ARGV[1] now, ARGV[2] the ping's time (Unix ms)
//	reply   "NOTFOUND" or "OK"
const scriptRecordPing = `
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'w', 'ex')
if not f[1] then return 'NOTFOUND' end
local ex = tonumber(f[2] or '0')
if ex ~= 0 and ex <= now then return 'NOTFOUND' end
redis.call('HSET', KEYS[1], 'pa', ARGV[2])
return 'OK'
`

var (
	indexActivityScript  = redis.NewScript(scriptIndexActivity)
	recordActivityScript = redis.NewScript(scriptRecordActivity)
	recordPingScript     = redis.NewScript(scriptRecordPing)
)

// RecordActivity moves the connection's last activity to at unless it is
// already at or after at, clearing its ping, in one script on the
// connection's hash (so concurrent calls leave the latest time), then
// moves its entry in the activity index (ZADD GT). It fails with an error
// wrapping [store.ErrConnectionNotFound] if the connection is missing or
// expired. When the index write fails after the record's, the error is
// returned and the entry lags: IdleConnections may yield the connection
// early, and corrects the entry from the record.
func (s *Store) RecordActivity(ctx context.Context, id string, at time.Time) error {
	fail := func(err error) error { return fmt.Errorf("redis: record activity of connection %q: %w", id, err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if id == "" {
		return fail(store.ErrConnectionNotFound)
	}
	ms := millis(at)
	reply, err := s.run(ctx, recordActivityScript, []string{s.keys.connection(id)}, s.now().UnixMilli(), ms).Text()
	switch {
	case err != nil:
		return fail(err)
	case reply == "NOTFOUND":
		return fail(store.ErrConnectionNotFound)
	case reply == "OK":
		return nil
	case reply != "MOVED":
		return fail(unexpected(reply))
	}
	if err := s.rdb.ZAddGT(ctx, s.keys.activity(activityShard(id)), redis.Z{Score: float64(ms), Member: id}).Err(); err != nil {
		return fail(fmt.Errorf("index activity: %w", err))
	}
	return nil
}

// RecordPing sets the connection's ping time to at, in one script. It
// fails with an error wrapping [store.ErrConnectionNotFound] if the
// connection is missing or expired.
func (s *Store) RecordPing(ctx context.Context, id string, at time.Time) error {
	fail := func(err error) error { return fmt.Errorf("redis: record ping of connection %q: %w", id, err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if id == "" {
		return fail(store.ErrConnectionNotFound)
	}
	reply, err := s.run(ctx, recordPingScript, []string{s.keys.connection(id)}, s.now().UnixMilli(), millis(at)).Text()
	switch {
	case err != nil:
		return fail(err)
	case reply == "NOTFOUND":
		return fail(store.ErrConnectionNotFound)
	case reply != "OK":
		return fail(unexpected(reply))
	}
	return nil
}

// IdleConnections reads the activity index, shard after shard, by score up
// to before (ZRANGE BYSCORE, 100 entries a page, the next page starting at
// the last score read, so that entries removed meanwhile never make it skip
// others), and the records of a page in one pipeline. The record decides:
// a connection whose record shows a later activity than before is skipped
// (its entry lags a failed index write); entries without a record (the
// connection was deleted or expired) are removed. It yields complete
// connections.
func (s *Store) IdleConnections(ctx context.Context, before time.Time) iter.Seq2[store.Connection, error] {
	return func(yield func(store.Connection, error) bool) {
		fail := func(err error) { yield(store.Connection{}, fmt.Errorf("redis: idle connections: %w", err)) }
		max := strconv.FormatInt(millis(before), 10)
		for shard := range ActivityShards {
			key := s.keys.activity(shard)
			var (
				min      = "-inf"
				minScore float64
				atMin    = map[string]bool{} // entries at minScore already read
				yielded  = map[string]bool{} // an entry moved up meanwhile is read again
			)
			for {
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				count := int64(idlePage + len(atMin))
				entries, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
					Key: key, Start: min, Stop: max, ByScore: true, Count: count,
				}).Result()
				if err != nil {
					fail(fmt.Errorf("shard %d: %w", shard, err))
					return
				}
				var page []redis.Z
				for _, z := range entries {
					if id, ok := z.Member.(string); ok && !(z.Score == minScore && atMin[id]) {
						page = append(page, z)
					}
				}
				if len(page) == 0 {
					break
				}
				conns, err := s.idleRecords(ctx, key, page)
				if err != nil {
					fail(fmt.Errorf("shard %d: %w", shard, err))
					return
				}
				for _, c := range conns {
					if yielded[c.ID] || c.LastActiveAt.After(before) {
						continue
					}
					yielded[c.ID] = true
					if !yield(c, nil) {
						return
					}
				}
				if last := page[len(page)-1].Score; last != minScore || min == "-inf" {
					minScore, atMin = last, map[string]bool{}
				}
				for _, z := range page {
					if z.Score == minScore {
						atMin[z.Member.(string)] = true
					}
				}
				min = strconv.FormatFloat(minScore, 'f', -1, 64)
				if int64(len(entries)) < count {
					break
				}
			}
		}
	}
}

// idleRecords reads the records of the index entries page of the sorted
// set key, in one pipeline, and returns the live connections among them.
// Entries without a record are removed: CreateConnection writes the record
// before the entry, so theirs was deleted or expired.
func (s *Store) idleRecords(ctx context.Context, key string, page []redis.Z) ([]store.Connection, error) {
	cmds := make([]*redis.MapStringStringCmd, len(page))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range page {
			cmds[i] = p.HGetAll(ctx, s.keys.connection(z.Member.(string)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read records: %w", err)
	}
	now := s.now()
	var out []store.Connection
	var stale []any
	for i, z := range page {
		id := z.Member.(string)
		fields := cmds[i].Val()
		if len(fields) == 0 {
			stale = append(stale, id)
			continue
		}
		r, err := decodeConnection(id, fields)
		if err != nil {
			return nil, err
		}
		if !expiredAt(r.expiresAt, now) {
			out = append(out, r.conn)
		}
	}
	if len(stale) > 0 {
		// Best effort: the next reader prunes what this one could not.
		s.rdb.ZRem(ctx, key, stale...)
	}
	return out, nil
}
