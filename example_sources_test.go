package gqlambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store/dynamodb/cdc"
	"github.com/gqlambda/gqlambda/store/memory"
)

// chatServer is the server of the source examples: chat(chatId) listens to
// the topic named by its chatId, and conn-1 subscribes to chat "lobby".
func chatServer() (*gqlambda.Server, *gatewaytest.Recorder) {
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"chat": &graphql.Field{
			Type: graphql.String,
			Args: graphql.FieldConfigArgument{"chatId": {Type: graphql.NewNonNull(graphql.ID)}},
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{
				TopicsFunc: func(ctx context.Context, args map[string]any) ([]string, error) {
					return []string{args["chatId"].(string)}, nil
				},
			}),
			Resolve: func(p graphql.ResolveParams) (any, error) { return p.Source.(map[string]any)["message"], nil },
		},
	}})
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"ok": &graphql.Field{Type: graphql.Boolean},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: subscription})
	if err != nil {
		panic(err)
	}
	gateway := gatewaytest.NewRecorder()
	srv, err := gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(schema, nil), Store: memory.New(nil), Sender: gateway})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	srv.WebSocketHandler(ctx, connectEvent("conn-1"))
	srv.WebSocketHandler(ctx, frameEvent("conn-1", `{"type":"connection_init"}`))
	srv.WebSocketHandler(ctx, frameEvent("conn-1", `{"type":"subscribe","id":"1","payload":{"query":"subscription { chat(chatId: \"lobby\") }"}}`))
	return srv, gateway
}

// printFrames prints the frames conn-1 received after the connection_ack.
func printFrames(gateway *gatewaytest.Recorder) {
	for _, frame := range gateway.Frames("conn-1")[1:] {
		fmt.Println(frame)
	}
}

// ExampleServer_SQSHandler delivers the envelopes of an SQS queue. On Lambda:
// lambda.Start(srv.SQSHandler(nil)), with ReportBatchItemFailures on the
// event source mapping. SQS delivers at least once: the second delivery of
// the same message reaches nobody twice.
func ExampleServer_SQSHandler() {
	srv, gateway := chatServer()
	handler := srv.SQSHandler(nil)
	batch := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m-1", Body: `{"topic":"lobby","payload":{"message":"hello from SQS"}}`},
		{MessageId: "m-2", Body: `not an envelope`}, // reported to OnError and dropped
	}}
	for range 2 {
		resp, _ := handler(context.Background(), batch)
		fmt.Println("batch item failures:", len(resp.BatchItemFailures))
	}
	printFrames(gateway)
	// Output:
	// batch item failures: 0
	// batch item failures: 0
	// {"type":"next","id":"1","payload":{"data":{"chat":"hello from SQS"}}}
}

// ExampleServer_SNSHandler delivers SNS notifications: the SNS topic's name
// is the topic, the message the payload. On Lambda:
// lambda.Start(srv.SNSHandler(nil)).
func ExampleServer_SNSHandler() {
	srv, gateway := chatServer()
	err := srv.SNSHandler(nil)(context.Background(), events.SNSEvent{Records: []events.SNSEventRecord{{
		SNS: events.SNSEntity{
			MessageID: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
			TopicArn:  "arn:aws:sns:eu-west-1:123456789012:lobby",
			Message:   `{"message":"hello from SNS"}`,
			Timestamp: time.Now(),
		},
	}}})
	fmt.Println("error:", err)
	printFrames(gateway)
	// Output:
	// error: <nil>
	// {"type":"next","id":"1","payload":{"data":{"chat":"hello from SNS"}}}
}

// ExampleServer_EventBridgeHandler delivers the events of an EventBridge
// rule, as the response handler of the "Apollo Server on AWS Lambda with
// EventBridge" sample does: the detail's chatId names the topic, the detail
// is the payload. On Lambda:
// lambda.Start(srv.EventBridgeHandler(gqlambda.EventBridgeMapping{TopicField: "chatId"}.Map)).
func ExampleServer_EventBridgeHandler() {
	srv, gateway := chatServer()
	handler := srv.EventBridgeHandler(gqlambda.EventBridgeMapping{TopicField: "chatId"}.Map)
	err := handler(context.Background(), events.EventBridgeEvent{
		ID:         "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
		DetailType: "ClientMessageTranslated",
		Source:     "translate",
		Detail:     json.RawMessage(`{"chatId":"lobby","message":"Bonjour"}`),
	})
	fmt.Println("error:", err)
	printFrames(gateway)
	// Output:
	// error: <nil>
	// {"type":"next","id":"1","payload":{"data":{"chat":"Bonjour"}}}
}

// ExampleServer_KinesisHandler delivers the envelopes of a Kinesis data
// stream, in order. On Lambda: lambda.Start(srv.KinesisHandler(nil)), with
// ReportBatchItemFailures on the event source mapping.
func ExampleServer_KinesisHandler() {
	srv, gateway := chatServer()
	resp, _ := srv.KinesisHandler(nil)(context.Background(), events.KinesisEvent{Records: []events.KinesisEventRecord{{
		EventID:        "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
		EventSourceArn: "arn:aws:kinesis:eu-west-1:123456789012:stream/chat",
		Kinesis: events.KinesisRecord{
			SequenceNumber: "49590338271490256608559692538361571095921575989136588898",
			PartitionKey:   "lobby",
			Data:           []byte(`{"topic":"lobby","payload":{"message":"hello from Kinesis"}}`),
		},
	}}})
	fmt.Println("batch item failures:", len(resp.BatchItemFailures))
	printFrames(gateway)
	// Output:
	// batch item failures: 0
	// {"type":"next","id":"1","payload":{"data":{"chat":"hello from Kinesis"}}}
}

// ExampleServer_DynamoDBStreamHandler delivers the changes of an
// application's own table (change data capture): each new item of a
// messages table reaches the chat its chatId attribute names, with the item
// as payload. On Lambda, subscribed to the table's stream:
// lambda.Start(srv.DynamoDBStreamHandler(cdc.Decoder(cdc.Mapping{TopicAttribute: "chatId"}.Map))).
func ExampleServer_DynamoDBStreamHandler() {
	srv, gateway := chatServer()
	handler := srv.DynamoDBStreamHandler(cdc.Decoder(cdc.Mapping{TopicAttribute: "chatId"}.Map))
	var batch events.DynamoDBEvent
	_ = json.Unmarshal([]byte(`{"Records":[{"eventID":"7d3a","eventName":"INSERT","eventSource":"aws:dynamodb",
		"eventSourceARN":"arn:aws:dynamodb:eu-west-1:123456789012:table/messages/stream/2026-12-01T00:00:00.000",
		"dynamodb":{"Keys":{"chatId":{"S":"lobby"},"sk":{"S":"0001"}},
			"NewImage":{"chatId":{"S":"lobby"},"sk":{"S":"0001"},"message":{"S":"hello from the table"}},
			"SequenceNumber":"100","StreamViewType":"NEW_IMAGE"}}]}`), &batch)
	resp, _ := handler(context.Background(), batch)
	fmt.Println("batch item failures:", len(resp.BatchItemFailures))
	printFrames(gateway)
	// Output:
	// batch item failures: 0
	// {"type":"next","id":"1","payload":{"data":{"chat":"hello from the table"}}}
}
