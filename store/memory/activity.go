package memory

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// RecordActivity moves the connection's LastActiveAt to at unless it is
// already at or after at, clearing PingedAt when it moves. It fails with an
// error wrapping [store.ErrConnectionNotFound] if the connection is missing
// or expired. It is safe for concurrent use.
func (s *Store) RecordActivity(ctx context.Context, id string, at time.Time) error {
	return s.updateConnection(ctx, "record activity of", id, func(c *store.Connection) {
		if at.After(c.LastActiveAt) {
			c.LastActiveAt = at
			c.PingedAt = time.Time{}
		}
	})
}

// RecordPing sets the connection's PingedAt to at. It fails with an error
// wrapping [store.ErrConnectionNotFound] if the connection is missing or
// expired. It is safe for concurrent use.
func (s *Store) RecordPing(ctx context.Context, id string, at time.Time) error {
	return s.updateConnection(ctx, "record ping of", id, func(c *store.Connection) { c.PingedAt = at })
}

// updateConnection replaces the unexpired connection id by a copy that
// update changed, under the write lock.
func (s *Store) updateConnection(ctx context.Context, op, id string, update func(*store.Connection)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s connection %q: %w", op, id, err)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok || expired(c.ExpiresAt, now) {
		return fmt.Errorf("memory: %s connection %q: %w", op, id, store.ErrConnectionNotFound)
	}
	// The stored record is replaced, never modified, so copies handed out
	// under the read lock stay valid.
	update(&c)
	s.conns[id] = c
	return nil
}

// IdleConnections yields copies of the unexpired connections whose
// LastActiveAt is at or before before, least recently active first. The
// process's connections are its index: one pass under the read lock picks
// them, so the cost is linear in the connections the store holds, which
// in one process stays small. It is safe for concurrent use; the store is
// not locked while the caller handles what it yields.
func (s *Store) IdleConnections(ctx context.Context, before time.Time) iter.Seq2[store.Connection, error] {
	return func(yield func(store.Connection, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(store.Connection{}, fmt.Errorf("memory: idle connections: %w", err))
			return
		}
		now := s.now()
		var idle []store.Connection
		s.mu.RLock()
		for _, c := range s.conns {
			if !c.LastActiveAt.After(before) && !expired(c.ExpiresAt, now) {
				idle = append(idle, c)
			}
		}
		s.mu.RUnlock()
		slices.SortFunc(idle, func(a, b store.Connection) int {
			return cmp.Or(a.LastActiveAt.Compare(b.LastActiveAt), cmp.Compare(a.ID, b.ID))
		})
		for _, c := range idle {
			if err := ctx.Err(); err != nil {
				yield(store.Connection{}, fmt.Errorf("memory: idle connections: %w", err))
				return
			}
			if !yield(cloneConnection(c), nil) {
				return
			}
		}
	}
}
