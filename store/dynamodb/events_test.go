package dynamodb_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// putRecorder is an EventAPI that records its inputs.
type putRecorder struct {
	mu  sync.Mutex
	ins []*awsdynamodb.PutItemInput
	err error
}

func (r *putRecorder) PutItem(ctx context.Context, in *awsdynamodb.PutItemInput, _ ...func(*awsdynamodb.Options)) (*awsdynamodb.PutItemOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ins = append(r.ins, in)
	return &awsdynamodb.PutItemOutput{}, r.err
}

func (r *putRecorder) inputs() []*awsdynamodb.PutItemInput {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ins)
}

// plain renders an item as comparable strings: "S:…", "N:…".
func plain(t *testing.T, item map[string]types.AttributeValue) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			out[k] = "S:" + v.Value
		case *types.AttributeValueMemberN:
			out[k] = "N:" + v.Value
		default:
			t.Fatalf("attribute %s of unexpected type %T", k, v)
		}
	}
	return out
}

func TestEventItemFormat(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_700_000_000_123)
	published := time.UnixMilli(1_699_999_999_001)
	tests := []struct {
		name string
		ev   store.Event
		want map[string]string
	}{
		{
			name: "publish",
			ev:   store.Event{ID: "e1", Topic: "MESSAGES", Payload: json.RawMessage(`{"id":"1"}`), PublishedAt: published},
			want: map[string]string{"id": "S:e1", "topic": "S:MESSAGES", "payload": `S:{"id":"1"}`, "kind": "S:publish",
				"publishedAt": "N:1699999999001", "ttl": "N:1700003600"},
		},
		{
			name: "complete of every subscription",
			ev:   store.Event{ID: "e2", Topic: "MESSAGES", Complete: true, PublishedAt: published},
			want: map[string]string{"id": "S:e2", "topic": "S:MESSAGES", "kind": "S:complete",
				"publishedAt": "N:1699999999001", "ttl": "N:1700003600"},
		},
		{
			name: "no PublishedAt",
			ev:   store.Event{ID: "e3", Topic: "T", Payload: json.RawMessage(`null`)},
			want: map[string]string{"id": "S:e3", "topic": "S:T", "payload": "S:null", "kind": "S:publish",
				"publishedAt": "N:1700000000123", "ttl": "N:1700003600"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &putRecorder{}
			table := dynamodb.NewEventTable(rec, &dynamodb.EventOptions{TTL: time.Hour, Now: func() time.Time { return now }})
			if err := table.PutEvent(t.Context(), tt.ev); err != nil {
				t.Fatal(err)
			}
			ins := rec.inputs()
			if len(ins) != 1 {
				t.Fatalf("%d PutItem calls", len(ins))
			}
			in := ins[0]
			if got := plain(t, in.Item); !maps.Equal(got, tt.want) {
				t.Errorf("item %v\nwant %v", got, tt.want)
			}
			if aws.ToString(in.TableName) != dynamodb.DefaultEventsTable {
				t.Errorf("table %q", aws.ToString(in.TableName))
			}
			if aws.ToString(in.ConditionExpression) != "attribute_not_exists(#id)" || in.ExpressionAttributeNames["#id"] != "id" {
				t.Errorf("condition %q %v", aws.ToString(in.ConditionExpression), in.ExpressionAttributeNames)
			}
		})
	}
}

// TestEventAttributesMatchTables: the event item's key and expiry are the
// attributes the events table is defined with.
func TestEventAttributesMatchTables(t *testing.T) {
	t.Parallel()
	defs := dynamodb.TableDefinitions(dynamodb.Tables{Events: "ev"})
	for _, d := range defs {
		if aws.ToString(d.TableName) != "ev" {
			continue
		}
		if len(d.KeySchema) != 1 || aws.ToString(d.KeySchema[0].AttributeName) != dynamodb.EventAttrID {
			t.Errorf("events table key %v", d.KeySchema)
		}
		if d.StreamSpecification == nil || !aws.ToBool(d.StreamSpecification.StreamEnabled) || d.StreamSpecification.StreamViewType != types.StreamViewTypeNewImage {
			t.Errorf("events table stream %+v", d.StreamSpecification)
		}
		return
	}
	t.Error("no events table defined")
}

func TestEventTableName(t *testing.T) {
	t.Parallel()
	ev := store.Event{ID: "e", Topic: "T"}

	rec := &putRecorder{}
	if err := dynamodb.NewEventTable(rec, &dynamodb.EventOptions{Table: "custom"}).PutEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(rec.inputs()[0].TableName); got != "custom" {
		t.Errorf("table %q, want custom", got)
	}

	// TableName is resolved once it succeeds; a failure is tried again.
	rec = &putRecorder{}
	var calls int
	fail := true
	table := dynamodb.NewEventTable(rec, &dynamodb.EventOptions{Table: "ignored", TableName: func(context.Context) (string, error) {
		calls++
		if fail {
			return "", errors.New("parameter store down")
		}
		return "resolved", nil
	}})
	if err := table.PutEvent(t.Context(), ev); err == nil || len(rec.inputs()) != 0 {
		t.Fatalf("resolution failure: err %v, %d puts", err, len(rec.inputs()))
	}
	fail = false
	for range 3 {
		if err := table.PutEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range rec.inputs() {
		if got := aws.ToString(in.TableName); got != "resolved" {
			t.Errorf("table %q, want resolved", got)
		}
	}
	if calls != 2 {
		t.Errorf("TableName called %d times, want 2 (one failure, one success)", calls)
	}
}

func TestPutEventRefusesInvalidEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   store.Event
	}{
		{"no id", store.Event{Topic: "T"}},
		{"no topic", store.Event{ID: "e"}},
		{"payload not JSON", store.Event{ID: "e", Topic: "T", Payload: json.RawMessage(`{"a":`)}},
	}
	for _, tt := range tests {
		rec := &putRecorder{}
		err := dynamodb.NewEventTable(rec, nil).PutEvent(t.Context(), tt.ev)
		if !errors.Is(err, store.ErrInvalidEvent) {
			t.Errorf("%s: err %v, want ErrInvalidEvent", tt.name, err)
		}
		if n := len(rec.inputs()); n != 0 {
			t.Errorf("%s: %d PutItem calls", tt.name, n)
		}
	}
	rec := &putRecorder{err: errors.New("throttled")}
	if err := dynamodb.NewEventTable(rec, nil).PutEvent(t.Context(), store.Event{ID: "e", Topic: "T"}); err == nil || errors.Is(err, dynamodb.ErrDuplicateEvent) {
		t.Errorf("PutItem failure: %v", err)
	}
}

// TestEventTableLocal writes events to DynamoDB Local.
func TestEventTableLocal(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	ctx := t.Context()
	tables := dynamodb.Tables{Events: dynamotest.Prefix(t) + "events"}
	tables.Connections, tables.Subscriptions = tables.Events+"-c", tables.Events+"-s"
	if err := dynamodb.CreateTables(ctx, client, tables); err != nil {
		t.Fatal(err)
	}
	table := dynamodb.NewEventTable(client, &dynamodb.EventOptions{Table: tables.Events})
	ev := store.Event{ID: "e1", Topic: "MESSAGES", Payload: json.RawMessage(`{"id":"1"}`), PublishedAt: time.UnixMilli(1_700_000_000_000)}
	if err := table.PutEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(ctx, &awsdynamodb.GetItemInput{
		TableName:      aws.String(tables.Events),
		Key:            map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "e1"}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := plain(t, out.Item)
	if got["topic"] != "S:MESSAGES" || got["payload"] != `S:{"id":"1"}` || got["kind"] != "S:publish" || got["publishedAt"] != "N:1700000000000" {
		t.Errorf("stored item %v", got)
	}
	// The same id again is refused and leaves the item as it was.
	dup := ev
	dup.Payload = json.RawMessage(`{"id":"2"}`)
	if err := table.PutEvent(ctx, dup); !errors.Is(err, dynamodb.ErrDuplicateEvent) {
		t.Errorf("duplicate: %v, want ErrDuplicateEvent", err)
	}
	out, err = client.GetItem(ctx, &awsdynamodb.GetItemInput{
		TableName:      aws.String(tables.Events),
		Key:            map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "e1"}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := plain(t, out.Item)["payload"]; p != `S:{"id":"1"}` {
		t.Errorf("payload after duplicate %s", p)
	}
}

// TestDecodeEventRecord: the stream decoder reads back what PutEvent writes,
// skips what is not an insert, and refuses malformed items with
// store.ErrInvalidEvent.
func TestDecodeEventRecord(t *testing.T) {
	t.Parallel()
	item := func(attrs map[string]events.DynamoDBAttributeValue) events.DynamoDBEventRecord {
		img := map[string]events.DynamoDBAttributeValue{
			dynamodb.EventAttrID:    events.NewStringAttribute("e1"),
			dynamodb.EventAttrTopic: events.NewStringAttribute("T"),
		}
		for k, v := range attrs {
			if v.DataType() == events.DataTypeNull {
				delete(img, k)
				continue
			}
			img[k] = v
		}
		return events.DynamoDBEventRecord{EventName: "INSERT", Change: events.DynamoDBStreamRecord{NewImage: img}}
	}
	null := events.NewNullAttribute()
	tests := []struct {
		name    string
		rec     events.DynamoDBEventRecord
		want    []store.Event
		invalid bool
	}{
		{name: "publish", rec: item(map[string]events.DynamoDBAttributeValue{
			dynamodb.EventAttrPayload:     events.NewStringAttribute(`{"id":"1"}`),
			dynamodb.EventAttrPublishedAt: events.NewNumberAttribute("1700000000000"),
		}), want: []store.Event{{ID: "e1", Topic: "T", Payload: json.RawMessage(`{"id":"1"}`), PublishedAt: time.UnixMilli(1_700_000_000_000)}}},
		{name: "complete without payload", rec: item(map[string]events.DynamoDBAttributeValue{
			dynamodb.EventAttrKind: events.NewStringAttribute(dynamodb.EventKindComplete),
		}), want: []store.Event{{ID: "e1", Topic: "T", Complete: true}}},
		{name: "modify is skipped", rec: func() events.DynamoDBEventRecord { r := item(nil); r.EventName = "MODIFY"; return r }()},
		{name: "remove is skipped", rec: func() events.DynamoDBEventRecord { r := item(nil); r.EventName = "REMOVE"; return r }()},
		{name: "no topic", rec: item(map[string]events.DynamoDBAttributeValue{dynamodb.EventAttrTopic: null}), invalid: true},
		{name: "topic not a string", rec: item(map[string]events.DynamoDBAttributeValue{dynamodb.EventAttrTopic: events.NewNumberAttribute("7")}), invalid: true},
		{name: "payload not JSON", rec: item(map[string]events.DynamoDBAttributeValue{dynamodb.EventAttrPayload: events.NewStringAttribute(`{"a":`)}), invalid: true},
		{name: "payload a map", rec: item(map[string]events.DynamoDBAttributeValue{dynamodb.EventAttrPayload: events.NewMapAttribute(nil)}), invalid: true},
		{name: "unknown kind", rec: item(map[string]events.DynamoDBAttributeValue{dynamodb.EventAttrKind: events.NewStringAttribute("delete")}), invalid: true},
	}
	for _, tt := range tests {
		got, err := dynamodb.DecodeEventRecord(tt.rec)
		if tt.invalid {
			if !errors.Is(err, store.ErrInvalidEvent) || !strings.Contains(err.Error(), "e1") {
				t.Errorf("%s: err %v, want ErrInvalidEvent naming the event", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
