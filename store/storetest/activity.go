package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// The cases of the optional capability store.ActivityIndex. A store without
// it skips them.

// activityIndex returns the store as an ActivityIndex, or skips the case.
func (e *env) activityIndex() store.ActivityIndex {
	e.t.Helper()
	return optional[store.ActivityIndex](e, ": a sweeper cannot find its connections whose $disconnect was lost")
}

// activityEpoch returns a time band of its own for the case: the cases
// query every idle connection of the store, and those of other cases and of
// other runs on a shared backend live at other times. The band is in the
// past (a year ago, give or take a week) and the records still expire an
// hour from now.
func (e *env) activityEpoch() time.Time {
	return time.Now().Add(-365*24*time.Hour + time.Duration(rand.Int64N(int64(14*24*time.Hour)))).Truncate(time.Millisecond)
}

// expectActivity checks LastActiveAt and PingedAt of connection id.
func (e *env) expectActivity(op, id string, lastActive, pinged time.Time) {
	e.t.Helper()
	c, err := e.s.GetConnection(e.ctx, id)
	if err != nil {
		e.t.Fatalf("%s: GetConnection %q: %v", op, id, err)
	}
	var d diff
	d.time("LastActiveAt", lastActive, c.LastActiveAt)
	d.time("PingedAt", pinged, c.PingedAt)
	if len(d) > 0 {
		e.t.Errorf("%s: connection %q:\n\t%s", op, id, strings.Join(d, "\n\t"))
	}
}

// idle lists the ids of this case's connections that IdleConnections
// yields for before, and checks that each comes once and unexpired.
func (e *env) idle(ai store.ActivityIndex, op string, before time.Time) []string {
	e.t.Helper()
	var ids []string
	seen := map[string]bool{}
	for c, err := range ai.IdleConnections(e.ctx, before) {
		if err != nil {
			e.t.Fatalf("%s: IdleConnections(%s): %v", op, fmtTime(before), err)
		}
		if !strings.HasPrefix(c.ID, e.prefix) {
			continue // another case's, or another run's
		}
		if seen[c.ID] {
			e.t.Errorf("%s: IdleConnections yielded connection %q twice", op, c.ID)
		}
		seen[c.ID] = true
		if c.LastActiveAt.After(before) {
			e.t.Errorf("%s: IdleConnections(%s) yielded connection %q, last active at %s, after the bound", op, fmtTime(before), c.ID, fmtTime(c.LastActiveAt))
		}
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

// expectIdle checks that IdleConnections yields exactly the connections of
// this case called names.
func (e *env) expectIdle(ai store.ActivityIndex, op string, before time.Time, names ...string) {
	e.t.Helper()
	want := make([]string, len(names))
	for i, n := range names {
		want[i] = e.id(n)
	}
	slices.Sort(want)
	got := e.idle(ai, op, before)
	if !slices.Equal(got, want) {
		e.t.Errorf("%s: IdleConnections(%s): want %s, got %s", op, fmtTime(before), showIDs(want), showIDs(got))
	}
}

func showIDs(ids []string) string {
	if len(ids) > 12 {
		return fmt.Sprintf("%d connections %q …", len(ids), ids[:12])
	}
	return fmt.Sprintf("%q", ids)
}

// testActivityRecorded: a new connection is last active when it connected;
// RecordActivity moves LastActiveAt forward only and clears a ping awaiting
// its answer; RecordPing sets PingedAt; both refuse a missing connection.
func testActivityRecorded(e *env) {
	ai := e.activityIndex()
	t0 := e.activityEpoch()
	c := e.connection("c")
	c.ConnectedAt = t0
	e.mustCreateConnection(c)
	e.expectActivity("new connection", c.ID, t0, time.Time{})

	e.expectErr("RecordActivity forward", ai.RecordActivity(e.ctx, c.ID, t0.Add(time.Minute)), nil)
	e.expectActivity("after RecordActivity forward", c.ID, t0.Add(time.Minute), time.Time{})
	e.expectErr("RecordActivity backward", ai.RecordActivity(e.ctx, c.ID, t0.Add(30*time.Second)), nil)
	e.expectActivity("after RecordActivity backward (LastActiveAt never moves back)", c.ID, t0.Add(time.Minute), time.Time{})

	e.expectErr("RecordPing", ai.RecordPing(e.ctx, c.ID, t0.Add(2*time.Minute)), nil)
	e.expectActivity("after RecordPing", c.ID, t0.Add(time.Minute), t0.Add(2*time.Minute))
	e.expectErr("RecordActivity not after LastActiveAt", ai.RecordActivity(e.ctx, c.ID, t0.Add(time.Minute)), nil)
	e.expectActivity("after a RecordActivity that does not move LastActiveAt (the ping still awaits)", c.ID, t0.Add(time.Minute), t0.Add(2*time.Minute))
	e.expectErr("RecordActivity after the ping", ai.RecordActivity(e.ctx, c.ID, t0.Add(3*time.Minute)), nil)
	e.expectActivity("after RecordActivity answered the ping", c.ID, t0.Add(3*time.Minute), time.Time{})

	// Activity is kept beside the other fields, which stay as they were.
	e.expectErr("AcknowledgeConnection", e.s.AcknowledgeConnection(e.ctx, c.ID, []byte(`{"a":1}`)), nil)
	c.Acknowledged, c.Context = true, []byte(`{"a":1}`)
	e.expectConnection("after activity and acknowledgement", c)
	e.expectActivity("after AcknowledgeConnection", c.ID, t0.Add(3*time.Minute), time.Time{})

	// A connection created with LastActiveAt keeps it.
	d := e.connection("d")
	d.ConnectedAt = t0
	d.LastActiveAt = t0.Add(5 * time.Minute)
	e.mustCreateConnection(d)
	e.expectActivity("connection created with LastActiveAt", d.ID, t0.Add(5*time.Minute), time.Time{})

	e.expectErr("RecordActivity of a missing connection", ai.RecordActivity(e.ctx, e.id("missing"), t0), store.ErrConnectionNotFound)
	e.expectErr("RecordPing of a missing connection", ai.RecordPing(e.ctx, e.id("missing"), t0), store.ErrConnectionNotFound)
	e.expectNoConnection("RecordActivity and RecordPing of a missing connection create nothing", e.id("missing"))

	old := e.connection("expired")
	old.ConnectedAt = t0
	old.ExpiresAt = time.Now().Add(-time.Minute)
	e.mustCreateConnection(old)
	e.expectErr("RecordActivity of an expired connection", ai.RecordActivity(e.ctx, old.ID, t0.Add(time.Hour)), store.ErrConnectionNotFound)
	e.expectErr("RecordPing of an expired connection", ai.RecordPing(e.ctx, old.ID, t0.Add(time.Hour)), store.ErrConnectionNotFound)
}

// testIdleConnections: IdleConnections yields the connections last active
// at or before the bound, each once, across pages, and neither expired nor
// deleted ones; recorded activity takes a connection out of the idle ones,
// a ping does not.
func testIdleConnections(e *env) {
	ai := e.activityIndex()
	t0 := e.activityEpoch()
	n := e.o.IdleConnections
	var idle, active []string
	forEach(n, e.o.Concurrency, func(i int) {
		c := e.connection(fmt.Sprintf("c%d", i))
		c.ConnectedAt = t0.Add(time.Duration(i) * time.Second)
		if err := e.s.CreateConnection(e.ctx, c); err != nil {
			e.t.Errorf("CreateConnection %q: %v", c.ID, err)
		}
	})
	if e.t.Failed() {
		e.t.FailNow()
	}
	half := t0.Add(time.Duration(n/2) * time.Second)
	for i := range n {
		if i <= n/2 {
			idle = append(idle, fmt.Sprintf("c%d", i))
		} else {
			active = append(active, fmt.Sprintf("c%d", i))
		}
	}
	e.expectIdle(ai, "half of the connections idle", half, idle...)
	e.expectIdle(ai, "the exact instant is idle", t0, "c0")
	e.expectIdle(ai, "none idle before the first connected", t0.Add(-time.Millisecond))

	exp := e.connection("expired")
	exp.ConnectedAt = t0
	exp.ExpiresAt = time.Now().Add(-time.Minute)
	e.mustCreateConnection(exp)
	e.expectIdle(ai, "an expired connection is never idle", t0, "c0")

	// Activity takes c0 out, a ping leaves c1 in, a deletion takes c2 out.
	e.expectErr("RecordActivity c0", ai.RecordActivity(e.ctx, e.id("c0"), half.Add(time.Hour)), nil)
	e.expectErr("RecordPing c1", ai.RecordPing(e.ctx, e.id("c1"), half.Add(time.Hour)), nil)
	if _, _, err := e.s.DeleteConnection(e.ctx, e.id("c2")); err != nil {
		e.t.Fatalf("DeleteConnection c2: %v", err)
	}
	e.expectIdle(ai, "after activity of c0, a ping to c1 and the deletion of c2", half, slices.DeleteFunc(slices.Clone(idle), func(s string) bool { return s == "c0" || s == "c2" })...)
	e.expectIdle(ai, "c0's new activity", half.Add(time.Hour), append(slices.DeleteFunc(slices.Clone(idle), func(s string) bool { return s == "c2" }), active...)...)

	// A connection made again after its deletion is indexed by its new
	// activity only.
	again := e.connection("c2")
	again.ConnectedAt = half.Add(2 * time.Hour)
	e.mustCreateConnection(again)
	e.expectIdle(ai, "a connection created again is idle by its new activity", half.Add(time.Hour), append(slices.DeleteFunc(slices.Clone(idle), func(s string) bool { return s == "c2" }), active...)...)
}

// testActivityConcurrent: concurrent RecordActivity calls of one connection
// leave the latest time, whatever their order.
func testActivityConcurrent(e *env) {
	ai := e.activityIndex()
	t0 := e.activityEpoch()
	c := e.connection("c")
	c.ConnectedAt = t0
	e.mustCreateConnection(c)
	n := e.o.Concurrency
	errs := make([]error, n)
	fs := make([]func(), n)
	for i := range fs {
		fs[i] = func() { errs[i] = ai.RecordActivity(e.ctx, c.ID, t0.Add(time.Duration(i+1)*time.Second)) }
	}
	e.within("concurrent RecordActivity", func() { race(fs...) })
	for i, err := range errs {
		e.expectErr(fmt.Sprintf("concurrent RecordActivity %d", i), err, nil)
	}
	e.expectActivity("after concurrent RecordActivity", c.ID, t0.Add(time.Duration(n)*time.Second), time.Time{})
	e.expectIdle(ai, "the latest activity indexes the connection", t0.Add(time.Duration(n)*time.Second), "c")
	e.expectIdle(ai, "no earlier activity indexes it", t0.Add(time.Duration(n)*time.Second-time.Millisecond))
}

// testIdleCancelled: IdleConnections with a cancelled context ends with an
// error.
func testIdleCancelled(e *env) {
	ai := e.activityIndex()
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	var err error
	for _, err = range ai.IdleConnections(ctx, time.Now()) {
		if err != nil {
			break
		}
	}
	if err == nil {
		e.t.Errorf("IdleConnections with a cancelled context: want an error, got none")
	}
}
