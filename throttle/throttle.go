// Package throttle shares a rate of calls to API Gateway's @connections API
// among many processes: a [Sender] takes each call from a budget per time
// slot counted in a store that every process shares (store/memory,
// store/dynamodb and store/redis implement the counters, store.Budget), so
// that the workers of a scale-out fan-out together stay at the account's
// throttle instead of each pacing itself to it.
//
// Each slot (a tenth of a second by default) allows Rate × Slot calls. A
// Sender takes them from the slot's counter Chunk at a time and hands them
// to its calls; when the counter is spent it waits for the next slot.
// Tokens left at the end of a slot are dropped, never carried over, so that
// all processes together never send more than a slot's allowance within a
// slot. Throttling that still happens (429, such as when other traffic of
// the account takes its share) is retried by the wrapped Sender
// (gateway/apigw backs off and halves its in-flight calls).
package throttle

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gqlambda/gqlambda/gateway"
)

// Ledger counts what was taken from each slot: store.Budget.
type Ledger interface {
	TakeBudget(ctx context.Context, key string, n, limit int, expiresAt time.Time) (int, error)
}

// Options configures a [Sender]. The zero value, and a nil *Options, give
// the defaults.
type Options struct {
	// Rate is how many calls per second all Senders sharing Key make
	// together. Default 10,000 (API Gateway's default account throttle);
	// lower it to leave room for the account's other traffic.
	Rate int
	// Slot is the length of a budget slot. Default 100 ms.
	Slot time.Duration
	// Chunk is how many calls a Sender takes from the ledger at once: more
	// means fewer ledger writes, fewer means less left unused at the end of
	// a slot. Default 25, at most a slot's allowance.
	Chunk int
	// Key names the shared budget in the ledger. Default "gqlambda-posts".
	Key string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives a warning when the ledger fails (calls then go
	// unthrottled until it answers again). Default: discard.
	Logger *slog.Logger
}

// Sender is a gateway.Sender that takes every Post and Close from the
// shared budget before passing it to the wrapped Sender. It is safe for
// concurrent use.
type Sender struct {
	next   gateway.Sender
	ledger Ledger
	o      Options
	limit  int // calls per slot

	mu       sync.Mutex
	slot     int64         // the slot tokens belong to
	tokens   int           // left in slot
	spent    int64         // the last slot known spent
	refill   chan struct{} // closed when the running refill ends; nil: none
	taken    int64         // calls granted, for Stats
	waits    int64
	failures int64
}

var _ gateway.Sender = (*Sender)(nil)

// New returns a Sender that takes the calls to next from ledger. opts may
// be nil.
func New(next gateway.Sender, ledger Ledger, opts *Options) *Sender {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Rate <= 0 {
		o.Rate = 10000
	}
	if o.Slot <= 0 {
		o.Slot = 100 * time.Millisecond
	}
	if o.Key == "" {
		o.Key = "gqlambda-posts"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	limit := max(1, int(int64(o.Rate)*int64(o.Slot)/int64(time.Second)))
	if o.Chunk <= 0 {
		o.Chunk = 25
	}
	o.Chunk = min(o.Chunk, limit)
	return &Sender{next: next, ledger: ledger, o: o, limit: limit, spent: -1}
}

// Post takes one call from the budget and posts frame through the wrapped
// Sender.
func (s *Sender) Post(ctx context.Context, endpoint, connectionID string, frame []byte) error {
	if err := s.Take(ctx); err != nil {
		return err
	}
	return s.next.Post(ctx, endpoint, connectionID, frame)
}

// Close takes one call from the budget and closes the connection through
// the wrapped Sender.
func (s *Sender) Close(ctx context.Context, endpoint, connectionID string, code int, reason string) error {
	if err := s.Take(ctx); err != nil {
		return err
	}
	return s.next.Close(ctx, endpoint, connectionID, code, reason)
}

// Stats reports the calls granted, the waits for a next slot, and the
// ledger failures so far.
func (s *Sender) Stats() (granted, waits, ledgerFailures int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken, s.waits, s.failures
}

// Take waits until the budget grants one call, or ctx ends.
func (s *Sender) Take(ctx context.Context) error {
	for {
		now := s.o.Now()
		slot := now.UnixNano() / int64(s.o.Slot)
		s.mu.Lock()
		if s.slot != slot {
			s.slot, s.tokens = slot, 0 // what is left of an old slot is dropped
		}
		if s.tokens > 0 {
			s.tokens--
			s.taken++
			s.mu.Unlock()
			return nil
		}
		if s.spent == slot {
			s.waits++
			s.mu.Unlock()
			next := time.Unix(0, (slot+1)*int64(s.o.Slot))
			t := time.NewTimer(next.Sub(now))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			continue
		}
		if s.refill != nil {
			wait := s.refill
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wait:
			}
			continue
		}
		wait := make(chan struct{})
		s.refill = wait
		s.mu.Unlock()

		key := s.o.Key + "#" + strconv.FormatInt(slot, 10)
		got, err := s.ledger.TakeBudget(ctx, key, s.o.Chunk, s.limit, time.Unix(0, (slot+1)*int64(s.o.Slot)).Add(time.Minute))

		s.mu.Lock()
		s.refill = nil
		close(wait)
		switch {
		case err != nil && ctx.Err() != nil:
			s.mu.Unlock()
			return ctx.Err()
		case err != nil:
			// The ledger failing must not stop the deliveries: this call
			// goes, paced by the wrapped Sender's own reaction to 429.
			s.failures++
			s.taken++
			s.mu.Unlock()
			s.o.Logger.WarnContext(ctx, "throttle: budget ledger failed; call not throttled", slog.String("error", err.Error()))
			return nil
		}
		if s.slot == slot {
			s.tokens += got
		}
		if got < s.o.Chunk {
			s.spent = slot
		}
		s.mu.Unlock()
	}
}
