package throttle_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store/memory"
	"github.com/gqlambda/gqlambda/throttle"
)

// TestSharedRate: four Senders sharing one ledger, each posting from eight
// goroutines as fast as they are let, together post exactly the rate: no
// slot of 100 ms gets more than its 100 calls, and two seconds get 2,000.
func TestSharedRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ledger := memory.New(nil)
		var mu sync.Mutex
		perSlot := map[int64]int{}
		rec := gatewaytest.NewRecorder()
		rec.Hook = func(context.Context, string, string, []byte) error {
			mu.Lock()
			perSlot[time.Now().UnixNano()/int64(100*time.Millisecond)]++
			mu.Unlock()
			return nil
		}
		start := time.Now()
		ctx, cancel := context.WithDeadline(t.Context(), start.Add(2*time.Second))
		defer cancel()
		var wg sync.WaitGroup
		for range 4 {
			s := throttle.New(rec, ledger, &throttle.Options{Rate: 1000, Chunk: 10})
			for range 8 {
				wg.Go(func() {
					for ctx.Err() == nil {
						_ = s.Post(ctx, "https://x/prod", "c", []byte("{}"))
					}
				})
			}
		}
		wg.Wait()
		total := 0
		for slot, n := range perSlot {
			total += n
			if n > 100 {
				t.Errorf("slot %d: %d calls, over the slot's 100", slot, n)
			}
		}
		if total < 1800 || total > 2100 {
			t.Errorf("2 s at 1,000/s shared by 4 Senders: want 1,800 to 2,100 calls, got %d", total)
		}
	})
}

type failingLedger struct{}

func (failingLedger) TakeBudget(context.Context, string, int, int, time.Time) (int, error) {
	return 0, errors.New("ledger down")
}

// TestLedgerDown: a ledger that fails does not stop the calls.
func TestLedgerDown(t *testing.T) {
	rec := gatewaytest.NewRecorder()
	s := throttle.New(rec, failingLedger{}, nil)
	for range 3 {
		if err := s.Post(t.Context(), "https://x/prod", "c", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, failures := s.Stats(); failures != 3 || rec.Posts() != 3 {
		t.Errorf("want 3 posts and 3 ledger failures, got %d posts, %d failures", rec.Posts(), failures)
	}
}
