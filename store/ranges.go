package store

import (
	"context"
	"errors"
	"hash/fnv"
	"iter"
	"time"
)

// This file holds the optional capabilities of scale-out fan-out: a topic's
// subscriptions read in ranges ([RangeReader]), the progress of a publish
// split into ranges ([SplitLog]), and a budget of posts per time slot shared
// by every worker ([Budget]).

// ErrRangeLost: the caller's claim of a range was taken over by another
// caller (its lease had ended) or is gone.
var ErrRangeLost = errors.New("store: range claim lost")

// Range is one contiguous part of a topic's subscriptions in the store's
// key order: those of key shard Shard after the key After (from the shard's
// first when empty) up to and including the key Through (to the shard's last
// when empty). The keys are opaque to the caller; only the store that made
// the range reads them. A range names keys, not subscriptions: one read
// later yields the subscriptions that exist then.
type Range struct {
	Shard   int    `json:"shard"`
	After   string `json:"after,omitempty"`
	Through string `json:"through,omitempty"`
	// Size is how many keys the range held when it was made.
	Size int `json:"size"`
}

// RangeReader is an optional capability of a [Store]: it splits a topic's
// subscriptions into ranges of keys, and reads one range, so that the
// delivery of one event can be spread over many workers. store/memory,
// store/dynamodb and store/redis implement it; store/storetest checks
// implementations.
//
// Implementations are safe for concurrent use.
type RangeReader interface {
	// TopicRanges splits the subscriptions of topic into ranges of at most
	// size keys each (size > 0) and yields them in order, reading keys only,
	// as the caller iterates. Every subscription that exists for the whole
	// iteration is in exactly one range; an expired one may be counted in a
	// range's Size. An error ends the sequence.
	TopicRanges(ctx context.Context, topic string, size int) iter.Seq2[Range, error]

	// RangeSubscriptions yields the unexpired subscriptions of topic within
	// r, each once, as [Store.TopicSubscriptions] does for the whole topic.
	RangeSubscriptions(ctx context.Context, topic string, r Range) iter.Seq2[Subscription, error]
}

// RangeKey names one range of one split publish.
type RangeKey struct {
	// Split is the id of the split publish.
	Split string
	// Index is the range's number within it, from 0.
	Index int
}

// RangeState is what [SplitLog.EndRange] leaves a range in.
type RangeState int

// The states a range can be ended in.
const (
	// RangeReleased: the attempt ended with subscriptions left to deliver;
	// the next claim takes the range at once.
	RangeReleased RangeState = iota + 1
	// RangeDone: every subscription of the range was settled.
	RangeDone
	// RangeDead: the range failed for good (it went to the dead-letter
	// queue); a later claim, by a replay, may still finish it.
	RangeDead
)

// RangeClaim is the outcome of [SplitLog.ClaimRange].
type RangeClaim struct {
	// Status is Claimed, AlreadyDelivered (the range is done) or InProgress
	// (another caller's lease has not ended).
	Status ClaimStatus
	// Settled holds, when Claimed, the [SettledKey] of every subscription
	// earlier attempts settled: the caller must not deliver to them again.
	Settled map[uint64]struct{}
}

// SplitStatus is the progress of one split publish.
type SplitStatus struct {
	// ID is the split's id.
	ID string
	// Ranges is how many ranges the publish was split into, 0 until the
	// publisher sealed the split (it is still sending ranges).
	Ranges int
	// Done and Dead count the ranges finished and the ranges failed for
	// good (and not replayed since).
	Done, Dead int
	// Delivered and Gone sum what the attempts of the ranges delivered and
	// found gone.
	Delivered, Gone int
}

// Sealed reports whether the publisher has sent every range.
func (s SplitStatus) Sealed() bool { return s.Ranges > 0 }

// Complete reports whether every range is done or dead.
func (s SplitStatus) Complete() bool { return s.Sealed() && s.Done+s.Dead >= s.Ranges }

// Pending is how many ranges are neither done nor dead; -1 before the
// split is sealed.
func (s SplitStatus) Pending() int {
	if !s.Sealed() {
		return -1
	}
	return max(0, s.Ranges-s.Done-s.Dead)
}

// SplitLog is an optional capability of a [Store]: it records the progress
// of publishes split into ranges, so that a range that its queue delivers
// more than once, or retries after a partial failure, reaches each of its
// subscriptions once, and so that the end of the whole publish is known.
// store/memory, store/dynamodb and store/redis implement it;
// store/storetest checks implementations.
//
// A range goes through claims as a delivery of [DeliveryLog] does: a caller
// claims it for a lease, records as it goes the subscriptions it settled
// (SettleRange, which also extends the lease), and ends its claim
// (EndRange). Records are forgotten when they expire. Implementations are
// safe for concurrent use by many processes, and ClaimRange is atomic: of
// concurrent claims of one range, at most one gets Claimed.
type SplitLog interface {
	// ClaimRange claims k for token until leaseUntil, keeping its record
	// until expiresAt. A range without record, or whose claim was
	// released, or whose lease ended at or before now, or that is dead, is
	// Claimed, with the subscriptions settled before; a done range gives
	// AlreadyDelivered; a live claim of another caller (or of token
	// itself) gives InProgress.
	ClaimRange(ctx context.Context, k RangeKey, token string, leaseUntil, expiresAt time.Time) (RangeClaim, error)

	// SettleRange adds settled (values of [SettledKey]) to k's settled
	// subscriptions and extends the lease to leaseUntil, while token holds
	// k; otherwise it changes nothing and returns an error wrapping
	// [ErrRangeLost].
	SettleRange(ctx context.Context, k RangeKey, token string, settled []uint64, leaseUntil time.Time) error

	// EndRange ends token's claim of k, adding settled first as
	// SettleRange does: with RangeReleased the range may be claimed at
	// once; with RangeDone it is done; with RangeDead it counts as dead
	// until a later claim ends it otherwise. delivered and gone are added to
	// the split's sums. It returns the split's status after the change, or
	// an error wrapping [ErrRangeLost] when token no longer holds k. A range
	// ended done twice (a retry of a call whose answer was lost) counts
	// once.
	EndRange(ctx context.Context, k RangeKey, token string, state RangeState, settled []uint64, delivered, gone int, expiresAt time.Time) (SplitStatus, error)

	// SealSplit records that split id has ranges ranges (> 0), all sent, and
	// returns its status.
	SealSplit(ctx context.Context, id string, ranges int, expiresAt time.Time) (SplitStatus, error)

	// GetSplit returns the status of split id; an unknown split has only
	// its ID set.
	GetSplit(ctx context.Context, id string) (SplitStatus, error)
}

// SettledKey is the key under which [SplitLog] records that the
// subscription subID of connection connID was settled: a 64-bit FNV-1a hash
// of the two ids.
func SettledKey(connID, subID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(connID))
	h.Write([]byte{0})
	h.Write([]byte(subID))
	return h.Sum64()
}

// Budget is an optional capability of a [Store]: counters of what many
// processes took from a shared allowance per time slot, such as posts to
// API Gateway per tenth of a second. store/memory, store/dynamodb and
// store/redis implement it.
type Budget interface {
	// TakeBudget takes up to n units from the allowance limit of slot key
	// and returns how many it got (0 when the slot is spent). The slot's
	// record is kept until expiresAt. Concurrent takes never grant more
	// than limit in all.
	TakeBudget(ctx context.Context, key string, n, limit int, expiresAt time.Time) (int, error)
}

// Granted returns what a take of n units from a slot of limit got, when the
// slot's counter reads used after adding n: the part of n that fits.
func Granted(used, n, limit int) int {
	return max(0, min(n, limit-(used-n)))
}
