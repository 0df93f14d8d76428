// Command scale is the program of bench/scale/run.sh, the bench of
// scale-out fan-out: one event to N subscriptions of one topic, split over K
// worker processes through a local SQS queue, posting to an @connections
// sink. Its subcommands are the bench's processes:
//
//	scale seed     create the tables and N subscriptions (see seed)
//	scale worker   one worker process: the queue's event source mapping
//	               with Server.RangeHandler (internal/scaleapp)
//	scale publish  one Publish through the scale-out path; waits for the
//	               split's completion and prints one JSON line
//
// Every subcommand reads its configuration from GQLAMBDA_SCALE_*
// (internal/scaleapp.Config) and its own flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/internal/scaleapp"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scale seed|worker|publish [flags]")
		os.Exit(2)
	}
	cfg := scaleapp.FromEnv()
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(ctx, cfg, os.Args[2:])
	case "worker":
		err = scaleapp.RunWorker(ctx, cfg, log)
	case "publish":
		err = publish(ctx, cfg, log)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// seed creates the tables and n subscriptions on scaleapp.Topic. The first
// goes through Server.WebSocketHandler, as a graphql-ws client's would
// ($connect offering graphql-transport-ws, connection_init, subscribe); the
// n-1 others are copies of its two items (the connection's and the
// subscription's) written with BatchWriteItem, in which only the
// connection id differs (in the connection item's key, and in the
// subscription item's sort key and connectionId). Each copy therefore
// equals a subscription made through the handler by a client with that
// connection id: seed checks it by reading copies back with the store's
// GetSubscription and comparing them with the handler's, field by field.
func seed(ctx context.Context, cfg scaleapp.Config, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	n := fs.Int("n", 1000, "subscriptions")
	endpoint := fs.String("endpoint", "", "the @connections endpoint the subscriptions carry (the sink's URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t0 := time.Now()
	client := cfg.DynamoDBClient()
	tables := cfg.Tables()
	if err := dynamodb.CreateTables(ctx, client, tables); err != nil {
		return err
	}
	// The handler stores the endpoint of the event's domain and stage
	// unless Config.Endpoint says otherwise: a server for the seed with the
	// sink as endpoint.
	seedSrv, err := cfg.SeedServer(*endpoint)
	if err != nil {
		return err
	}
	const template = "T000000000000000"
	for _, ev := range []events.APIGatewayWebsocketProxyRequest{
		{Headers: map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"},
			RequestContext: events.APIGatewayWebsocketProxyRequestContext{RouteKey: "$connect", EventType: "CONNECT", ConnectionID: template,
				DomainName: "abc123.execute-api.us-east-1.amazonaws.com", Stage: "bench", ConnectedAt: time.Now().UnixMilli()}},
		{Body: `{"type":"connection_init","payload":{}}`,
			RequestContext: events.APIGatewayWebsocketProxyRequestContext{RouteKey: "$default", EventType: "MESSAGE", ConnectionID: template,
				DomainName: "abc123.execute-api.us-east-1.amazonaws.com", Stage: "bench"}},
		{Body: `{"type":"subscribe","id":"1","payload":{"query":"` + scaleapp.Query + `"}}`,
			RequestContext: events.APIGatewayWebsocketProxyRequestContext{RouteKey: "$default", EventType: "MESSAGE", ConnectionID: template,
				DomainName: "abc123.execute-api.us-east-1.amazonaws.com", Stage: "bench"}},
	} {
		resp, err := seedSrv.WebSocketHandler(ctx, ev)
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("seed: %s through the handler: %d %v", ev.RequestContext.RouteKey, resp.StatusCode, err)
		}
	}
	st := dynamodb.New(client, &dynamodb.Options{Tables: tables})
	want, err := st.GetSubscription(ctx, template, "1")
	if err != nil {
		return fmt.Errorf("seed: the handler's subscription: %w", err)
	}
	connItem, err := client.GetItem(ctx, &awsdynamodb.GetItemInput{TableName: &tables.Connections, ConsistentRead: new(true),
		Key: map[string]types.AttributeValue{dynamodb.AttrID: &types.AttributeValueMemberS{Value: template}}})
	if err != nil || connItem.Item == nil {
		return fmt.Errorf("seed: the handler's connection item: %v", err)
	}
	subItem, err := client.GetItem(ctx, &awsdynamodb.GetItemInput{TableName: &tables.Subscriptions, ConsistentRead: new(true),
		Key: map[string]types.AttributeValue{dynamodb.AttrPK: &types.AttributeValueMemberS{Value: scaleapp.Topic + "#0"},
			dynamodb.AttrSK: &types.AttributeValueMemberS{Value: sortKey(template, "1")}}})
	if err != nil || subItem.Item == nil {
		return fmt.Errorf("seed: the handler's subscription item (is the store's sort key layout still len:conn:sub?): %v", err)
	}
	t1 := time.Now()

	// The copies, 25 items a request, 16 requests at a time.
	ids := make(chan string)
	errc := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			var batch []types.WriteRequest
			var batchTable []string
			flush := func() error {
				if len(batch) == 0 {
					return nil
				}
				req := map[string][]types.WriteRequest{}
				for i, w := range batch {
					req[batchTable[i]] = append(req[batchTable[i]], w)
				}
				for attempt := 0; len(req) > 0; attempt++ {
					out, err := client.BatchWriteItem(ctx, &awsdynamodb.BatchWriteItemInput{RequestItems: req})
					if err != nil {
						return err
					}
					req = out.UnprocessedItems
					if attempt > 20 {
						return errors.New("unprocessed items after 20 attempts")
					}
				}
				batch, batchTable = batch[:0], batchTable[:0]
				return nil
			}
			for id := range ids {
				conn := maps.Clone(connItem.Item)
				conn[dynamodb.AttrID] = &types.AttributeValueMemberS{Value: id}
				sub := maps.Clone(subItem.Item)
				sub[dynamodb.AttrSK] = &types.AttributeValueMemberS{Value: sortKey(id, "1")}
				sub[dynamodb.AttrConnectionID] = &types.AttributeValueMemberS{Value: id}
				batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: conn}}, types.WriteRequest{PutRequest: &types.PutRequest{Item: sub}})
				batchTable = append(batchTable, tables.Connections, tables.Subscriptions)
				if len(batch) >= 24 {
					if err := flush(); err != nil {
						errc <- err
						return
					}
				}
			}
			if err := flush(); err != nil {
				errc <- err
			}
		})
	}
	go func() {
		defer close(ids)
		for i := 1; i < *n; i++ {
			select {
			case ids <- fmt.Sprintf("S%015d", i):
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return fmt.Errorf("seed: batch write: %w", err)
	}
	t2 := time.Now()

	// Copies equal the handler's subscription but for the connection id.
	for _, i := range []int{1, *n / 2, *n - 1} {
		if i < 1 {
			continue
		}
		id := fmt.Sprintf("S%015d", i)
		got, err := st.GetSubscription(ctx, id, "1")
		if err != nil {
			return fmt.Errorf("seed: copy %s: %w", id, err)
		}
		got.ConnectionID = template
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("seed: copy %s differs from the handler's subscription:\n%+v\n%+v", id, got, want)
		}
	}
	count := 0
	for r, err := range st.TopicRanges(ctx, scaleapp.Topic, 10000) {
		if err != nil {
			return err
		}
		count += r.Size
	}
	if count != *n {
		return fmt.Errorf("seed: the topic holds %d subscriptions, want %d", count, *n)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"seeded": *n, "handler_ms": t1.Sub(t0).Milliseconds(),
		"bulk_ms": t2.Sub(t1).Milliseconds(), "items_per_s": float64(2*(*n-1)) / t2.Sub(t1).Seconds()})
}

// sortKey is store/dynamodb's sort key of a subscription: the connection
// id's length, the connection id and the subscription id. seed reads the
// handler's item at this key, so a change of the layout fails the seed.
func sortKey(connID, subID string) string {
	return strconv.Itoa(len(connID)) + ":" + connID + ":" + subID
}

// publish publishes one event through the scale-out path, waits for the
// split's completion, times a read of one range, and prints one JSON line.
func publish(ctx context.Context, cfg scaleapp.Config, log *slog.Logger) error {
	srv, _, err := cfg.Server(log, gatewaytest.NewRecorder())
	if err != nil {
		return err
	}
	t0 := time.Now()
	res, err := srv.Publish(ctx, scaleapp.Topic, map[string]any{"message": "hello " + strconv.FormatInt(t0.UnixNano(), 36)})
	if err != nil {
		return err
	}
	if res.Split == nil {
		return fmt.Errorf("the publish was not split: %+v", res)
	}
	t1 := time.Now()
	st, err := srv.WaitSplit(ctx, res.Split.ID, 20*time.Millisecond)
	if err != nil {
		return err
	}
	t2 := time.Now()

	// Calibration: the time to read one range (one page of the store).
	ds := dynamodb.New(cfg.DynamoDBClient(), &dynamodb.Options{Tables: cfg.Tables()})
	var first store.Range
	for r, err := range ds.TopicRanges(ctx, scaleapp.Topic, cfg.RangeSize) {
		if err != nil {
			return err
		}
		first = r
		break
	}
	t3 := time.Now()
	read := 0
	for _, err := range ds.RangeSubscriptions(ctx, scaleapp.Topic, first) {
		if err != nil {
			return err
		}
		read++
	}
	t4 := time.Now()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"t0_ms": float64(t0.UnixNano()) / 1e6, "split": res.Split.ID, "ranges": res.Split.Ranges, "subscriptions": res.Split.Subscriptions,
		"workers_reported": res.Split.Workers, "pending_at_return": res.Split.Pending, "publish_return_ms": t1.Sub(t0).Milliseconds(),
		"complete_ms": t2.Sub(t0).Milliseconds(), "done": st.Done, "dead": st.Dead, "delivered": st.Delivered, "gone": st.Gone,
		"range_read_ms": float64(t4.Sub(t3).Microseconds()) / 1000, "range_read_subs": read,
	})
}
