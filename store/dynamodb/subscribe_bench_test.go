//go:build unix

package dynamodb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// The steps of a client of the subscribe path, and the DynamoDB operations
// counted per step.
var (
	steps = []string{"connect", "init", "subscribe"}
	ops   = []string{"GetItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem", "BatchWriteItem", "TransactWriteItems", "PutItem"}
)

// stepKey is the context key of the step a handler call is for.
type stepKey struct{}

// callCounter counts the DynamoDB calls of each step, by operation: the
// step is read from the call's context.
type callCounter struct {
	dynamodb.API
	calls [3][8]atomic.Int64
}

func (c *callCounter) count(ctx context.Context, op int) {
	if step, ok := ctx.Value(stepKey{}).(int); ok {
		c.calls[step][op].Add(1)
	}
}

func (c *callCounter) GetItem(ctx context.Context, in *awsdynamodb.GetItemInput, opts ...func(*awsdynamodb.Options)) (*awsdynamodb.GetItemOutput, error) {
	c.count(ctx, 0)
	return c.API.GetItem(ctx, in, opts...)
}

func (c *callCounter) UpdateItem(ctx context.Context, in *awsdynamodb.UpdateItemInput, opts ...func(*awsdynamodb.Options)) (*awsdynamodb.UpdateItemOutput, error) {
	c.count(ctx, 1)
	return c.API.UpdateItem(ctx, in, opts...)
}

func (c *callCounter) DeleteItem(ctx context.Context, in *awsdynamodb.DeleteItemInput, opts ...func(*awsdynamodb.Options)) (*awsdynamodb.DeleteItemOutput, error) {
	c.count(ctx, 2)
	return c.API.DeleteItem(ctx, in, opts...)
}

func (c *callCounter) Query(ctx context.Context, in *awsdynamodb.QueryInput, opts ...func(*awsdynamodb.Options)) (*awsdynamodb.QueryOutput, error) {
	c.count(ctx, 3)
	return c.API.Query(ctx, in, opts...)
}

func (c *callCounter) BatchGetItem(ctx context.Context, in *awsdynamodb.BatchGetItemInput, opts ...func(*awsdynamodb.Options)) (*awsdynamodb.BatchGetItemOutput, error) {
	c.count(ctx, 4)
	return c.API.BatchGetItem(ctx, in, opts...)
}

func (c *callCounter) BatchWriteItem(ctx context.Context, in *awsdynamodb.BatchWriteItemInput, opts ...func(*awsdynamodb.Options)) (*awsdynamodb.BatchWriteItemOutput, error) {
	c.count(ctx, 5)
	return c.API.BatchWriteItem(ctx, in, opts...)
}

func (c *callCounter) PutItem(ctx context.Context, in *awsdynamodb.PutItemInput, opts ...func(*awsdynamodb.Options)) (*awsdynamodb.PutItemOutput, error) {
	c.count(ctx, 7)
	return c.API.PutItem(ctx, in, opts...)
}

func (c *callCounter) TransactWriteItems(ctx context.Context, in *awsdynamodb.TransactWriteItemsInput, opts ...func(*awsdynamodb.Options)) (*awsdynamodb.TransactWriteItemsOutput, error) {
	c.count(ctx, 6)
	return c.API.TransactWriteItems(ctx, in, opts...)
}

// BenchmarkSubscribePath measures what the harness's setup measures: clients
// that each send $connect, connection_init and subscribe through
// WebSocketHandler, 32 at a time, on DynamoDB Local (a recording sender takes
// the connection_ack posts). It reports subscriptions per second, the mean
// time of each step, and the DynamoDB calls of each step per client, by
// operation (e.g. subscribe-TransactWriteItems/op). Run with
//
//	scripts/dynamodb-local run go test -run '^$' -bench SubscribePath -benchtime 2000x ./store/dynamodb/
func BenchmarkSubscribePath(b *testing.B) {
	client := dynamotest.Client(b)
	tables := dynamodb.PrefixedTables(dynamotest.Prefix(b))
	if err := dynamodb.CreateTables(b.Context(), client, tables); err != nil {
		b.Fatal(err)
	}
	api := &callCounter{API: client}
	var serverErrs atomic.Int64
	srv := newBenchServer(b, dynamodb.New(api, &dynamodb.Options{Tables: tables}), gatewaytest.NewRecorder(),
		"https://abcdef1234.execute-api.us-east-1.amazonaws.com/bench", func(err error) {
			if serverErrs.Add(1) <= 3 {
				b.Error(err)
			}
		})
	subscribe, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "1",
		"payload": map[string]any{"query": "subscription { messageBroadcast }"}})
	var next atomic.Int64
	var stepTime [3]atomic.Int64
	b.SetParallelism(16) // 32 clients at once on 2 cores, as the harness's setup
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("conn-%06d=", next.Add(1))
			for step, ev := range []events.APIGatewayWebsocketProxyRequest{
				wsEvent(id, "CONNECT", "$connect", ""),
				wsEvent(id, "MESSAGE", "$default", `{"type":"connection_init","payload":{}}`),
				wsEvent(id, "MESSAGE", "$default", string(subscribe)),
			} {
				ctx := context.WithValue(b.Context(), stepKey{}, step)
				t0 := time.Now()
				resp, err := srv.WebSocketHandler(ctx, ev)
				stepTime[step].Add(int64(time.Since(t0)))
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("%s %s: status %d, %v", ev.RequestContext.RouteKey, id, resp.StatusCode, err)
					return
				}
			}
		}
	})
	b.StopTimer()
	clients := float64(b.N)
	b.ReportMetric(clients/b.Elapsed().Seconds(), "subscriptions/s")
	for step, name := range steps {
		b.ReportMetric(float64(stepTime[step].Load())/1e6/clients, name+"-ms")
		for op, opName := range ops {
			if n := api.calls[step][op].Load(); n > 0 {
				b.ReportMetric(float64(n)/clients, name+"-"+opName+"/op")
			}
		}
	}
}
