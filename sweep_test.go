package gqlambda_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/memory"
)

// sweepHarness is a harness whose OnDisconnect and OnComplete hooks log the
// cause, with the given liveness settings.
func sweepHarness(t *testing.T, l gqlambda.Liveness) *harness {
	t.Helper()
	return newHarness(t, func(cfg *gqlambda.Config, log *hookLog) {
		cfg.Liveness = l
		cfg.Hooks.OnDisconnect = func(_ context.Context, c gqlambda.Conn, info gqlambda.DisconnectInfo) error {
			log.add("OnDisconnect %s %s", c.ID, info.Cause)
			return nil
		}
		cfg.Hooks.OnComplete = func(_ context.Context, sub store.Subscription, reason gqlambda.CompleteReason) error {
			log.add("OnComplete %s/%s %s", sub.ConnectionID, sub.ID, reason)
			return nil
		}
	})
}

// sweep runs one sweep and checks its counts.
func (h *harness) sweep(want gqlambda.SweepResult) {
	h.t.Helper()
	got, err := h.srv.Sweep(context.Background())
	if err != nil {
		h.t.Fatalf("Sweep: %v", err)
	}
	if got != want {
		h.t.Fatalf("Sweep: got %+v, want %+v", got, want)
	}
}

// activity returns the recorded LastActiveAt and PingedAt of id.
func (h *harness) activity(id string) (lastActive, pinged time.Time) {
	h.t.Helper()
	c, err := h.store.GetConnection(context.Background(), id)
	if err != nil {
		h.t.Fatalf("GetConnection %s: %v", id, err)
	}
	return c.LastActiveAt, c.PingedAt
}

func (h *harness) expectLog(want ...string) {
	h.t.Helper()
	got := h.log.list()
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			h.t.Fatalf("hook log lacks %q:\n%q", w, got)
		}
	}
}

func TestSweepRemovesGoneConnections(t *testing.T) {
	h := sweepHarness(t, gqlambda.Liveness{IdleAfter: 5 * time.Minute})
	h.ready("gone")
	h.subscribe("gone", "s1", `subscription { messages { id } }`)
	h.ready("alive")
	h.subscribe("alive", "s1", `subscription { messages { id } }`)

	// Nothing is idle yet: no call to API Gateway.
	h.sweep(gqlambda.SweepResult{})
	if h.rec.Gets() != 0 {
		t.Fatalf("a sweep with no idle connection asked API Gateway %d times", h.rec.Gets())
	}

	h.rec.SetGone("gone") // the client vanished; its $disconnect was lost
	h.advance(5*time.Minute + time.Second)
	h.sweep(gqlambda.SweepResult{Idle: 2, Checked: 2, Alive: 1, Gone: 1})
	h.expectNoState("gone", "MESSAGES")
	h.expectLog("OnComplete gone/s1 disconnect", "OnDisconnect gone swept-gone")
	if n := h.log.count("OnDisconnect alive"); n != 0 {
		t.Fatalf("OnDisconnect ran for the live connection")
	}
	if subs := h.subscriptions("MESSAGES"); len(subs) != 1 || subs[0].ConnectionID != "alive" {
		t.Fatalf("subscriptions left: %+v, want alive's only", subs)
	}
	if res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "1", "text": "hi"}); res.Delivered != 1 || res.Gone != 0 {
		t.Fatalf("publish after the sweep: %+v, want 1 delivered and none gone", res)
	}

	// The live connection counts as active again: it is checked only once
	// it has been idle for IdleAfter more.
	h.sweep(gqlambda.SweepResult{})
	h.advance(5*time.Minute + time.Second)
	h.sweep(gqlambda.SweepResult{Idle: 1, Checked: 1, Alive: 1})
	if h.rec.Gets() != 3 {
		t.Fatalf("API Gateway asked %d times, want 3", h.rec.Gets())
	}
	if n := h.log.count("OnDisconnect gone"); n != 1 {
		t.Fatalf("OnDisconnect of the gone connection ran %d times, want 1", n)
	}
}

func TestSweepInitTimeout(t *testing.T) {
	h := sweepHarness(t, gqlambda.Liveness{InitTimeout: time.Minute, IdleAfter: 5 * time.Minute})
	h.open("lazy")                        // never sends connection_init
	h.connectWith("legacy", "graphql-ws") // nor does this one
	h.connectWith("plain")                // no subprotocol: graphql-transport-ws by default
	h.ready("ready")                      // initialised
	h.send("lazy", `{"type":"ping"}`)     // frames other than connection_init do not count
	h.expect("lazy", `{"type":"pong"}`)

	h.advance(50 * time.Second) // the harness's clock also runs in real time: leave it room
	h.sweep(gqlambda.SweepResult{})
	h.expectOpen("lazy")

	h.advance(15 * time.Second)
	h.sweep(gqlambda.SweepResult{Idle: 3, InitTimedOut: 3})
	for _, id := range []string{"lazy", "legacy", "plain"} {
		h.expectClosed(id, 4408)
		h.expectNoState(id)
		h.expectLog("OnDisconnect " + id + " init-timeout")
	}
	h.expectOpen("ready")
	if _, err := h.store.GetConnection(context.Background(), "ready"); err != nil {
		t.Fatalf("the initialised connection was removed: %v", err)
	}
}

func TestSweepPlainDialectHasNoInit(t *testing.T) {
	h := newHarness(t, func(cfg *gqlambda.Config, _ *hookLog) {
		cfg.PlainProtocol = true
		cfg.Liveness = gqlambda.Liveness{InitTimeout: time.Minute, IdleAfter: 5 * time.Minute}
	})
	h.connectWith("plain") // the plain dialect has no connection_init
	h.advance(2 * time.Minute)
	h.sweep(gqlambda.SweepResult{})
	h.advance(4 * time.Minute)
	h.sweep(gqlambda.SweepResult{Idle: 1, Checked: 1, Alive: 1})
	h.expectOpen("plain")
}

func TestSweepPingPong(t *testing.T) {
	h := sweepHarness(t, gqlambda.Liveness{Ping: true, IdleAfter: 5 * time.Minute, PongTimeout: 30 * time.Second})
	h.ready("answers")
	h.ready("silent")
	h.connectWith("legacy", "graphql-ws")
	h.send("legacy", `{"type":"connection_init"}`)
	h.expect("legacy", `{"type":"connection_ack"}`)

	h.advance(5*time.Minute + time.Second)
	pingedAt := h.now()
	// graphql-transport-ws connections are pinged; the legacy protocol
	// has no ping its clients answer, so that one is asked about.
	h.sweep(gqlambda.SweepResult{Idle: 3, Checked: 1, Alive: 1, Pinged: 2})
	h.expect("answers", `{"type":"ping"}`)
	h.expect("silent", `{"type":"ping"}`)
	if _, pinged := h.activity("silent"); pinged.Sub(pingedAt).Abs() > time.Second {
		t.Fatalf("PingedAt %v, want about %v", pinged, pingedAt)
	}

	h.advance(10 * time.Second)
	h.send("answers", `{"type":"pong"}`)
	if last, pinged := h.activity("answers"); !pinged.IsZero() || last.Before(pingedAt) {
		t.Fatalf("after the pong: LastActiveAt %v, PingedAt %v; want activity after the ping and no ping awaiting", last, pinged)
	}
	// Within PongTimeout the silent one is left alone.
	h.sweep(gqlambda.SweepResult{Idle: 1})
	h.expectOpen("silent")

	h.advance(21 * time.Second)
	h.sweep(gqlambda.SweepResult{Idle: 1, PongMissed: 1})
	h.expectClosed("silent", 1001)
	h.expectNoState("silent")
	h.expectLog("OnDisconnect silent pong-timeout")
	h.expectOpen("answers")
	h.expectOpen("legacy")
}

func TestSweepPingToGoneConnection(t *testing.T) {
	h := sweepHarness(t, gqlambda.Liveness{Ping: true})
	h.ready("c")
	h.subscribe("c", "s1", `subscription { messages { id } }`)
	h.rec.SetGone("c")
	h.advance(6 * time.Minute)
	h.sweep(gqlambda.SweepResult{Idle: 1, Gone: 1})
	h.expectNoState("c", "MESSAGES")
	h.expectLog("OnComplete c/s1 disconnect", "OnDisconnect c swept-gone")
}

func TestActivityGranularity(t *testing.T) {
	h := sweepHarness(t, gqlambda.Liveness{Granularity: time.Minute})
	h.ready("c")
	first, _ := h.activity("c")

	h.advance(30 * time.Second)
	h.send("c", `{"type":"ping"}`)
	if last, _ := h.activity("c"); !last.Equal(first) {
		t.Fatalf("a frame within the granularity recorded activity: %v, want %v", last, first)
	}
	h.advance(31 * time.Second)
	sent := h.now()
	h.send("c", `{"type":"ping"}`)
	if last, _ := h.activity("c"); last.Sub(sent).Abs() > time.Second {
		t.Fatalf("a frame past the granularity did not record activity: %v, want about %v", last, sent)
	}
}

func TestSweepBounds(t *testing.T) {
	h := sweepHarness(t, gqlambda.Liveness{MaxPerSweep: 3})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		h.ready(id)
	}
	h.advance(6 * time.Minute)
	h.sweep(gqlambda.SweepResult{Idle: 3, Checked: 3, Alive: 3, Truncated: true})
	h.sweep(gqlambda.SweepResult{Idle: 2, Checked: 2, Alive: 2})

	// A context whose deadline leaves no time sweeps nothing.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if res, err := h.srv.Sweep(ctx); err != nil || !res.Truncated || res.Idle != 0 {
		t.Fatalf("Sweep with 1s left: %+v, %v; want truncated with nothing done", res, err)
	}
}

func TestSweepNeedsActivityIndex(t *testing.T) {
	// The memory store behind an interface that hides its activity index.
	var st struct{ store.Store }
	st.Store = memory.New(nil)
	srv, err := gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(testSchema(t, &hookLog{}), nil), Store: st, Sender: gatewaytest.NewRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Sweep(context.Background()); !errors.Is(err, gqlambda.ErrNoActivityIndex) {
		t.Fatalf("Sweep on a store without activity index: %v, want ErrNoActivityIndex", err)
	}
	if err := srv.SweepEvery(context.Background(), time.Second); !errors.Is(err, gqlambda.ErrNoActivityIndex) {
		t.Fatalf("SweepEvery on a store without activity index: %v, want ErrNoActivityIndex", err)
	}
}

// TestSweepPongBeforePingRecorded: a client may answer a ping before the
// sweep that sent it records it; the answer still counts.
func TestSweepPongBeforePingRecorded(t *testing.T) {
	var h *harness
	answered := false
	h = sweepHarness(t, gqlambda.Liveness{Ping: true, IdleAfter: 5 * time.Minute, PongTimeout: 30 * time.Second})
	h.rec.Hook = func(ctx context.Context, endpoint, id string, frame []byte) error {
		if string(frame) == `{"type":"ping"}` && !answered {
			answered = true
			h.advance(time.Second) // the pong comes a moment after the ping
			ev := h.message
			ev.RequestContext.ConnectionID = id
			ev.Body = `{"type":"pong"}`
			if _, err := h.srv.WebSocketHandler(context.Background(), ev); err != nil {
				t.Errorf("pong: %v", err)
			}
		}
		return nil
	}
	h.ready("c")
	h.advance(6 * time.Minute)
	h.sweep(gqlambda.SweepResult{Idle: 1, Pinged: 1})
	if last, pinged := h.activity("c"); !pinged.Before(last) {
		t.Fatalf("PingedAt %v, LastActiveAt %v: want the ping recorded before the answer's time", pinged, last)
	}
	h.advance(time.Minute)
	h.sweep(gqlambda.SweepResult{})
	h.expectOpen("c")
	if n := h.log.count("OnDisconnect"); n != 0 {
		t.Fatalf("OnDisconnect ran %d times", n)
	}
}

// TestSweepMaxDuration: at MaxDuration a sweep takes no more connections,
// and finishes those in hand. Each ping takes 150 ms of a slow gateway, one
// at a time, in a bubble whose clock only moves when everything waits.
func TestSweepMaxDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := sweepHarness(t, gqlambda.Liveness{Ping: true, Concurrency: 1, MaxDuration: 400 * time.Millisecond})
		for _, id := range []string{"a", "b", "c", "d", "e"} {
			h.ready(id)
		}
		h.rec.Hook = func(ctx context.Context, endpoint, id string, frame []byte) error {
			time.Sleep(150 * time.Millisecond)
			return nil
		}
		h.advance(6 * time.Minute)
		res, err := h.srv.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Pings start at 0, 150 and 300 ms; at 400 ms the sweep stops
		// taking connections and the third finishes.
		if want := (gqlambda.SweepResult{Idle: 3, Pinged: 3, Truncated: true}); res != want {
			t.Fatalf("Sweep: %+v, want %+v", res, want)
		}
		if n := h.errs.count(""); n != 0 {
			t.Fatalf("errors: %q", h.errs.list())
		}
	})
}
