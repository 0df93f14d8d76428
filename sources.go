package gqlambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/store"
)

// This file is the handlers of the event sources other than DynamoDB
// Streams: SQS, SNS, EventBridge and Kinesis. Each maps a record to events
// with a function of the user's (or the source's default mapping) and
// delivers them with the machinery of stream.go.

// Envelope is the JSON form of an event in the body of an SQS message or the
// data of a Kinesis record, what [SQSEnvelope] and [KinesisEnvelope] read:
//
//	{"topic": "NEW_MESSAGE", "payload": {"text": "hi"}}
//	{"topic": "NEW_MESSAGE", "payload": {"chatId": "1"}, "complete": true, "id": "order-42"}
//
// Publishers in any language write it; from Go, json.Marshal an Envelope.
type Envelope struct {
	// Topic is the topic; required.
	Topic string `json:"topic"`
	// Payload is the payload, any JSON value. Absent: the event has none,
	// and every subscription of the topic matches (a Complete then ends
	// them all).
	Payload json.RawMessage `json:"payload,omitempty"`
	// Complete makes the event a [Server.Complete] of the subscriptions the
	// payload matches, rather than a Publish.
	Complete bool `json:"complete,omitempty"`
	// ID is the event's id, the key under which redeliveries are recognised
	// (see [Redelivery]). Absent: the message's own id (SQS's messageId,
	// Kinesis's eventID), so that the same message delivered twice is one
	// event; set it to make two messages of one event one event.
	ID string `json:"id,omitempty"`
}

// DecodeEnvelope decodes data as an [Envelope] into the event it carries.
// Data that is not a JSON object with a non-empty string topic is an error
// wrapping [store.ErrInvalidEvent].
func DecodeEnvelope(data []byte) (store.Event, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return store.Event{}, fmt.Errorf("%w: not an envelope {\"topic\", \"payload\"}: %w", store.ErrInvalidEvent, err)
	}
	if env.Topic == "" {
		return store.Event{}, fmt.Errorf("%w: the envelope has no topic", store.ErrInvalidEvent)
	}
	return store.Event{ID: env.ID, Topic: env.Topic, Payload: env.Payload, Complete: env.Complete}, nil
}

// ------------------------------------------------------------------- SQS

// SQSMapper maps one SQS message to the events it carries, in order: none
// to skip the message. An error means the message can never be delivered:
// it is reported and deleted from the queue, not retried. An event without
// ID gets the message's messageId (with "#" and its index when the message
// carries several).
type SQSMapper func(msg lambdaevents.SQSMessage) ([]store.Event, error)

// SQSEnvelope is the default [SQSMapper]: the message's body is an
// [Envelope].
func SQSEnvelope(msg lambdaevents.SQSMessage) ([]store.Event, error) {
	ev, err := DecodeEnvelope([]byte(msg.Body))
	if err != nil {
		return nil, err
	}
	return []store.Event{ev}, nil
}

// SQSHandler returns the handler of a Lambda function subscribed to an SQS
// queue, which delivers the events that m (nil: [SQSEnvelope]) finds in each
// message:
//
//	lambda.Start(srv.SQSHandler(nil))
//
// The event source mapping must report batch item failures
// (FunctionResponseTypes: [ReportBatchItemFailures]), and the queue should
// have a redrive policy to a dead-letter queue.
//
// Messages are processed one at a time, and a message's events in order,
// each with [Server.Deliver]. A message that cannot be mapped, or whose
// event is invalid, is logged, passed to Hooks.OnError and deleted (it is
// not a batch item failure): it could never be delivered. A message one of
// whose deliveries fails is reported as a batch item failure, so that SQS
// delivers it again after its visibility timeout, alone; the others of the
// batch are deleted. With a FIFO queue (messages with a MessageGroupId), the
// first failure also fails every later message of the batch, unprocessed,
// so that none overtakes it. A redelivered message reaches only the
// subscriptions it did not reach before, when the store has a delivery log
// (see [Redelivery]).
//
// The handler's error is always nil: failures are reported in the response.
func (s *Server) SQSHandler(m SQSMapper) func(context.Context, lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	if m == nil {
		m = SQSEnvelope
	}
	return func(ctx context.Context, batch lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
		recs := make([]sourceRecord, len(batch.Records))
		fifo := false
		for i, msg := range batch.Records {
			fifo = fifo || msg.Attributes["MessageGroupId"] != "" || strings.HasSuffix(msg.EventSourceARN, ".fifo")
			recs[i] = sourceRecord{item: msg.MessageId, eventID: msg.MessageId, kind: "message",
				decode: func() ([]store.Event, error) { return m(msg) }, trace: msg.Attributes["AWSTraceHeader"]}
		}
		var resp lambdaevents.SQSEventResponse
		for _, id := range s.handleBatch(ctx, sourceSQS, recs, fifo) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: id})
		}
		return resp, nil
	}
}

// --------------------------------------------------------------- Kinesis

// KinesisMapper maps one Kinesis record to the events it carries, in order:
// none to skip the record. An error means the record can never be
// delivered: it is reported and skipped. An event without ID gets the
// record's stream ARN and eventID (with "#" and its index when the record
// carries several).
type KinesisMapper func(rec lambdaevents.KinesisEventRecord) ([]store.Event, error)

// KinesisEnvelope is the default [KinesisMapper]: the record's data is an
// [Envelope].
func KinesisEnvelope(rec lambdaevents.KinesisEventRecord) ([]store.Event, error) {
	ev, err := DecodeEnvelope(rec.Kinesis.Data)
	if err != nil {
		return nil, err
	}
	return []store.Event{ev}, nil
}

// KinesisHandler returns the handler of a Lambda function subscribed to a
// Kinesis data stream, which delivers the events that m (nil:
// [KinesisEnvelope]) finds in each record:
//
//	lambda.Start(srv.KinesisHandler(nil))
//
// The event source mapping must report batch item failures
// (FunctionResponseTypes: [ReportBatchItemFailures]); a bounded
// MaximumRetryAttempts and an on-failure destination are advised.
//
// Records are handled as [Server.DynamoDBStreamHandler] handles those of a
// DynamoDB stream: in order; one that can never be delivered is reported
// and skipped; the first whose delivery fails is a batch item failure (by
// its sequence number) with every later record of the batch, unprocessed,
// and a retried record reaches only the subscriptions it did not reach
// before when the store has a delivery log.
//
// The handler's error is always nil: failures are reported in the response.
func (s *Server) KinesisHandler(m KinesisMapper) func(context.Context, lambdaevents.KinesisEvent) (lambdaevents.KinesisEventResponse, error) {
	if m == nil {
		m = KinesisEnvelope
	}
	return func(ctx context.Context, batch lambdaevents.KinesisEvent) (lambdaevents.KinesisEventResponse, error) {
		recs := make([]sourceRecord, len(batch.Records))
		for i, rec := range batch.Records {
			id := rec.EventID
			if id == "" {
				id = rec.Kinesis.SequenceNumber
			}
			if rec.EventSourceArn != "" && id != "" {
				// Shard ids repeat from stream to stream.
				id = rec.EventSourceArn + "/" + id
			}
			recs[i] = sourceRecord{item: rec.Kinesis.SequenceNumber, eventID: id, kind: rec.EventName,
				decode: func() ([]store.Event, error) { return m(rec) }}
		}
		var resp lambdaevents.KinesisEventResponse
		for _, seq := range s.handleBatch(ctx, sourceKinesis, recs, true) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.KinesisBatchItemFailure{ItemIdentifier: seq})
		}
		return resp, nil
	}
}

// ------------------------------------------------------------------- SNS

// SNSMapper maps one SNS notification to the events it carries, in order:
// none to skip it. An error means it can never be delivered: it is reported
// and not retried. An event without ID gets the notification's MessageId
// (with "#" and its index when it carries several).
type SNSMapper func(rec lambdaevents.SNSEventRecord) ([]store.Event, error)

// SNSMapping is the default mapping of SNS notifications: the message is
// the payload, as JSON, and the topic is the name of the SNS topic (the last
// part of its ARN), or the value of the message attribute TopicAttribute
// when the notification has it. Its zero value is ready to use.
type SNSMapping struct {
	// TopicAttribute names a message attribute of type String whose value
	// is the topic; a notification without it takes the SNS topic's name.
	// Default: none.
	TopicAttribute string
}

// Map is the [SNSMapper] of m. A message that is not JSON, or a topic that
// is empty (an attribute that is not a string, an ARN without name), is an
// error wrapping [store.ErrInvalidEvent].
func (m SNSMapping) Map(rec lambdaevents.SNSEventRecord) ([]store.Event, error) {
	n := rec.SNS
	topic := n.TopicArn[strings.LastIndexByte(n.TopicArn, ':')+1:]
	if m.TopicAttribute != "" {
		if a, ok := n.MessageAttributes[m.TopicAttribute]; ok {
			attr, _ := a.(map[string]any)
			typ, _ := attr["Type"].(string)
			value, _ := attr["Value"].(string)
			if typ != "String" {
				return nil, fmt.Errorf("%w: message attribute %s is not a String", store.ErrInvalidEvent, m.TopicAttribute)
			}
			topic = value
		}
	}
	if topic == "" {
		return nil, fmt.Errorf("%w: no topic (topic ARN %q)", store.ErrInvalidEvent, n.TopicArn)
	}
	payload := json.RawMessage(n.Message)
	if !json.Valid(payload) {
		return nil, fmt.Errorf("%w: the message is not JSON", store.ErrInvalidEvent)
	}
	return []store.Event{{Topic: topic, Payload: payload, PublishedAt: n.Timestamp}}, nil
}

// SNSHandler returns the handler of a Lambda function subscribed to an SNS
// topic, which delivers the events that m (nil: the zero [SNSMapping]'s
// Map) finds in each notification:
//
//	lambda.Start(srv.SNSHandler(nil))
//
// SNS invokes the function asynchronously, with one notification. A
// notification that cannot be mapped, or whose event is invalid, is logged,
// passed to Hooks.OnError and dropped: the handler returns nil, since a
// retry could never succeed. When a delivery fails, the handler returns an
// error, so that Lambda retries the invocation (twice by default, then its
// on-failure destination or dead-letter queue); the retry reaches only the
// subscriptions the notification did not reach before when the store has a
// delivery log (see [Redelivery]).
func (s *Server) SNSHandler(m SNSMapper) func(context.Context, lambdaevents.SNSEvent) error {
	if m == nil {
		m = SNSMapping{}.Map
	}
	return func(ctx context.Context, ev lambdaevents.SNSEvent) error {
		recs := make([]sourceRecord, len(ev.Records))
		for i, rec := range ev.Records {
			recs[i] = sourceRecord{item: rec.SNS.MessageID, eventID: rec.SNS.MessageID, kind: rec.SNS.Type,
				decode: func() ([]store.Event, error) { return m(rec) }}
		}
		return retryError(sourceSNS, s.handleBatch(ctx, sourceSNS, recs, false))
	}
}

// ----------------------------------------------------------- EventBridge

// EventBridgeMapper maps one EventBridge event to the events it carries, in
// order: none to skip it. An error means it can never be delivered: it is
// reported and not retried. An event without ID gets the EventBridge
// event's id (with "#" and its index when it carries several).
type EventBridgeMapper func(ev lambdaevents.EventBridgeEvent) ([]store.Event, error)

// EventBridgeMapping is the default mapping of EventBridge events: the
// event's detail is the payload, and its detail-type names the topic, or the
// field TopicField of the detail when it is set. Its zero value is ready to
// use.
type EventBridgeMapping struct {
	// TopicField, when set, is the field of the detail whose value (a string)
	// is the topic, as a dot path into nested objects ("chat.id"). Default:
	// the detail-type is the topic.
	TopicField string
}

// Map is the [EventBridgeMapper] of m. A detail that is not JSON (or, with
// TopicField, not an object with a string at that path) and an empty topic
// are errors wrapping [store.ErrInvalidEvent].
func (m EventBridgeMapping) Map(ev lambdaevents.EventBridgeEvent) ([]store.Event, error) {
	detail := bytes.TrimSpace(ev.Detail)
	if len(detail) == 0 || !json.Valid(detail) {
		return nil, fmt.Errorf("%w: the detail is not JSON", store.ErrInvalidEvent)
	}
	topic := ev.DetailType
	if m.TopicField != "" {
		var v any
		if err := json.Unmarshal(detail, &v); err != nil {
			return nil, fmt.Errorf("%w: the detail: %w", store.ErrInvalidEvent, err)
		}
		for name := range strings.SplitSeq(m.TopicField, ".") {
			obj, _ := v.(map[string]any)
			v = obj[name]
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: the detail has no string at %s", store.ErrInvalidEvent, m.TopicField)
		}
		topic = s
	}
	if topic == "" {
		return nil, fmt.Errorf("%w: no topic", store.ErrInvalidEvent)
	}
	return []store.Event{{Topic: topic, Payload: json.RawMessage(detail), PublishedAt: ev.Time}}, nil
}

// EventBridgeHandler returns the handler of a Lambda function that an
// EventBridge rule targets, which delivers the events that m (nil: the zero
// [EventBridgeMapping]'s Map) finds in each event:
//
//	lambda.Start(srv.EventBridgeHandler(gqlambda.EventBridgeMapping{TopicField: "chatId"}.Map))
//
// EventBridge invokes the function asynchronously, with one event. An event
// that cannot be mapped, or whose mapped event is invalid, is logged, passed
// to Hooks.OnError and dropped: the handler returns nil. When a delivery
// fails, the handler returns an error, so that Lambda retries the invocation
// (twice by default, then the rule's or the function's dead-letter
// destination); the retry reaches only the subscriptions the event did not
// reach before when the store has a delivery log (see [Redelivery]).
func (s *Server) EventBridgeHandler(m EventBridgeMapper) func(context.Context, lambdaevents.EventBridgeEvent) error {
	if m == nil {
		m = EventBridgeMapping{}.Map
	}
	return func(ctx context.Context, ev lambdaevents.EventBridgeEvent) error {
		rec := sourceRecord{item: ev.ID, eventID: ev.ID, kind: ev.DetailType,
			decode: func() ([]store.Event, error) { return m(ev) }}
		return retryError(sourceEventBridge, s.handleBatch(ctx, sourceEventBridge, []sourceRecord{rec}, false))
	}
}

// retryError is the error of an asynchronous invocation whose records failed.
func retryError(source string, failed []string) error {
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s %s", ErrRetry, source, strings.Join(failed, ", "))
}
