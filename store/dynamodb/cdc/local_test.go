package cdc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb/cdc"
	"github.com/gqlambda/gqlambda/store/dynamodb/streams"
	"github.com/gqlambda/gqlambda/store/memory"
)

// The end-to-end test of change data capture: an application table with a
// stream on DynamoDB Local, written with the SDK, read by the project's
// stream poller into the server's stream handler with a cdc decoder, and
// frames at the sender.

// ordersTable creates a table of orders (key id) with a NEW_AND_OLD_IMAGES
// stream and Time to Live on "ttl".
func ordersTable(t *testing.T, client *awsdynamodb.Client) string {
	t.Helper()
	name := dynamotest.Prefix(t) + "orders"
	_, err := client.CreateTable(t.Context(), &awsdynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: dbtypes.KeyTypeHash}},
		BillingMode:          dbtypes.BillingModePayPerRequest,
		StreamSpecification:  &dbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: dbtypes.StreamViewTypeNewAndOldImages},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.UpdateTimeToLive(t.Context(), &awsdynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(true)},
	}); err != nil {
		t.Fatal(err)
	}
	return name
}

// orderServer is a server whose orderChanged(id) subscription listens to the
// orders table's topic (its name, the default mapping's topic), filtered on
// the order's id.
func orderServer(t *testing.T, table string, rec *gatewaytest.Recorder, errs *errLog) *gqlambda.Server {
	t.Helper()
	order := graphql.NewObject(graphql.ObjectConfig{Name: "Order", Fields: graphql.Fields{
		"id":     &graphql.Field{Type: graphql.ID},
		"status": &graphql.Field{Type: graphql.String},
		"items":  &graphql.Field{Type: graphql.NewList(graphql.String)},
		"total":  &graphql.Field{Type: graphql.Float},
	}})
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"orderChanged": &graphql.Field{
			Type: order,
			Args: graphql.FieldConfigArgument{"id": {Type: graphql.NewNonNull(graphql.ID)}},
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{
				Topics: []string{table},
				FilterFunc: func(ctx context.Context, args map[string]any) (filter.Filter, error) {
					return filter.All(filter.Where("id", filter.Eq, args["id"])), nil
				},
			}),
			Resolve: func(p graphql.ResolveParams) (any, error) { return p.Source, nil },
		},
	}})
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"ok": &graphql.Field{Type: graphql.Boolean},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: subscription})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(schema, nil),
		Store:  memory.New(nil),
		Sender: rec,
		Hooks:  gqlambda.Hooks{OnError: func(_ context.Context, err error) { errs.add(err) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

type errLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err.Error())
}

func (l *errLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

func websocket(t *testing.T, srv *gqlambda.Server, routeKey, id, body string) {
	t.Helper()
	req := events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: routeKey, ConnectionID: id, DomainName: "abc123.execute-api.eu-west-1.amazonaws.com", Stage: "local",
		},
	}
	if routeKey == "$connect" {
		req.Headers = map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"}
	}
	if resp, err := srv.WebSocketHandler(t.Context(), req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %s: status %d, %v", routeKey, id, resp.StatusCode, err)
	}
}

// waitFrames waits until connection id received want, a real-server wait:
// the poller reads DynamoDB Local's stream every 20 ms, and Time to Live
// deletes expired items within about a minute.
func waitFrames(t *testing.T, rec *gatewaytest.Recorder, id string, within time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(rec.Frames(id)) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %v, frames\n%s\nwant\n%s", id, within, strings.Join(rec.Frames(id), "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(20 * time.Millisecond) // real-server wait
	}
	if got := rec.Frames(id); !slices.Equal(got, want) {
		t.Fatalf("%s: frames\n%s\nwant\n%s", id, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// ordersPipeline is an orders table on DynamoDB Local, a server whose
// subscribers c-o1 and c-o2 follow the orders o1 and o2, and a stream poller
// feeding the server's stream handler with a cdc decoder of mapping.
type ordersPipeline struct {
	t      *testing.T
	client *awsdynamodb.Client
	table  string
	rec    *gatewaytest.Recorder
	errs   *errLog

	mu   sync.Mutex
	seen []string // the changes, in order, as the mapping saw them
}

func newOrdersPipeline(t *testing.T, mapping func(p *ordersPipeline, c cdc.Change) ([]store.Event, error)) *ordersPipeline {
	t.Helper()
	client := dynamotest.Client(t)
	p := &ordersPipeline{t: t, client: client, table: ordersTable(t, client), rec: gatewaytest.NewRecorder(), errs: &errLog{}}
	srv := orderServer(t, p.table, p.rec, p.errs)
	decode := cdc.Decoder(func(c cdc.Change) ([]store.Event, error) {
		p.mu.Lock()
		p.seen = append(p.seen, fmt.Sprintf("%s %v expired=%v ref=%v", c.Operation, c.Keys["id"], c.Expired, c.Item()["ref"]))
		p.mu.Unlock()
		if c.Table != p.table {
			return nil, fmt.Errorf("change of table %q, want %q", c.Table, p.table)
		}
		return mapping(p, c)
	})
	poller, err := streams.NewPoller(dynamotest.StreamsClient(t), streams.PollerOptions{
		Handler:              srv.DynamoDBStreamHandler(decode),
		Table:                p.table,
		TableClient:          client,
		PollInterval:         20 * time.Millisecond,
		RetryDelay:           20 * time.Millisecond,
		ShardRefreshInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- poller.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("poller: %v", err)
		}
	})
	for _, id := range []string{"o1", "o2"} {
		websocket(t, srv, "$connect", "c-"+id, "")
		websocket(t, srv, "$default", "c-"+id, `{"type":"connection_init"}`)
		websocket(t, srv, "$default", "c-"+id, `{"type":"subscribe","id":"s","payload":{"query":"subscription { orderChanged(id: \"`+id+`\") { id status total items } }"}}`)
	}
	return p
}

func (p *ordersPipeline) put(item map[string]dbtypes.AttributeValue) {
	p.t.Helper()
	if _, err := p.client.PutItem(p.t.Context(), &awsdynamodb.PutItemInput{TableName: aws.String(p.table), Item: item}); err != nil {
		p.t.Fatal(err)
	}
}

// check checks the changes the mapping saw, and that OnError got nothing.
func (p *ordersPipeline) check(want ...string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Equal(p.seen, want) {
		p.t.Errorf("changes seen:\n%s\nwant\n%s", strings.Join(p.seen, "\n"), strings.Join(want, "\n"))
	}
	if e := p.errs.list(); len(e) > 0 {
		p.t.Errorf("OnError: %q", e)
	}
}

func s(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberS{Value: v} }
func n(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberN{Value: v} }

const ack = `{"type":"connection_ack"}`

// TestChangesOnDynamoDBLocal writes an order table's items of every kind of
// change a caller makes and checks what subscribers receive: an INSERT and a
// MODIFY are published, a REMOVE ends the subscription of the removed order.
// Every record goes through the stream poller as Lambda's event source
// mapping would hand it.
func TestChangesOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	p := newOrdersPipeline(t, func(_ *ordersPipeline, c cdc.Change) ([]store.Event, error) { return cdc.Mapping{}.Map(c) })
	next := func(status string) string {
		return `{"type":"next","id":"s","payload":{"data":{"orderChanged":{"id":"o1","status":"` + status + `","total":12.5,"items":["book"]}}}}`
	}

	// INSERT. The reference, a number beyond float64's precision, reaches
	// the mapping digit for digit.
	p.put(map[string]dbtypes.AttributeValue{"id": s("o1"), "status": s("new"), "total": n("12.5"), "ref": n("12345678901234567890123"),
		"items": &dbtypes.AttributeValueMemberSS{Value: []string{"book"}}})
	waitFrames(t, p.rec, "c-o1", 30*time.Second, ack, next("new"))

	// MODIFY.
	if _, err := p.client.UpdateItem(t.Context(), &awsdynamodb.UpdateItemInput{
		TableName: aws.String(p.table), Key: map[string]dbtypes.AttributeValue{"id": s("o1")},
		UpdateExpression:          aws.String("SET #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":s": s("paid")},
	}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, p.rec, "c-o1", 30*time.Second, ack, next("new"), next("paid"))

	// REMOVE by a caller: the default mapping completes the subscriptions
	// whose filter the old image matches.
	if _, err := p.client.DeleteItem(t.Context(), &awsdynamodb.DeleteItemInput{TableName: aws.String(p.table), Key: map[string]dbtypes.AttributeValue{"id": s("o1")}}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, p.rec, "c-o1", 30*time.Second, ack, next("new"), next("paid"), `{"type":"complete","id":"s"}`)
	if got := p.rec.Frames("c-o2"); len(got) != 1 {
		t.Errorf("c-o2, which follows another order, got %q", got)
	}
	p.check("INSERT o1 expired=false ref=12345678901234567890123", "MODIFY o1 expired=false ref=12345678901234567890123",
		"REMOVE o1 expired=false ref=12345678901234567890123")
}

// envTTL enables TestExpiryOnDynamoDBLocal.
const envTTL = "GQLAMBDA_DYNAMODB_TTL_TEST"

// TestExpiryOnDynamoDBLocal lets DynamoDB Local's Time to Live delete an
// expired order and checks that the mapping tells the deletion apart from a
// caller's: it is published as an expiry, and the subscription stays.
//
// DynamoDB Local deletes expired items within about a minute when it has
// few tables, but its Time to Live jobs share a pool of 10 threads with
// every table that has Time to Live enabled (the store's tests create
// hundreds, with thousands of expired items), so on the DynamoDB Local the
// whole suite shares it can take many minutes (on a fresh one it takes a
// second or two). The test therefore runs only with
// GQLAMBDA_DYNAMODB_TTL_TEST=1, on a fresh DynamoDB Local, as scripts/test
// runs it before the rest of the suite:
//
//	GQLAMBDA_DYNAMODB_TTL_TEST=1 scripts/dynamodb-local run go test -run TestExpiryOnDynamoDBLocal ./store/dynamodb/cdc/
//
// The suite's own run checks the same classification on a record that
// DynamoDB Local produced this way, captured in the root package's
// testdata/sources/dynamodb.json (TestDynamoDBChangeStream), and in
// TestNewChange.
func TestExpiryOnDynamoDBLocal(t *testing.T) {
	if os.Getenv(envTTL) == "" {
		t.Skipf("%s is not set: DynamoDB Local's Time to Live is too slow on the DynamoDB Local the suite shares (see the test's documentation)", envTTL)
	}
	t.Parallel()
	p := newOrdersPipeline(t, func(_ *ordersPipeline, c cdc.Change) ([]store.Event, error) {
		if c.Expired {
			// A deletion by Time to Live is an expiry, not a cancellation:
			// subscribers are told, and stay.
			item := c.OldImage
			item["status"] = "expired"
			payload, err := json.Marshal(item)
			return []store.Event{{Topic: c.Table, Payload: payload}}, err
		}
		return cdc.Mapping{}.Map(c)
	})
	o2 := func(status string) string {
		return `{"type":"next","id":"s","payload":{"data":{"orderChanged":{"id":"o2","status":"` + status + `","total":null,"items":null}}}}`
	}
	// An item that expired an hour ago.
	p.put(map[string]dbtypes.AttributeValue{"id": s("o2"), "status": s("cart"), "ttl": n(strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10))})
	waitFrames(t, p.rec, "c-o2", 5*time.Minute, ack, o2("cart"), o2("expired"))
	p.check("INSERT o2 expired=false ref=<nil>", "REMOVE o2 expired=true ref=<nil>")
}
