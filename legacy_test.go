package gqlambda_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/gqlambda/gqlambda"
)

// The legacy subscriptions-transport-ws protocol (subprotocol "graphql-ws")
// on the same server: frames differ, behaviour is shared.

func TestLegacyProtocolFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.connectWith("old", "graphql-ws")
	h.send("old", `{"type":"connection_init","payload":{"token":"t"}}`)
	h.expect("old", `{"type":"connection_ack"}`)

	h.send("old", `{"type":"start","id":"1","payload":{"query":"subscription { multi { id } }"}}`)
	h.expect("old")
	if res := h.publish("A", map[string]any{"id": "7"}); res.Delivered != 1 {
		t.Fatalf("publish: %+v", res)
	}
	h.expect("old", `{"type":"data","id":"1","payload":{"data":{"multi":{"id":"7"}}}}`)

	// A query over the socket: data then complete.
	h.send("old", `{"type":"start","id":"q","payload":{"query":"{ hello }"}}`)
	h.expect("old", `{"type":"data","id":"q","payload":{"data":{"hello":"world"}}}`, `{"type":"complete","id":"q"}`)

	// Invalid GraphQL: an error for the operation, the connection stays.
	h.send("old", `{"type":"start","id":"bad","payload":{"query":"{ nope }"}}`)
	got := h.take("old")
	if len(got) != 1 || !jsonHas(got[0], `"type":"error"`, `"id":"bad"`, `Cannot query field`) {
		t.Fatalf("invalid query: %q", got)
	}
	h.expectOpen("old")

	// stop ends the subscription: no more data.
	h.send("old", `{"type":"stop","id":"1"}`)
	h.publish("A", map[string]any{"id": "8"})
	if frames := h.take("old"); len(frames) > 1 || (len(frames) == 1 && !jsonHas(frames[0], `"type":"complete"`)) {
		t.Fatalf("after stop: %q", frames)
	}
	if subs := h.subscriptions("A"); len(subs) != 0 {
		t.Fatalf("subscriptions after stop: %v", subs)
	}

	// Unknown message: an error message, no close (as the reference server).
	h.send("old", `{"type":"ka"}`)
	if got := h.take("old"); len(got) != 1 || !jsonHas(got[0], `"type":"error"`) {
		t.Fatalf("unknown message: %q", got)
	}
	h.expectOpen("old")

	// connection_terminate closes normally and removes the state.
	h.send("old", `{"type":"start","id":"2","payload":{"query":"subscription { multi { id } }"}}`)
	h.send("old", `{"type":"connection_terminate"}`)
	h.expectClosed("old", 1000)
	h.expectNoState("old", "A", "B")
}

func TestMixedProtocolsShareATopic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.connectWith("old", "graphql-ws")
	h.send("old", `{"type":"connection_init"}`)
	h.expect("old", `{"type":"connection_ack"}`)
	h.send("old", `{"type":"start","id":"1","payload":{"query":"subscription { multi { id } }"}}`)
	h.ready("new")
	h.subscribe("new", "1", `subscription { multi { id } }`)

	res := h.publish("B", map[string]any{"id": "both"})
	if res.Matched != 2 || res.Delivered != 2 {
		t.Fatalf("publish to a legacy and a graphql-transport-ws subscriber: %+v", res)
	}
	h.expect("old", `{"type":"data","id":"1","payload":{"data":{"multi":{"id":"both"}}}}`)
	h.expect("new", `{"type":"next","id":"1","payload":{"data":{"multi":{"id":"both"}}}}`)
}

func TestLegacyStartBeforeAckWaitsForTheConcurrentInit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
			// The init hook is slow: the start frame the client sent right
			// after connection_init arrives while it runs.
			c.Hooks.OnConnectionInit = func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (gqlambda.InitResult, error) {
				<-release
				return gqlambda.InitResult{}, nil
			}
		})
		h.connectWith("old", "graphql-ws")
		var wg sync.WaitGroup
		wg.Go(func() { h.send("old", `{"type":"connection_init"}`) })
		wg.Go(func() {
			h.send("old", `{"type":"start","id":"1","payload":{"query":"subscription { multi { id } }"}}`)
		})
		// Both frames are being handled: the init waits in its hook, the
		// start for the acknowledgement.
		synctest.Wait()
		if subs := h.subscriptions("A"); len(subs) != 0 {
			t.Fatalf("the start did not wait for the init: %v", subs)
		}
		close(release)
		wg.Wait()
		if subs := h.subscriptions("A"); len(subs) != 1 {
			t.Fatalf("the early start was not stored: %v (frames %q)", subs, h.take("old"))
		}
		h.publish("A", map[string]any{"id": "1"})
		got := h.take("old")
		if len(got) != 2 || !jsonHas(got[0], `"connection_ack"`) || !jsonHas(got[1], `"type":"data"`) {
			t.Fatalf("frames %q, want ack then data", got)
		}
	})
}

func TestLegacyStartWithoutInitIsRefused(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.connectWith("old", "graphql-ws")
		h.send("old", `{"type":"start","id":"1","payload":{"query":"subscription { multi { id } }"}}`)
		got := h.take("old")
		if len(got) != 1 || !jsonHas(got[0], `"type":"error"`, `Unauthorized`) {
			t.Fatalf("start without init: %q", got)
		}
		if subs := h.subscriptions("A"); len(subs) != 0 {
			t.Fatalf("stored without init: %v", subs)
		}
	})
}

// jsonHas reports whether frame contains every one of parts, as text.
func jsonHas(frame string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(frame, p) {
			return false
		}
	}
	return true
}
