package gqlambda

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// This file keeps the failures of the infrastructure from clients: an error
// of the store, of a network call, of an AWS service or a deadline reaches
// the client as a generic message with a code and a request id, and is
// logged in full under that id.

// Codes of masked errors.
const (
	// codeUnavailable: the store or another service did not answer (it
	// failed, refused the connection, or did not answer in time); the client
	// may retry.
	codeUnavailable = "SERVICE_UNAVAILABLE"
	// codeInternal: any other failure of the server.
	codeInternal = "INTERNAL_SERVER_ERROR"
)

// storeFailure marks an error of the server's store (storecall.go), so that
// a resolver that returns it (a Publish that failed, say) gets it masked.
type storeFailure struct{ err error }

func (e *storeFailure) Error() string { return e.err.Error() }
func (e *storeFailure) Unwrap() error { return e.err }

// Duck types of the infrastructure's errors, so that the server recognises
// them without importing their modules: smithy-go's APIError and
// OperationError (every AWS SDK call), and go-redis's Error.
type (
	apiError interface {
		error
		ErrorCode() string
		ErrorMessage() string
	}
	operationError interface {
		error
		Service() string
		Operation() string
	}
	redisError interface {
		error
		RedisError()
	}
)

// maskCode returns the code a client gets in place of err, or "" when err
// may be shown as it is. An [*Error] or [Errors] in err's chain was chosen
// for the client and is shown; errors of the store, of the network, of AWS
// services and of Redis, and deadlines, are masked.
func maskCode(err error) string {
	if _, ok := errors.AsType[*Error](err); ok {
		return ""
	}
	if _, ok := errors.AsType[Errors](err); ok {
		return ""
	}
	if _, ok := errors.AsType[*storeFailure](err); ok {
		return codeUnavailable
	}
	if errors.Is(err, ErrStoreTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return codeUnavailable
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return codeUnavailable
	}
	if _, ok := errors.AsType[redisError](err); ok {
		return codeUnavailable
	}
	if _, ok := errors.AsType[apiError](err); ok {
		return codeInternal
	}
	if _, ok := errors.AsType[operationError](err); ok {
		return codeInternal
	}
	return ""
}

// MaskError returns what a client sees in place of err, an error a resolver
// or a hook returned, when err is a failure of the infrastructure that the
// client must not read (table names, addresses, AWS request ids): an error
// of the server's store, a network error, an error of an AWS SDK call or of
// Redis, a deadline. The client then gets "The service is unavailable; try
// again" (code SERVICE_UNAVAILABLE: the store or a service did not answer)
// or "Internal server error" (code INTERNAL_SERVER_ERROR), with a request
// id in the message and in extensions.requestId; err itself is logged at
// ERROR with that id (request_id) and passed to Hooks.OnError, when ctx is a
// server's. MaskError returns nil for any other error, which clients see as
// it is: an [*Error] or [Errors] in err's chain is always shown as it is.
// Config.FormatError, when set, then rewrites the masked error as any other.
//
// The engines (engine/graphqlgo, engine/gqlgen) call it for every error a
// resolver returned; the server calls it for errors of its hooks. It is safe
// for concurrent use.
func MaskError(ctx context.Context, err error) *Error {
	if err == nil {
		return nil
	}
	code := maskCode(err)
	if code == "" {
		return nil
	}
	id := requestID(ctx)
	if s, ok := ServerFromContext(ctx); ok {
		s.reportError(ctx, fmt.Errorf("gqlambda: masked for the client as %s (request id %s): %w", code, id, err),
			slog.String("request_id", id))
	}
	return maskedError(code, id)
}

// maskedError is the error a client gets for a failure coded code, logged
// under request id.
func maskedError(code, id string) *Error {
	msg := internalError
	if code == codeUnavailable {
		msg = "The service is unavailable; try again"
	}
	return &Error{
		Message:    msg + " (request id " + id + ")",
		Extensions: map[string]any{"code": code, "requestId": id},
	}
}

// internalFailure reports err, a failure of the server the client cannot
// act on, under a new request id, and returns the masked errors the client
// gets: coded SERVICE_UNAVAILABLE when the store or a service did not
// answer, INTERNAL_SERVER_ERROR otherwise.
func (s *Server) internalFailure(ctx context.Context, err error, attrs ...slog.Attr) Errors {
	code := maskCode(err)
	if code == "" {
		code = codeInternal
	}
	id := requestID(ctx)
	s.reportError(ctx, fmt.Errorf("%w (request id %s)", err, id), append(attrs, slog.String("request_id", id))...)
	return Errors{maskedError(code, id)}
}

// errorsFor turns err, an error of a hook, resolver or subscribe phase,
// into the GraphQL errors a client receives: masked when it is a failure of
// the infrastructure (see MaskError), as it is otherwise.
func (s *Server) errorsFor(ctx context.Context, err error) Errors {
	if _, ok := ServerFromContext(ctx); !ok {
		ctx = withScope(ctx, scope{server: s})
	}
	if m := MaskError(ctx, err); m != nil {
		return Errors{m}
	}
	return graphQLErrors(err)
}

// requestID is the id under which a failure is logged and reported to the
// client: the Lambda invocation's request id, or a new random one.
func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return rand.Text()[:16]
}
