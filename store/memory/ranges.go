package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

var (
	_ store.RangeReader = (*Store)(nil)
	_ store.SplitLog    = (*Store)(nil)
	_ store.Budget      = (*Store)(nil)
)

// A memory store has one key shard; a range's keys are the creation numbers
// of the topic's subscriptions (the cursor of TopicSubscriptions), in
// decimal.

// TopicRanges implements [store.RangeReader]: see its documentation.
func (s *Store) TopicRanges(ctx context.Context, topic string, size int) iter.Seq2[store.Range, error] {
	return func(yield func(store.Range, error) bool) {
		if size <= 0 {
			yield(store.Range{}, fmt.Errorf("memory: ranges of topic %q: size %d, want > 0", topic, size))
			return
		}
		var after uint64
		for {
			if err := ctx.Err(); err != nil {
				yield(store.Range{}, fmt.Errorf("memory: ranges of topic %q: %w", topic, err))
				return
			}
			through, n := s.rangeEnd(topic, after, size)
			if n == 0 {
				return
			}
			r := store.Range{Through: strconv.FormatUint(through, 10), Size: n}
			if after > 0 {
				r.After = strconv.FormatUint(after, 10)
			}
			if !yield(r, nil) {
				return
			}
			after = through
		}
	}
}

// rangeEnd returns the creation number of the size-th live entry of topic
// after the one numbered after (or of the last one, when fewer remain), and
// how many live entries that range holds.
func (s *Store) rangeEnd(topic string, after uint64, size int) (uint64, int) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	ti := s.topics[topic]
	if ti == nil {
		return 0, 0
	}
	var through uint64
	n := 0
	for _, e := range ti.entries {
		if e.seq <= after || e.removed || expired(e.sub.ExpiresAt, now) {
			continue
		}
		through = e.seq
		if n++; n == size {
			break
		}
	}
	return through, n
}

// RangeSubscriptions implements [store.RangeReader]: see its documentation.
func (s *Store) RangeSubscriptions(ctx context.Context, topic string, r store.Range) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		fail := func(err error) {
			yield(store.Subscription{}, fmt.Errorf("memory: subscriptions of a range of topic %q: %w", topic, err))
		}
		after, through, err := parseRange(r)
		if err != nil {
			fail(err)
			return
		}
		var page []store.Subscription
		for more := true; more; {
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			page, after, more = s.rangePage(topic, after, through, page[:0])
			for i := range page {
				// Entries are immutable: the deep copy can wait until the
				// lock is released.
				sub := cloneSubscription(page[i])
				page[i] = store.Subscription{}
				if !yield(sub, nil) {
					return
				}
			}
		}
	}
}

// rangePage is topicPage bounded by the creation number through (0: no
// bound).
func (s *Store) rangePage(topic string, after, through uint64, page []store.Subscription) ([]store.Subscription, uint64, bool) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	ti := s.topics[topic]
	if ti == nil {
		return page, after, false
	}
	i, found := slices.BinarySearchFunc(ti.entries, after, func(e *subEntry, seq uint64) int {
		return cmp.Compare(e.seq, seq)
	})
	if found {
		i++
	}
	for ; i < len(ti.entries) && len(page) < pageSize; i++ {
		e := ti.entries[i]
		if through != 0 && e.seq > through {
			return page, after, false
		}
		after = e.seq
		if e.removed || expired(e.sub.ExpiresAt, now) {
			continue
		}
		page = append(page, e.sub)
	}
	return page, after, i < len(ti.entries)
}

// parseRange returns the creation numbers bounding r; through is 0 for no
// bound.
func parseRange(r store.Range) (after, through uint64, err error) {
	if r.Shard != 0 {
		return 0, 0, fmt.Errorf("shard %d: a memory store has one", r.Shard)
	}
	if r.After != "" {
		if after, err = strconv.ParseUint(r.After, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("range start %q: %w", r.After, err)
		}
	}
	if r.Through != "" {
		if through, err = strconv.ParseUint(r.Through, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("range end %q: %w", r.Through, err)
		}
	}
	return after, through, nil
}

// splits is the store's split log and budget, under a lock of their own.
type splits struct {
	mu     sync.Mutex
	ranges map[store.RangeKey]*rangeRecord
	splits map[string]*splitRecord
	budget map[string]*budgetRecord
	writes int
}

type rangeRecord struct {
	token      string
	state      store.RangeState // 0: claimed
	leaseUntil time.Time
	expiresAt  time.Time
	settled    map[uint64]struct{}
}

type splitRecord struct {
	status      store.SplitStatus
	done, dead  map[int]struct{}
	expiresAt   time.Time
	rangesTotal int
}

type budgetRecord struct {
	used      int
	expiresAt time.Time
}

// ClaimRange implements [store.SplitLog]: see its documentation.
func (s *Store) ClaimRange(ctx context.Context, k store.RangeKey, token string, leaseUntil, expiresAt time.Time) (store.RangeClaim, error) {
	if err := ctx.Err(); err != nil {
		return store.RangeClaim{}, err
	}
	if k.Split == "" {
		return store.RangeClaim{}, errors.New("memory: claim range: empty split id")
	}
	now := s.now()
	l := &s.splits
	l.mu.Lock()
	defer l.mu.Unlock()
	l.purge(now)
	r := l.ranges[k]
	if r != nil && !expired(r.expiresAt, now) {
		switch {
		case r.state == store.RangeDone:
			return store.RangeClaim{Status: store.AlreadyDelivered}, nil
		case r.state == 0 && r.leaseUntil.After(now):
			return store.RangeClaim{Status: store.InProgress}, nil
		}
	} else {
		r = &rangeRecord{settled: map[uint64]struct{}{}}
		if l.ranges == nil {
			l.ranges = make(map[store.RangeKey]*rangeRecord)
		}
		l.ranges[k] = r
	}
	r.token, r.leaseUntil, r.expiresAt, r.state = token, leaseUntil, expiresAt, 0
	settled := make(map[uint64]struct{}, len(r.settled))
	for h := range r.settled {
		settled[h] = struct{}{}
	}
	return store.RangeClaim{Status: store.Claimed, Settled: settled}, nil
}

// held returns k's record while token holds it. The caller holds l.mu.
func (l *splits) held(k store.RangeKey, token string, now time.Time) (*rangeRecord, error) {
	r := l.ranges[k]
	if r == nil || expired(r.expiresAt, now) || r.token != token || r.state != 0 {
		return nil, fmt.Errorf("memory: range %d of split %q: %w", k.Index, k.Split, store.ErrRangeLost)
	}
	return r, nil
}

// SettleRange implements [store.SplitLog]: see its documentation.
func (s *Store) SettleRange(ctx context.Context, k store.RangeKey, token string, settled []uint64, leaseUntil time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := &s.splits
	l.mu.Lock()
	defer l.mu.Unlock()
	r, err := l.held(k, token, s.now())
	if err != nil {
		return err
	}
	for _, h := range settled {
		r.settled[h] = struct{}{}
	}
	r.leaseUntil = leaseUntil
	return nil
}

// EndRange implements [store.SplitLog]: see its documentation.
func (s *Store) EndRange(ctx context.Context, k store.RangeKey, token string, state store.RangeState, settled []uint64, delivered, gone int, expiresAt time.Time) (store.SplitStatus, error) {
	if err := ctx.Err(); err != nil {
		return store.SplitStatus{}, err
	}
	if state < store.RangeReleased || state > store.RangeDead {
		return store.SplitStatus{}, fmt.Errorf("memory: end range: invalid state %d", state)
	}
	now := s.now()
	l := &s.splits
	l.mu.Lock()
	defer l.mu.Unlock()
	r, err := l.held(k, token, now)
	if err != nil {
		return store.SplitStatus{}, err
	}
	for _, h := range settled {
		r.settled[h] = struct{}{}
	}
	r.state = state
	sp := l.split(k.Split, expiresAt)
	sp.status.Delivered += delivered
	sp.status.Gone += gone
	switch state {
	case store.RangeDone:
		delete(sp.dead, k.Index)
		sp.done[k.Index] = struct{}{}
	case store.RangeDead:
		sp.dead[k.Index] = struct{}{}
	}
	return sp.snapshot(), nil
}

// split returns the record of split id, adding it. The caller holds l.mu.
func (l *splits) split(id string, expiresAt time.Time) *splitRecord {
	sp := l.splits[id]
	if sp == nil {
		sp = &splitRecord{status: store.SplitStatus{ID: id}, done: map[int]struct{}{}, dead: map[int]struct{}{}}
		if l.splits == nil {
			l.splits = make(map[string]*splitRecord)
		}
		l.splits[id] = sp
	}
	sp.expiresAt = later(sp.expiresAt, expiresAt)
	return sp
}

func (sp *splitRecord) snapshot() store.SplitStatus {
	st := sp.status
	st.Ranges = sp.rangesTotal
	st.Done, st.Dead = len(sp.done), len(sp.dead)
	return st
}

// SealSplit implements [store.SplitLog]: see its documentation.
func (s *Store) SealSplit(ctx context.Context, id string, ranges int, expiresAt time.Time) (store.SplitStatus, error) {
	if err := ctx.Err(); err != nil {
		return store.SplitStatus{}, err
	}
	if id == "" || ranges <= 0 {
		return store.SplitStatus{}, fmt.Errorf("memory: seal split %q: %d ranges, want an id and > 0", id, ranges)
	}
	l := &s.splits
	l.mu.Lock()
	defer l.mu.Unlock()
	sp := l.split(id, expiresAt)
	sp.rangesTotal = ranges
	return sp.snapshot(), nil
}

// GetSplit implements [store.SplitLog]: see its documentation.
func (s *Store) GetSplit(ctx context.Context, id string) (store.SplitStatus, error) {
	if err := ctx.Err(); err != nil {
		return store.SplitStatus{}, err
	}
	l := &s.splits
	l.mu.Lock()
	defer l.mu.Unlock()
	sp := l.splits[id]
	if sp == nil || expired(sp.expiresAt, s.now()) {
		return store.SplitStatus{ID: id}, nil
	}
	return sp.snapshot(), nil
}

// TakeBudget implements [store.Budget]: see its documentation.
func (s *Store) TakeBudget(ctx context.Context, key string, n, limit int, expiresAt time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, nil
	}
	now := s.now()
	l := &s.splits
	l.mu.Lock()
	defer l.mu.Unlock()
	l.purge(now)
	b := l.budget[key]
	if b == nil || expired(b.expiresAt, now) {
		b = &budgetRecord{}
		if l.budget == nil {
			l.budget = make(map[string]*budgetRecord)
		}
		l.budget[key] = b
	}
	b.used += n
	b.expiresAt = later(b.expiresAt, expiresAt)
	return store.Granted(b.used, n, limit), nil
}

// purge drops expired records every few hundred writes. The caller holds
// l.mu.
func (l *splits) purge(now time.Time) {
	if l.writes++; l.writes < minPurgeWrites {
		return
	}
	l.writes = 0
	for k, r := range l.ranges {
		if expired(r.expiresAt, now) {
			delete(l.ranges, k)
		}
	}
	for k, sp := range l.splits {
		if expired(sp.expiresAt, now) {
			delete(l.splits, k)
		}
	}
	for k, b := range l.budget {
		if expired(b.expiresAt, now) {
			delete(l.budget, k)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
