package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/internal/redistest"
	"github.com/gqlambda/gqlambda/store"
)

// failFast are client options that make every call give up within a second
// while the server is unreachable: a Lambda should not spend its time
// waiting for a frozen primary.
func failFast(addr string) *redis.Options {
	return &redis.Options{
		Addr:            addr,
		DialTimeout:     200 * time.Millisecond,
		ReadTimeout:     200 * time.Millisecond,
		WriteTimeout:    200 * time.Millisecond,
		PoolTimeout:     200 * time.Millisecond,
		MaxRetries:      1,
		MinRetryBackoff: 10 * time.Millisecond,
		MaxRetryBackoff: 50 * time.Millisecond,
		// go-redis dials up to 5 times, 100 ms apart, by default.
		DialerRetries:      2,
		DialerRetryTimeout: 50 * time.Millisecond,
	}
}

// call is one store method for the failover test.
type call struct {
	name string
	op   string // the operation the error must name
	// landed is the answer the call gets when an earlier try of it, whose
	// reply was lost, did its write; nil for a read.
	landed error
	run    func(ctx context.Context, st *Store, i int) error
}

func failoverCalls(exp time.Time) []call {
	sub := func(i int) store.Subscription {
		return store.Subscription{ConnectionID: fmt.Sprintf("c%d", i), ID: "1", Topics: []string{"a", "b"}, Query: "subscription { x }", ExpiresAt: exp}
	}
	return []call{
		{"CreateConnection", "create connection", store.ErrConnectionExists, func(ctx context.Context, st *Store, i int) error {
			return st.CreateConnection(ctx, store.Connection{ID: fmt.Sprintf("c%d", i), ExpiresAt: exp})
		}},
		{"GetConnection", "get connection", nil, func(ctx context.Context, st *Store, i int) error {
			_, err := st.GetConnection(ctx, fmt.Sprintf("c%d", i))
			return err
		}},
		{"AcknowledgeConnection", "acknowledge connection", store.ErrAlreadyAcknowledged, func(ctx context.Context, st *Store, i int) error {
			return st.AcknowledgeConnection(ctx, fmt.Sprintf("c%d", i), nil)
		}},
		{"CreateSubscription", "create subscription", store.ErrSubscriptionExists, func(ctx context.Context, st *Store, i int) error {
			return st.CreateSubscription(ctx, sub(i))
		}},
		{"GetSubscription", "get subscription", nil, func(ctx context.Context, st *Store, i int) error {
			_, err := st.GetSubscription(ctx, fmt.Sprintf("c%d", i), "1")
			return err
		}},
		{"TopicSubscriptions", "subscriptions of topic", nil, func(ctx context.Context, st *Store, i int) error {
			for _, err := range st.TopicSubscriptions(ctx, "a") {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"DeleteSubscription", "delete subscription", store.ErrSubscriptionNotFound, func(ctx context.Context, st *Store, i int) error {
			_, err := st.DeleteSubscription(ctx, fmt.Sprintf("c%d", i), "1")
			return err
		}},
		{"DeleteConnection", "delete connection", store.ErrConnectionNotFound, func(ctx context.Context, st *Store, i int) error {
			_, _, err := st.DeleteConnection(ctx, fmt.Sprintf("c%d", i))
			return err
		}},
	}
}

// failBound is how long a call on a failFast client may take to fail.
// failFast's arithmetic gives about 900 ms at worst (a subscription's two
// round trips, each a 200 ms timeout, a 50 ms backoff and one retry); the
// bound leaves room for a loaded runner under -race. go-redis's defaults
// (3 s reads, 3 retries) take over 6 s, so a store that lost its timeouts
// still fails the test.
const failBound = 2 * time.Second

// expectUnavailable checks that every method fails, within failBound, with
// an error that names its operation and is none of the store's sentinels.
func expectUnavailable(t *testing.T, st *Store, what string, i int) {
	t.Helper()
	for _, c := range failoverCalls(time.Now().Add(time.Hour)) {
		start := time.Now()
		err := c.run(t.Context(), st, i)
		took := time.Since(start)
		switch {
		case err == nil:
			t.Errorf("%s: %s succeeded", what, c.name)
		case isAnswer(err):
			t.Errorf("%s: %s: %v; an unreachable server must not pass for an answer", what, c.name, err)
		case !strings.Contains(err.Error(), "redis: "+c.op):
			t.Errorf("%s: %s: the error %q does not name the operation (%q)", what, c.name, err, "redis: "+c.op)
		}
		if took > failBound {
			t.Errorf("%s: %s took %v to fail, want under %v (DialTimeout, ReadTimeout 200 ms, one retry)", what, c.name, took, failBound)
		}
		t.Logf("%s: %s failed after %v: %v", what, c.name, took.Round(time.Millisecond), err)
	}
}

// consistent checks the invariants that no interruption may break, over
// connections c0..c(n-1), each with at most subscription "1" on topics a and
// b: a subscription exists only with its connection, each topic yields
// exactly the subscriptions that exist, once. It returns the ids of the
// connections that exist.
func consistent(t *testing.T, st *Store, n int) []string {
	t.Helper()
	ctx := t.Context()
	var conns []string
	subs := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		_, cerr := st.GetConnection(ctx, id)
		switch {
		case cerr == nil:
			conns = append(conns, id)
		case !errors.Is(cerr, store.ErrConnectionNotFound):
			t.Fatalf("GetConnection %q: %v", id, cerr)
		}
		_, serr := st.GetSubscription(ctx, id, "1")
		switch {
		case serr == nil:
			subs[id] = true
			if cerr != nil {
				t.Errorf("subscription 1 of %q exists without its connection", id)
			}
		case !errors.Is(serr, store.ErrSubscriptionNotFound):
			t.Fatalf("GetSubscription %q: %v", id, serr)
		}
	}
	for _, topic := range []string{"a", "b"} {
		seen := map[string]int{}
		for sub, err := range st.TopicSubscriptions(ctx, topic) {
			if err != nil {
				t.Fatalf("TopicSubscriptions %q: %v", topic, err)
			}
			seen[sub.ConnectionID]++
		}
		for id, n := range seen {
			if n != 1 || !subs[id] {
				t.Errorf("topic %q yielded the subscription of %q %d times; GetSubscription finds it: %t", topic, id, n, subs[id])
			}
		}
		for id := range subs {
			if seen[id] == 0 {
				t.Errorf("topic %q does not yield the subscription of %q, which exists", topic, id)
			}
		}
	}
	return conns
}

// TestFailover freezes the server, then kills it in the middle of a
// workload and starts it again on the same port: meanwhile every call fails
// quickly with an error naming it; afterwards nothing is half-written and
// the store works again.
func TestFailover(t *testing.T) {
	// The append-only file, written before each reply, survives the kill,
	// as a replica's copy survives its primary.
	srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	client := redis.NewClient(failFast(srv.Addr))
	t.Cleanup(func() { client.Close() })
	st := New(client, &Options{PageSize: 7})
	// The setup and the consistency checks run on a client with go-redis's
	// own timeouts: on a loaded runner a healthy call can take longer than
	// failFast's 200 ms, and these calls are not what is under test.
	patient := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { patient.Close() })
	checker := New(patient, &Options{PageSize: 7})
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	const n = 200
	for i := range n / 2 {
		for _, c := range failoverCalls(exp)[:4] { // create, get, acknowledge, subscribe
			if err := c.run(ctx, checker, i); err != nil {
				t.Fatalf("%s %d: %v", c.name, i, err)
			}
		}
	}
	before := consistent(t, checker, n)

	t.Run("frozen", func(t *testing.T) {
		srv.Freeze()
		expectUnavailable(t, st, "frozen server", n/2)
		srv.Thaw()
		// Writes sent to the frozen server reach it when it thaws, though
		// their callers gave up: connection n/2 may exist now.
		after := consistent(t, checker, n)
		if got := slices.DeleteFunc(after, func(id string) bool { return id == fmt.Sprintf("c%d", n/2) }); !slices.Equal(got, before) {
			t.Errorf("connections after a freeze: %q, want %q", got, before)
		}
	})

	t.Run("killed", func(t *testing.T) {
		// Workers subscribe and disconnect connections c0..c(n-1) until the
		// server dies under them.
		var (
			done     atomic.Bool
			failures atomic.Int64
			slowest  atomic.Int64
			mu       sync.Mutex
			firstErr error
			wg       sync.WaitGroup
		)
		calls := failoverCalls(exp)
		for w := range 8 {
			wg.Go(func() {
				for k := 0; !done.Load(); k++ {
					i := (w*37 + k*11) % n
					c := calls[(w+k)%len(calls)]
					start := time.Now()
					err := c.run(ctx, st, i)
					took := time.Since(start)
					if err == nil || isAnswer(err) {
						continue
					}
					failures.Add(1)
					for {
						s := slowest.Load()
						if int64(took) <= s || slowest.CompareAndSwap(s, int64(took)) {
							break
						}
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			})
		}
		time.Sleep(300 * time.Millisecond) // real-server wait: let the workload run before the crash
		srv.Kill()
		expectUnavailable(t, st, "killed server", n/2)
		done.Store(true)
		wg.Wait()
		if failures.Load() == 0 {
			t.Errorf("no call failed while the server was down")
		}
		if d := time.Duration(slowest.Load()); d > failBound {
			t.Errorf("the slowest failing call took %v, want under %v", d, failBound)
		}
		t.Logf("%d calls failed while the server was down (slowest %v), first: %v", failures.Load(), time.Duration(slowest.Load()).Round(time.Millisecond), firstErr)

		srv.Restart()
		// The client's pool, after its dials failed, probes the server
		// once a second before it dials for callers again.
		back := time.Now()
		for {
			_, err := st.GetConnection(ctx, "c0")
			if err == nil || errors.Is(err, store.ErrConnectionNotFound) {
				break
			}
			if time.Since(back) > 5*time.Second {
				t.Fatalf("the store does not work 5 s after the server returned: %v", err)
			}
			time.Sleep(20 * time.Millisecond) // real-server wait: the client notices the server is back
		}
		t.Logf("the store works again %v after the server returned", time.Since(back).Round(time.Millisecond))
		// The store works again with the same client: the connections it
		// had are gone, new ones are made, and the scripts, which the new
		// process has not seen, are sent in full (first: no other client
		// has loaded them yet). Connection n is outside the checks below.
		for _, c := range failoverCalls(exp) {
			if err := worksAgain(ctx, c, st, n); err != nil {
				t.Errorf("%s after the restart, on the client that saw the crash: %v", c.name, err)
			}
		}
		// Nothing is half-written (checked on the other client).
		conns := consistent(t, checker, n)
		for _, id := range conns {
			if _, _, err := checker.DeleteConnection(ctx, id); err != nil {
				t.Fatalf("DeleteConnection %q after the restart: %v", id, err)
			}
		}
		if left := consistent(t, checker, n); len(left) > 0 {
			t.Errorf("connections left after deleting them all: %q", left)
		}
	})
}

// worksAgain runs c on st, tried again (up to 3 times in all) while it
// fails with an error that is not an answer: on a loaded runner a healthy
// call may outlast failFast's 200 ms. On a later try, the answer that says
// the earlier try's write landed (c.landed) is success; any other answer is
// an error. A store that stays broken after the restart fails every try.
func worksAgain(ctx context.Context, c call, st *Store, i int) error {
	var err error
	for try := range 3 {
		err = c.run(ctx, st, i)
		switch {
		case err == nil:
			return nil
		case try > 0 && c.landed != nil && errors.Is(err, c.landed):
			return nil
		case isAnswer(err):
			return err
		}
	}
	return err
}

// isAnswer reports whether err is one of the store's sentinels: the server
// answered, and the answer was no.
func isAnswer(err error) bool {
	return errors.Is(err, store.ErrConnectionNotFound) || errors.Is(err, store.ErrSubscriptionNotFound) ||
		errors.Is(err, store.ErrConnectionExists) || errors.Is(err, store.ErrSubscriptionExists) || errors.Is(err, store.ErrAlreadyAcknowledged)
}
