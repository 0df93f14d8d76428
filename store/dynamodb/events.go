package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/store"
)

// The event item: the attributes of an item of the events table, written by
// [EventTable] and read from the table's stream by [DecodeEventRecord]. Any
// producer, in any language, may publish by writing such an item (with
// PutItem and the condition attribute_not_exists(id)):
//
//	id          S  unique event id (the table's key)
//	topic       S  the topic; required
//	payload     S  the payload as JSON text; absent or empty: no payload
//	               (every subscription of the topic matches)
//	kind        S  "publish" or "complete"; absent: "publish"
//	publishedAt N  Unix milliseconds; optional
//	ttl         N  Unix seconds, for Time to Live; not read
const (
	// EventAttrID (S) is the table's key: a unique event id.
	EventAttrID = AttrID
	// EventAttrTopic (S) is the topic; required.
	EventAttrTopic = "topic"
	// EventAttrPayload (S) is the payload as JSON text. Absent or empty: the
	// event has no payload and every subscription of the topic matches.
	EventAttrPayload = "payload"
	// EventAttrKind (S) is [EventKindPublish] or [EventKindComplete]. Absent:
	// publish.
	EventAttrKind = "kind"
	// EventAttrPublishedAt (N) is when the event was published, in Unix
	// milliseconds; optional.
	EventAttrPublishedAt = "publishedAt"
	// EventAttrTTL (N) is when DynamoDB's Time to Live may delete the item,
	// in Unix seconds; the decoder does not read it.
	EventAttrTTL = AttrTTL

	// EventKindPublish is the kind of an event of the server's Publish.
	EventKindPublish = "publish"
	// EventKindComplete is the kind of an event of the server's Complete.
	EventKindComplete = "complete"
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

// EventTable is the DynamoDB event store: it implements [store.EventStore]
// by writing each event as one item of the events table (see
// [TableDefinitions]), whose stream feeds the server's stream handler with
// [DecodeEventRecord]:
//
//	lambda.Start(srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord))
//
// Set it as gqlambda.Config.Events to make Publish and Complete
// asynchronous. It is safe for concurrent use.
type EventTable struct {
	client    EventAPI
	tableName func(ctx context.Context) (string, error)
	ttl       time.Duration
	now       func() time.Time

	mu    sync.Mutex
	table string // resolved name; empty until resolved
}

var _ store.EventStore = (*EventTable)(nil)

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

// PutEvent writes ev as an event item (see [EventAttrID] and the constants
// after it) with PutItem, on the condition that no item has its id: a
// duplicate is [ErrDuplicateEvent]. An event without id or topic, or whose
// payload is not JSON, is refused with an error wrapping
// [store.ErrInvalidEvent].
func (t *EventTable) PutEvent(ctx context.Context, ev store.Event) error {
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
		ExpressionAttributeNames: map[string]string{"#id": EventAttrID},
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
func (t *EventTable) eventItem(ev store.Event) (map[string]types.AttributeValue, error) {
	switch {
	case ev.ID == "":
		return nil, fmt.Errorf("dynamodb: put event: %w: empty id", store.ErrInvalidEvent)
	case ev.Topic == "":
		return nil, fmt.Errorf("dynamodb: put event %s: %w: empty topic", ev.ID, store.ErrInvalidEvent)
	case len(ev.Payload) > 0 && !json.Valid(ev.Payload):
		return nil, fmt.Errorf("dynamodb: put event %s: %w: payload is not JSON", ev.ID, store.ErrInvalidEvent)
	}
	at := ev.PublishedAt
	if at.IsZero() {
		at = t.now()
	}
	kind := EventKindPublish
	if ev.Complete {
		kind = EventKindComplete
	}
	item := map[string]types.AttributeValue{
		EventAttrID:          &types.AttributeValueMemberS{Value: ev.ID},
		EventAttrTopic:       &types.AttributeValueMemberS{Value: ev.Topic},
		EventAttrKind:        &types.AttributeValueMemberS{Value: kind},
		EventAttrPublishedAt: &types.AttributeValueMemberN{Value: strconv.FormatInt(at.UnixMilli(), 10)},
		EventAttrTTL:         &types.AttributeValueMemberN{Value: strconv.FormatInt(t.now().Add(t.ttl).Unix(), 10)},
	}
	if len(ev.Payload) > 0 {
		item[EventAttrPayload] = &types.AttributeValueMemberS{Value: string(ev.Payload)}
	}
	return item, nil
}

// DecodeEventRecord decodes one record of the events table's stream into the
// events it carries: one for an insert, none otherwise. It is the decoder of
// the server's stream handler:
//
//	lambda.Start(srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord))
//
// An INSERT record yields its new image's event (see [EventAttrID] and the
// constants after it). MODIFY and REMOVE records yield nothing: Time to Live
// deletes events with REMOVE records, and events are never modified. A
// malformed item (no topic, an attribute of the wrong type, a payload that
// is not JSON, an unknown kind) is an error wrapping [store.ErrInvalidEvent]:
// retrying it could never succeed.
func DecodeEventRecord(rec events.DynamoDBEventRecord) ([]store.Event, error) {
	if rec.EventName != string(events.DynamoDBOperationTypeInsert) {
		return nil, nil
	}
	ev, err := decodeEventImage(rec.Change.NewImage)
	if err != nil {
		return nil, err
	}
	return []store.Event{ev}, nil
}

// decodeEventImage decodes an event item. Its errors wrap
// store.ErrInvalidEvent.
func decodeEventImage(img map[string]events.DynamoDBAttributeValue) (store.Event, error) {
	var ev store.Event
	if id, ok := img[EventAttrID]; ok && id.DataType() == events.DataTypeString {
		ev.ID = id.String()
	}
	str := func(name string) (string, error) {
		av, ok := img[name]
		if !ok || av.DataType() == events.DataTypeNull {
			return "", nil
		}
		if av.DataType() != events.DataTypeString {
			return "", invalidEvent(ev.ID, fmt.Errorf("attribute %s is not a string", name))
		}
		return av.String(), nil
	}
	var err error
	if ev.Topic, err = str(EventAttrTopic); err != nil {
		return ev, err
	}
	if ev.Topic == "" {
		return ev, invalidEvent(ev.ID, errors.New("no topic"))
	}
	payload, err := str(EventAttrPayload)
	if err != nil {
		return ev, err
	}
	if payload != "" {
		if !json.Valid([]byte(payload)) {
			return ev, invalidEvent(ev.ID, errors.New("payload is not JSON"))
		}
		ev.Payload = json.RawMessage(payload)
	}
	kind, err := str(EventAttrKind)
	if err != nil {
		return ev, err
	}
	switch kind {
	case "", EventKindPublish:
	case EventKindComplete:
		ev.Complete = true
	default:
		return ev, invalidEvent(ev.ID, fmt.Errorf("unknown kind %q", kind))
	}
	// publishedAt is informational: a malformed one does not stop delivery.
	if at, ok := img[EventAttrPublishedAt]; ok && at.DataType() == events.DataTypeNumber {
		if ms, err := strconv.ParseInt(at.Number(), 10, 64); err == nil {
			ev.PublishedAt = time.UnixMilli(ms)
		}
	}
	return ev, nil
}

// invalidEvent wraps err, the reason why event id cannot be delivered, with
// store.ErrInvalidEvent.
func invalidEvent(id string, err error) error {
	if id == "" {
		return fmt.Errorf("dynamodb: %w: %w", store.ErrInvalidEvent, err)
	}
	return fmt.Errorf("dynamodb: %w %s: %w", store.ErrInvalidEvent, id, err)
}
