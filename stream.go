package gqlambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/store"
)

// This file is what every stream and source handler shares: a record is
// mapped to the events it carries, which are delivered in order with
// Deliver; a record that can never be delivered is reported and skipped; a
// record one of whose deliveries failed is retried by its source. The
// handlers of each source are in stream.go (DynamoDB Streams) and
// sources.go (SQS, SNS, EventBridge, Kinesis).

// DynamoDBDecoder turns one DynamoDB stream record into the events it
// carries, in order: none for a record to skip. An error wrapping
// [store.ErrInvalidEvent] (or any error: decoding the same record again
// gives the same result) means the record can never be delivered.
// store/dynamodb's DecodeEventRecord decodes the records of its events
// table; store/dynamodb/cdc's Decoder the changes of any table.
//
// An event without ID gets the record's eventID (with "#" and its index when
// the record carries several), the key that makes redeliveries of the record
// idempotent (see [Redelivery]).
type DynamoDBDecoder func(rec lambdaevents.DynamoDBEventRecord) ([]store.Event, error)

// DynamoDBStreamHandler returns the handler of a Lambda function subscribed
// to a DynamoDB stream, which delivers the events decode finds in each
// record. For the events table of store/dynamodb's EventTable:
//
//	lambda.Start(srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord))
//
// and for the changes of any table (change data capture), with
// store/dynamodb/cdc:
//
//	lambda.Start(srv.DynamoDBStreamHandler(cdc.Decoder(cdc.Mapping{}.Map)))
//
// The event source mapping must report batch item failures
// (FunctionResponseTypes: [ReportBatchItemFailures]); a bounded
// MaximumRetryAttempts and an on-failure destination are advised.
//
// Records are processed in order, one at a time, and a record's events in
// order, each with [Server.Deliver]. A record that cannot be decoded, or
// whose event is invalid, is logged, passed to Hooks.OnError and skipped:
// retrying it could never succeed, and it must not block its shard. A record
// one of whose deliveries fails (an error, or PublishResult.Failed > 0) is
// reported as a batch item failure with its sequence number, and so is every
// later record of the batch, unprocessed: Lambda retries the shard from the
// lowest failed sequence number, so processing later records now would
// deliver them out of order. A retried record reaches only the subscriptions
// it did not reach before, when the store has a delivery log (see
// [Redelivery]); without one, delivery is at least once. Connections that
// are gone (410) are not failures.
//
// The handler's error is nil unless decode is nil: failures are reported in
// the response.
func (s *Server) DynamoDBStreamHandler(decode DynamoDBDecoder) func(context.Context, lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
	return func(ctx context.Context, batch lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
		var resp lambdaevents.DynamoDBEventResponse
		fail := func(seq string) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.DynamoDBBatchItemFailure{ItemIdentifier: seq})
		}
		if decode == nil {
			for _, r := range batch.Records {
				fail(r.Change.SequenceNumber)
			}
			return resp, errors.New("gqlambda: DynamoDBStreamHandler needs a decoder, such as store/dynamodb's DecodeEventRecord")
		}
		recs := make([]sourceRecord, len(batch.Records))
		for i, r := range batch.Records {
			recs[i] = sourceRecord{
				item: r.Change.SequenceNumber, eventID: r.EventID, kind: r.EventName,
				decode: func() ([]store.Event, error) { return decode(r) },
			}
		}
		for _, seq := range s.handleBatch(ctx, sourceDynamoDB, recs, true) {
			fail(seq)
		}
		return resp, nil
	}
}

// Names of the sources, in logs and errors.
const (
	sourceDynamoDB    = "DynamoDB stream"
	sourceSQS         = "SQS"
	sourceSNS         = "SNS"
	sourceEventBridge = "EventBridge"
	sourceKinesis     = "Kinesis"
)

// sourceRecord is one record of a source's batch.
type sourceRecord struct {
	// item is the record's batch item identifier (a sequence number, a
	// message id), also what logs and errors name it by.
	item string
	// eventID is the default id of its events: the source's own id of the
	// record. Empty: the events' ids are left as decode gives them.
	eventID string
	// kind is what the source calls the record (such as INSERT), for logs.
	kind string
	// decode maps the record to the events it carries.
	decode func() ([]store.Event, error)
	// trace is the X-Ray trace header the record carries (SQS's
	// AWSTraceHeader), linked from the batch's span; empty without.
	trace string
}

// handleBatch handles recs in order and returns the items to report as
// failures: those one of whose deliveries failed. With ordered, the first
// such record fails every later one, unprocessed, as a stream's retry
// starts from the lowest failed sequence number; without, later records are
// processed. A context that is done fails the records not yet processed.
func (s *Server) handleBatch(ctx context.Context, source string, recs []sourceRecord, ordered bool) (failed []string) {
	if s.tel != nil {
		var end func()
		ctx, end = s.traceBatch(ctx, source, recs, &failed)
		defer end()
	}
	for i, r := range recs {
		if err := ctx.Err(); err != nil {
			s.log.WarnContext(ctx, source+" batch interrupted: the rest of the batch will be retried",
				slog.String("record", r.item), slog.Int("records", len(recs)-i), slog.String("error", err.Error()))
			for _, r := range recs[i:] {
				failed = append(failed, r.item)
			}
			return failed
		}
		if s.handleRecord(ctx, source, r) {
			continue
		}
		failed = append(failed, r.item)
		if ordered {
			s.log.WarnContext(ctx, source+" record failed: it and the rest of the batch will be retried",
				slog.String("record", r.item), slog.Int("records", len(recs)-i))
			for _, r := range recs[i+1:] {
				failed = append(failed, r.item)
			}
			return failed
		}
		s.log.WarnContext(ctx, source+" record failed: it will be retried", slog.String("record", r.item))
	}
	return failed
}

// handleRecord decodes one record and delivers its events. It reports
// whether the record is done with: delivered, or skipped because it can
// never be delivered (reported to Hooks.OnError).
func (s *Server) handleRecord(ctx context.Context, source string, r sourceRecord) bool {
	evs, err := r.decode()
	if err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: %s record %s skipped: %w", source, r.item, err),
			slog.String("source", source), slog.String("record", r.item))
		return true
	}
	if len(evs) == 0 {
		s.log.DebugContext(ctx, source+" record ignored", slog.String("record", r.item), slog.String("kind", r.kind))
		return true
	}
	if r.eventID != "" {
		for i := range evs {
			if evs[i].ID != "" {
				continue
			}
			evs[i].ID = r.eventID
			if len(evs) > 1 {
				evs[i].ID += "#" + strconv.Itoa(i)
			}
		}
	}
	for _, ev := range evs {
		attrs := []slog.Attr{slog.String("source", source), slog.String("record", r.item), slog.String("event_id", ev.ID), slog.String("topic", ev.Topic)}
		res, err := s.Deliver(ctx, ev)
		switch {
		case errors.Is(err, store.ErrInvalidEvent):
			s.reportError(ctx, fmt.Errorf("gqlambda: %s record %s: event skipped: %w", source, r.item, err), attrs...)
		case err != nil:
			s.reportError(ctx, fmt.Errorf("gqlambda: %s record %s (event %s): %w", source, r.item, ev.ID, err), attrs...)
			return false
		case res.Failed > 0:
			// Each failed delivery went to Hooks.OnError already.
			s.log.LogAttrs(ctx, slog.LevelWarn, source+" event not delivered to every subscription", append(attrs, slog.Int("failed", res.Failed))...)
			return false
		}
	}
	return true
}
