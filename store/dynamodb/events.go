package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda"
)

// EventAPI is the part of the DynamoDB client that [EventTable] uses.
type EventAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// EventOptions configure an [EventTable]. The zero value of a field takes
// its default.
type EventOptions struct {
	// Table is the events table's name. Default [DefaultEventsTable].
	Table string
	// TableName, when set, resolves the table's name on first use instead
	// of Table (for instance from a parameter store); a failure is returned
	// by that PutEvent and tried again on the next.
	TableName func(ctx context.Context) (string, error)
	// TTL is how long event items are kept before DynamoDB's Time to Live
	// deletes them. The stream delivers them once written; keeping them
	// longer only helps inspection. Default 24h.
	TTL time.Duration
	// Now is the clock, for the items' expiry and events without
	// PublishedAt.
	// Default time.Now.
	Now func() time.Time
}

// DefaultEventTTL is the default [EventOptions.TTL].
const DefaultEventTTL = 24 * time.Hour

// ErrDuplicateEvent: an event with the same id is already in the table.
// The event was not written again.
var ErrDuplicateEvent = errors.New("dynamodb: duplicate event id")

// EventTable is the DynamoDB event store: it implements
// [gqlambda.EventStore] by writing each event as one item of the events
// table (see [TableDefinitions]), whose stream feeds
// [gqlambda.Server.DynamoDBStreamHandler]. Set it as gqlambda.Config.Events
// to make Publish and Complete asynchronous. It is safe for concurrent use.
type EventTable struct {
	client    EventAPI
	tableName func(ctx context.Context) (string, error)
	ttl       time.Duration
	now       func() time.Time

	mu    sync.Mutex
	table string // resolved name; empty until resolved
}

var _ gqlambda.EventStore = (*EventTable)(nil)

// NewEventTable returns an EventTable writing with client; opts may be nil.
func NewEventTable(client EventAPI, opts *EventOptions) *EventTable {
	var o EventOptions
	if opts != nil {
		o = *opts
	}
	t := &EventTable{client: client, tableName: o.TableName, ttl: o.TTL, now: o.Now}
	if t.tableName == nil {
		t.table = o.Table
		if t.table == "" {
			t.table = DefaultEventsTable
		}
	}
	if t.ttl <= 0 {
		t.ttl = DefaultEventTTL
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t
}

// resolveEventTable returns the table's name, resolving it on first use.
func (t *EventTable) resolveEventTable(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.table != "" {
		return t.table, nil
	}
	name, err := t.tableName(ctx)
	if err != nil {
		return "", fmt.Errorf("dynamodb: resolve the events table's name: %w", err)
	}
	if name == "" {
		return "", errors.New("dynamodb: resolve the events table's name: empty name")
	}
	t.table = name
	return name, nil
}

// PutEvent writes ev as an event item (see [gqlambda.EventAttrID] and the
// constants after it) with PutItem, on the condition that no item has its
// id: a duplicate is [ErrDuplicateEvent]. An event without id or topic, or
// whose payload is not JSON, is refused with an error wrapping
// [gqlambda.ErrInvalidEvent].
func (t *EventTable) PutEvent(ctx context.Context, ev gqlambda.Event) error {
	item, err := t.eventItem(ev)
	if err != nil {
		return err
	}
	table, err := t.resolveEventTable(ctx)
	if err != nil {
		return err
	}
	_, err = t.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": gqlambda.EventAttrID},
	})
	if _, dup := errors.AsType[*types.ConditionalCheckFailedException](err); dup {
		return fmt.Errorf("%w %s in table %s", ErrDuplicateEvent, ev.ID, table)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: put event %s to table %s: %w", ev.ID, table, err)
	}
	return nil
}

// eventItem encodes ev as an event item.
func (t *EventTable) eventItem(ev gqlambda.Event) (map[string]types.AttributeValue, error) {
	switch {
	case ev.ID == "":
		return nil, fmt.Errorf("dynamodb: put event: %w: empty id", gqlambda.ErrInvalidEvent)
	case ev.Topic == "":
		return nil, fmt.Errorf("dynamodb: put event %s: %w: empty topic", ev.ID, gqlambda.ErrInvalidEvent)
	case len(ev.Payload) > 0 && !json.Valid(ev.Payload):
		return nil, fmt.Errorf("dynamodb: put event %s: %w: payload is not JSON", ev.ID, gqlambda.ErrInvalidEvent)
	}
	at := ev.PublishedAt
	if at.IsZero() {
		at = t.now()
	}
	kind := gqlambda.EventKindPublish
	if ev.Complete {
		kind = gqlambda.EventKindComplete
	}
	item := map[string]types.AttributeValue{
		gqlambda.EventAttrID:          &types.AttributeValueMemberS{Value: ev.ID},
		gqlambda.EventAttrTopic:       &types.AttributeValueMemberS{Value: ev.Topic},
		gqlambda.EventAttrKind:        &types.AttributeValueMemberS{Value: kind},
		gqlambda.EventAttrPublishedAt: &types.AttributeValueMemberN{Value: strconv.FormatInt(at.UnixMilli(), 10)},
		gqlambda.EventAttrTTL:         &types.AttributeValueMemberN{Value: strconv.FormatInt(t.now().Add(t.ttl).Unix(), 10)},
	}
	if len(ev.Payload) > 0 {
		item[gqlambda.EventAttrPayload] = &types.AttributeValueMemberS{Value: string(ev.Payload)}
	}
	return item, nil
}
