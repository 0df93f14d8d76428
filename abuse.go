package gqlambda

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/store"
)

// This file bounds what one connection may ask of the server: frames per
// second (a token bucket per connection), and subscriptions at once (bounded
// by the store, in the write that creates one: store.BoundedSubscriptions). A
// client over a bound gets a protocol error for what it asked (an `error`
// for an operation), and a client that keeps going over it is closed with
// 4429, as graphql-ws closes a client that floods it with initialisations.

const (
	defaultFrameRate        = 100
	defaultFrameBurst       = 200
	defaultMaxSubscriptions = 100
	defaultMaxStrikes       = 10

	// closeTooMany is the close of a repeat offender.
	closeTooMany       = 4429
	closeTooManyReason = "Too many requests"

	codeRateLimited          = "RATE_LIMITED"
	codeTooManySubscriptions = "TOO_MANY_SUBSCRIPTIONS"

	// maxTrackedConnections bounds the connections whose buckets the
	// server keeps; beyond it, buckets idle for a minute are dropped.
	maxTrackedConnections = 1 << 16
	idleBucket            = time.Minute
)

// bucket is the frame budget and the strikes of one connection.
type bucket struct {
	tokens  float64
	last    time.Time
	strikes int
	struck  time.Time // the last strike; strikes older than a minute are forgiven
}

// limiter holds the buckets of the connections this process served. On
// Lambda each instance holds its own: a client whose frames are spread over
// n instances gets up to n times the rate.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

// take spends a token of connection id at now, and reports whether there
// was one; rate <= 0 means no bound.
func (l *limiter) take(id string, now time.Time, rate float64, burst int) bool {
	if rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(id, now)
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// strike counts a refusal of connection id and returns its strikes.
func (l *limiter) strike(id string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(id, now)
	if now.Sub(b.struck) > time.Minute {
		b.strikes = 0
	}
	b.strikes++
	b.struck = now
	return b.strikes
}

// forget drops connection id.
func (l *limiter) forget(id string) {
	l.mu.Lock()
	delete(l.buckets, id)
	l.mu.Unlock()
}

// get returns the bucket of id, full for a connection not seen before; with
// l.mu held.
func (l *limiter) get(id string, now time.Time) *bucket {
	if l.buckets == nil {
		l.buckets = make(map[string]*bucket)
	}
	b := l.buckets[id]
	if b == nil {
		if len(l.buckets) >= maxTrackedConnections {
			l.evict(now)
		}
		b = &bucket{tokens: 1 << 30, last: now} // capped at the burst on first use
		l.buckets[id] = b
	}
	return b
}

// evict makes room for new buckets; with l.mu held. It drops the buckets
// idle for idleBucket and, when that leaves more than seven eighths of
// maxTrackedConnections (a flood of new keys, such as the source addresses
// of HTTPOptions.RateKey, keeps every bucket in use), arbitrary others down
// to that: the buckets stay bounded, and the scan runs once per eighth of
// the bound of new keys rather than for every one. A dropped bucket that
// was in use starts again full, its strikes forgiven.
func (l *limiter) evict(now time.Time) {
	for k, v := range l.buckets {
		if now.Sub(v.last) > idleBucket {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) <= maxTrackedConnections-maxTrackedConnections/8 {
			break
		}
		delete(l.buckets, k)
	}
}

// admitFrame spends a frame of connection id from its budget. A frame over
// the budget is refused: an operation gets an `error` coded RATE_LIMITED
// for its id, anything else is dropped; after Limits.MaxStrikes refusals
// the connection is closed with 4429. It reports whether the frame may be
// handled.
func (s *Server) admitFrame(ctx context.Context, id, endpoint string, body []byte) bool {
	now := time.Now()
	if s.frames.take(id, now, s.limits.FrameRate, s.limits.FrameBurst) {
		return true
	}
	if s.offended(ctx, id, endpoint, now) {
		return false
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "frame over the connection's rate: refused", slog.String("connection_id", id))
	s.answerWithoutRecord(ctx, id, endpoint, body,
		Errors{{Message: fmt.Sprintf("Too many messages: at most %g a second", s.limits.FrameRate), Extensions: map[string]any{"code": codeRateLimited}}}, false)
	return false
}

// offended counts a refusal of connection id, and closes it with 4429 when
// it has had Limits.MaxStrikes of them; it reports whether it closed it.
func (s *Server) offended(ctx context.Context, id, endpoint string, now time.Time) bool {
	if s.limits.MaxStrikes < 0 || s.frames.strike(id, now) < s.limits.MaxStrikes {
		return false
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "connection kept going over its limits: closing with 4429", slog.String("connection_id", id))
	if err := s.sender.Close(ctx, endpoint, id, closeTooMany, closeTooManyReason); err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: close connection %s with %d: %w", id, closeTooMany, err), slog.String("connection_id", id))
	}
	s.frames.forget(id)
	s.cleanup(ctx, id, DisconnectInfo{Cause: ServerClosed, Code: closeTooMany, Reason: closeTooManyReason})
	return true
}

// refuseSubscription answers a subscribe that the store refused because the
// connection holds Limits.MaxSubscriptionsPerConnection subscriptions
// already, or closes a repeat offender with 4429 (then the actions are nil).
func (s *Server) refuseSubscription(ctx context.Context, ss *session, id string) []protocol.Action {
	if s.offended(ctx, ss.conn.ID, ss.conn.Endpoint, time.Now()) {
		return nil
	}
	return ss.proto.Reject(id, s.clientErrors(ctx, Errors{{
		Message:    fmt.Sprintf("Too many subscriptions: at most %d on one connection", s.limits.MaxSubscriptionsPerConnection),
		Extensions: map[string]any{"code": codeTooManySubscriptions},
	}}))
}

// createSubscription stores sub, bounded by
// Limits.MaxSubscriptionsPerConnection when the store bounds it in the same
// write (store.BoundedSubscriptions).
func (s *Server) createSubscription(ctx context.Context, sub store.Subscription) error {
	if s.boundedSubs && s.limits.MaxSubscriptionsPerConnection > 0 {
		return createBounded(s.store, ctx, sub, s.limits.MaxSubscriptionsPerConnection)
	}
	return s.store.CreateSubscription(ctx, sub)
}

// createBounded calls st's CreateBoundedSubscription, or CreateSubscription
// when st has none.
func createBounded(st store.Store, ctx context.Context, sub store.Subscription, limit int) error {
	if b, ok := st.(store.BoundedSubscriptions); ok {
		return b.CreateBoundedSubscription(ctx, sub, limit)
	}
	return st.CreateSubscription(ctx, sub)
}
