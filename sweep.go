package gqlambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
	"github.com/gqlambda/gqlambda/protocol/transportws"
	"github.com/gqlambda/gqlambda/store"
)

// This file is liveness: the activity the message loop records, and the
// sweeper that finds the connections whose $disconnect was lost, those that
// never initialised, and (optionally) those that stopped answering pings.

// ErrNoActivityIndex is returned by [Server.Sweep] when the store does not
// implement store.ActivityIndex: without it the sweeper cannot find idle
// connections by key.
var ErrNoActivityIndex = errors.New("gqlambda: the store has no activity index (store.ActivityIndex)")

// Liveness configures how the server keeps track of connections that end
// without a $disconnect (which API Gateway delivers on a best-effort basis)
// or never initialise: the activity the WebSocket handler records, and what
// [Server.Sweep] does with idle connections. It needs a store that
// implements store.ActivityIndex; the zero value is a sensible production
// default. See docs/liveness.md.
type Liveness struct {
	// Granularity is how stale a connection's recorded activity may get
	// before a frame of it records it again: a connection's frames cost at
	// most one store write per Granularity. Default: half of IdleAfter, so
	// that a connection sending anything at least that often is never
	// checked by a sweep.
	Granularity time.Duration

	// IdleAfter is how long a connection is idle (no recorded activity)
	// before Sweep asks API Gateway about it (GET @connections/{id}: 410
	// removes it) or, with Ping, pings it. A connection found alive counts
	// as active from then on, so an idle connection costs one check per
	// IdleAfter. Default: 5 minutes.
	IdleAfter time.Duration

	// InitTimeout is how long after connecting a graphql-transport-ws or
	// graphql-ws connection may go without an accepted connection_init
	// before Sweep closes it (DELETE @connections/{id}; the local gateway
	// sends 4408). The wait is InitTimeout plus up to one sweep interval.
	// Default: 1 minute.
	InitTimeout time.Duration

	// Ping makes Sweep send a protocol ping to idle graphql-transport-ws
	// connections instead of asking API Gateway about them, and close those
	// that have not answered (with a pong, or any other message) by the
	// first sweep PongTimeout after the ping. graphql-ws clients answer
	// pings on their own. The other protocols have no ping a client must
	// answer; their connections are asked about. Default: false.
	Ping bool

	// PongTimeout is how long a pinged connection has to answer. Default:
	// 30 seconds.
	PongTimeout time.Duration

	// MaxPerSweep bounds the connections one sweep handles; the rest wait
	// for the next one (SweepResult.Truncated). Default: 50,000.
	MaxPerSweep int

	// Concurrency bounds the connections one sweep handles at once (the
	// @connections calls in flight). Default: 64.
	Concurrency int

	// MaxDuration bounds the time of one sweep (and the context's deadline,
	// when sooner, less 2 seconds to finish): connections not reached by
	// then wait for the next sweep. Default: 50 seconds.
	MaxDuration time.Duration
}

func (l Liveness) withDefaults() Liveness {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.IdleAfter, 5*time.Minute)
	def(&l.Granularity, l.IdleAfter/2)
	def(&l.InitTimeout, time.Minute)
	def(&l.PongTimeout, 30*time.Second)
	def(&l.MaxDuration, 50*time.Second)
	if l.MaxPerSweep <= 0 {
		l.MaxPerSweep = 50_000
	}
	if l.Concurrency <= 0 {
		l.Concurrency = 64
	}
	return l
}

// Close codes and reasons of the sweeper's closes. Real API Gateway
// delivers neither; the local gateway does.
const (
	initTimeoutCode   = int(transportws.CloseConnectionInitialisationTimeout)
	initTimeoutReason = "Connection initialisation timeout"
	pongTimeoutCode   = 1001 // Going Away: clients reconnect
	pongTimeoutReason = "Pong not received"
)

// sweepMargin is what Sweep keeps of its context's deadline to finish the
// connections in hand.
const sweepMargin = 2 * time.Second

// SweepResult counts what one [Server.Sweep] did.
type SweepResult struct {
	// Idle is the number of connections read from the activity index.
	Idle int `json:"idle"`
	// Checked is the number asked about with GET @connections/{id}.
	Checked int `json:"checked"`
	// Alive is the number found alive (their activity is recorded).
	Alive int `json:"alive"`
	// Gone is the number found gone (410) and removed, with their
	// subscriptions and hooks (OnDisconnect cause SweptGone).
	Gone int `json:"gone"`
	// InitTimedOut is the number closed for never initialising in time.
	InitTimedOut int `json:"initTimedOut"`
	// Pinged is the number sent a ping.
	Pinged int `json:"pinged"`
	// PongMissed is the number closed for not answering a ping.
	PongMissed int `json:"pongMissed"`
	// Failed is the number whose handling failed (reported to
	// Hooks.OnError); the next sweep handles them again.
	Failed int `json:"failed"`
	// Truncated reports that the sweep stopped at MaxPerSweep or
	// MaxDuration with idle connections left for the next sweep.
	Truncated bool `json:"truncated"`
}

// sweepCounters are a SweepResult being counted by concurrent workers.
type sweepCounters struct {
	checked, alive, gone, initTimedOut, pinged, pongMissed, failed atomic.Int64
}

// Sweep finds the connections that are idle (no recorded activity for
// Liveness.IdleAfter) or not initialised in time (Liveness.InitTimeout),
// reading them by key from the store's activity index, and handles each:
//
//   - a graphql-transport-ws or graphql-ws connection without an accepted
//     connection_init InitTimeout after connecting is closed and removed
//     (OnDisconnect cause InitTimedOut);
//   - with Liveness.Ping, a pinged connection that has not answered within
//     PongTimeout is closed and removed (cause PongMissed), and an idle
//     graphql-transport-ws connection is sent a ping;
//   - any other is asked about (GET @connections/{id}, when the Sender is a
//     gateway.Inspector): gone (410) removes it with its subscriptions
//     (OnComplete of each, then OnDisconnect cause SweptGone); alive records
//     it active, so that it is checked again only IdleAfter later.
//
// Removal is the same as on $disconnect: each hook runs once even when a
// late $disconnect races the sweep. Sweep handles at most
// Liveness.Concurrency connections at once, at most Liveness.MaxPerSweep
// per call, and takes no more connections after Liveness.MaxDuration (or
// ctx's deadline less 2 seconds, when sooner): what it does not reach waits
// for the next call, and the connections in hand are finished. It is safe to run
// concurrently with the handlers and with other sweeps, which at worst
// check a connection twice. Failures for one connection are reported to
// Hooks.OnError and counted; the error is for failures of the whole sweep
// (ErrNoActivityIndex, ErrNoSender, the index failing).
func (s *Server) Sweep(ctx context.Context) (SweepResult, error) {
	if s.activity == nil {
		return SweepResult{}, ErrNoActivityIndex
	}
	if s.sender == nil {
		return SweepResult{}, ErrNoSender
	}
	l := s.liveness
	limit := l.MaxDuration
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(dl)-sweepMargin)
	}
	if limit <= 0 {
		return SweepResult{Truncated: true}, nil
	}
	// At the limit the sweep stops taking connections; those in hand
	// finish with ctx, each of their calls bounded on its own.
	stop, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	now := s.now()
	before := now.Add(-min(l.IdleAfter, l.InitTimeout))
	var (
		res  SweepResult
		c    sweepCounters
		wg   sync.WaitGroup
		sem  = make(chan struct{}, l.Concurrency)
		fail error
	)
	for conn, err := range s.activity.IdleConnections(stop, before) {
		if err != nil {
			if stop.Err() != nil {
				res.Truncated = true
			} else {
				fail = fmt.Errorf("gqlambda: sweep: read idle connections: %w", err)
			}
			break
		}
		if !s.due(conn, now) {
			continue
		}
		if res.Idle == l.MaxPerSweep {
			res.Truncated = true
			break
		}
		res.Idle++
		select {
		case sem <- struct{}{}:
		case <-stop.Done():
		}
		if stop.Err() != nil {
			res.Idle--
			res.Truncated = true
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			s.sweepOne(ctx, conn, now, &c)
		})
	}
	wg.Wait()
	res.Checked = int(c.checked.Load())
	res.Alive = int(c.alive.Load())
	res.Gone = int(c.gone.Load())
	res.InitTimedOut = int(c.initTimedOut.Load())
	res.Pinged = int(c.pinged.Load())
	res.PongMissed = int(c.pongMissed.Load())
	res.Failed = int(c.failed.Load())
	s.log.InfoContext(ctx, "sweep done", slog.Int("idle", res.Idle), slog.Int("gone", res.Gone),
		slog.Int("init_timed_out", res.InitTimedOut), slog.Int("pong_missed", res.PongMissed),
		slog.Int("pinged", res.Pinged), slog.Int("alive", res.Alive), slog.Int("failed", res.Failed),
		slog.Bool("truncated", res.Truncated))
	return res, fail
}

// needsInit reports whether conn's protocol has a connection_init that it
// must send.
func needsInit(conn store.Connection) bool {
	return conn.Protocol == transportws.Subprotocol || conn.Protocol == legacyws.Subprotocol
}

// awaitingPong reports whether a ping to conn awaits its answer: it was
// pinged, and nothing was recorded of it since. (A client may answer before
// the sweep that pinged it records the ping; the ping's time, taken when
// the sweep started, is then before the answer's.)
func awaitingPong(conn store.Connection) bool {
	return !conn.PingedAt.IsZero() && conn.PingedAt.After(conn.LastActiveAt)
}

// due reports whether the sweep at now has something to do with conn,
// which the index found idle for the shorter of IdleAfter and InitTimeout.
func (s *Server) due(conn store.Connection, now time.Time) bool {
	l := s.liveness
	switch {
	case !conn.Acknowledged && needsInit(conn):
		// Its frames are not recorded: LastActiveAt is when it connected,
		// by the server's clock.
		return !conn.LastActiveAt.After(now.Add(-l.InitTimeout))
	case awaitingPong(conn):
		return true
	}
	return !conn.LastActiveAt.After(now.Add(-l.IdleAfter))
}

// sweepOne handles one connection that is due.
func (s *Server) sweepOne(ctx context.Context, conn store.Connection, now time.Time, c *sweepCounters) {
	l := s.liveness
	log := s.log.With(slog.String("connection_id", conn.ID))
	switch {
	case !conn.Acknowledged && needsInit(conn):
		log.InfoContext(ctx, "sweep: no connection_init in time: closing")
		if s.sweepClose(ctx, conn, initTimeoutCode, initTimeoutReason, InitTimedOut) {
			c.initTimedOut.Add(1)
		} else {
			c.failed.Add(1)
		}
	case awaitingPong(conn):
		if conn.PingedAt.After(now.Add(-l.PongTimeout)) {
			return // its answer may still come
		}
		log.InfoContext(ctx, "sweep: no pong: closing")
		if s.sweepClose(ctx, conn, pongTimeoutCode, pongTimeoutReason, PongMissed) {
			c.pongMissed.Add(1)
		} else {
			c.failed.Add(1)
		}
	case l.Ping && conn.Protocol == transportws.Subprotocol:
		err := s.sender.Post(ctx, conn.Endpoint, conn.ID, transportws.Server{}.AppendPing(nil))
		switch {
		case errors.Is(err, gateway.ErrGone):
			log.InfoContext(ctx, "sweep: client gone (410 to a ping): deleting its state")
			s.cleanup(ctx, conn.ID, DisconnectInfo{Cause: SweptGone})
			c.gone.Add(1)
		case err != nil:
			s.reportError(ctx, fmt.Errorf("gqlambda: sweep: ping connection %s: %w", conn.ID, err), slog.String("connection_id", conn.ID))
			c.failed.Add(1)
		default:
			c.pinged.Add(1)
			if err := s.record(ctx, s.activity.RecordPing, conn.ID, now); err != nil {
				s.reportError(ctx, fmt.Errorf("gqlambda: sweep: record ping of connection %s: %w", conn.ID, err), slog.String("connection_id", conn.ID))
				c.failed.Add(1)
			}
			// The cached record does not know of the ping. (A cache of
			// another process does not either; its next frame of the
			// connection still records activity, because a connection
			// is pinged only once its recorded activity is IdleAfter old,
			// and no cached record is newer than the store's.)
			s.conns.drop(conn.ID)
		}
	default:
		in, ok := s.sender.(gateway.Inspector)
		if !ok {
			return // nothing to ask: a post's 410 or the TTL will tell
		}
		c.checked.Add(1)
		_, err := in.Get(ctx, conn.Endpoint, conn.ID)
		switch {
		case errors.Is(err, gateway.ErrGone):
			log.InfoContext(ctx, "sweep: client gone (410): deleting its state")
			s.cleanup(ctx, conn.ID, DisconnectInfo{Cause: SweptGone})
			c.gone.Add(1)
		case err != nil:
			s.reportError(ctx, fmt.Errorf("gqlambda: sweep: get connection %s: %w", conn.ID, err), slog.String("connection_id", conn.ID))
			c.failed.Add(1)
		default:
			// Alive: check again once it has been idle for IdleAfter more.
			c.alive.Add(1)
			if err := s.record(ctx, s.activity.RecordActivity, conn.ID, now); err != nil {
				s.reportError(ctx, fmt.Errorf("gqlambda: sweep: record activity of connection %s: %w", conn.ID, err), slog.String("connection_id", conn.ID))
				c.failed.Add(1)
			}
		}
	}
}

// sweepClose closes conn (DELETE @connections/{id}) and removes its state,
// reporting whether the close succeeded or found it gone.
func (s *Server) sweepClose(ctx context.Context, conn store.Connection, code int, reason string, cause DisconnectCause) bool {
	if err := s.sender.Close(ctx, conn.Endpoint, conn.ID, code, reason); err != nil && !errors.Is(err, gateway.ErrGone) {
		s.reportError(ctx, fmt.Errorf("gqlambda: sweep: close connection %s (%s): %w", conn.ID, cause, err), slog.String("connection_id", conn.ID))
		return false
	}
	s.cleanup(ctx, conn.ID, DisconnectInfo{Cause: cause, Code: code, Reason: reason})
	return true
}

// record runs a write of the activity index (its RecordActivity or
// RecordPing) for connection id at at, within the store timeout as the
// server's store calls run (storecall.go). A connection deleted meanwhile
// is no failure: it returns nil.
func (s *Server) record(ctx context.Context, write func(ctx context.Context, id string, at time.Time) error, id string, at time.Time) error {
	_, err := call(s.bounded(), ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, write(ctx, id, at)
	})
	if errors.Is(err, store.ErrConnectionNotFound) {
		return nil
	}
	return err
}

// recordActivity records that a frame of conn arrived, when its recorded
// activity is older than Liveness.Granularity or a ping awaits its answer:
// a connection's frames cost at most one write per Granularity. Frames of
// a connection that has not initialised do not count: it must initialise
// within Liveness.InitTimeout whatever else it sends. A failure is
// reported and the frame handled all the same.
func (s *Server) recordActivity(ctx context.Context, conn store.Connection) {
	if s.activity == nil || !conn.Acknowledged && needsInit(conn) {
		return
	}
	now := s.now()
	if !awaitingPong(conn) && now.Sub(conn.LastActiveAt) < s.liveness.Granularity {
		return
	}
	if err := s.record(ctx, s.activity.RecordActivity, conn.ID, now); err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: record activity of connection %s: %w", conn.ID, err), slog.String("connection_id", conn.ID))
		return
	}
	if conn.Acknowledged {
		// What the store now holds, for the next frame's decision. (An
		// unacknowledged record is not put back: a concurrent
		// connection_init may have cached the acknowledged one.)
		conn.LastActiveAt, conn.PingedAt = now, time.Time{}
		s.conns.put(conn, now)
	}
}

// SweepHandler runs [Server.Sweep] for a scheduled invocation (an
// EventBridge Scheduler schedule or rule targeting the function), whatever
// the event's content. It is the function to give lambda.Start in the
// sweeper function:
//
//	lambda.Start(srv.SweepHandler)
//
// It returns the sweep's counts, and an error only when the sweep as a
// whole failed (the invocation then counts as failed in the function's
// metrics).
func (s *Server) SweepHandler(ctx context.Context, _ json.RawMessage) (SweepResult, error) {
	return s.Sweep(ctx)
}

// SweepEvery runs [Server.Sweep] every interval until ctx ends, as a
// schedule does on AWS: for local runs (examples/chat's -sweep-interval).
// Failed sweeps are reported to Hooks.OnError. It returns when ctx ends,
// once the sweep in progress returned, with ctx's error; or at once with
// ErrNoActivityIndex when the store has no activity index.
func (s *Server) SweepEvery(ctx context.Context, interval time.Duration) error {
	if s.activity == nil {
		return ErrNoActivityIndex
	}
	if interval <= 0 {
		return fmt.Errorf("gqlambda: sweep interval %v: want a positive duration", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.reportError(ctx, err)
		}
	}
}
