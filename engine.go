package gqlambda

import (
	"context"

	"github.com/gqlambda/gqlambda/filter"
)

// Engine parses, validates and executes GraphQL operations against a schema.
// The server caches nothing itself: an Engine keeps parsed and validated
// documents in a bounded cache that lives as long as the Engine, so a warm
// Lambda parses each distinct document once.
//
// Implementations: engine/graphqlgo (github.com/graphql-go/graphql) and
// engine/gqlgen (github.com/99designs/gqlgen). They are safe for concurrent
// use.
type Engine interface {
	// Prepare parses and validates query and selects the operation named
	// operationName (which may be empty when the document holds one
	// operation). Invalid documents, and names that select no operation,
	// yield an [Errors] describing why.
	Prepare(ctx context.Context, query, operationName string) (Operation, error)
}

// OperationType is the kind of a GraphQL operation.
type OperationType string

// The GraphQL operation types.
const (
	Query        OperationType = "query"
	Mutation     OperationType = "mutation"
	Subscription OperationType = "subscription"
)

// Operation is one prepared GraphQL operation. It is immutable and safe for
// concurrent use; the same Operation serves every request with the same
// document and operation name.
type Operation interface {
	// Type is the operation's type, read from the parsed document.
	Type() OperationType

	// Execute runs the operation with variables and returns the encoded
	// GraphQL response ({"data": ..., "errors": [...]}). Queries and mutations
	// run with a nil root; a subscription runs once per event with the
	// event's payload as root value, so its root field's resolver receives
	// the payload as its source. Errors that belong in the response (invalid
	// variables, failing resolvers) are in the response; the error return is
	// for failures that prevent producing one.
	Execute(ctx context.Context, variables map[string]any, root any) ([]byte, error)

	// Subscribe runs the subscribe phase of a subscription: the root field's
	// subscribe resolver, which declares with the engine's helper what the
	// subscription listens to. It fails with an [Errors] when the variables
	// are invalid, the resolver fails, or the field declares nothing.
	Subscribe(ctx context.Context, variables map[string]any) (Declaration, error)
}

// Declaration is what a subscription's root field declared in the subscribe
// phase: engine helpers such as graphqlgo.Subscribe build it.
type Declaration struct {
	// Field is the name of the subscription root field.
	Field string
	// Args are the field's arguments, coerced by the engine.
	Args map[string]any
	// Options are the field's topics, filter and hooks.
	Options SubscribeOptions
}

// SubscribeOptions declare what a subscription field listens to and the
// per-subscription hooks. Every function receives the context of the
// subscription (see [ConnFromContext], [OperationIDFromContext],
// [ServerFromContext]) and the field's arguments.
//
// The subscribe resolver that carries these options may run more than once
// for one subscription (when it starts, and again when it ends if OnComplete
// is set), so it must not have side effects of its own: put them in the
// hooks.
type SubscribeOptions struct {
	// Topics are the topics the subscription receives events from.
	Topics []string
	// TopicsFunc computes further topics from the arguments, such as
	// "chat:" + args["chatId"]. Its topics are added to Topics; a
	// subscription needs at least one topic.
	TopicsFunc func(ctx context.Context, args map[string]any) ([]string, error)

	// Filter selects the events the subscription receives. It is fixed when
	// the subscription starts and stored with it. The zero Filter receives
	// every event of the topics.
	Filter filter.Filter
	// FilterFunc computes the filter from the arguments and the connection's
	// context when the subscription starts; it replaces Filter. An invalid
	// filter rejects the subscription with a GraphQL error.
	FilterFunc func(ctx context.Context, args map[string]any) (filter.Filter, error)

	// Predicate, when set, decides event by event whether the subscription
	// receives the event, as graphql-subscriptions' withFilter does: it gets
	// the event's payload (as filters and resolvers see it), the field's
	// arguments, and through its context the connection ([ConnFromContext]:
	// its stored context and the data OnConnect kept). It runs during
	// fan-out of a Publish (not of a Complete), for each subscription the
	// stored Filter kept, after it. The stored filter is the fast path: it is
	// evaluated on the stored record, with no code of the schema's; a
	// predicate costs, per subscription and event, the field's subscribe
	// phase run again (to get the predicate and the arguments; the document
	// is cached) and the predicate itself, so narrow the events with Filter
	// first. A false result or an error (reported to Hooks.OnError) skips
	// the event for that subscription, which counts as filtered out. It must
	// be free of side effects and safe for concurrent use.
	Predicate func(ctx context.Context, payload any, args map[string]any) (bool, error)

	// OnSubscribe runs before the subscription is stored. An error rejects
	// it: the client receives the error as GraphQL errors (see [Error]).
	OnSubscribe func(ctx context.Context, args map[string]any) error
	// OnAfterSubscribe runs once the subscription is stored. It may publish
	// (through [ServerFromContext]); a non-nil initial payload is delivered
	// to this subscription alone, before any later event, as if published.
	// An error is reported to Hooks.OnError; the subscription stays.
	OnAfterSubscribe func(ctx context.Context, args map[string]any) (initial any, err error)
	// OnComplete runs once when the subscription ends: completed by the
	// client, by [Server.Complete], by $disconnect, or when API Gateway
	// reports the connection gone. It does not run for subscriptions whose
	// records expire unseen (TTL). An error is reported to Hooks.OnError.
	OnComplete func(ctx context.Context, args map[string]any) error
}
