package dynamodb

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gqlambda/gqlambda/internal/shard"
	"github.com/gqlambda/gqlambda/store"
)

var _ store.ActivityIndex = (*Store)(nil)

// idlePage is how many index entries one Query of IdleConnections reads.
const idlePage = 100

// activityShard is the activity shard of connection id: FNV-1a of the id
// modulo ActivityShards. It never changes: connections are found by it.
func activityShard(id string) string {
	return strconv.Itoa(shard.OfConnection(id, ActivityShards))
}

// RecordActivity moves the connection's last activity (the sort key of
// IndexByActivity) to at, and removes its pingedAt, in one conditional
// write that succeeds only when the connection is live and its activity is
// earlier than at: concurrent calls leave the latest time. A write whose
// time is not later is a success that changes nothing. It fails with an
// error wrapping [store.ErrConnectionNotFound] if the connection is
// missing, expired or being deleted.
func (s *Store) RecordActivity(ctx context.Context, id string, at time.Time) error {
	var x expr
	update := x.use("SET #lastActive = :at, #activityShard = :shard REMOVE #pingedAt")
	cond := x.use(liveCondition + " AND (attribute_not_exists(#lastActive) OR #lastActive < :at)")
	x.value("at", num(millis(at)))
	x.value("shard", str(activityShard(id)))
	return s.updateConnection(ctx, "record activity of", id, update, cond, &x, nil)
}

// RecordPing sets the connection's pingedAt to at, in one conditional
// write. It fails with an error wrapping [store.ErrConnectionNotFound] if
// the connection is missing, expired or being deleted.
func (s *Store) RecordPing(ctx context.Context, id string, at time.Time) error {
	var x expr
	update := x.use("SET #pingedAt = :at")
	cond := x.use(liveCondition)
	x.value("at", num(millis(at)))
	return s.updateConnection(ctx, "record ping of", id, update, cond, &x, nil)
}

// IdleConnections queries IndexByActivity, shard after shard, for the
// connections whose last activity is at or before before, oldest first
// within a shard, 100 index entries a page. It yields them as the index
// projects them: every field but Context, Authorizer and Data, which stay
// empty. Expired connections and those being deleted are left out. The
// index is eventually consistent: a connection active or deleted a moment
// ago may still be yielded, which a sweeper settles by asking the gateway.
// Connections stored before the index existed join it at their next
// RecordActivity, which also writes their activity shard; until then their
// TTL is what removes them.
func (s *Store) IdleConnections(ctx context.Context, before time.Time) iter.Seq2[store.Connection, error] {
	return func(yield func(store.Connection, error) bool) {
		fail := func(err error) { yield(store.Connection{}, fmt.Errorf("dynamodb: idle connections: %w", err)) }
		t, err := s.begin(ctx)
		if err != nil {
			fail(err)
			return
		}
		index := IndexByActivity
		for shard := range ActivityShards {
			var x expr
			cond := x.use("#activityShard = :shard AND #lastActive <= :before")
			x.value("shard", str(strconv.Itoa(shard)))
			x.value("before", num(millis(before)))
			in := &dynamodb.QueryInput{
				TableName:                 &t.Connections,
				IndexName:                 &index,
				KeyConditionExpression:    &cond,
				ExpressionAttributeNames:  x.attrNames(),
				ExpressionAttributeValues: x.attrValues(),
				Limit:                     new(int32(idlePage)),
			}
			for {
				out, err := s.api.Query(ctx, in)
				if err != nil {
					fail(fmt.Errorf("shard %d: %w", shard, err))
					return
				}
				now := s.now()
				for _, it := range out.Items {
					ci, err := decodeConnection(it)
					if err != nil {
						fail(err)
						return
					}
					if !ci.live(now) {
						continue
					}
					if !yield(ci.conn, nil) {
						return
					}
				}
				if len(out.LastEvaluatedKey) == 0 {
					break
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		}
	}
}
