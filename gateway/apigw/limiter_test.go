package apigw

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestLimiterAdjusts(t *testing.T) {
	tests := []struct {
		name     string
		start    int
		outcomes []string // "ok", "throttled" or "failed"
		want     int
	}{
		{"halves on throttling", 8, []string{"throttled"}, 4},
		{"halves repeatedly down to one", 8, []string{"throttled", "throttled", "throttled", "throttled", "throttled"}, 1},
		{"grows by one per success", 8, []string{"throttled", "throttled", "ok", "ok", "ok"}, 5},
		{"never grows past the maximum", 8, []string{"ok", "ok"}, 8},
		{"other failures keep the limit", 8, []string{"throttled", "failed", "failed"}, 4},
		{"odd limits round down", 5, []string{"throttled"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(tt.start)
			for _, o := range tt.outcomes {
				if err := l.acquire(t.Context()); err != nil {
					t.Fatal(err)
				}
				l.release(o == "ok", o == "throttled")
			}
			limit, inFlight := l.current()
			if limit != tt.want || inFlight != 0 {
				t.Errorf("limit, in flight = %d, %d; want %d, 0", limit, inFlight, tt.want)
			}
		})
	}
}

// The limiter's waits are channel operations: in a synctest bubble,
// synctest.Wait returns once every goroutine is blocked, so a test can
// tell that an acquire is waiting, not merely slow.

func TestLimiterBlocksAtLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(2)
		for range 2 {
			if err := l.acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		acquired := make(chan error, 1)
		go func() { acquired <- l.acquire(t.Context()) }()
		synctest.Wait()
		select {
		case err := <-acquired:
			t.Fatalf("acquire returned %v with the limit reached", err)
		default:
		}
		l.release(true, false)
		synctest.Wait()
		select {
		case err := <-acquired:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("acquire still blocked after a release")
		}
		if _, inFlight := l.current(); inFlight != 2 {
			t.Errorf("in flight = %d, want 2", inFlight)
		}
	})
}

func TestLimiterBlocksAfterThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(2)
		for range 2 {
			if err := l.acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		// The limit drops to 1 with one call still in flight: no permit is
		// free, however long acquire waits (an hour of the bubble's clock).
		l.release(false, true)
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		if err := l.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("acquire = %v, want %v", err, context.DeadlineExceeded)
		}
		l.release(true, false)
		if err := l.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLimiterRespectsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(1)
		if err := l.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.acquire(ctx) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("acquire returned %v with the limit reached", err)
		default:
		}
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("acquire = %v, want %v", err, context.Canceled)
			}
		default:
			t.Fatal("acquire ignored the cancellation")
		}
		if _, inFlight := l.current(); inFlight != 1 {
			t.Errorf("in flight = %d, want 1", inFlight)
		}
	})
}

// TestLimiterBoundsConcurrency starts 64 callers at once; each holds its
// permit until the test lets one go. Whenever every caller is blocked,
// exactly limit of them hold a permit (while enough are left).
func TestLimiterBoundsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, callers = 4, 64
		l := newLimiter(limit)
		var holding atomic.Int32
		next := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				if err := l.acquire(t.Context()); err != nil {
					t.Error(err)
					return
				}
				holding.Add(1)
				<-next
				holding.Add(-1)
				l.release(true, false)
			})
		}
		for left := callers; left > 0; left-- {
			synctest.Wait()
			if n, want := holding.Load(), int32(min(limit, left)); n != want {
				t.Errorf("%d callers hold a permit with %d left, want %d", n, left, want)
				break
			}
			next <- struct{}{}
		}
		close(next) // lets the callers left go, after a failure
		wg.Wait()
	})
}

func TestBackoff(t *testing.T) {
	c := New(nil, &Options{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	tests := []struct {
		attempt int
		ceil    time.Duration
	}{
		{0, 10 * time.Millisecond},
		{1, 20 * time.Millisecond},
		{2, 40 * time.Millisecond},
		{3, 50 * time.Millisecond},
		{62, 50 * time.Millisecond},
		{200, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		for range 100 {
			if d := c.backoff(tt.attempt); d < 0 || d > tt.ceil {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", tt.attempt, d, tt.ceil)
			}
		}
	}
}

func TestRegionOf(t *testing.T) {
	tests := map[string]string{
		"abc123.execute-api.eu-west-1.amazonaws.com":     "eu-west-1",
		"abc123.execute-api.cn-north-1.amazonaws.com.cn": "cn-north-1",
		"ws.example.com":  "",
		"127.0.0.1":       "",
		"x.execute-api.":  "",
		"x.execute-api.y": "",
	}
	for host, want := range tests {
		if got := regionOf(host); got != want {
			t.Errorf("regionOf(%q) = %q, want %q", host, got, want)
		}
	}
}
