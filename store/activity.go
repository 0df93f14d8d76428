package store

import (
	"context"
	"iter"
	"time"
)

// ActivityIndex is an optional capability of a [Store]: it keeps, with each
// connection, when it was last known to be alive (Connection.LastActiveAt)
// and whether a ping to it awaits its answer (Connection.PingedAt), in an
// index ordered by the former, so that a sweeper can page through the
// connections idle since a time by key, never by scanning every connection.
// The server records activity through it and its sweeper (gqlambda's
// Server.Sweep) finds, through it, the connections whose $disconnect was
// lost.
//
// CreateConnection records a connection's LastActiveAt (its ConnectedAt when
// LastActiveAt is zero) in the index, and DeleteConnection removes it from
// the index. GetConnection returns both fields.
//
// Implementations are safe for concurrent use by many processes.
// store/memory, store/dynamodb and store/redis implement it;
// store/storetest checks implementations.
type ActivityIndex interface {
	// RecordActivity records that the connection was alive at at: its
	// LastActiveAt moves to at unless it is already at or after at (it never
	// moves back), and, when it moves, the PingedAt of a ping awaiting its
	// answer is cleared. A missing or expired connection gives
	// ErrConnectionNotFound.
	RecordActivity(ctx context.Context, id string, at time.Time) error

	// RecordPing records that a ping was sent to the connection at at and
	// awaits its answer: PingedAt becomes at. LastActiveAt does not change,
	// so the connection stays among the idle ones until it answers. A
	// missing or expired connection gives ErrConnectionNotFound.
	RecordPing(ctx context.Context, id string, at time.Time) error

	// IdleConnections yields every unexpired connection whose LastActiveAt
	// is at or before before, each once (in no particular order), reading
	// page after page as the caller iterates. It reads them by key from an
	// index ordered by LastActiveAt, never by scanning. A connection whose
	// activity is recorded, or that is deleted, during the iteration may or
	// may not be yielded. The connections yielded carry at least ID,
	// Endpoint, Protocol, Acknowledged, ConnectedAt, ExpiresAt,
	// LastActiveAt and PingedAt; a store whose index does not hold them may
	// leave Context, Authorizer and Data empty. An error ends the sequence.
	IdleConnections(ctx context.Context, before time.Time) iter.Seq2[Connection, error]
}
