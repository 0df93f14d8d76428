package redis

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/store"
)

// Scale-out fan-out. A range's keys (store.Range After and Through) are
// members of the sorted set of one topic shard, read BYLEX. The records of
// a split publish carry the split id in their hash tag, so that a range and
// its split are in one slot and EndRange is one script:
//
//	kindRange{split}<index>    hash: t token, s state (0 claimed, 1 released,
//	                           2 done, 3 dead), l lease until, x expires
//	kindRange{split}<index>:s  set: the settled subscriptions' keys (decimal)
//	kindSplit{split}           hash: r ranges, d delivered, g gone
//	kindSplit{split}:d / :x    sets: the done / dead range indexes
//	kindBudget{key}            string: the units taken from the slot
const (
	kindRange  = "r"
	kindSplit  = "p"
	kindBudget = "b"
)

var (
	_ store.RangeReader = (*Store)(nil)
	_ store.SplitLog    = (*Store)(nil)
	_ store.Budget      = (*Store)(nil)
)

func (k keys) rangeKeys(r store.RangeKey) (hash, settled string) {
	h := k.tagged(kindRange, escape(r.Split), strconv.Itoa(r.Index))
	return h, h + ":s"
}

func (k keys) splitKeys(id string) (hash, done, dead string) {
	h := k.tagged(kindSplit, escape(id), "")
	return h, h + ":d", h + ":x"
}

// TopicRanges implements [store.RangeReader]: see its documentation. It
// reads the members of each shard's sorted set in turn (ZRANGE BYLEX, size
// at a time) and ends each shard's last range at the shard's end.
func (s *Store) TopicRanges(ctx context.Context, topic string, size int) iter.Seq2[store.Range, error] {
	return func(yield func(store.Range, error) bool) {
		if size <= 0 {
			yield(store.Range{}, fmt.Errorf("redis: ranges of topic %q: size %d, want > 0", topic, size))
			return
		}
		for shard := range s.shards {
			key := s.keys.topic(topic, shard)
			start := "-"
			after := ""
			for {
				members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: start, Stop: "+", ByLex: true, Count: int64(size)}).Result()
				if err != nil {
					yield(store.Range{}, fmt.Errorf("redis: ranges of topic %q: shard %d: %w", topic, shard, err))
					return
				}
				if len(members) == 0 {
					break
				}
				r := store.Range{Shard: shard, After: after, Through: members[len(members)-1], Size: len(members)}
				last := len(members) < size
				if last {
					r.Through = "" // to the shard's end
				}
				if !yield(r, nil) {
					return
				}
				if last {
					break
				}
				after = members[len(members)-1]
				start = "(" + after
			}
		}
	}
}

// RangeSubscriptions implements [store.RangeReader]: see its
// documentation. It reads the range's members page after page and their
// records as TopicSubscriptions does.
func (s *Store) RangeSubscriptions(ctx context.Context, topic string, r store.Range) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		fail := func(err error) {
			yield(store.Subscription{}, fmt.Errorf("redis: subscriptions of range %+v of topic %q: %w", r, topic, err))
		}
		if r.Shard < 0 || r.Shard >= s.shards {
			fail(fmt.Errorf("shard %d: the store has %d", r.Shard, s.shards))
			return
		}
		key := s.keys.topic(topic, r.Shard)
		start, stop := "-", "+"
		if r.After != "" {
			start = "(" + r.After
		}
		if r.Through != "" {
			stop = "[" + r.Through
		}
		for {
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: start, Stop: stop, ByLex: true, Count: int64(s.pageSize)}).Result()
			if err != nil {
				fail(err)
				return
			}
			if len(members) == 0 {
				return
			}
			subs, err := s.resolve(ctx, key, members)
			if err != nil {
				fail(err)
				return
			}
			for _, sub := range subs {
				if !yield(sub, nil) {
					return
				}
			}
			if len(members) < s.pageSize {
				return
			}
			start = "(" + members[len(members)-1]
		}
	}
}

// scriptClaimRange claims a range, as store.SplitLog.ClaimRange documents.
//
//	KEYS[1] range hash, KEYS[2] its settled set
//	ARGV[1] now, ARGV[2] token, ARGV[3] lease until, ARGV[4] expires
//	reply   {1, settled...} claimed, {2} done, {3} in progress
const scriptClaimRange = `
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 's', 'l', 'x')
if f[1] then
  if tonumber(f[3]) > now then
    if f[1] == '2' then return {2} end
    if f[1] == '0' and tonumber(f[2]) > now then return {3} end
  else
    redis.call('DEL', KEYS[1], KEYS[2])
  end
end
redis.call('HSET', KEYS[1], 't', ARGV[2], 's', '0', 'l', ARGV[3], 'x', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
local out = {1}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do out[#out + 1] = m end
return out
`

// scriptSettleRange adds settled keys and extends the lease while the
// caller holds the range.
//
//	KEYS[1] range hash, KEYS[2] its settled set
//	ARGV[1] now, ARGV[2] token, ARGV[3] lease until, ARGV[4...] settled
//	reply   1, or 0 when the caller does not hold the range
const scriptSettleRange = `
local f = redis.call('HMGET', KEYS[1], 't', 's', 'x')
if f[1] ~= ARGV[2] or f[2] ~= '0' or tonumber(f[3]) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[3])
if #ARGV > 3 then
  redis.call('SADD', KEYS[2], unpack(ARGV, 4))
  redis.call('PEXPIREAT', KEYS[2], f[3])
end
return 1
`

// scriptEndRange ends a claim and updates the split, as
// store.SplitLog.EndRange documents.
//
//	KEYS[1] range hash, KEYS[2] its settled set, KEYS[3] split hash, KEYS[4] done set, KEYS[5] dead set
//	ARGV[1] now, ARGV[2] token, ARGV[3] state, ARGV[4] index, ARGV[5] delivered, ARGV[6] gone, ARGV[7] expires, ARGV[8...] settled
//	reply   {ranges, done, dead, delivered, gone}, or 0 when the caller does not hold the range
const scriptEndRange = `
local f = redis.call('HMGET', KEYS[1], 't', 's', 'x')
if f[1] ~= ARGV[2] or f[2] ~= '0' or tonumber(f[3]) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[3])
if #ARGV > 7 then
  redis.call('SADD', KEYS[2], unpack(ARGV, 8))
  redis.call('PEXPIREAT', KEYS[2], f[3])
end
if ARGV[3] == '2' then
  redis.call('SADD', KEYS[4], ARGV[4])
  redis.call('SREM', KEYS[5], ARGV[4])
elseif ARGV[3] == '3' then
  redis.call('SADD', KEYS[5], ARGV[4])
end
redis.call('HINCRBY', KEYS[3], 'd', ARGV[5])
redis.call('HINCRBY', KEYS[3], 'g', ARGV[6])
for i = 3, 5 do redis.call('PEXPIREAT', KEYS[i], ARGV[7], 'GT') redis.call('PEXPIREAT', KEYS[i], ARGV[7], 'NX') end
local h = redis.call('HMGET', KEYS[3], 'r', 'd', 'g')
return {tonumber(h[1] or '0'), redis.call('SCARD', KEYS[4]), redis.call('SCARD', KEYS[5]), tonumber(h[2] or '0'), tonumber(h[3] or '0')}
`

// scriptSealSplit records a split's number of ranges.
//
//	KEYS[1] split hash, KEYS[2] done set, KEYS[3] dead set
//	ARGV[1] ranges, ARGV[2] expires
//	reply   {ranges, done, dead, delivered, gone}
const scriptSealSplit = `
redis.call('HSET', KEYS[1], 'r', ARGV[1])
for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], ARGV[2], 'GT') redis.call('PEXPIREAT', KEYS[i], ARGV[2], 'NX') end
local h = redis.call('HMGET', KEYS[1], 'r', 'd', 'g')
return {tonumber(h[1] or '0'), redis.call('SCARD', KEYS[2]), redis.call('SCARD', KEYS[3]), tonumber(h[2] or '0'), tonumber(h[3] or '0')}
`

// scriptGetSplit reads a split's status.
//
//	KEYS[1] split hash, KEYS[2] done set, KEYS[3] dead set
//	reply   {ranges, done, dead, delivered, gone}
const scriptGetSplit = `
local h = redis.call('HMGET', KEYS[1], 'r', 'd', 'g')
return {tonumber(h[1] or '0'), redis.call('SCARD', KEYS[2]), redis.call('SCARD', KEYS[3]), tonumber(h[2] or '0'), tonumber(h[3] or '0')}
`

// scriptTakeBudget adds to a slot's counter.
//
//	KEYS[1] the slot's counter
//	ARGV[1] units, ARGV[2] expires
//	reply   the counter after
const scriptTakeBudget = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return n
`

// rangeScripts are the scripts of this file; like a compiled regular
// expression, each is immutable once made.
var rangeScripts = struct {
	claim, settle, end, seal, get, budget *redis.Script
}{
	redis.NewScript(scriptClaimRange), redis.NewScript(scriptSettleRange), redis.NewScript(scriptEndRange),
	redis.NewScript(scriptSealSplit), redis.NewScript(scriptGetSplit), redis.NewScript(scriptTakeBudget),
}

func settledArgs(args []any, settled []uint64) []any {
	for _, h := range settled {
		args = append(args, strconv.FormatUint(h, 10))
	}
	return args
}

// ClaimRange implements [store.SplitLog]: one script over the range's keys.
func (s *Store) ClaimRange(ctx context.Context, k store.RangeKey, token string, leaseUntil, expiresAt time.Time) (store.RangeClaim, error) {
	fail := func(err error) (store.RangeClaim, error) {
		return store.RangeClaim{}, fmt.Errorf("redis: claim range %d of split %q: %w", k.Index, k.Split, err)
	}
	if k.Split == "" {
		return fail(errors.New("empty split id"))
	}
	h, set := s.keys.rangeKeys(k)
	v, err := s.run(ctx, rangeScripts.claim, []string{h, set}, s.now().UnixMilli(), token, leaseUntil.UnixMilli(), expiresAt.UnixMilli()).Slice()
	if err != nil {
		return fail(err)
	}
	if len(v) == 0 {
		return fail(unexpected(v))
	}
	switch v[0] {
	case int64(2):
		return store.RangeClaim{Status: store.AlreadyDelivered}, nil
	case int64(3):
		return store.RangeClaim{Status: store.InProgress}, nil
	case int64(1):
	default:
		return fail(unexpected(v))
	}
	settled := make(map[uint64]struct{}, len(v)-1)
	for _, m := range v[1:] {
		str, _ := m.(string)
		n, err := strconv.ParseUint(str, 10, 64)
		if err != nil {
			return fail(fmt.Errorf("settled key %q: %w", str, err))
		}
		settled[n] = struct{}{}
	}
	return store.RangeClaim{Status: store.Claimed, Settled: settled}, nil
}

// SettleRange implements [store.SplitLog]: one script over the range's keys.
func (s *Store) SettleRange(ctx context.Context, k store.RangeKey, token string, settled []uint64, leaseUntil time.Time) error {
	h, set := s.keys.rangeKeys(k)
	args := settledArgs([]any{s.now().UnixMilli(), token, leaseUntil.UnixMilli()}, settled)
	n, err := s.run(ctx, rangeScripts.settle, []string{h, set}, args...).Int()
	if err != nil {
		return fmt.Errorf("redis: settle range %d of split %q: %w", k.Index, k.Split, err)
	}
	if n != 1 {
		return fmt.Errorf("redis: settle range %d of split %q: %w", k.Index, k.Split, store.ErrRangeLost)
	}
	return nil
}

// EndRange implements [store.SplitLog]: one script over the range's and the
// split's keys, which share a slot.
func (s *Store) EndRange(ctx context.Context, k store.RangeKey, token string, state store.RangeState, settled []uint64, delivered, gone int, expiresAt time.Time) (store.SplitStatus, error) {
	fail := func(err error) (store.SplitStatus, error) {
		return store.SplitStatus{}, fmt.Errorf("redis: end range %d of split %q: %w", k.Index, k.Split, err)
	}
	if state < store.RangeReleased || state > store.RangeDead {
		return fail(fmt.Errorf("invalid state %d", state))
	}
	h, set := s.keys.rangeKeys(k)
	sh, done, dead := s.keys.splitKeys(k.Split)
	args := settledArgs([]any{s.now().UnixMilli(), token, int(state), k.Index, delivered, gone, expiresAt.UnixMilli()}, settled)
	v, err := s.run(ctx, rangeScripts.end, []string{h, set, sh, done, dead}, args...).Result()
	if err != nil {
		return fail(err)
	}
	if n, ok := v.(int64); ok && n == 0 {
		return fail(store.ErrRangeLost)
	}
	st, err := splitStatus(k.Split, v)
	if err != nil {
		return fail(err)
	}
	return st, nil
}

// splitStatus decodes the reply {ranges, done, dead, delivered, gone}.
func splitStatus(id string, v any) (store.SplitStatus, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 5 {
		return store.SplitStatus{}, unexpected(v)
	}
	n := make([]int, 5)
	for i, x := range a {
		y, ok := x.(int64)
		if !ok {
			return store.SplitStatus{}, unexpected(v)
		}
		n[i] = int(y)
	}
	return store.SplitStatus{ID: id, Ranges: n[0], Done: n[1], Dead: n[2], Delivered: n[3], Gone: n[4]}, nil
}

// SealSplit implements [store.SplitLog]: one script over the split's keys.
func (s *Store) SealSplit(ctx context.Context, id string, ranges int, expiresAt time.Time) (store.SplitStatus, error) {
	if id == "" || ranges <= 0 {
		return store.SplitStatus{}, fmt.Errorf("redis: seal split %q: %d ranges, want an id and > 0", id, ranges)
	}
	sh, done, dead := s.keys.splitKeys(id)
	v, err := s.run(ctx, rangeScripts.seal, []string{sh, done, dead}, ranges, expiresAt.UnixMilli()).Result()
	if err != nil {
		return store.SplitStatus{}, fmt.Errorf("redis: seal split %q: %w", id, err)
	}
	return splitStatus(id, v)
}

// GetSplit implements [store.SplitLog]: one script over the split's keys.
func (s *Store) GetSplit(ctx context.Context, id string) (store.SplitStatus, error) {
	sh, done, dead := s.keys.splitKeys(id)
	v, err := s.run(ctx, rangeScripts.get, []string{sh, done, dead}).Result()
	if err != nil {
		return store.SplitStatus{}, fmt.Errorf("redis: get split %q: %w", id, err)
	}
	return splitStatus(id, v)
}

// TakeBudget implements [store.Budget]: one script (INCRBY, PEXPIREAT).
func (s *Store) TakeBudget(ctx context.Context, key string, n, limit int, expiresAt time.Time) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	used, err := s.run(ctx, rangeScripts.budget, []string{s.keys.tagged(kindBudget, escape(key), "")}, n, expiresAt.UnixMilli()).Int()
	if err != nil {
		return 0, fmt.Errorf("redis: take budget %q: %w", key, err)
	}
	return store.Granted(used, n, limit), nil
}
