package streams_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/store/dynamodb/streams"
)

// localTables creates the three tables in DynamoDB Local under a prefix of
// the test's own.
func localTables(t *testing.T, client *awsdynamodb.Client) dynamodb.Tables {
	t.Helper()
	prefix := dynamotest.Prefix(t)
	tables := dynamodb.PrefixedTables(prefix)
	if err := dynamodb.CreateTables(t.Context(), client, tables); err != nil {
		t.Fatal(err)
	}
	return tables
}

// waitFor polls cond until it holds, failing the test after 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		// real-server wait: the records come from DynamoDB Local's stream,
		// which the poller reads on the real clock.
		time.Sleep(5 * time.Millisecond)
	}
}

// localPoller is a poller of the events table's stream, quick to notice.
func localPoller(t *testing.T, client *awsdynamodb.Client, table string, h streams.Handler) *streams.Poller {
	t.Helper()
	p, err := streams.NewPoller(dynamotest.StreamsClient(t), streams.PollerOptions{
		Handler:              h,
		Table:                table,
		TableClient:          client,
		PollInterval:         20 * time.Millisecond,
		RetryDelay:           20 * time.Millisecond,
		ShardRefreshInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sortSets orders the elements of every set in av, which DynamoDB keeps in
// no particular order.
func sortSets(av events.DynamoDBAttributeValue) events.DynamoDBAttributeValue {
	switch av.DataType() {
	case events.DataTypeStringSet:
		return events.NewStringSetAttribute(slices.Sorted(slices.Values(av.StringSet())))
	case events.DataTypeNumberSet:
		return events.NewNumberSetAttribute(slices.Sorted(slices.Values(av.NumberSet())))
	case events.DataTypeBinarySet:
		return events.NewBinarySetAttribute(slices.SortedFunc(slices.Values(av.BinarySet()), bytes.Compare))
	case events.DataTypeList:
		list := make([]events.DynamoDBAttributeValue, 0, len(av.List()))
		for _, e := range av.List() {
			list = append(list, sortSets(e))
		}
		return events.NewListAttribute(list)
	case events.DataTypeMap:
		m := map[string]events.DynamoDBAttributeValue{}
		for k, v := range av.Map() {
			m[k] = sortSets(v)
		}
		return events.NewMapAttribute(m)
	}
	return av
}

// TestAttributeTypesThroughTheStream writes an item with an attribute of
// every type and checks what the handler receives of it.
func TestAttributeTypesThroughTheStream(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	tables := localTables(t, client)
	item := map[string]dbtypes.AttributeValue{
		"id":    &dbtypes.AttributeValueMemberS{Value: "all-types"},
		"s":     &dbtypes.AttributeValueMemberS{Value: "héllo"},
		"n":     &dbtypes.AttributeValueMemberN{Value: "-12.5"},
		"b":     &dbtypes.AttributeValueMemberB{Value: []byte{0, 1, 0xfe}},
		"yes":   &dbtypes.AttributeValueMemberBOOL{Value: true},
		"no":    &dbtypes.AttributeValueMemberBOOL{Value: false},
		"null":  &dbtypes.AttributeValueMemberNULL{Value: true},
		"ss":    &dbtypes.AttributeValueMemberSS{Value: []string{"b", "a"}},
		"ns":    &dbtypes.AttributeValueMemberNS{Value: []string{"3", "1.5"}},
		"bs":    &dbtypes.AttributeValueMemberBS{Value: [][]byte{{2}, {1, 1}}},
		"empty": &dbtypes.AttributeValueMemberL{Value: []dbtypes.AttributeValue{}},
		"l": &dbtypes.AttributeValueMemberL{Value: []dbtypes.AttributeValue{
			&dbtypes.AttributeValueMemberS{Value: "x"},
			&dbtypes.AttributeValueMemberN{Value: "7"},
			&dbtypes.AttributeValueMemberL{Value: []dbtypes.AttributeValue{&dbtypes.AttributeValueMemberNULL{Value: true}}},
		}},
		"m": &dbtypes.AttributeValueMemberM{Value: map[string]dbtypes.AttributeValue{
			"inner": &dbtypes.AttributeValueMemberM{Value: map[string]dbtypes.AttributeValue{"ok": &dbtypes.AttributeValueMemberBOOL{Value: true}}},
			"ss":    &dbtypes.AttributeValueMemberSS{Value: []string{"z"}},
		}},
	}
	want := map[string]events.DynamoDBAttributeValue{
		"id":    events.NewStringAttribute("all-types"),
		"s":     events.NewStringAttribute("héllo"),
		"n":     events.NewNumberAttribute("-12.5"),
		"b":     events.NewBinaryAttribute([]byte{0, 1, 0xfe}),
		"yes":   events.NewBooleanAttribute(true),
		"no":    events.NewBooleanAttribute(false),
		"null":  events.NewNullAttribute(),
		"ss":    events.NewStringSetAttribute([]string{"a", "b"}),
		"ns":    events.NewNumberSetAttribute([]string{"1.5", "3"}),
		"bs":    events.NewBinarySetAttribute([][]byte{{1, 1}, {2}}),
		"empty": events.NewListAttribute([]events.DynamoDBAttributeValue{}),
		"l": events.NewListAttribute([]events.DynamoDBAttributeValue{
			events.NewStringAttribute("x"),
			events.NewNumberAttribute("7"),
			events.NewListAttribute([]events.DynamoDBAttributeValue{events.NewNullAttribute()}),
		}),
		"m": events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{
			"inner": events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{"ok": events.NewBooleanAttribute(true)}),
			"ss":    events.NewStringSetAttribute([]string{"z"}),
		}),
	}
	if _, err := client.PutItem(t.Context(), &awsdynamodb.PutItemInput{TableName: aws.String(tables.Events), Item: item}); err != nil {
		t.Fatal(err)
	}

	got := make(chan events.DynamoDBEventRecord, 10)
	start(t, localPoller(t, client, tables.Events, func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		for _, r := range ev.Records {
			got <- r
		}
		return events.DynamoDBEventResponse{}, nil
	}))
	var rec events.DynamoDBEventRecord
	select {
	case rec = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no record from the stream")
	}
	if rec.EventName != "INSERT" || rec.Change.SequenceNumber == "" || rec.EventSourceArn == "" ||
		rec.Change.StreamViewType != "NEW_IMAGE" || rec.Change.ApproximateCreationDateTime.IsZero() {
		t.Errorf("record %+v", rec)
	}
	if !reflect.DeepEqual(rec.Change.Keys, map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("all-types")}) {
		t.Errorf("keys %v", rec.Change.Keys)
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if g, ok := rec.Change.NewImage[name]; !ok || !reflect.DeepEqual(sortSets(g), want[name]) {
			t.Errorf("attribute %s: got %#v, want %#v", name, g, want[name])
		}
	}
	if len(rec.Change.NewImage) != len(want) {
		t.Errorf("new image has %d attributes, want %d", len(rec.Change.NewImage), len(want))
	}
	// Lambda hands the record to the function as JSON: it must encode.
	if _, err := json.Marshal(rec); err != nil {
		t.Errorf("record does not encode: %v", err)
	}
}

// pipeline is the local stack: a server on the DynamoDB store whose Publish
// writes to the events table, and a recorder as API Gateway.
type pipeline struct {
	t      *testing.T
	srv    *gqlambda.Server
	rec    *gatewaytest.Recorder
	client *awsdynamodb.Client
	tables dynamodb.Tables

	errMu sync.Mutex
	errs  []string
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	client := dynamotest.Client(t)
	p := &pipeline{t: t, rec: gatewaytest.NewRecorder(), client: client, tables: localTables(t, client)}
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"news": &graphql.Field{
			Type:      graphql.String,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{"NEWS"}}),
			Resolve:   func(p graphql.ResolveParams) (any, error) { return p.Source.(map[string]any)["text"], nil },
		},
	}})
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"hello": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) { return "world", nil }},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: subscription})
	if err != nil {
		t.Fatal(err)
	}
	p.srv, err = gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(schema, nil),
		Store:  dynamodb.New(client, &dynamodb.Options{Tables: p.tables}),
		Events: dynamodb.NewEventTable(client, &dynamodb.EventOptions{Table: p.tables.Events}),
		Sender: p.rec,
		Hooks: gqlambda.Hooks{OnError: func(_ context.Context, err error) {
			p.errMu.Lock()
			defer p.errMu.Unlock()
			p.errs = append(p.errs, err.Error())
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// websocket sends one API Gateway WebSocket event.
func (p *pipeline) websocket(routeKey, eventType, id, body string) {
	p.t.Helper()
	req := events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: routeKey, EventType: eventType, ConnectionID: id,
			DomainName: "abc123.execute-api.eu-west-1.amazonaws.com", Stage: "local",
		},
	}
	if routeKey == "$connect" {
		req.Headers = map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"}
	}
	resp, err := p.srv.WebSocketHandler(p.t.Context(), req)
	if err != nil || resp.StatusCode != 200 {
		p.t.Fatalf("%s %s: status %d, %v", routeKey, id, resp.StatusCode, err)
	}
}

// subscribe connects id, initialises it and subscribes operation "s" to news.
func (p *pipeline) subscribe(id string) {
	p.t.Helper()
	p.websocket("$connect", "CONNECT", id, "")
	p.websocket("$default", "MESSAGE", id, `{"type":"connection_init"}`)
	p.websocket("$default", "MESSAGE", id, `{"type":"subscribe","id":"s","payload":{"query":"subscription { news }"}}`)
	if got := p.rec.Frames(id); !slices.Equal(got, []string{`{"type":"connection_ack"}`}) {
		p.t.Fatalf("%s: frames %v after subscribe", id, got)
	}
}

func (p *pipeline) publish(text string) {
	p.t.Helper()
	res, err := p.srv.Publish(p.t.Context(), "NEWS", map[string]any{"text": text})
	if err != nil || res != (gqlambda.PublishResult{Stored: true}) {
		p.t.Fatalf("Publish(%s): %+v, %v; want Stored", text, res, err)
	}
}

// waitFrames waits until id received n frames, then checks them.
func (p *pipeline) waitFrames(id string, want ...string) {
	p.t.Helper()
	waitFor(p.t, fmt.Sprintf("%d frames on %s", len(want), id), func() bool { return len(p.rec.Frames(id)) >= len(want) })
	if got := p.rec.Frames(id); !slices.Equal(got, want) {
		p.t.Errorf("%s: frames\n%s\nwant\n%s", id, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func (p *pipeline) noErrors() {
	p.t.Helper()
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if len(p.errs) > 0 {
		p.t.Errorf("OnError: %v", p.errs)
	}
}

func next(text string) string {
	return fmt.Sprintf(`{"type":"next","id":"s","payload":{"data":{"news":%q}}}`, text)
}

// TestEndToEnd: Publish writes to the events table; the poller hands the
// stream to the server's stream handler, which delivers to every
// subscriber; a Complete travels the same way.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	p.subscribe("c1")
	p.subscribe("c2")
	start(t, localPoller(t, p.client, p.tables.Events, p.srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord)))

	p.publish("hello")
	ack := `{"type":"connection_ack"}`
	p.waitFrames("c1", ack, next("hello"))
	p.waitFrames("c2", ack, next("hello"))

	if res, err := p.srv.Complete(t.Context(), "NEWS", nil); err != nil || !res.Stored {
		t.Fatalf("Complete: %+v, %v", res, err)
	}
	p.waitFrames("c1", ack, next("hello"), `{"type":"complete","id":"s"}`)
	p.waitFrames("c2", ack, next("hello"), `{"type":"complete","id":"s"}`)
	p.noErrors()
}

// TestEndToEndRetry: the first attempt at one event fails; the poller reads
// the shard again from that record, so that every event arrives exactly
// once, in order.
func TestEndToEndRetry(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	p.subscribe("c1")
	// Published before the poller starts: read from the trim horizon.
	p.publish("one")
	p.publish("two")
	p.publish("three")

	var attempts atomic.Int64 // batches that held the event "two"
	isTwo := func(r events.DynamoDBEventRecord) bool {
		payload, ok := r.Change.NewImage[dynamodb.EventAttrPayload]
		return ok && payload.DataType() == events.DataTypeString && strings.Contains(payload.String(), `"two"`)
	}
	handler := func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		i := slices.IndexFunc(ev.Records, isTwo)
		if i < 0 || attempts.Add(1) > 1 {
			return p.srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord)(ctx, ev)
		}
		// The first attempt: deliver what comes before, fail the rest.
		resp, err := p.srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord)(ctx, events.DynamoDBEvent{Records: ev.Records[:i]})
		for _, r := range ev.Records[i:] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
		}
		return resp, err
	}
	start(t, localPoller(t, p.client, p.tables.Events, handler))

	p.waitFrames("c1", `{"type":"connection_ack"}`, next("one"), next("two"), next("three"))
	if n := attempts.Load(); n != 2 {
		t.Errorf("event two handed to the handler %d times, want 2 (one failure, one retry)", n)
	}
	p.noErrors()
}
