package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrInvalidEvent: an event cannot be delivered as it is, whatever the
// number of attempts: it has no topic, its payload is not JSON, or the record
// that carried it is malformed. Event stores, stream decoders and the
// server's delivery wrap it, so that a stream handler can tell a record to
// skip (and report) from one to retry.
var ErrInvalidEvent = errors.New("store: invalid event")

// Event is a published event on its way through an [EventStore]: what the
// server's Publish or Complete writes when it is asynchronous, and what a
// stream handler hands back to the server for delivery.
type Event struct {
	// ID identifies the event uniquely. The server sets a random one.
	ID string
	// Topic is the topic the event is published to.
	Topic string
	// Payload is the event's payload as JSON. It is empty when Publish or
	// Complete was given a nil payload: every subscription of the topic
	// matches (for a Complete: every subscription ends).
	Payload json.RawMessage
	// Complete marks a Complete (end the matching subscriptions), not a
	// Publish.
	Complete bool
	// PublishedAt is when Publish or Complete was called.
	PublishedAt time.Time
}

// EventStore keeps events for asynchronous delivery: the server's Publish
// and Complete write to it when it is configured, and a stream of the store
// delivers each event once it is durable. store/dynamodb's EventTable is the
// DynamoDB implementation.
type EventStore interface {
	// PutEvent stores ev durably. Once it returns nil, ev will be delivered.
	// An event without id or topic, or whose payload is not JSON, is refused
	// with an error wrapping ErrInvalidEvent.
	PutEvent(ctx context.Context, ev Event) error
}
