package gateway

import (
	"context"
	"time"
)

// PostTrace is a set of hooks a [Sender] calls while it carries out one
// call, as net/http/httptrace's ClientTrace is for an HTTP request: it lets
// the caller count what the Sender's own retry policy hides (throttling,
// retries) without the Sender knowing who asks. Attach one to a call's
// context with [WithPostTrace]. A nil field is not called.
//
// The hooks of one PostTrace may be called from many goroutines at once
// (every call whose context carries it) and must be safe for that.
type PostTrace struct {
	// AttemptFailed is called after each attempt of a call that failed with
	// a retryable error (throttling, a server error, a network error, a
	// timed-out attempt), before the Sender waits to try again or gives up.
	// Final failures that are never retried (a gone connection, an
	// oversized frame) are not attempts that failed in this sense: the
	// call's error tells of them.
	AttemptFailed func(AttemptInfo)
}

// AttemptInfo describes one failed attempt of a call, for
// [PostTrace.AttemptFailed].
type AttemptInfo struct {
	// Attempt is the number of the attempt that failed: 1 for the first.
	Attempt int
	// Status is the HTTP status of its answer, 0 when there was none.
	Status int
	// Throttled reports that the gateway throttled the attempt (429).
	Throttled bool
	// Retry reports that another attempt follows, after Delay.
	Retry bool
	// Delay is the wait before the next attempt; zero when none follows.
	Delay time.Duration
	// Err is the attempt's error.
	Err error
}

type postTraceKey struct{}

// WithPostTrace returns a context whose calls to a Sender report to trace.
func WithPostTrace(ctx context.Context, trace *PostTrace) context.Context {
	return context.WithValue(ctx, postTraceKey{}, trace)
}

// ContextPostTrace returns the PostTrace of ctx, or nil.
func ContextPostTrace(ctx context.Context) *PostTrace {
	t, _ := ctx.Value(postTraceKey{}).(*PostTrace)
	return t
}
