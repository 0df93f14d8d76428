// Package backoff is the retry pacing the module's clients share:
// exponentially growing delays with jitter, and a pause that ends early when
// its context does.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Ceiling returns min(limit, base·2^attempt), without overflowing for any
// attempt ≥ 0.
func Ceiling(attempt int, base, limit time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	if attempt < 63 && base <= limit>>attempt {
		return base << attempt
	}
	return limit
}

// Full returns a random delay in [0, Ceiling(attempt, base, limit)]: "full
// jitter", which spreads the retries of many callers that failed at once.
func Full(attempt int, base, limit time.Duration) time.Duration {
	return rand.N(Ceiling(attempt, base, limit) + 1)
}

// Sleep pauses for d and reports whether it did before ctx was done. A d of
// 0 or less does not pause, and reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
