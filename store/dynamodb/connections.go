package dynamodb

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/store"
)

// liveCondition is the condition that a connection item exists and is
// live: unexpired at :now and not claimed by a DeleteConnection.
const liveCondition = "attribute_exists(#id) AND attribute_not_exists(#deletingAt) AND (attribute_not_exists(#expiresAt) OR #expiresAt > :now)"

// CreateConnection stores c. It fails with an error wrapping
// [store.ErrConnectionExists] if an unexpired connection with c.ID exists,
// or one that a DeleteConnection is deleting. An expired connection is
// replaced; its subscriptions stay attached to the id, as the other stores
// keep them. An empty c.ID is refused.
func (s *Store) CreateConnection(ctx context.Context, c store.Connection) error {
	fail := func(err error) error { return fmt.Errorf("dynamodb: create connection %q: %w", c.ID, err) }
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	if c.ID == "" {
		return errors.New("dynamodb: create connection: empty connection id")
	}
	// A new id (every id API Gateway hands out) is one PutItem, which
	// DynamoDB Local parses far faster than the UpdateItem below; an id
	// that is taken goes to the UpdateItem, which replaces an expired
	// record but keeps its subscriptions' map.
	var px expr
	pcond := px.use("attribute_not_exists(#id)")
	err = s.write(ctx, "create connection", func() error {
		_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                &t.Connections,
			Item:                     connectionItem(c),
			ConditionExpression:      &pcond,
			ExpressionAttributeNames: px.attrNames(),
		})
		return err
	})
	if _, ok := conditionFailed(err); !ok {
		if err != nil {
			return fail(err)
		}
		return nil
	}
	now := s.now()
	var x expr
	update := connectionUpdate(c, &x)
	cond := x.use("attribute_not_exists(#id) OR (#expiresAt <= :now AND attribute_not_exists(#deletingAt))")
	x.value("now", num(now.UnixMilli()))
	in := &dynamodb.UpdateItemInput{
		TableName:                 &t.Connections,
		Key:                       item{AttrID: str(c.ID)},
		UpdateExpression:          &update,
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  x.attrNames(),
		ExpressionAttributeValues: x.attrValues(),
	}
	err = s.write(ctx, "create connection", func() error {
		_, err := s.api.UpdateItem(ctx, in)
		return err
	})
	if _, ok := conditionFailed(err); ok {
		return fail(store.ErrConnectionExists)
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// GetConnection returns the connection, or an error wrapping
// [store.ErrConnectionNotFound] if it is missing, expired, or being deleted.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	fail := func(err error) (store.Connection, error) {
		return store.Connection{}, fmt.Errorf("dynamodb: get connection %q: %w", id, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	now := s.now()
	ci, found, err := s.connection(ctx, t, id)
	switch {
	case err != nil:
		return fail(err)
	case !found || !ci.live(now):
		return fail(store.ErrConnectionNotFound)
	}
	return ci.conn, nil
}

// connection reads the item of connection id with a strongly consistent
// read.
func (s *Store) connection(ctx context.Context, t Tables, id string) (connItem, bool, error) {
	if id == "" {
		return connItem{}, false, nil
	}
	it, err := s.getItem(ctx, t.Connections, item{AttrID: str(id)})
	if err != nil || it == nil {
		return connItem{}, false, err
	}
	ci, err := decodeConnection(it)
	if err != nil {
		return connItem{}, false, err
	}
	return ci, true, nil
}

// AcknowledgeConnection marks the connection acknowledged and stores connCtx
// as its Context, in one conditional write: it fails with an error wrapping
// [store.ErrConnectionNotFound] if the connection is missing, expired or
// being deleted, and with one wrapping [store.ErrAlreadyAcknowledged] if it
// was acknowledged before. Of concurrent calls exactly one succeeds.
func (s *Store) AcknowledgeConnection(ctx context.Context, id string, connCtx json.RawMessage) error {
	var x expr
	update := "SET #ack = :true"
	if len(connCtx) > 0 {
		update += ", #context = :context"
		x.value("context", str(string(connCtx)))
	} else {
		update += " REMOVE #context"
	}
	x.use(update)
	cond := x.use(liveCondition + " AND (attribute_not_exists(#ack) OR #ack = :false)")
	x.value("true", boolean(true))
	x.value("false", boolean(false))
	return s.updateConnection(ctx, "acknowledge", id, update, cond, &x, store.ErrAlreadyAcknowledged)
}

// updateConnection runs a conditional update of connection id's item, cond
// being liveCondition and more. A failed condition is
// [store.ErrConnectionNotFound] when the item (as it was) is not live, and
// ifLive otherwise (nil: success).
func (s *Store) updateConnection(ctx context.Context, op, id, update, cond string, x *expr, ifLive error) error {
	fail := func(err error) error { return fmt.Errorf("dynamodb: %s connection %q: %w", op, id, err) }
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	if id == "" {
		return fail(store.ErrConnectionNotFound)
	}
	now := s.now()
	x.value("now", num(now.UnixMilli()))
	in := &dynamodb.UpdateItemInput{
		TableName:                           &t.Connections,
		Key:                                 item{AttrID: str(id)},
		UpdateExpression:                    &update,
		ConditionExpression:                 &cond,
		ExpressionAttributeNames:            x.attrNames(),
		ExpressionAttributeValues:           x.attrValues(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	err = s.write(ctx, op+" connection", func() error {
		_, err := s.api.UpdateItem(ctx, in)
		return err
	})
	if ccf, ok := conditionFailed(err); ok {
		// The item as it was when the condition failed tells why.
		if err := liveConnection(ccf.Item, now); err != nil {
			return fail(err)
		}
		if ifLive != nil {
			return fail(ifLive)
		}
		return nil
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// errNoItem: the connection item does not exist.
var errNoItem = errors.New("no connection item")

// errBeingDeleted: another DeleteConnection holds a fresh claim on the
// connection item.
var errBeingDeleted = errors.New("the connection is being deleted")

// DeleteConnection deletes the connection and every subscription of it, and
// returns the connection and its unexpired subscriptions, in the order they
// were created. Expired subscriptions are deleted but not returned.
//
// It first claims the connection item, which stops every subscription write
// of the connection, then reads the subscriptions the claimed item lists,
// deletes their items (in batches), and deletes the connection item last. If
// the connection has expired, its subscriptions are still deleted and
// returned and the error wraps [store.ErrConnectionNotFound]; so it does if
// another DeleteConnection is deleting the connection (that one returns
// everything). If the connection item is gone, the subscriptions left
// behind are found through the byConnection index, deleted and returned,
// each to exactly one caller, with [store.ErrConnectionNotFound].
//
// A claim older than 30 seconds was left by a deleter that did not finish,
// and is taken over.
func (s *Store) DeleteConnection(ctx context.Context, id string) (store.Connection, []store.Subscription, error) {
	wrap := func(err error) error { return fmt.Errorf("dynamodb: delete connection %q: %w", id, err) }
	t, err := s.begin(ctx)
	if err != nil {
		return store.Connection{}, nil, wrap(err)
	}
	if id == "" {
		return store.Connection{}, nil, wrap(store.ErrConnectionNotFound)
	}
	now := s.now()
	ci, token, err := s.claim(ctx, t, id, now)
	switch {
	case errors.Is(err, errBeingDeleted):
		return store.Connection{}, nil, wrap(fmt.Errorf("%w: %w", errBeingDeleted, store.ErrConnectionNotFound))
	case errors.Is(err, errNoItem):
		subs, err := s.deleteOrphans(ctx, t, id, now)
		if err != nil {
			return store.Connection{}, subs, wrap(err)
		}
		return store.Connection{}, subs, wrap(store.ErrConnectionNotFound)
	case err != nil:
		return store.Connection{}, nil, wrap(err)
	}

	// The claimed map lists every subscription of the connection, and no
	// other call changes it any more.
	ids := slices.Sorted(maps.Keys(ci.subs))
	primaries := make([]item, 0, len(ids))
	var all []item
	for _, subID := range ids {
		keys := ci.subs[subID].keys(id, subID)
		primaries = append(primaries, keys[0])
		all = append(all, keys...)
	}
	records, err := s.batchGet(ctx, t.Subscriptions, primaries)
	if err != nil {
		return store.Connection{}, nil, wrap(fmt.Errorf("read subscriptions: %w", err))
	}
	var subs []store.Subscription
	for _, it := range records {
		rec, err := decodeSubscription(it)
		if err != nil {
			return store.Connection{}, nil, wrap(err)
		}
		if e, ok := ci.subs[rec.sub.ID]; ok && e.rev == rec.rev && !expiredAt(rec.expiresAt, now) {
			subs = append(subs, rec.sub)
		}
	}
	slices.SortFunc(subs, byCreation)
	if err := s.batchDelete(ctx, t.Subscriptions, all); err != nil {
		return store.Connection{}, nil, wrap(fmt.Errorf("delete subscriptions: %w", err))
	}

	var x expr
	cond := x.use("#claim = :token")
	x.value("token", str(token))
	err = s.write(ctx, "delete connection", func() error {
		_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 &t.Connections,
			Key:                       item{AttrID: str(id)},
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  x.attrNames(),
			ExpressionAttributeValues: x.attrValues(),
		})
		return err
	})
	if _, ok := conditionFailed(err); ok {
		// This call took longer than claimTimeout, and another one took the
		// deletion over.
		s.log.LogAttrs(ctx, slog.LevelWarn, "dynamodb: the claim of a connection deletion was taken over",
			slog.String("connection_id", id), slog.Int("subscriptions", len(subs)))
		return store.Connection{}, subs, wrap(fmt.Errorf("claim taken over: %w", store.ErrConnectionNotFound))
	}
	if err != nil {
		return store.Connection{}, subs, wrap(err)
	}
	if expiredAt(ci.expiresAt, now) {
		return store.Connection{}, subs, wrap(store.ErrConnectionNotFound)
	}
	return ci.conn, subs, nil
}

// claim marks the connection item as being deleted at now (deletingAt, and
// a token of this call) and returns it as claimed, with the token. It fails
// with errNoItem if the item does not exist and with errBeingDeleted if
// another deleter holds a claim younger than claimTimeout.
func (s *Store) claim(ctx context.Context, t Tables, id string, now time.Time) (connItem, string, error) {
	token := newRev()
	var x expr
	update := x.use("SET #deletingAt = :now, #claim = :token, #ttl = :ttl")
	cond := x.use("attribute_exists(#id) AND (attribute_not_exists(#deletingAt) OR #deletingAt < :stale)")
	x.value("now", num(now.UnixMilli()))
	x.value("token", str(token))
	x.value("ttl", num(ttlSeconds(now.Add(claimTTL).UnixMilli())))
	x.value("stale", num(now.Add(-claimTimeout).UnixMilli()))
	var out *dynamodb.UpdateItemOutput
	err := s.write(ctx, "claim connection", func() error {
		var err error
		out, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                           &t.Connections,
			Key:                                 item{AttrID: str(id)},
			UpdateExpression:                    &update,
			ConditionExpression:                 &cond,
			ExpressionAttributeNames:            x.attrNames(),
			ExpressionAttributeValues:           x.attrValues(),
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	})
	if ccf, ok := conditionFailed(err); ok {
		switch holder, _ := getStr(ccf.Item, attrClaim); {
		case len(ccf.Item) == 0:
			return connItem{}, "", errNoItem
		case holder != token:
			return connItem{}, "", errBeingDeleted
		}
		// The client retried a claim whose answer was lost: the claim is
		// this call's.
		out = &dynamodb.UpdateItemOutput{Attributes: ccf.Item}
	} else if err != nil {
		return connItem{}, "", err
	}
	ci, err := decodeConnection(out.Attributes)
	return ci, token, err
}

// byCreation orders subscriptions by creation time, then id.
func byCreation(a, b store.Subscription) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
}

// orphanKeys returns the keys of the subscription items of connection
// connID that the byConnection index lists, grouped by sort key (one group
// per subscription). With sk set, only that subscription's.
func (s *Store) orphanKeys(ctx context.Context, t Tables, connID, sk string) (map[string][]item, error) {
	var x expr
	cond := "#connectionId = :conn"
	x.value("conn", str(connID))
	if sk != "" {
		cond += " AND #sk = :sk"
		x.value("sk", str(sk))
	}
	x.use(cond)
	in := &dynamodb.QueryInput{
		TableName:                 &t.Subscriptions,
		IndexName:                 new(IndexByConnection),
		KeyConditionExpression:    &cond,
		ExpressionAttributeNames:  x.attrNames(),
		ExpressionAttributeValues: x.attrValues(),
	}
	groups := make(map[string][]item)
	for {
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query index %s: %w", IndexByConnection, err)
		}
		for _, it := range out.Items {
			sk, err := getStr(it, AttrSK)
			if err != nil {
				return nil, err
			}
			groups[sk] = append(groups[sk], item{AttrPK: it[AttrPK], AttrSK: it[AttrSK]})
		}
		if len(out.LastEvaluatedKey) == 0 {
			return groups, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// deleteOrphans deletes the subscriptions of connection connID that the
// byConnection index lists, for a connection whose item is gone, and returns
// the unexpired ones it won.
func (s *Store) deleteOrphans(ctx context.Context, t Tables, connID string, now time.Time) ([]store.Subscription, error) {
	groups, err := s.orphanKeys(ctx, t, connID, "")
	if err != nil {
		return nil, err
	}
	var subs []store.Subscription
	for _, sk := range slices.Sorted(maps.Keys(groups)) {
		rec, won, err := s.deleteOrphan(ctx, t, groups[sk])
		if err != nil {
			return subs, err
		}
		if won && !expiredAt(rec.expiresAt, now) {
			subs = append(subs, rec.sub)
		}
	}
	if len(groups) > 0 {
		s.log.LogAttrs(ctx, slog.LevelDebug, "dynamodb: deleted the subscriptions of a connection whose item is gone",
			slog.String("connection_id", connID), slog.Int("found", len(groups)), slog.Int("returned", len(subs)))
	}
	slices.SortFunc(subs, byCreation)
	return subs, nil
}

// orphanRecord reads the subscription whose items the index listed under
// keys: the record from the first item that still exists, and its shard.
func (s *Store) orphanRecord(ctx context.Context, t Tables, keys []item) (subItem, int, bool, error) {
	for _, k := range keys {
		it, err := s.getItem(ctx, t.Subscriptions, k)
		if err != nil {
			return subItem{}, 0, false, err
		}
		if it == nil {
			continue
		}
		rec, err := decodeSubscription(it)
		if err != nil {
			return subItem{}, 0, false, err
		}
		pk, _ := getStr(it, AttrPK)
		shard, err := shardOfKey(pk)
		if err != nil {
			return subItem{}, 0, false, err
		}
		return rec, shard, true, nil
	}
	return subItem{}, 0, false, nil
}

// shardOfKey returns the shard of a partition key made by partitionKey.
func shardOfKey(pk string) (int, error) {
	i := strings.LastIndexByte(pk, '#')
	shard, err := strconv.Atoi(pk[i+1:])
	if i < 0 || err != nil {
		return 0, fmt.Errorf("partition key %q has no shard", pk)
	}
	return shard, nil
}

// deleteOrphan deletes a subscription without a connection entry, listed by
// the index under keys. The conditional delete of its primary item decides
// which caller gets it: it reports whether this one did, with the record
// deleted. Every caller deletes the other items of the revision it found, so
// that none is left when a winner fails half-way.
func (s *Store) deleteOrphan(ctx context.Context, t Tables, keys []item) (subItem, bool, error) {
	rec, shard, found, err := s.orphanRecord(ctx, t, keys)
	if err != nil || !found {
		return subItem{}, false, err
	}
	// An item of an older revision may be left where the index pointed;
	// the primary item then holds the revision to delete.
	for range 3 {
		e := entry{topics: distinctTopics(rec.sub.Topics), shard: shard, rev: rec.rev}
		itemKeys := e.keys(rec.sub.ConnectionID, rec.sub.ID)
		old, deleted, err := s.deleteItemOfRev(ctx, t, itemKeys[0], rec.rev)
		if err != nil {
			return subItem{}, false, err
		}
		for _, k := range itemKeys[1:] {
			if _, _, err := s.deleteItemOfRev(ctx, t, k, rec.rev); err != nil {
				return subItem{}, false, err
			}
		}
		if len(old) == 0 {
			return subItem{}, false, nil // another caller deleted it
		}
		if rec, err = decodeSubscription(old); err != nil {
			return subItem{}, false, err
		}
		if deleted {
			return rec, true, nil
		}
	}
	return subItem{}, false, nil
}

// deleteItemOfRev deletes the subscription item at key if it has revision
// rev: its document begins with it, or (an item of an earlier version) its
// attrRev is it. It returns the item deleted, or, when nothing was deleted,
// the item that is there (nil: none).
func (s *Store) deleteItemOfRev(ctx context.Context, t Tables, key item, rev string) (item, bool, error) {
	var x expr
	cond := x.use("begins_with(#doc, :head) OR #rev = :rev")
	x.value("head", str(revPrefix(rev)))
	x.value("rev", str(rev))
	var out *dynamodb.DeleteItemOutput
	err := s.write(ctx, "delete subscription item", func() error {
		var err error
		out, err = s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                           &t.Subscriptions,
			Key:                                 key,
			ConditionExpression:                 &cond,
			ExpressionAttributeNames:            x.attrNames(),
			ExpressionAttributeValues:           x.attrValues(),
			ReturnValues:                        types.ReturnValueAllOld,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	})
	if ccf, ok := conditionFailed(err); ok {
		return ccf.Item, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return out.Attributes, true, nil
}
