package gqlambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Error is a GraphQL error as the GraphQL specification's response format
// defines it. Engines report invalid documents with it, and hooks may return
// it (or [Errors]) to choose exactly what the client sees.
type Error struct {
	// Message describes the error for the client.
	Message string `json:"message"`
	// Locations point into the GraphQL document, when the error has a place.
	Locations []Location `json:"locations,omitempty"`
	// Path is the response path of the field that failed, when there is one.
	Path []any `json:"path,omitempty"`
	// Extensions carries additional information, such as a "code".
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Location is a line and column in a GraphQL document, both starting at 1.
type Location struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Message }

// Errors is a list of GraphQL errors. An empty list is not an error; engines
// return nil instead.
type Errors []*Error

// Error implements the error interface: the messages joined with "; ".
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Message
	}
	return strings.Join(msgs, "; ")
}

// graphQLErrors turns any error into the GraphQL errors a client receives:
// an [Errors] or [*Error] in err's chain is used as is; any other error
// becomes one error carrying its message, the way resolver errors reach
// clients.
func graphQLErrors(err error) Errors {
	var list Errors
	if errors.As(err, &list) && len(list) > 0 {
		return list
	}
	var one *Error
	if errors.As(err, &one) {
		return Errors{one}
	}
	return Errors{{Message: err.Error()}}
}

// StatusError refuses a $connect with an HTTP status. Return it (possibly
// wrapped) from [Hooks.OnConnect]; any other error refuses with 403.
type StatusError struct {
	// Status is the HTTP status API Gateway answers the WebSocket upgrade
	// with, such as 401. Values outside 400–599 are treated as 403.
	Status int
	// Reason is logged; API Gateway does not pass it to the client.
	Reason string
}

// Error implements the error interface.
func (e *StatusError) Error() string {
	return fmt.Sprintf("connection refused with status %d: %s", e.Status, e.Reason)
}

// Sentinel errors of the server's configuration and API.
var (
	// ErrNoEngine: Config.Engine is nil.
	ErrNoEngine = errors.New("gqlambda: Config.Engine is required")
	// ErrMemoryStoreOnLambda: the process runs on AWS Lambda without a
	// Config.Store. The in-memory default would lose subscriptions between
	// invocations handled by different Lambda instances.
	ErrMemoryStoreOnLambda = errors.New("gqlambda: Config.Store is required on AWS Lambda (the in-memory default is not shared between Lambda instances); pass a shared store such as store/dynamodb, or memory.New(nil) explicitly")
	// ErrStoreTimeout: a store call did not answer within
	// Limits.StoreTimeout.
	ErrStoreTimeout = errors.New("gqlambda: the store did not answer in time")
	// ErrEmptyTopic: Publish or Complete was called with an empty topic.
	ErrEmptyTopic = errors.New("gqlambda: empty topic")
	// ErrNoSender: Config.Sender is nil, so the server cannot reach
	// WebSocket clients. The WebSocket handler then refuses every event with
	// 500 and reports it to Hooks.OnError, and Deliver, and Publish and
	// Complete when they fan out directly (without Config.Events), return
	// it. On AWS, pass gateway/apigw's NewDefault; locally, a
	// localgateway.Gateway.
	ErrNoSender = errors.New("gqlambda: Config.Sender is required to reach WebSocket clients; pass apigw.NewDefault's client on AWS, or a localgateway.Gateway locally")
	// ErrDeliveryInProgress: another invocation is delivering the same event
	// (by id) to a subscription right now (see [Redelivery]). Deliver counts
	// the subscription as failed, so that the source's record is retried
	// later, when the other delivery has finished or its lease has ended.
	ErrDeliveryInProgress = errors.New("gqlambda: the event is being delivered to the subscription by another invocation")
	// ErrRetry is what the SNS and EventBridge handlers return when a
	// delivery failed: the error that makes Lambda retry an asynchronous
	// invocation. The failures themselves went to Hooks.OnError.
	ErrRetry = errors.New("gqlambda: not delivered to every subscription; retry")
)

// internalError is what a client gets for an error FormatError dropped.
const internalError = "Internal server error"

// clientErrors encodes errs as a client receives them: each rewritten by
// Config.FormatError, when set.
func (s *Server) clientErrors(ctx context.Context, errs Errors) []json.RawMessage {
	if s.formatError == nil {
		return encodeErrors(errs)
	}
	out := make(Errors, len(errs))
	for i, e := range errs {
		out[i] = s.formatOne(ctx, e)
	}
	return encodeErrors(out)
}

// formatOne runs Config.FormatError on a copy of e.
func (s *Server) formatOne(ctx context.Context, e *Error) *Error {
	c := &Error{Message: e.Message, Locations: slices.Clone(e.Locations), Path: slices.Clone(e.Path), Extensions: maps.Clone(e.Extensions)}
	if f := s.formatError(ctx, c); f != nil {
		return f
	}
	return &Error{Message: internalError}
}

// clientResult returns an encoded GraphQL response as a client receives it:
// its errors rewritten by Config.FormatError, when set. The response keeps
// its members in the order the engines write them: errors, data,
// extensions.
func (s *Server) clientResult(ctx context.Context, result []byte) []byte {
	if s.formatError == nil || !bytes.Contains(result, []byte(`"errors"`)) {
		return result
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(result, &top); err != nil {
		return result
	}
	var errs Errors
	if raw, ok := top["errors"]; !ok || json.Unmarshal(raw, &errs) != nil {
		return result
	}
	encoded, err := json.Marshal(s.clientErrors(ctx, errs))
	if err != nil {
		return result
	}
	out := make([]byte, 0, len(result))
	out = append(out, `{"errors":`...)
	out = append(out, encoded...)
	for _, member := range []string{"data", "extensions"} {
		if raw, ok := top[member]; ok {
			out = append(out, `,"`+member+`":`...)
			out = append(out, raw...)
		}
	}
	return append(out, '}')
}
