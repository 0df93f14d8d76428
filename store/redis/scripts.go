package redis

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts. Each runs atomically on the server, and every key it
// touches is one of its KEYS, all of them in one cluster slot: the keys of
// one connection (tag: the connection id) or the key of one topic shard.
// Times come from the caller in ARGV (Unix ms of the store's clock), so that
// expiry is decided by one clock, the store's, as in the other stores; the
// server's own clock only runs the keys' Time to Live.
//
// Each write carries a token of the call that makes it, so that the same
// script run again by the client after a lost reply (go-redis retries
// network errors) answers as the first run did.

// scriptCreateConnection stores a connection record unless a live one holds
// the id.
//
//	KEYS[1] connection hash
//	ARGV[1] now, ARGV[2] token, ARGV[3] expiresAt (0: never), ARGV[4...] fields and values
//	reply   "OK" or "EXISTS"
const scriptCreateConnection = `
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'w', 'ex')
if f[1] then
  local ex = tonumber(f[2] or '0')
  if ex == 0 or ex > now then
    if f[1] == ARGV[2] then return 'OK' end
    return 'EXISTS'
  end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'w', ARGV[2], unpack(ARGV, 4))
local ex = tonumber(ARGV[3])
if ex ~= 0 then redis.call('PEXPIREAT', KEYS[1], ex) end
return 'OK'
`

// scriptAcknowledge marks a live connection acknowledged, once.
//
//	KEYS[1] connection hash
//	ARGV[1] now, ARGV[2] token, ARGV[3] context ("" for none)
//	reply   "OK", "NOTFOUND" or "ACKED"
const scriptAcknowledge = `
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'w', 'ex', 'a', 'k')
if not f[1] then return 'NOTFOUND' end
local ex = tonumber(f[2] or '0')
if ex ~= 0 and ex <= now then return 'NOTFOUND' end
if f[3] == '1' then
  if f[4] == ARGV[2] then return 'OK' end
  return 'ACKED'
end
redis.call('HSET', KEYS[1], 'a', '1', 'k', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'x', ARGV[3])
else
  redis.call('HDEL', KEYS[1], 'x')
end
return 'OK'
`

// scriptSubscribe writes a subscription record, on condition that the
// connection is live and holds no live subscription with the id. The Time
// to Live of the subscriptions hash becomes the latest expiry of the records
// it holds (none if one never expires). With a bound, a connection whose
// hash holds that many records already gets no new one.
//
//	KEYS[1] connection hash, KEYS[2] subscriptions hash
//	ARGV[1] now, ARGV[2] subscription id, ARGV[3] record, ARGV[4] its expiresAt (0: never), ARGV[5] its revision, ARGV[6] the bound (0: none)
//	reply   {"OK"}, {"NOCONN"}, {"EXISTS"}, {"LIMIT"}, or {"REPLACED", the expired record it replaced}
const scriptSubscribe = `
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'w', 'ex')
if not f[1] then return {'NOCONN'} end
local cex = tonumber(f[2] or '0')
if cex ~= 0 and cex <= now then return {'NOCONN'} end
local old = redis.call('HGET', KEYS[2], ARGV[2])
if old then
  local oex, orev = string.match(old, '^(%-?%d+) (%S+) ')
  if orev == ARGV[5] then return {'OK'} end
  oex = tonumber(oex or '0')
  if oex == 0 or oex > now then return {'EXISTS'} end
end
local max = tonumber(ARGV[6] or '0')
if not old and max > 0 and redis.call('HLEN', KEYS[2]) >= max then return {'LIMIT'} end
local cur = redis.call('PEXPIRETIME', KEYS[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local ex = tonumber(ARGV[4])
if ex == 0 then
  redis.call('PERSIST', KEYS[2])
elseif cur == -2 or (cur >= 0 and ex > cur) then
  redis.call('PEXPIREAT', KEYS[2], ex)
end
if old then return {'REPLACED', old} end
return {'OK'}
`

// scriptUnsubscribe deletes one subscription record and returns it. The
// record is also kept under the call's own key for a short while, which a
// retry of the call returns.
//
//	KEYS[1] subscriptions hash, KEYS[2] the call's deleted-subscription key
//	ARGV[1] subscription id, ARGV[2] how long to keep the copy, ms
//	reply   the record, or nil
const scriptUnsubscribe = `
local done = redis.call('GET', KEYS[2])
if done then return done end
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], v, 'PX', ARGV[2])
return v
`

// scriptDisconnect deletes a connection record and every subscription
// record of it, and returns both hashes. It renames them to the call's own
// keys, which expire after a short while, so a retry of the call returns
// them again.
//
//	KEYS[1] connection hash, KEYS[2] subscriptions hash,
//	KEYS[3] and KEYS[4] the call's deleted-connection and deleted-subscriptions keys
//	ARGV[1] how long to keep them, ms
//	reply   {connection fields and values, subscription ids and records}
const scriptDisconnect = `
if redis.call('EXISTS', KEYS[3], KEYS[4]) > 0 then
  return {redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}
end
local c = redis.call('HGETALL', KEYS[1])
local s = redis.call('HGETALL', KEYS[2])
if #c > 0 then
  redis.call('RENAME', KEYS[1], KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[1])
end
if #s > 0 then
  redis.call('RENAME', KEYS[2], KEYS[4])
  redis.call('PEXPIRE', KEYS[4], ARGV[1])
end
return {c, s}
`

// scriptIndex adds a member to a topic shard. The set's Time to Live
// becomes the latest expiry of the subscriptions it indexes (none if one
// never expires).
//
//	KEYS[1] topic shard
//	ARGV[1] member, ARGV[2] the subscription's expiresAt (0: never)
//	reply   1
const scriptIndex = `
local cur = redis.call('PEXPIRETIME', KEYS[1])
redis.call('ZADD', KEYS[1], 0, ARGV[1])
local ex = tonumber(ARGV[2])
if ex == 0 then
  redis.call('PERSIST', KEYS[1])
elseif cur == -2 or (cur >= 0 and ex > cur) then
  redis.call('PEXPIREAT', KEYS[1], ex)
end
return 1
`

// scripts are the store's Lua scripts. Each is sent by its SHA-1 digest
// and, when the server does not know it (after a restart or a failover), in
// full.
type scripts struct {
	createConnection, acknowledge, subscribe, unsubscribe, disconnect, index *redis.Script
	claimDelivery, finishDelivery                                            *redis.Script
}

func newScripts() scripts {
	return scripts{
		createConnection: redis.NewScript(scriptCreateConnection),
		acknowledge:      redis.NewScript(scriptAcknowledge),
		subscribe:        redis.NewScript(scriptSubscribe),
		unsubscribe:      redis.NewScript(scriptUnsubscribe),
		disconnect:       redis.NewScript(scriptDisconnect),
		index:            redis.NewScript(scriptIndex),
		claimDelivery:    redis.NewScript(scriptClaimDelivery),
		finishDelivery:   redis.NewScript(scriptFinishDelivery),
	}
}

// isNoScript reports whether err is the server's answer to EVALSHA of a
// script it does not hold.
func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// scriptCall is one run of a script in a batch.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// runAll runs calls in one pipeline (on a cluster, one per node, in
// parallel) and returns their commands in order, each with its own result or
// error. A call the server answers NOSCRIPT is sent again in full.
func runAll(ctx context.Context, c redis.UniversalClient, calls []scriptCall) []*redis.Cmd {
	if len(calls) == 1 {
		return []*redis.Cmd{calls[0].script.Run(ctx, c, calls[0].keys, calls[0].args...)}
	}
	cmds := make([]*redis.Cmd, len(calls))
	// The pipeline's error is that of its first failed command; every
	// command carries its own.
	_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, call := range calls {
			cmds[i] = call.script.EvalSha(ctx, p, call.keys, call.args...)
		}
		return nil
	})
	for i, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			cmds[i] = calls[i].script.Run(ctx, c, calls[i].keys, calls[i].args...)
		}
	}
	return cmds
}
