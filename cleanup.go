package gqlambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// This file keeps track of clean-ups that failed: the deletion of a
// connection and its subscriptions when the store did not answer. A failed
// deletion is retried at once a few times with backoff; if the store still
// fails, the connection is remembered and its deletion retried by later
// invocations of the WebSocket handler, with a growing pause between tries,
// until the store answers. The records' Time to Live removes what a process
// that ends first could not (the connection's ConnectionTTL).

const (
	// cleanupAttempts bounds the tries of one deletion within its call.
	cleanupAttempts = 3
	// cleanupBackoff is the pause before the second try; it doubles.
	cleanupBackoff = 100 * time.Millisecond
	// maxPendingCleanups bounds the connections remembered for a later
	// deletion; beyond it their records expire by their Time to Live.
	maxPendingCleanups = 10_000
	// pendingBatch is how many remembered deletions one invocation retries.
	pendingBatch = 10
	// pendingPauseMin and pendingPauseMax bound the pause between two
	// rounds of retries of remembered deletions while they keep failing.
	pendingPauseMin = 250 * time.Millisecond
	pendingPauseMax = time.Minute
)

// pendingCleanups are the deletions that failed, to retry later.
type pendingCleanups struct {
	mu    sync.Mutex
	infos map[string]DisconnectInfo // by connection id
	// next is when the next round may run; pause is the pause after a
	// round that failed, doubled at each failure.
	next  time.Time
	pause time.Duration
	// running is set while a round runs, so that rounds do not overlap.
	running bool
}

// deleteConnection deletes a connection and its subscriptions, trying again
// with backoff while the store fails, for at most cleanupAttempts tries
// within Limits.StoreTimeout in all (a store that hangs is not waited for
// twice, nor is one that refuses for longer).
func (s *Server) deleteConnection(ctx context.Context, id string) (store.Connection, []store.Subscription, error) {
	// Every try shares the one budget.
	ctx, cancel := context.WithTimeout(ctx, s.limits.StoreTimeout)
	defer cancel()
	began := time.Now()
	wait := cleanupBackoff
	for attempt := 1; ; attempt++ {
		conn, subs, err := s.store.DeleteConnection(ctx, id)
		if err == nil || errors.Is(err, store.ErrConnectionNotFound) || attempt == cleanupAttempts ||
			time.Since(began)+wait > s.limits.StoreTimeout {
			return conn, subs, err
		}
		// Full jitter over [wait/2, wait).
		pause := wait/2 + rand.N(wait/2)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return conn, subs, err
		case <-t.C:
		}
		wait *= 2
	}
}

// remember records the failed deletion of a connection for a later retry.
func (s *Server) remember(ctx context.Context, id string, info DisconnectInfo) bool {
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.infos == nil {
		p.infos = make(map[string]DisconnectInfo)
	}
	if _, ok := p.infos[id]; !ok && len(p.infos) >= maxPendingCleanups {
		return false
	}
	p.infos[id] = info
	// The store has just failed every try: the invocation that remembers
	// it does not try again at once.
	if p.pause == 0 {
		p.pause = pendingPauseMin
		p.next = time.Now().Add(p.pause)
	}
	return true
}

// forget drops a connection from the deletions to retry.
func (s *Server) forget(id string) {
	p := &s.pending
	p.mu.Lock()
	delete(p.infos, id)
	p.mu.Unlock()
}

// PendingCleanups returns how many connections whose deletion failed (the
// store did not answer) the server remembers to delete later. Each
// invocation of the WebSocket handler retries a few of them, pausing longer
// between rounds while the store keeps failing (up to a minute), until
// the store answers again. It is safe for concurrent use.
func (s *Server) PendingCleanups() int {
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.infos)
}

// retryCleanups retries up to pendingBatch remembered deletions, unless a
// round is running or the pause after a failed round has not passed.
func (s *Server) retryCleanups(ctx context.Context) {
	p := &s.pending
	p.mu.Lock()
	if len(p.infos) == 0 || p.running || time.Now().Before(p.next) {
		p.mu.Unlock()
		return
	}
	p.running = true
	batch := make(map[string]DisconnectInfo, pendingBatch)
	for id, info := range p.infos {
		if len(batch) == pendingBatch {
			break
		}
		batch[id] = info
	}
	p.mu.Unlock()

	failed := false
	for id, info := range batch {
		if !s.cleanupOnce(ctx, id, info) {
			failed = true
			break // the store still fails: pause before the next round
		}
	}

	p.mu.Lock()
	p.running = false
	if failed {
		p.pause = min(max(2*p.pause, pendingPauseMin), pendingPauseMax)
		p.next = time.Now().Add(p.pause)
	} else {
		p.pause, p.next = 0, time.Time{}
	}
	p.mu.Unlock()
}

// cleanupOnce tries a remembered deletion once, and reports whether the
// store answered.
func (s *Server) cleanupOnce(ctx context.Context, id string, info DisconnectInfo) bool {
	conn, subs, err := s.store.DeleteConnection(ctx, id)
	if err != nil && !errors.Is(err, store.ErrConnectionNotFound) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "retried deletion failed again", slog.String("connection_id", id), slog.String("error", err.Error()))
		return false
	}
	s.forget(id)
	s.log.LogAttrs(ctx, slog.LevelInfo, "connection state deleted on retry", slog.String("connection_id", id),
		slog.Int("subscriptions", len(subs)))
	s.deleted(ctx, id, info, conn, subs, err == nil)
	return true
}

// cleanupFailed reports a deletion that failed after its retries, and
// remembers it.
func (s *Server) cleanupFailed(ctx context.Context, id string, info DisconnectInfo, err error) {
	later := "it is retried later"
	if !s.remember(ctx, id, info) {
		later = fmt.Sprintf("%d deletions are pending already: its records expire by their Time to Live", maxPendingCleanups)
	}
	s.reportError(ctx, fmt.Errorf("gqlambda: delete connection %s (%s), tried %d times; %s: %w", id, info.Cause, cleanupAttempts, later, err),
		slog.String("connection_id", id))
}
