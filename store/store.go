// Package store defines where gqlambda keeps its state between Lambda
// invocations: connections and their subscriptions.
//
// Every WebSocket frame is handled by an independent invocation, often in a
// different process, so a [Store] must be safe for concurrent use by many
// processes at once and must make the writes that race atomic: a subscription
// is written only while its connection exists, a duplicate subscription id is
// refused, a connection is acknowledged once, and a deleted subscription is
// reported to exactly one caller.
//
// Implementations: store/memory (one process; tests and local development),
// store/dynamodb and store/redis. Every implementation must pass
// store/storetest. A store may also implement the optional [DeliveryLog],
// which the server uses to keep redelivered events from reaching a
// subscription twice; all three implementations do.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"time"

	"github.com/gqlambda/gqlambda/filter"
)

// Sentinel errors a [Store] returns, possibly wrapped. Callers branch on them
// with errors.Is.
var (
	// ErrConnectionNotFound: the connection does not exist or has expired.
	ErrConnectionNotFound = errors.New("store: connection not found")
	// ErrConnectionExists: a connection with this id already exists.
	ErrConnectionExists = errors.New("store: connection already exists")
	// ErrAlreadyAcknowledged: the connection was acknowledged before.
	ErrAlreadyAcknowledged = errors.New("store: connection already acknowledged")
	// ErrSubscriptionNotFound: the subscription does not exist or has expired.
	ErrSubscriptionNotFound = errors.New("store: subscription not found")
	// ErrSubscriptionExists: the connection already has a subscription with
	// this id.
	ErrSubscriptionExists = errors.New("store: subscription already exists")
	// ErrSubscriptionLimit: the connection already has as many
	// subscriptions as a [BoundedSubscriptions] call allows.
	ErrSubscriptionLimit = errors.New("store: connection has too many subscriptions")
)

// Connection is the state of one WebSocket connection.
type Connection struct {
	// ID is API Gateway's connectionId.
	ID string
	// Endpoint is the @connections endpoint that reaches the connection, such
	// as https://abc123.execute-api.eu-west-1.amazonaws.com/prod.
	Endpoint string
	// Protocol is the negotiated subprotocol, such as "graphql-transport-ws".
	Protocol string
	// Acknowledged reports that connection_init was accepted.
	Acknowledged bool
	// Context is what the server's connection_init hook chose to keep, as
	// JSON; empty until the connection is acknowledged.
	Context json.RawMessage
	// Authorizer is the API Gateway authorizer context of $connect, as JSON;
	// empty without an authorizer.
	Authorizer json.RawMessage
	// Data is what the server's $connect hook chose to keep, as JSON (such
	// as the user an authorizer identified); empty when it kept nothing. It
	// never changes after CreateConnection.
	Data json.RawMessage
	// ConnectedAt is when the client connected.
	ConnectedAt time.Time
	// ExpiresAt is when the record expires. A store treats an expired record as
	// absent even while it still holds it.
	ExpiresAt time.Time
	// LastActiveAt and PingedAt are kept by a store that implements
	// [ActivityIndex] (see there): when the connection was last known to be
	// alive (ConnectedAt when created with the zero time), and when a ping
	// that awaits its answer was sent to it (zero: none). Other stores
	// leave them zero.
	LastActiveAt time.Time
	PingedAt     time.Time
}

// Subscription is one active subscription operation of a connection.
type Subscription struct {
	// ConnectionID is the connection that owns the subscription.
	ConnectionID string
	// ID is the client's operation id, unique within the connection.
	ID string
	// Topics are the topics the subscription listens to; at least one.
	Topics []string
	// Filter selects the events of Topics the subscription receives.
	Filter filter.Filter
	// Query, OperationName and Variables are the GraphQL operation, executed
	// once per event. Variables is a JSON object, or empty.
	Query         string
	OperationName string
	Variables     json.RawMessage
	// Context, Data, Authorizer, Endpoint and Protocol are copied from the
	// connection when the subscription is created, so that fan-out needs no
	// connection read. They never change after the connection is
	// acknowledged.
	Context    json.RawMessage
	Data       json.RawMessage
	Authorizer json.RawMessage
	Endpoint   string
	Protocol   string
	// CompleteHook reports that the subscription field declared an OnComplete
	// hook that must run when the subscription ends.
	CompleteHook bool
	// Predicate reports that the subscription field declared a predicate
	// that decides, event by event, whether the subscription receives it.
	Predicate bool
	// CreatedAt is when the subscription started.
	CreatedAt time.Time
	// ExpiresAt is when the record expires; see [Connection.ExpiresAt].
	ExpiresAt time.Time
}

// Store keeps connections and subscriptions. Implementations are safe for
// concurrent use, and their methods that change state are atomic.
type Store interface {
	// CreateConnection stores a new connection. It fails with
	// ErrConnectionExists if an unexpired connection with that id exists.
	CreateConnection(ctx context.Context, c Connection) error

	// GetConnection returns the connection, or ErrConnectionNotFound.
	GetConnection(ctx context.Context, id string) (Connection, error)

	// AcknowledgeConnection marks the connection acknowledged and stores the
	// context its connection_init hook returned. Of two concurrent calls for
	// one connection, exactly one succeeds; the other gets
	// ErrAlreadyAcknowledged. A missing or expired connection gives
	// ErrConnectionNotFound.
	AcknowledgeConnection(ctx context.Context, id string, context json.RawMessage) error

	// DeleteConnection deletes the connection and every subscription of it,
	// and returns what it deleted. Deleting subscriptions happens even when
	// the connection record is already gone, in which case the error is
	// ErrConnectionNotFound. Of concurrent calls, exactly one gets the
	// connection and each subscription is returned to exactly one caller
	// (here or in DeleteSubscription).
	DeleteConnection(ctx context.Context, id string) (Connection, []Subscription, error)

	// CreateSubscription stores a subscription, atomically with two
	// conditions: its connection exists and is unexpired (else
	// ErrConnectionNotFound), and the connection has no subscription with
	// that id (else ErrSubscriptionExists). A subscription created while its
	// connection is being deleted is either refused or deleted with it: it
	// never outlives the connection.
	CreateSubscription(ctx context.Context, s Subscription) error

	// GetSubscription returns one subscription, or ErrSubscriptionNotFound.
	GetSubscription(ctx context.Context, connectionID, id string) (Subscription, error)

	// DeleteSubscription deletes exactly one subscription and returns it. Of
	// concurrent deletions of the same subscription (here or through
	// DeleteConnection), exactly one returns it; the others get
	// ErrSubscriptionNotFound.
	DeleteSubscription(ctx context.Context, connectionID, id string) (Subscription, error)

	// TopicSubscriptions yields every unexpired subscription listening to
	// topic, each exactly once, reading page after page as the caller
	// iterates. It finds them by key, never by scanning. An error ends the
	// sequence.
	TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[Subscription, error]
}

// BoundedSubscriptions is the optional capability of a [Store] that bounds a
// connection's subscriptions in the same atomic write that creates one, so
// that the bound costs no read and holds however many subscribes of one
// connection race. store/memory, store/dynamodb and store/redis implement it.
type BoundedSubscriptions interface {
	// CreateBoundedSubscription is CreateSubscription that also refuses,
	// with ErrSubscriptionLimit, a subscription of a connection that holds
	// max or more subscriptions already (an expired one whose id the new
	// subscription takes over does not count). limit <= 0: no bound.
	CreateBoundedSubscription(ctx context.Context, s Subscription, limit int) error
}
