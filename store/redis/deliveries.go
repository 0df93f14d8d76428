package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/store"
)

var _ store.DeliveryLog = (*Store)(nil)

// kindDelivery is the kind of the hash that records one delivery: its tag is
// the delivery itself, so each record is one key of one slot and a claim is
// one script over it.
const kindDelivery = "d"

// delivery is the key of the record of d. The three ids are length-prefixed,
// so no two deliveries share a key.
func (k keys) delivery(d store.Delivery) string {
	return k.tagged(kindDelivery, escape(member(d.EventID, d.ConnectionID, d.SubscriptionID)), "")
}

// scriptClaimDelivery claims a delivery, as store.DeliveryLog.ClaimDelivery
// documents.
//
//	KEYS[1] the delivery's hash: t (token), l (lease until), d ("1" delivered), x (expires)
//	ARGV[1] now, ARGV[2] token, ARGV[3] lease until, ARGV[4] expires (0: never)
//	reply   1 claimed, 2 already delivered, 3 in progress
const scriptClaimDelivery = `
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 't', 'l', 'd', 'x')
if f[1] then
  local x = tonumber(f[4] or '0')
  if x == 0 or x > now then
    if f[3] == '1' then return 2 end
    if tonumber(f[2] or '0') > now then return 3 end
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 't', ARGV[2], 'l', ARGV[3], 'd', '0', 'x', ARGV[4])
local x = tonumber(ARGV[4])
if x ~= 0 then redis.call('PEXPIREAT', KEYS[1], x) end
return 1
`

// scriptFinishDelivery ends a claim, as store.DeliveryLog.FinishDelivery
// documents.
//
//	KEYS[1] the delivery's hash
//	ARGV[1] token, ARGV[2] "1" delivered, "0" not
//	reply   1 finished, 0 the claim is not the caller's (or is gone)
const scriptFinishDelivery = `
if redis.call('HGET', KEYS[1], 't') ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'd', '1')
else
  redis.call('DEL', KEYS[1])
end
return 1
`

// ClaimDelivery implements [store.DeliveryLog]: one script over the
// delivery's own key, whose Time to Live is expiresAt. An empty event id is
// refused.
func (s *Store) ClaimDelivery(ctx context.Context, d store.Delivery, token string, leaseUntil, expiresAt time.Time) (store.ClaimStatus, error) {
	if d.EventID == "" {
		return 0, errors.New("redis: claim delivery: empty event id")
	}
	n, err := s.run(ctx, s.scripts.claimDelivery, []string{s.keys.delivery(d)},
		s.now().UnixMilli(), token, millis(leaseUntil), millis(expiresAt)).Int()
	if err != nil {
		return 0, fmt.Errorf("redis: claim delivery of event %s to %s/%s: %w", d.EventID, d.ConnectionID, d.SubscriptionID, err)
	}
	switch n {
	case 1:
		return store.Claimed, nil
	case 2:
		return store.AlreadyDelivered, nil
	case 3:
		return store.InProgress, nil
	}
	return 0, fmt.Errorf("redis: claim delivery of event %s: unexpected reply %d", d.EventID, n)
}

// FinishDelivery implements [store.DeliveryLog].
func (s *Store) FinishDelivery(ctx context.Context, d store.Delivery, token string, delivered bool) error {
	flag := "0"
	if delivered {
		flag = "1"
	}
	if err := s.run(ctx, s.scripts.finishDelivery, []string{s.keys.delivery(d)}, token, flag).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis: finish delivery of event %s to %s/%s: %w", d.EventID, d.ConnectionID, d.SubscriptionID, err)
	}
	return nil
}
