package gqlambda

import (
	"strconv"
	"testing"
	"time"
)

// TestLimiterBounded: buckets that are all in use (a flood of new keys)
// do not grow the limiter past maxTrackedConnections, and the eviction scan
// does not run for every new key.
func TestLimiterBounded(t *testing.T) {
	var l limiter
	now := time.Unix(1_700_000_000, 0)
	scans := 0
	for i := range 2 * maxTrackedConnections {
		before := len(l.buckets)
		if !l.take("k"+strconv.Itoa(i), now, 1, 1) {
			t.Fatalf("key %d: a new key's first request refused", i)
		}
		if len(l.buckets) <= before {
			scans++
		}
		if len(l.buckets) > maxTrackedConnections {
			t.Fatalf("after %d keys: %d buckets, over the %d bound", i+1, len(l.buckets), maxTrackedConnections)
		}
	}
	if max := 2 * maxTrackedConnections / (maxTrackedConnections / 8); scans > max {
		t.Errorf("%d eviction scans for %d new keys, want at most %d", scans, 2*maxTrackedConnections, max)
	}
}

// TestLimiterEvictsIdleFirst: at the bound, idle buckets go and the ones in
// use keep their state.
func TestLimiterEvictsIdleFirst(t *testing.T) {
	var l limiter
	start := time.Unix(1_700_000_000, 0)
	for i := range maxTrackedConnections - 1 {
		l.take("idle"+strconv.Itoa(i), start, 1, 1)
	}
	now := start.Add(2 * idleBucket)
	if !l.take("busy", now, 1, 1) {
		t.Fatal("busy: first request refused")
	}
	if !l.take("new", now, 1, 1) {
		t.Fatal("new: first request refused")
	}
	if len(l.buckets) != 2 {
		t.Errorf("%d buckets after the idle ones expired, want 2", len(l.buckets))
	}
	if l.take("busy", now, 1, 1) {
		t.Error("busy: its spent token came back after the eviction")
	}
}
