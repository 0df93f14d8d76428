package gqlambda_test

import (
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda"
)

// codes returns the error codes of the error frames of frames, in order;
// "pong" for a pong, "next" for a next.
func codes(frames []string) []string {
	var out []string
	for _, f := range frames {
		switch {
		case strings.Contains(f, `"pong"`):
			out = append(out, "pong")
		case strings.Contains(f, `"next"`):
			out = append(out, "next")
		case strings.Contains(f, `"error"`):
			i := strings.Index(f, `"code":"`)
			if i < 0 {
				out = append(out, "error")
				continue
			}
			rest := f[i+len(`"code":"`):]
			out = append(out, rest[:strings.IndexByte(rest, '"')])
		default:
			out = append(out, f)
		}
	}
	return out
}

// TestFrameRate: a connection that sends frames faster than
// Limits.FrameRate (with bursts of FrameBurst) has the frames over it
// refused before the store is read: an operation gets an error coded
// RATE_LIMITED, a ping no pong. At MaxStrikes refusals it is closed with
// 4429 and its state is deleted; other connections are not affected.
func TestFrameRate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
		c.Limits.FrameRate = 0.001 // no refill within the test
		c.Limits.FrameBurst = 4
		c.Limits.MaxStrikes = 3
	})
	h.ready("c1") // connection_init: 1 of 4
	h.ready("c2")
	h.subscribe("c1", "s1", "subscription { multi { id } }") // 2 of 4
	h.send("c1", `{"type":"ping"}`)                          // 3 of 4
	h.send("c1", `{"type":"ping"}`)                          // 4 of 4
	if got := codes(h.take("c1")); strings.Join(got, ",") != "pong,pong" {
		t.Fatalf("within the burst: %v, want two pongs", got)
	}
	h.send("c1", `{"type":"ping"}`)                          // strike 1
	h.subscribe("c1", "s2", "subscription { multi { id } }") // strike 2
	if got := codes(h.take("c1")); strings.Join(got, ",") != "RATE_LIMITED" {
		t.Fatalf("over the rate: %v, want no pong, then an error coded RATE_LIMITED", got)
	}
	h.expectOpen("c1")
	h.send("c1", `{"type":"ping"}`) // strike 3
	h.expectClosed("c1", 4429)
	h.expectNoState("c1", "A")
	// The other connection keeps its own budget.
	h.send("c2", `{"type":"ping"}`)
	if got := codes(h.take("c2")); strings.Join(got, ",") != "pong" {
		t.Errorf("another connection: %v, want its pong", got)
	}
}

// TestSubscriptionsPerConnection: a subscribe beyond
// Limits.MaxSubscriptionsPerConnection gets an error coded
// TOO_MANY_SUBSCRIPTIONS and is not stored; completing one makes room; a
// connection that keeps asking is closed with 4429 at MaxStrikes.
func TestSubscriptionsPerConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
		c.Limits.MaxSubscriptionsPerConnection = 2
		c.Limits.MaxStrikes = 3
	})
	h.ready("c1")
	h.subscribe("c1", "s1", "subscription { multi { id } }")
	h.subscribe("c1", "s2", "subscription { multi { id } }")
	h.subscribe("c1", "s3", "subscription { multi { id } }") // strike 1
	if got := codes(h.take("c1")); strings.Join(got, ",") != "TOO_MANY_SUBSCRIPTIONS" {
		t.Fatalf("third subscription: %v, want an error coded TOO_MANY_SUBSCRIPTIONS", got)
	}
	if n := len(h.subscriptions("A")); n != 2 {
		t.Fatalf("%d subscriptions stored, want 2", n)
	}
	h.send("c1", `{"type":"complete","id":"s1"}`)
	h.subscribe("c1", "s3", "subscription { multi { id } }")
	if got := h.take("c1"); len(got) != 0 {
		t.Fatalf("after a complete: %v, want the subscription accepted", got)
	}
	if res := h.publish("A", map[string]any{"id": "x"}); res.Delivered != 2 {
		t.Errorf("publish: %+v, want s2 and s3", res)
	}
	h.take("c1")
	h.subscribe("c1", "s4", "subscription { multi { id } }") // strike 2
	h.expectOpen("c1")
	h.subscribe("c1", "s5", "subscription { multi { id } }") // strike 3
	h.expectClosed("c1", 4429)
	h.expectNoState("c1", "A")
}
