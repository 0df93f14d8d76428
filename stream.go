package gqlambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/store"
)

// This file is the stream handlers: Lambda functions fed by a stream that
// decode each record into events and fan them out.

// DynamoDBDecoder turns one DynamoDB stream record into the events it
// carries, in order: none for a record to skip. An error wrapping
// [store.ErrInvalidEvent] (or any error: decoding the same record again
// gives the same result) means the record can never be delivered.
// store/dynamodb's DecodeEventRecord decodes the records of its events
// table.
type DynamoDBDecoder func(rec lambdaevents.DynamoDBEventRecord) ([]store.Event, error)

// DynamoDBStreamHandler returns the handler of a Lambda function subscribed
// to a DynamoDB stream, which delivers the events decode finds in each
// record. For the events table of store/dynamodb's EventTable:
//
//	lambda.Start(srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord))
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
// deliver them twice or out of order. Delivery is therefore at least once: a
// retried event reaches again the subscriptions that received it on the
// failed attempt. Connections that are gone (410) are not failures.
//
// The handler's error is nil unless decode is nil: failures are reported in
// the response.
func (s *Server) DynamoDBStreamHandler(decode DynamoDBDecoder) func(context.Context, lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
	return func(ctx context.Context, batch lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
		var resp lambdaevents.DynamoDBEventResponse
		if decode == nil {
			return failFrom(resp, batch.Records), errors.New("gqlambda: DynamoDBStreamHandler needs a decoder, such as store/dynamodb's DecodeEventRecord")
		}
		for i, rec := range batch.Records {
			seq := rec.Change.SequenceNumber
			if err := ctx.Err(); err != nil {
				s.log.WarnContext(ctx, "stream batch interrupted: the rest of the batch will be retried",
					slog.String("sequence_number", seq), slog.Int("records", len(batch.Records)-i), slog.String("error", err.Error()))
				return failFrom(resp, batch.Records[i:]), nil
			}
			evs, err := decode(rec)
			if err != nil {
				s.reportError(ctx, fmt.Errorf("gqlambda: stream record %s skipped: %w", seq, err),
					slog.String("sequence_number", seq))
				continue
			}
			if len(evs) == 0 {
				s.log.DebugContext(ctx, "stream record ignored", slog.String("sequence_number", seq), slog.String("event_name", rec.EventName))
				continue
			}
			if s.deliverRecord(ctx, seq, evs) {
				continue
			}
			s.log.WarnContext(ctx, "stream record failed: it and the rest of the batch will be retried",
				slog.String("sequence_number", seq), slog.Int("records", len(batch.Records)-i))
			return failFrom(resp, batch.Records[i:]), nil
		}
		return resp, nil
	}
}

// deliverRecord delivers the events of the stream record seq and reports
// whether the record is done with: delivered, or invalid and skipped.
func (s *Server) deliverRecord(ctx context.Context, seq string, evs []store.Event) bool {
	for _, ev := range evs {
		attrs := []slog.Attr{slog.String("sequence_number", seq), slog.String("event_id", ev.ID), slog.String("topic", ev.Topic)}
		res, err := s.Deliver(ctx, ev)
		switch {
		case errors.Is(err, store.ErrInvalidEvent):
			s.reportError(ctx, fmt.Errorf("gqlambda: stream record %s: event skipped: %w", seq, err), attrs...)
		case err != nil:
			s.reportError(ctx, fmt.Errorf("gqlambda: stream record %s (event %s): %w", seq, ev.ID, err), attrs...)
			return false
		case res.Failed > 0:
			// Each failed delivery went to Hooks.OnError already.
			s.log.LogAttrs(ctx, slog.LevelWarn, "stream event not delivered to every subscription", append(attrs, slog.Int("failed", res.Failed))...)
			return false
		}
	}
	return true
}

// failFrom reports every record of recs as a batch item failure.
func failFrom(resp lambdaevents.DynamoDBEventResponse, recs []lambdaevents.DynamoDBEventRecord) lambdaevents.DynamoDBEventResponse {
	for _, r := range recs {
		resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
	}
	return resp
}
