package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/store"
)

// The delivery log lives in the subscriptions table, so that it needs no
// table, index or permission of its own: one item per delivery of an event
// to a subscription,
//
//	pk          S  the event id and "#d" (deliveryKey)
//	sk          S  the subscription's sort key (sortKey)
//	token       S  the token of the caller that claimed the delivery last
//	delivered   BOOL  the claim was finished as delivered
//	leaseUntil  N  Unix ms: until then the claim blocks other callers
//	expiresAt   N  Unix ms: the end of the deduplication window
//	ttl         N  Unix s, for Time to Live
//
// A topic's partition keys end in "#" and the shard's decimal digits, so a
// delivery item never shares a partition with subscriptions; and it has no
// connectionId, so the byConnection index does not hold it.
const (
	attrToken      = "token"      // S
	attrDelivered  = "delivered"  // BOOL
	attrLeaseUntil = "leaseUntil" // N, Unix ms
)

var _ store.DeliveryLog = (*Store)(nil)

// deliveryKey returns the key of the delivery item of d.
func deliveryKey(d store.Delivery) item {
	return item{AttrPK: str(d.EventID + "#d"), AttrSK: str(sortKey(d.ConnectionID, d.SubscriptionID))}
}

// ClaimDelivery implements [store.DeliveryLog]: see its documentation. It is
// one conditional UpdateItem of the delivery's item in the subscriptions
// table (one write unit), which creates the item or takes over an expired
// record or an abandoned claim. An empty event id is refused.
func (s *Store) ClaimDelivery(ctx context.Context, d store.Delivery, token string, leaseUntil, expiresAt time.Time) (store.ClaimStatus, error) {
	fail := func(err error) error {
		return fmt.Errorf("dynamodb: claim delivery of event %q to subscription %q of connection %q: %w", d.EventID, d.SubscriptionID, d.ConnectionID, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return 0, fail(err)
	}
	if d.EventID == "" {
		return 0, fail(errors.New("empty event id"))
	}
	now := s.now()
	var x expr
	update := x.use("SET #token = :token, #delivered = :false, #leaseUntil = :lease, #expiresAt = :expires, #ttl = :ttl")
	cond := x.use("attribute_not_exists(#pk) OR #expiresAt <= :now OR (#delivered = :false AND #leaseUntil <= :now)")
	x.name(AttrPK)
	x.name(AttrTTL)
	x.value("token", str(token))
	x.value("false", boolean(false))
	x.value("lease", num(leaseUntil.UnixMilli()))
	x.value("expires", num(expiresAt.UnixMilli()))
	x.value("ttl", num(ttlSeconds(expiresAt.UnixMilli())))
	x.value("now", num(now.UnixMilli()))
	in := &dynamodb.UpdateItemInput{
		TableName:                           &t.Subscriptions,
		Key:                                 deliveryKey(d),
		UpdateExpression:                    &update,
		ConditionExpression:                 &cond,
		ExpressionAttributeNames:            x.attrNames(),
		ExpressionAttributeValues:           x.attrValues(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	err = s.write(ctx, "claim delivery", func() error {
		_, err := s.api.UpdateItem(ctx, in)
		return err
	})
	if cf, ok := conditionFailed(err); ok {
		delivered, err := getBool(cf.Item, attrDelivered)
		if err != nil {
			return 0, fail(err)
		}
		if delivered {
			return store.AlreadyDelivered, nil
		}
		return store.InProgress, nil
	}
	if err != nil {
		return 0, fail(err)
	}
	return store.Claimed, nil
}

// FinishDelivery implements [store.DeliveryLog]: see its documentation. It
// is one conditional write of the delivery's item: an UpdateItem that marks
// it delivered, or a DeleteItem, on condition that token still holds it.
func (s *Store) FinishDelivery(ctx context.Context, d store.Delivery, token string, delivered bool) error {
	fail := func(err error) error {
		return fmt.Errorf("dynamodb: finish delivery of event %q to subscription %q of connection %q: %w", d.EventID, d.SubscriptionID, d.ConnectionID, err)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return fail(err)
	}
	var x expr
	cond := x.use("#token = :token")
	x.value("token", str(token))
	var op func() error
	if delivered {
		update := x.use("SET #delivered = :true")
		x.value("true", boolean(true))
		in := &dynamodb.UpdateItemInput{
			TableName: &t.Subscriptions, Key: deliveryKey(d), UpdateExpression: &update, ConditionExpression: &cond,
			ExpressionAttributeNames: x.attrNames(), ExpressionAttributeValues: x.attrValues(),
		}
		op = func() error { _, err := s.api.UpdateItem(ctx, in); return err }
	} else {
		in := &dynamodb.DeleteItemInput{
			TableName: &t.Subscriptions, Key: deliveryKey(d), ConditionExpression: &cond,
			ExpressionAttributeNames: x.attrNames(), ExpressionAttributeValues: x.attrValues(),
		}
		op = func() error { _, err := s.api.DeleteItem(ctx, in); return err }
	}
	err = s.write(ctx, "finish delivery", op)
	if _, ok := conditionFailed(err); ok {
		return nil // taken over by another caller, or gone
	}
	if err != nil {
		return fail(err)
	}
	return nil
}
