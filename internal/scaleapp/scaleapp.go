// Package scaleapp is the application the scale-out tests and bench run in
// several processes: a broadcast schema, a server on DynamoDB whose Publish
// splits through an SQS queue, and worker processes that run the queue's
// event source mapping (localsqs.ESM) with Server.RangeHandler, posting
// through the production apigw client behind a shared throttle.
package scaleapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/localsqs"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/throttle"
	"github.com/gqlambda/gqlambda/workqueue"
)

// Topic is the topic of the broadcast subscription.
const Topic = "NEW_MESSAGE"

// Query is the document of the broadcast subscription.
const Query = "subscription { messageBroadcast }"

// Config is one process's configuration, passed between processes in the
// environment (see [FromEnv] and [Config.Env]).
type Config struct {
	DynamoDB     string // DynamoDB Local's URL
	TablePrefix  string // the tables' names' prefix
	SQS          string // the SQS endpoint's URL
	QueueURL     string
	Rate         int // posts per second of the shared throttle; 0: off
	Threshold    int
	RangeSize    int
	MaxReceive   int
	FanOut       int // Limits.FanOutConcurrency per worker
	MaxWorkers   int // reported by Publish
	Concurrency  int // ESM pollers per worker process
	WorkerLogs   bool
	CheckpointMs int
}

var envNames = []string{"DYNAMODB", "TABLE_PREFIX", "SQS", "QUEUE_URL", "RATE", "THRESHOLD", "RANGE_SIZE", "MAX_RECEIVE", "FANOUT", "MAX_WORKERS", "CONCURRENCY", "WORKER_LOGS", "CHECKPOINT_MS"}

// Env returns c as environment variables GQLAMBDA_SCALE_*.
func (c Config) Env() []string {
	vals := []string{c.DynamoDB, c.TablePrefix, c.SQS, c.QueueURL, strconv.Itoa(c.Rate), strconv.Itoa(c.Threshold), strconv.Itoa(c.RangeSize),
		strconv.Itoa(c.MaxReceive), strconv.Itoa(c.FanOut), strconv.Itoa(c.MaxWorkers), strconv.Itoa(c.Concurrency), strconv.FormatBool(c.WorkerLogs),
		strconv.Itoa(c.CheckpointMs)}
	out := make([]string, len(envNames))
	for i, n := range envNames {
		out[i] = "GQLAMBDA_SCALE_" + n + "=" + vals[i]
	}
	return out
}

// FromEnv reads a Config that Env wrote.
func FromEnv() Config {
	get := func(n string) string { return os.Getenv("GQLAMBDA_SCALE_" + n) }
	num := func(n string) int { v, _ := strconv.Atoi(get(n)); return v }
	logs, _ := strconv.ParseBool(get("WORKER_LOGS"))
	return Config{DynamoDB: get("DYNAMODB"), TablePrefix: get("TABLE_PREFIX"), SQS: get("SQS"), QueueURL: get("QUEUE_URL"),
		Rate: num("RATE"), Threshold: num("THRESHOLD"), RangeSize: num("RANGE_SIZE"), MaxReceive: num("MAX_RECEIVE"),
		FanOut: num("FANOUT"), MaxWorkers: num("MAX_WORKERS"), Concurrency: num("CONCURRENCY"), WorkerLogs: logs, CheckpointMs: num("CHECKPOINT_MS")}
}

// Tables returns the tables' names.
func (c Config) Tables() dynamodb.Tables {
	p := c.TablePrefix
	return dynamodb.Tables{Connections: p + "connections", Subscriptions: p + "subscriptions", Events: p + "events"}
}

var creds = credentials.NewStaticCredentialsProvider("local", "local", "")

// httpClient keeps enough idle connections for a fan-out.
func httpClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 1024
	return &http.Client{Transport: tr}
}

// DynamoDB returns the DynamoDB client.
func (c Config) DynamoDBClient() *awsdynamodb.Client {
	return awsdynamodb.New(awsdynamodb.Options{BaseEndpoint: aws.String(c.DynamoDB), Region: "us-east-1", Credentials: creds, HTTPClient: httpClient()})
}

// SQSClient returns the SQS client.
func (c Config) SQSClient() *sqs.Client {
	return sqs.New(sqs.Options{BaseEndpoint: aws.String(c.SQS), Region: "us-east-1", Credentials: creds, HTTPClient: httpClient()})
}

// Schema returns the broadcast schema: subscription messageBroadcast on
// Topic, resolved to the payload's message.
func Schema() (graphql.Schema, error) {
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"hello": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) { return "world", nil }},
	}})
	sub := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"messageBroadcast": &graphql.Field{
			Type:      graphql.String,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{Topic}}),
			Resolve: func(p graphql.ResolveParams) (any, error) {
				m, _ := p.Source.(map[string]any)
				return m["message"], nil
			},
		},
	}})
	return graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: sub})
}

// Server returns the server of a publisher or a worker: DynamoDB store,
// scale-out through the queue, and sender (nil: the production apigw
// client, behind the shared throttle when Rate is set). It also returns the
// throttle (nil when off).
func (c Config) Server(log *slog.Logger, sender gateway.Sender) (*gqlambda.Server, *throttle.Sender, error) {
	schema, err := Schema()
	if err != nil {
		return nil, nil, err
	}
	st := dynamodb.New(c.DynamoDBClient(), &dynamodb.Options{Tables: c.Tables()})
	var thr *throttle.Sender
	if sender == nil {
		api := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{Region: "us-east-1", Credentials: creds})
		sender = apigw.New(api, &apigw.Options{HTTPClient: httpClient(), MaxInFlight: max(c.FanOut, 256)})
		if c.Rate > 0 {
			thr = throttle.New(sender, st, &throttle.Options{Rate: c.Rate, Logger: log})
			sender = thr
		}
	}
	srv, err := gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(schema, nil), Store: st, Sender: sender, Logger: log,
		Limits: gqlambda.Limits{FanOutConcurrency: c.FanOut},
		ScaleOut: &gqlambda.ScaleOut{
			Queue: workqueue.New(c.SQSClient(), c.QueueURL), Threshold: c.Threshold, RangeSize: c.RangeSize,
			MaxReceiveCount: c.MaxReceive, MaxWorkers: c.MaxWorkers, CheckpointInterval: time.Duration(c.CheckpointMs) * time.Millisecond,
		},
	})
	return srv, thr, err
}

// SeedServer returns a server whose WebSocket handler stores endpoint as
// the subscriptions' @connections endpoint and posts nothing anywhere.
func (c Config) SeedServer(endpoint string) (*gqlambda.Server, error) {
	schema, err := Schema()
	if err != nil {
		return nil, err
	}
	st := dynamodb.New(c.DynamoDBClient(), &dynamodb.Options{Tables: c.Tables()})
	return gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(schema, nil), Store: st, Sender: gatewaytest.NewRecorder(), Endpoint: endpoint,
		ConnectionTTL: 24 * time.Hour})
}

// CreateQueues creates the queue and its dead-letter queue (redrive after
// maxReceive receives, visibility timeout vis) and returns their URLs.
func CreateQueues(ctx context.Context, client *sqs.Client, name string, maxReceive int, vis time.Duration) (queueURL, dlqURL string, err error) {
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		return "", "", err
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		return "", "", err
	}
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		"VisibilityTimeout": strconv.Itoa(int(vis.Seconds())),
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, attrs.Attributes["QueueArn"], maxReceive),
	}})
	if err != nil {
		return "", "", err
	}
	return *q.QueueUrl, *dlq.QueueUrl, nil
}

// RunWorker runs one worker process until ctx ends: the event source
// mapping of the queue with Server.RangeHandler.
func RunWorker(ctx context.Context, c Config, log *slog.Logger) error {
	if c.QueueURL == "" || c.DynamoDB == "" {
		return errors.New("scaleapp: a worker needs GQLAMBDA_SCALE_DYNAMODB and GQLAMBDA_SCALE_QUEUE_URL")
	}
	srv, _, err := c.Server(log, nil)
	if err != nil {
		return err
	}
	esm := &localsqs.ESM{Client: c.SQSClient(), QueueURL: c.QueueURL, BatchSize: 1, MaxConcurrency: max(c.Concurrency, 1),
		Handler: srv.RangeHandler(), Logger: log}
	return esm.Run(ctx)
}
