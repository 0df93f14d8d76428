package gqlambda

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Event is a published event on its way through an event store: what
// [Server.Publish] or [Server.Complete] writes to Config.Events, and what
// [Server.Deliver] fans out.
type Event struct {
	// ID identifies the event uniquely. Publish and Complete set a random
	// one.
	ID string
	// Topic is the topic the event is published to.
	Topic string
	// Payload is the event's payload as JSON. It is empty when Publish or
	// Complete was given a nil payload: every subscription of the topic
	// matches (for a Complete: every subscription ends).
	Payload json.RawMessage
	// Complete marks a [Server.Complete], not a [Server.Publish].
	Complete bool
	// PublishedAt is when Publish or Complete was called.
	PublishedAt time.Time
}

// EventStore keeps events for asynchronous delivery: Publish and Complete
// write to it when it is set as Config.Events, and a stream of the store
// delivers each event once it is durable. store/dynamodb's EventTable is the
// DynamoDB implementation, whose table stream feeds
// [Server.DynamoDBStreamHandler].
type EventStore interface {
	// PutEvent stores ev durably. Once it returns nil, ev will be delivered.
	PutEvent(ctx context.Context, ev Event) error
}

// ErrInvalidEvent: an event cannot be delivered as it is, whatever the
// number of attempts: it has no topic, its payload is not JSON, or its event
// item is malformed. [Server.Deliver] and event stores wrap it.
var ErrInvalidEvent = errors.New("gqlambda: invalid event")

// The event item: the attributes of an item of the events table that
// [Server.DynamoDBStreamHandler] reads from the table's stream. Any producer,
// in any language, may publish by writing such an item (with PutItem and the
// condition attribute_not_exists(id)).
const (
	// EventAttrID (S) is the table's key: a unique event id.
	EventAttrID = "id"
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
	// in Unix seconds; the handler does not read it.
	EventAttrTTL = "ttl"

	// EventKindPublish is the kind of an event of [Server.Publish].
	EventKindPublish = "publish"
	// EventKindComplete is the kind of an event of [Server.Complete].
	EventKindComplete = "complete"
)

// storeEvent writes a Publish or Complete to the event store.
func (s *Server) storeEvent(ctx context.Context, topic string, payload any, complete bool) (PublishResult, error) {
	raw, err := encodePayload(topic, payload)
	if err != nil {
		return PublishResult{}, err
	}
	ev := Event{ID: rand.Text(), Topic: topic, Payload: raw, Complete: complete, PublishedAt: s.now()}
	if err := s.events.PutEvent(ctx, ev); err != nil {
		return PublishResult{}, fmt.Errorf("gqlambda: store event for topic %q: %w", topic, err)
	}
	s.log.DebugContext(ctx, "event stored", slog.String("topic", topic), slog.String("event_id", ev.ID), slog.Bool("complete", complete))
	return PublishResult{Stored: true}, nil
}

// Deliver fans ev out now, as [Server.Publish] (or [Server.Complete] when
// ev.Complete is set) does without Config.Events, whatever Config.Events
// says. It is what stream handlers call for each stored event; it returns
// like Publish. An event that can never be delivered (no topic, a payload
// that is not JSON) is an error wrapping [ErrInvalidEvent], before anything
// is delivered.
func (s *Server) Deliver(ctx context.Context, ev Event) (PublishResult, error) {
	e, err := decodeEvent(ev.Topic, ev.Payload)
	if err != nil {
		return PublishResult{}, invalidEvent(ev.ID, err)
	}
	return s.fanOut(ctx, e, ev.Complete)
}

// DynamoDBStreamHandler delivers the events of an events table's DynamoDB
// stream (store/dynamodb's EventTable writes them). It is the function
// handler of a Lambda subscribed to the stream:
//
//	lambda.Start(srv.DynamoDBStreamHandler)
//
// The event source mapping must report batch item failures
// (FunctionResponseTypes: [ReportBatchItemFailures]); a bounded
// MaximumRetryAttempts and an on-failure destination are advised.
//
// Each record's new image is one event item (see [EventAttrID] and the
// constants after it):
//
//	id          S  unique event id (the table's key)
//	topic       S  the topic; required
//	payload     S  the payload as JSON text; absent or empty: no payload
//	               (every subscription of the topic matches)
//	kind        S  "publish" or "complete"; absent: "publish"
//	publishedAt N  Unix milliseconds; optional
//	ttl         N  Unix seconds, for Time to Live; not read
//
// Records are processed in order, one at a time. INSERT records are decoded
// and delivered with [Server.Deliver]; MODIFY and REMOVE records are ignored
// (Time to Live deletes events with REMOVE records). A record that cannot be
// decoded (no topic, a payload that is not JSON, an unknown kind) is logged,
// passed to Hooks.OnError and skipped: retrying it could never succeed, and
// it must not block its shard. A record whose delivery fails (an error, or
// PublishResult.Failed > 0) is reported as a batch item failure with its
// sequence number, and so is every later record of the batch, unprocessed:
// Lambda retries the shard from the lowest failed sequence number, so
// processing later records now would deliver them twice or out of order.
// Delivery is therefore at least once: a retried event reaches again the
// subscriptions that received it on the failed attempt. Connections that are
// gone (410) are not failures.
//
// The error is always nil: failures are reported in the response.
func (s *Server) DynamoDBStreamHandler(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var resp events.DynamoDBEventResponse
	for i, rec := range ev.Records {
		seq := rec.Change.SequenceNumber
		if err := ctx.Err(); err != nil {
			s.log.WarnContext(ctx, "stream batch interrupted: the rest of the batch will be retried",
				slog.String("sequence_number", seq), slog.Int("records", len(ev.Records)-i), slog.String("error", err.Error()))
			return failFrom(resp, ev.Records[i:]), nil
		}
		if rec.EventName != string(events.DynamoDBOperationTypeInsert) {
			s.log.DebugContext(ctx, "stream record ignored", slog.String("sequence_number", seq), slog.String("event_name", rec.EventName))
			continue
		}
		e, err := eventFromImage(rec.Change.NewImage)
		var res PublishResult
		if err == nil {
			res, err = s.Deliver(ctx, e)
		}
		switch {
		case errors.Is(err, ErrInvalidEvent):
			s.reportError(ctx, fmt.Errorf("gqlambda: stream record %s skipped: %w", seq, err),
				slog.String("sequence_number", seq), slog.String("event_id", e.ID))
			continue
		case err != nil:
			s.reportError(ctx, fmt.Errorf("gqlambda: stream record %s (event %s): %w", seq, e.ID, err),
				slog.String("sequence_number", seq), slog.String("event_id", e.ID), slog.String("topic", e.Topic))
		case res.Failed > 0:
			// Each failed delivery went to Hooks.OnError already.
		default:
			continue
		}
		s.log.WarnContext(ctx, "stream record failed: it and the rest of the batch will be retried",
			slog.String("sequence_number", seq), slog.String("event_id", e.ID), slog.String("topic", e.Topic),
			slog.Int("failed", res.Failed), slog.Int("records", len(ev.Records)-i))
		return failFrom(resp, ev.Records[i:]), nil
	}
	return resp, nil
}

// failFrom reports every record of recs as a batch item failure.
func failFrom(resp events.DynamoDBEventResponse, recs []events.DynamoDBEventRecord) events.DynamoDBEventResponse {
	for _, r := range recs {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
	}
	return resp
}

// eventFromImage decodes an event item. Its errors wrap ErrInvalidEvent.
func eventFromImage(img map[string]events.DynamoDBAttributeValue) (Event, error) {
	var ev Event
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
// ErrInvalidEvent.
func invalidEvent(id string, err error) error {
	if id == "" {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return fmt.Errorf("%w %s: %w", ErrInvalidEvent, id, err)
}
