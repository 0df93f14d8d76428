package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// The cases of the optional capabilities of scale-out fan-out:
// store.RangeReader, store.SplitLog and store.Budget. A store without one
// skips its cases.

func (e *env) rangeReader() store.RangeReader {
	e.t.Helper()
	return optional[store.RangeReader](e, ": a topic's delivery cannot be split over workers on it")
}

func (e *env) splitLog() store.SplitLog {
	e.t.Helper()
	return optional[store.SplitLog](e, ": split publishes cannot be tracked on it")
}

func (e *env) budget() store.Budget {
	e.t.Helper()
	return optional[store.Budget](e, "")
}

// ranges collects what TopicRanges yields.
func (e *env) ranges(rr store.RangeReader, topic string, size int) []store.Range {
	e.t.Helper()
	var out []store.Range
	for r, err := range rr.TopicRanges(e.ctx, topic, size) {
		if err != nil {
			e.t.Fatalf("TopicRanges(%q, %d): want no error, got %v after %d ranges", topic, size, err, len(out))
		}
		out = append(out, r)
	}
	return out
}

// rangeSubs collects what RangeSubscriptions yields.
func (e *env) rangeSubs(rr store.RangeReader, topic string, r store.Range) []store.Subscription {
	e.t.Helper()
	var out []store.Subscription
	for sub, err := range rr.RangeSubscriptions(e.ctx, topic, r) {
		if err != nil {
			e.t.Fatalf("RangeSubscriptions(%q, %+v): want no error, got %v", topic, r, err)
		}
		out = append(out, sub)
	}
	return out
}

// testRangesCoverTopic: the ranges of a topic hold every subscription of
// it exactly once, none of another topic, each at most size keys; the
// subscriptions read range by range equal those stored.
func testRangesCoverTopic(e *env) {
	rr := e.rangeReader()
	n := min(e.o.ManySubscriptions, 1000)
	topic, other := e.topic("t"), e.topic("other")
	_, subs := e.populate("c", topic, n)
	e.populate("o", other, 10)
	for _, size := range []int{n/7 + 1, n, 10 * n} {
		ranges := e.ranges(rr, topic, size)
		if want := (n + size - 1) / size; size <= n && len(ranges) < want {
			e.t.Errorf("TopicRanges(size %d) of %d subscriptions: want at least %d ranges, got %d", size, n, want, len(ranges))
		}
		var got []store.Subscription
		seen := map[subKey]int{}
		sizes := 0
		for i, r := range ranges {
			if r.Size <= 0 || r.Size > size {
				e.t.Errorf("TopicRanges(size %d): range %d has Size %d, want 1..%d", size, i, r.Size, size)
			}
			sizes += r.Size
			for _, sub := range e.rangeSubs(rr, topic, r) {
				if prev, dup := seen[keyOf(sub)]; dup {
					e.t.Errorf("TopicRanges(size %d): subscription %s is in range %d and in range %d", size, keyOf(sub), prev, i)
				}
				seen[keyOf(sub)] = i
				got = append(got, sub)
			}
		}
		if sizes != n {
			e.t.Errorf("TopicRanges(size %d): the ranges' sizes add up to %d, want %d", size, sizes, n)
		}
		e.matchSubscriptions(fmt.Sprintf("the ranges (size %d) of topic %q", size, topic), "yielded", subs, got)
	}
	if r := e.ranges(rr, e.topic("empty"), 10); len(r) != 0 {
		e.t.Errorf("TopicRanges of a topic without subscriptions: want none, got %+v", r)
	}
}

// testRangeAfterDelete: a subscription deleted after the split is not
// yielded by its range; the others are.
func testRangeAfterDelete(e *env) {
	rr := e.rangeReader()
	topic := e.topic("t")
	_, subs := e.populate("c", topic, 30)
	ranges := e.ranges(rr, topic, 10)
	if _, err := e.s.DeleteSubscription(e.ctx, subs[4].ConnectionID, subs[4].ID); err != nil {
		e.t.Fatalf("DeleteSubscription: %v", err)
	}
	var got []store.Subscription
	for _, r := range ranges {
		got = append(got, e.rangeSubs(rr, topic, r)...)
	}
	e.matchSubscriptions("the ranges after one subscription was deleted", "yielded", append(subs[:4:4], subs[5:]...), got)
}

func (e *env) claimRange(sl store.SplitLog, op string, k store.RangeKey, token string, lease time.Duration, want store.ClaimStatus) store.RangeClaim {
	e.t.Helper()
	now := e.now()
	c, err := sl.ClaimRange(e.ctx, k, token, now.Add(lease), now.Add(time.Hour))
	if err != nil {
		e.t.Fatalf("%s: ClaimRange(%+v, %q): want %v, got error %v", op, k, token, want, err)
	}
	if c.Status != want {
		e.t.Fatalf("%s: ClaimRange(%+v, %q): want %v, got %v", op, k, token, want, c.Status)
	}
	return c
}

func (e *env) endRange(sl store.SplitLog, op string, k store.RangeKey, token string, state store.RangeState, settled []uint64, delivered int) store.SplitStatus {
	e.t.Helper()
	st, err := sl.EndRange(e.ctx, k, token, state, settled, delivered, 0, e.now().Add(time.Hour))
	if err != nil {
		e.t.Fatalf("%s: EndRange(%+v, %q, %d): want nil, got %v", op, k, token, state, err)
	}
	return st
}

func settledSet(c store.RangeClaim) string {
	out := fmt.Sprint(len(c.Settled), " settled:")
	for _, h := range []uint64{1, 2, 3, 4} {
		if _, ok := c.Settled[h]; ok {
			out += fmt.Sprint(" ", h)
		}
	}
	return out
}

// testRangeClaim: a range is claimed once; what an attempt settled is
// handed to the next; a done range is never claimed again; a caller whose
// claim ended cannot write.
func testRangeClaim(e *env) {
	sl := e.splitLog()
	k := store.RangeKey{Split: e.id("split"), Index: 3}
	c := e.claimRange(sl, "first claim", k, "a", time.Minute, store.Claimed)
	if len(c.Settled) != 0 {
		e.t.Errorf("first claim: want nothing settled, got %s", settledSet(c))
	}
	e.claimRange(sl, "claim by another caller while the first holds it", k, "b", time.Minute, store.InProgress)
	e.claimRange(sl, "claim of another range of the split", store.RangeKey{Split: k.Split, Index: 4}, "b", time.Minute, store.Claimed)
	if err := sl.SettleRange(e.ctx, k, "a", []uint64{1, 2}, e.now().Add(time.Minute)); err != nil {
		e.t.Fatalf("SettleRange by the holder: want nil, got %v", err)
	}
	if err := sl.SettleRange(e.ctx, k, "b", []uint64{4}, e.now().Add(time.Minute)); !errors.Is(err, store.ErrRangeLost) {
		e.t.Errorf("SettleRange by a caller that does not hold the range: want ErrRangeLost, got %v", err)
	}
	e.endRange(sl, "release with one more settled", k, "a", store.RangeReleased, []uint64{3}, 3)
	if _, err := sl.EndRange(e.ctx, k, "a", store.RangeDone, nil, 0, 0, e.now().Add(time.Hour)); !errors.Is(err, store.ErrRangeLost) {
		e.t.Errorf("EndRange after the claim was released: want ErrRangeLost, got %v", err)
	}
	c = e.claimRange(sl, "claim after a release", k, "b", time.Minute, store.Claimed)
	if len(c.Settled) != 3 || settledSet(c) != "3 settled: 1 2 3" {
		e.t.Errorf("claim after a release: want 3 settled: 1 2 3, got %s", settledSet(c))
	}
	st := e.endRange(sl, "end as done", k, "b", store.RangeDone, nil, 1)
	if st.Done != 1 || st.Delivered != 4 || st.ID != k.Split {
		e.t.Errorf("status after the range was done: want ID %q, Done 1, Delivered 4, got %+v", k.Split, st)
	}
	e.claimRange(sl, "claim of a done range", k, "c", time.Minute, store.AlreadyDelivered)
	if _, err := sl.EndRange(e.ctx, k, "b", store.RangeDone, nil, 5, 0, e.now().Add(time.Hour)); !errors.Is(err, store.ErrRangeLost) {
		e.t.Errorf("EndRange of a range ended done before: want ErrRangeLost, got %v", err)
	}
	if st, err := sl.GetSplit(e.ctx, k.Split); err != nil || st.Done != 1 || st.Delivered != 4 {
		e.t.Errorf("GetSplit after a second EndRange was refused: want Done 1, Delivered 4, got %+v, %v", st, err)
	}
}

// testSplitCompletion: a split is complete when every range is done or
// dead, only once sealed; a dead range replayed to the end counts as done.
func testSplitCompletion(e *env) {
	sl := e.splitLog()
	id := e.id("split")
	if st, err := sl.GetSplit(e.ctx, id); err != nil || st != (store.SplitStatus{ID: id}) {
		e.t.Fatalf("GetSplit of an unknown split: want only its ID, got %+v, %v", st, err)
	}
	for i := range 3 {
		e.claimRange(sl, "claim", store.RangeKey{Split: id, Index: i}, "w", time.Minute, store.Claimed)
	}
	st := e.endRange(sl, "range 0 done before the seal", store.RangeKey{Split: id, Index: 0}, "w", store.RangeDone, nil, 10)
	if st.Sealed() || st.Complete() || st.Pending() != -1 {
		e.t.Errorf("before the seal: want not sealed, not complete, Pending -1, got %+v (pending %d)", st, st.Pending())
	}
	st, err := sl.SealSplit(e.ctx, id, 3, e.now().Add(time.Hour))
	if err != nil || st.Ranges != 3 || st.Done != 1 || st.Pending() != 2 {
		e.t.Fatalf("SealSplit(3): want Ranges 3, Done 1, Pending 2, got %+v, %v", st, err)
	}
	e.endRange(sl, "range 1 done", store.RangeKey{Split: id, Index: 1}, "w", store.RangeDone, nil, 10)
	st = e.endRange(sl, "range 2 dead", store.RangeKey{Split: id, Index: 2}, "w", store.RangeDead, []uint64{7}, 4)
	if !st.Complete() || st.Dead != 1 || st.Done != 2 || st.Delivered != 24 || st.Pending() != 0 {
		e.t.Errorf("every range done or dead: want complete, Done 2, Dead 1, Delivered 24, got %+v", st)
	}
	c := e.claimRange(sl, "replay of the dead range", store.RangeKey{Split: id, Index: 2}, "r", time.Minute, store.Claimed)
	if _, ok := c.Settled[7]; !ok || len(c.Settled) != 1 {
		e.t.Errorf("replay of the dead range: want what it settled before (7), got %d settled", len(c.Settled))
	}
	st = e.endRange(sl, "replay done", store.RangeKey{Split: id, Index: 2}, "r", store.RangeDone, nil, 6)
	if !st.Complete() || st.Dead != 0 || st.Done != 3 || st.Delivered != 30 {
		e.t.Errorf("after the replay: want Done 3, Dead 0, Delivered 30, got %+v", st)
	}
	if got, err := sl.GetSplit(e.ctx, id); err != nil || got != st {
		e.t.Errorf("GetSplit: want %+v, got %+v, %v", st, got, err)
	}
}

// testRangeConcurrentClaims: of concurrent claims of one range, one wins.
func testRangeConcurrentClaims(e *env) {
	sl := e.splitLog()
	k := store.RangeKey{Split: e.id("split"), Index: 0}
	var claimed, other atomic.Int32
	var mu sync.Mutex
	var errs []error
	e.within("concurrent ClaimRange", func() {
		forEach(e.o.Concurrency, e.o.Concurrency, func(i int) {
			now := time.Now()
			c, err := sl.ClaimRange(e.ctx, k, fmt.Sprint("t", i), now.Add(time.Minute), now.Add(time.Hour))
			switch {
			case err != nil:
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			case c.Status == store.Claimed:
				claimed.Add(1)
			default:
				other.Add(1)
			}
		})
	})
	if len(errs) > 0 || claimed.Load() != 1 {
		e.t.Errorf("%d concurrent claims of one range: want exactly 1 Claimed, got %d (others %d, errors %v)", e.o.Concurrency, claimed.Load(), other.Load(), errs)
	}
}

// testRangeLeaseTakeover: a claim whose lease ended is taken over with what
// its holder settled; the old holder can no longer write.
func testRangeLeaseTakeover(e *env) {
	sl := e.splitLog()
	k := store.RangeKey{Split: e.id("split"), Index: 1}
	e.claimRange(sl, "first claim", k, "a", time.Minute, store.Claimed)
	if err := sl.SettleRange(e.ctx, k, "a", []uint64{1}, e.now().Add(time.Minute)); err != nil {
		e.t.Fatalf("SettleRange: %v", err)
	}
	e.clock.set(e.now().Add(59 * time.Second))
	e.claimRange(sl, "claim before the extended lease ends", k, "b", time.Minute, store.InProgress)
	e.clock.set(e.now().Add(2 * time.Second))
	c := e.claimRange(sl, "claim after the lease ended", k, "b", time.Minute, store.Claimed)
	if _, ok := c.Settled[1]; !ok {
		e.t.Errorf("takeover: want what the first holder settled, got %d settled", len(c.Settled))
	}
	if err := sl.SettleRange(e.ctx, k, "a", []uint64{2}, e.now().Add(time.Minute)); !errors.Is(err, store.ErrRangeLost) {
		e.t.Errorf("SettleRange by the holder whose claim was taken over: want ErrRangeLost, got %v", err)
	}
}

// testBudget: takes from one slot never grant more than its limit, alone
// or concurrently; slots are independent.
func testBudget(e *env) {
	b := e.budget()
	key, exp := e.id("slot-1"), e.now().Add(time.Minute)
	for i, want := range []int{30, 30, 30, 10, 0} {
		got, err := b.TakeBudget(e.ctx, key, 30, 100, exp)
		if err != nil || got != want {
			e.t.Fatalf("take %d of 30 from a slot of 100: want %d, got %d, %v", i+1, want, got, err)
		}
	}
	if got, err := b.TakeBudget(e.ctx, e.id("slot-2"), 30, 100, exp); err != nil || got != 30 {
		e.t.Errorf("take from another slot: want 30, got %d, %v", got, err)
	}
	var granted atomic.Int64
	var failed atomic.Int32
	forEach(50, e.o.Concurrency, func(int) {
		got, err := b.TakeBudget(e.ctx, e.id("slot-3"), 7, 100, exp)
		if err != nil {
			failed.Add(1)
		}
		granted.Add(int64(got))
	})
	if granted.Load() != 100 || failed.Load() != 0 {
		e.t.Errorf("50 concurrent takes of 7 from a slot of 100: want 100 granted in all, got %d (%d errors)", granted.Load(), failed.Load())
	}
}
