package dynamodb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/store"
)

// The records of scale-out fan-out live in the subscriptions table, as the
// delivery log does, so that they need no table, index or permission of
// their own. Their partition keys end in "#r", "#s" or "#b" followed by no
// digits, so they never share a partition with a topic's subscriptions
// ("<topic>#<shard>") and, having no connectionId, stay out of the
// byConnection index:
//
//	range   pk "<split>#r<index>"  sk "-"  token S, state N (0 claimed,
//	        1 released, 2 done, 3 dead), leaseUntil N, settled BS (8-byte
//	        keys of the settled subscriptions), expiresAt N, ttl N
//	split   pk "<split>#s"         sk "-"  ranges N, done NS, dead NS (range
//	        indexes), delivered N, gone N, expiresAt N, ttl N
//	budget  pk "<key>#b"           sk "-"  used N, expiresAt N, ttl N
//
// A range's keys (store.Range After and Through) are sort keys of the
// topic's shard Shard.
const (
	attrState   = "state"   // N
	attrSettled = "settled" // BS
	attrRanges  = "ranges"  // N
	attrDone    = "done"    // NS
	attrDead    = "dead"    // NS
	attrGone    = "gone"    // N
	attrUsed    = "used"    // N
	recordSK    = "-"
)

var (
	_ store.RangeReader = (*Store)(nil)
	_ store.SplitLog    = (*Store)(nil)
	_ store.Budget      = (*Store)(nil)
)

func rangeKey(k store.RangeKey) item {
	return item{AttrPK: str(k.Split + "#r" + strconv.Itoa(k.Index)), AttrSK: str(recordSK)}
}

func splitKey(id string) item { return item{AttrPK: str(id + "#s"), AttrSK: str(recordSK)} }

func budgetKey(key string) item { return item{AttrPK: str(key + "#b"), AttrSK: str(recordSK)} }

// TopicRanges implements [store.RangeReader]: see its documentation. It
// reads the sort keys of the shards in parallel, one goroutine per shard,
// with strongly consistent Queries (a Query reads, and is charged for,
// whole items: splitting costs one more read of the topic), and ends each
// shard's last range at the shard's end. Ranges of different shards are
// yielded in the order they are read.
func (s *Store) TopicRanges(ctx context.Context, topic string, size int) iter.Seq2[store.Range, error] {
	return func(yield func(store.Range, error) bool) {
		fail := func(err error) {
			yield(store.Range{}, fmt.Errorf("dynamodb: ranges of topic %q: %w", topic, err))
		}
		t, err := s.begin(ctx)
		if err != nil {
			fail(err)
			return
		}
		if size <= 0 {
			fail(fmt.Errorf("size %d, want > 0", size))
			return
		}
		if len(partitionKey(topic, s.shards-1)) > maxPartitionKey {
			return
		}
		type result struct {
			r   store.Range
			err error
		}
		rctx, cancel := context.WithCancel(ctx)
		out := make(chan result)
		var wg sync.WaitGroup
		for shard := range s.shards {
			wg.Go(func() {
				err := s.shardRanges(rctx, t, topic, shard, size, func(r store.Range) bool {
					select {
					case out <- result{r: r}:
						return true
					case <-rctx.Done():
						return false
					}
				})
				if err != nil && rctx.Err() == nil {
					select {
					case out <- result{err: err}:
					case <-rctx.Done():
					}
				}
			})
		}
		go func() {
			wg.Wait()
			close(out)
		}()
		defer func() {
			cancel()
			for range out {
				// Drain until every walker has returned.
			}
		}()
		for res := range out {
			if res.err != nil {
				fail(res.err)
				return
			}
			if !yield(res.r, nil) {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			fail(err)
		}
	}
}

// shardRanges passes the ranges of one shard to send, in order, until they
// are all sent or send returns false.
func (s *Store) shardRanges(ctx context.Context, t Tables, topic string, shard, size int, send func(store.Range) bool) error {
	var x expr
	cond := x.use("#pk = :pk")
	proj := x.use("#sk")
	x.value("pk", str(partitionKey(topic, shard)))
	var start item
	r := store.Range{Shard: shard}
	for {
		in := &dynamodb.QueryInput{
			TableName: &t.Subscriptions, KeyConditionExpression: &cond, ProjectionExpression: &proj,
			ExpressionAttributeNames: x.attrNames(), ExpressionAttributeValues: x.attrValues(),
			ConsistentRead: new(true), ExclusiveStartKey: start, Limit: new(int32(size - r.Size)),
		}
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("query keys of shard %d: %w", shard, err)
		}
		for _, it := range out.Items {
			sk, err := getStr(it, AttrSK)
			if err != nil {
				return err
			}
			r.Size++
			r.Through = sk
		}
		start = out.LastEvaluatedKey
		if len(start) == 0 {
			break
		}
		if r.Size == size {
			if !send(r) {
				return nil
			}
			r = store.Range{Shard: shard, After: r.Through}
		}
	}
	if r.Size > 0 {
		r.Through = "" // to the shard's end
		send(r)
	}
	return nil
}

// RangeSubscriptions implements [store.RangeReader]: see its
// documentation. It reads the range page after page with strongly
// consistent Queries.
func (s *Store) RangeSubscriptions(ctx context.Context, topic string, r store.Range) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		fail := func(err error) {
			yield(store.Subscription{}, fmt.Errorf("dynamodb: subscriptions of range %+v of topic %q: %w", r, topic, err))
		}
		t, err := s.begin(ctx)
		if err != nil {
			fail(err)
			return
		}
		if r.Shard < 0 || r.Shard >= s.shards {
			fail(fmt.Errorf("shard %d: the store has %d", r.Shard, s.shards))
			return
		}
		pk := partitionKey(topic, r.Shard)
		if len(pk) > maxPartitionKey {
			return
		}
		var x expr
		cond := "#pk = :pk"
		if r.Through != "" {
			cond += " AND #sk <= :through"
			x.value("through", str(r.Through))
		}
		cond = x.use(cond)
		x.value("pk", str(pk)) // whole items, as TopicSubscriptions reads them
		var start item
		if r.After != "" {
			start = item{AttrPK: str(pk), AttrSK: str(r.After)}
		}
		for {
			in := &dynamodb.QueryInput{
				TableName: &t.Subscriptions, KeyConditionExpression: &cond,
				ExpressionAttributeNames: x.attrNames(), ExpressionAttributeValues: x.attrValues(),
				ConsistentRead: new(true), ExclusiveStartKey: start,
			}
			if s.pageSize > 0 {
				in.Limit = new(s.pageSize)
			}
			out, err := s.api.Query(ctx, in)
			if err != nil {
				fail(err)
				return
			}
			now := s.now()
			for _, it := range out.Items {
				rec, err := decodeSubscription(it)
				if err != nil {
					fail(err)
					return
				}
				if expiredAt(rec.expiresAt, now) {
					continue
				}
				if !yield(rec.sub, nil) {
					return
				}
			}
			if start = out.LastEvaluatedKey; len(start) == 0 {
				return
			}
		}
	}
}

// settledSet encodes settled keys as a binary set of 8-byte values.
func settledSet(settled []uint64) *types.AttributeValueMemberBS {
	bs := make([][]byte, len(settled))
	for i, h := range settled {
		bs[i] = binary.BigEndian.AppendUint64(nil, h)
	}
	return &types.AttributeValueMemberBS{Value: bs}
}

// ClaimRange implements [store.SplitLog]: see its documentation. It is one
// conditional UpdateItem of the range's item.
func (s *Store) ClaimRange(ctx context.Context, k store.RangeKey, token string, leaseUntil, expiresAt time.Time) (store.RangeClaim, error) {
	fail := func(err error) (store.RangeClaim, error) {
		return store.RangeClaim{}, fmt.Errorf("dynamodb: claim range %d of split %q: %w", k.Index, k.Split, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	if k.Split == "" {
		return fail(errors.New("empty split id"))
	}
	var x expr
	update := x.use("SET #token = :token, #state = :claimed, #leaseUntil = :lease, #expiresAt = :expires, #ttl = :ttl")
	cond := x.use("attribute_not_exists(#pk) OR #expiresAt <= :now OR #state IN (:released, :dead) OR (#state = :claimed AND #leaseUntil <= :now)")
	x.value("token", str(token))
	x.value("claimed", num(0))
	x.value("released", num(int64(store.RangeReleased)))
	x.value("dead", num(int64(store.RangeDead)))
	x.value("lease", num(leaseUntil.UnixMilli()))
	x.value("expires", num(expiresAt.UnixMilli()))
	x.value("ttl", num(ttlSeconds(expiresAt.UnixMilli())))
	x.value("now", num(s.now().UnixMilli()))
	in := &dynamodb.UpdateItemInput{
		TableName: &t.Subscriptions, Key: rangeKey(k), UpdateExpression: &update, ConditionExpression: &cond,
		ExpressionAttributeNames: x.attrNames(), ExpressionAttributeValues: x.attrValues(),
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	var out *dynamodb.UpdateItemOutput
	err = s.write(ctx, "claim range", func() (err error) {
		out, err = s.api.UpdateItem(ctx, in)
		return err
	})
	if cf, ok := conditionFailed(err); ok {
		state, err := getNum(cf.Item, attrState)
		if err != nil {
			return fail(err)
		}
		if state == int64(store.RangeDone) {
			return store.RangeClaim{Status: store.AlreadyDelivered}, nil
		}
		return store.RangeClaim{Status: store.InProgress}, nil
	}
	if err != nil {
		return fail(err)
	}
	settled := map[uint64]struct{}{}
	if bs, ok := out.Attributes[attrSettled].(*types.AttributeValueMemberBS); ok {
		for _, b := range bs.Value {
			if len(b) == 8 {
				settled[binary.BigEndian.Uint64(b)] = struct{}{}
			}
		}
	}
	return store.RangeClaim{Status: store.Claimed, Settled: settled}, nil
}

// rangeUpdate returns the update of the range's item by its holder token:
// settled added, then set (a "SET ..." clause, or empty); on condition that
// token holds it.
func (s *Store) rangeUpdate(t Tables, k store.RangeKey, token, set string, settled []uint64, x *expr) *types.Update {
	update := set
	if len(settled) > 0 {
		update += " ADD #settled :settled"
		x.value("settled", settledSet(settled))
	}
	update = x.use(update)
	cond := x.use("#token = :token AND #state = :claimed AND #expiresAt > :now")
	x.value("token", str(token))
	x.value("claimed", num(0))
	x.value("now", num(s.now().UnixMilli()))
	return &types.Update{
		TableName: &t.Subscriptions, Key: rangeKey(k), UpdateExpression: &update, ConditionExpression: &cond,
		ExpressionAttributeNames: x.attrNames(), ExpressionAttributeValues: x.attrValues(),
	}
}

// SettleRange implements [store.SplitLog]: see its documentation. It is
// one conditional UpdateItem of the range's item.
func (s *Store) SettleRange(ctx context.Context, k store.RangeKey, token string, settled []uint64, leaseUntil time.Time) error {
	fail := func(err error) error {
		return fmt.Errorf("dynamodb: settle range %d of split %q: %w", k.Index, k.Split, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	var x expr
	x.value("lease", num(leaseUntil.UnixMilli()))
	u := s.rangeUpdate(t, k, token, "SET #leaseUntil = :lease", settled, &x)
	err = s.write(ctx, "settle range", func() error {
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
			ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
		})
		return err
	})
	if _, ok := conditionFailed(err); ok {
		return fail(store.ErrRangeLost)
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// EndRange implements [store.SplitLog]: see its documentation. It is one
// transaction of two updates, the range's item (on condition that token
// holds it) and the split's, then a strongly consistent read of the split's
// item.
func (s *Store) EndRange(ctx context.Context, k store.RangeKey, token string, state store.RangeState, settled []uint64, delivered, gone int, expiresAt time.Time) (store.SplitStatus, error) {
	fail := func(err error) (store.SplitStatus, error) {
		return store.SplitStatus{}, fmt.Errorf("dynamodb: end range %d of split %q: %w", k.Index, k.Split, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	if state < store.RangeReleased || state > store.RangeDead {
		return fail(fmt.Errorf("invalid state %d", state))
	}
	var rx expr
	rx.value("state", num(int64(state)))
	ru := s.rangeUpdate(t, k, token, "SET #state = :state", settled, &rx)

	var sx expr
	update := "SET #expiresAt = :expires, #ttl = :ttl ADD #delivered :delivered, #gone :gone"
	idx := &types.AttributeValueMemberNS{Value: []string{strconv.Itoa(k.Index)}}
	switch state {
	case store.RangeDone:
		update += ", #done :idx DELETE #dead :idx"
		sx.value("idx", idx)
	case store.RangeDead:
		update += ", #dead :idx"
		sx.value("idx", idx)
	}
	update = sx.use(update)
	sx.value("expires", num(expiresAt.UnixMilli()))
	sx.value("ttl", num(ttlSeconds(expiresAt.UnixMilli())))
	sx.value("delivered", num(int64(delivered)))
	sx.value("gone", num(int64(gone)))
	su := &types.Update{
		TableName: &t.Subscriptions, Key: splitKey(k.Split), UpdateExpression: &update,
		ExpressionAttributeNames: sx.attrNames(), ExpressionAttributeValues: sx.attrValues(),
	}
	err = s.transact(ctx, "end range", []types.TransactWriteItem{{Update: ru}, {Update: su}})
	if code, _, ok := cancellation(err, 0); ok && code == reasonConditionalFailed {
		return fail(store.ErrRangeLost)
	}
	if err != nil {
		return fail(err)
	}
	st, err := s.GetSplit(ctx, k.Split)
	if err != nil {
		return fail(err)
	}
	return st, nil
}

// SealSplit implements [store.SplitLog]: see its documentation. It is one
// UpdateItem of the split's item.
func (s *Store) SealSplit(ctx context.Context, id string, ranges int, expiresAt time.Time) (store.SplitStatus, error) {
	fail := func(err error) (store.SplitStatus, error) {
		return store.SplitStatus{}, fmt.Errorf("dynamodb: seal split %q: %w", id, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	if id == "" || ranges <= 0 {
		return fail(fmt.Errorf("%d ranges, want an id and > 0", ranges))
	}
	var x expr
	update := x.use("SET #ranges = :ranges, #expiresAt = :expires, #ttl = :ttl")
	x.value("ranges", num(int64(ranges)))
	x.value("expires", num(expiresAt.UnixMilli()))
	x.value("ttl", num(ttlSeconds(expiresAt.UnixMilli())))
	var out *dynamodb.UpdateItemOutput
	err = s.write(ctx, "seal split", func() (err error) {
		out, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &t.Subscriptions, Key: splitKey(id), UpdateExpression: &update,
			ExpressionAttributeNames: x.attrNames(), ExpressionAttributeValues: x.attrValues(),
			ReturnValues: types.ReturnValueAllNew,
		})
		return err
	})
	if err != nil {
		return fail(err)
	}
	return decodeSplit(id, out.Attributes)
}

// GetSplit implements [store.SplitLog]: see its documentation. It is one
// strongly consistent GetItem.
func (s *Store) GetSplit(ctx context.Context, id string) (store.SplitStatus, error) {
	t, err := s.begin(ctx)
	if err != nil {
		return store.SplitStatus{}, fmt.Errorf("dynamodb: get split %q: %w", id, err)
	}
	it, err := s.getItem(ctx, t.Subscriptions, splitKey(id))
	if err != nil {
		return store.SplitStatus{}, fmt.Errorf("dynamodb: get split %q: %w", id, err)
	}
	if it != nil {
		if ex, err := getNum(it, attrExpiresAt); err == nil && expiredAt(ex, s.now()) {
			it = nil
		}
	}
	return decodeSplit(id, it)
}

// decodeSplit returns the status a split's item records.
func decodeSplit(id string, it item) (store.SplitStatus, error) {
	st := store.SplitStatus{ID: id}
	if it == nil {
		return st, nil
	}
	for attr, p := range map[string]*int{attrRanges: &st.Ranges, attrDelivered: &st.Delivered, attrGone: &st.Gone} {
		if _, ok := it[attr]; !ok {
			continue
		}
		n, err := getNum(it, attr)
		if err != nil {
			return store.SplitStatus{}, fmt.Errorf("dynamodb: split %q: %w", id, err)
		}
		*p = int(n)
	}
	if ns, ok := it[attrDone].(*types.AttributeValueMemberNS); ok {
		st.Done = len(ns.Value)
	}
	if ns, ok := it[attrDead].(*types.AttributeValueMemberNS); ok {
		st.Dead = len(ns.Value)
	}
	return st, nil
}

// TakeBudget implements [store.Budget]: see its documentation. It is one
// UpdateItem that adds n to the slot's counter.
func (s *Store) TakeBudget(ctx context.Context, key string, n, limit int, expiresAt time.Time) (int, error) {
	t, err := s.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("dynamodb: take budget %q: %w", key, err)
	}
	if n <= 0 {
		return 0, nil
	}
	var x expr
	update := x.use("SET #expiresAt = :expires, #ttl = :ttl ADD #used :n")
	x.value("n", num(int64(n)))
	x.value("expires", num(expiresAt.UnixMilli()))
	x.value("ttl", num(ttlSeconds(expiresAt.UnixMilli())))
	var out *dynamodb.UpdateItemOutput
	err = s.write(ctx, "take budget", func() (err error) {
		out, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &t.Subscriptions, Key: budgetKey(key), UpdateExpression: &update,
			ExpressionAttributeNames: x.attrNames(), ExpressionAttributeValues: x.attrValues(),
			ReturnValues: types.ReturnValueUpdatedNew,
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("dynamodb: take budget %q: %w", key, err)
	}
	used, err := getNum(out.Attributes, attrUsed)
	if err != nil {
		return 0, fmt.Errorf("dynamodb: take budget %q: %w", key, err)
	}
	return store.Granted(int(used), n, limit), nil
}
