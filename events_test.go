package gqlambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store"
)

// eventLog is an in-memory EventStore that records what it is given.
type eventLog struct {
	mu     sync.Mutex
	events []store.Event
	err    error
}

func (l *eventLog) PutEvent(ctx context.Context, ev store.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.events = append(l.events, ev)
	return nil
}

func (l *eventLog) list() []store.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// TestPublishWithEventStore: with Config.Events set, Publish and Complete
// store the event and deliver nothing; Deliver then fans it out as a direct
// Publish or Complete would.
func TestPublishWithEventStore(t *testing.T) {
	t.Parallel()
	evlog := &eventLog{}
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { c.Events = evlog })
	h.ready("c1")
	h.subscribe("c1", "all", `subscription { messages { id } }`)
	h.subscribe("c1", "room", `subscription { messages(chatId: "1") { id } }`)
	ctx := t.Context()

	type call struct {
		complete bool
		payload  any
	}
	tests := []struct {
		name        string
		call        call
		wantPayload string // "" for none
		wantFrames  []string
	}{
		{
			name:        "publish",
			call:        call{payload: map[string]any{"id": "1", "chatId": "2", "text": "t"}},
			wantPayload: `{"chatId":"2","id":"1","text":"t"}`,
			wantFrames:  []string{`{"type":"next","id":"all","payload":{"data":{"messages":{"id":"1"}}}}`},
		},
		{
			name:        "publish raw JSON",
			call:        call{payload: json.RawMessage(`{"id":"2","chatId":"1","text":"t"}`)},
			wantPayload: `{"id":"2","chatId":"1","text":"t"}`,
			wantFrames: []string{
				`{"type":"next","id":"all","payload":{"data":{"messages":{"id":"2"}}}}`,
				`{"type":"next","id":"room","payload":{"data":{"messages":{"id":"2"}}}}`,
			},
		},
		{
			name:        "complete with payload",
			call:        call{complete: true, payload: map[string]any{"chatId": "1"}},
			wantPayload: `{"chatId":"1"}`,
			wantFrames:  []string{`{"type":"complete","id":"all"}`, `{"type":"complete","id":"room"}`},
		},
	}
	for _, tt := range tests {
		before := len(evlog.list())
		publish := h.srv.Publish
		if tt.call.complete {
			publish = h.srv.Complete
		}
		start := h.now()
		res, err := publish(ctx, "MESSAGES", tt.call.payload)
		end := h.now()
		if err != nil || res != (gqlambda.PublishResult{Stored: true}) {
			t.Fatalf("%s: %+v, %v; want only Stored", tt.name, res, err)
		}
		h.expect("c1") // nothing delivered yet
		evs := evlog.list()
		if len(evs) != before+1 {
			t.Fatalf("%s: %d events stored, want %d", tt.name, len(evs), before+1)
		}
		ev := evs[before]
		if ev.Topic != "MESSAGES" || ev.Complete != tt.call.complete || string(ev.Payload) != tt.wantPayload {
			t.Errorf("%s: stored %+v", tt.name, ev)
		}
		if ev.ID == "" || ev.PublishedAt.Before(start) || ev.PublishedAt.After(end) {
			t.Errorf("%s: id %q, published at %v", tt.name, ev.ID, ev.PublishedAt)
		}
		res, err = h.srv.Deliver(ctx, ev)
		if err != nil || res.Delivered != len(tt.wantFrames) || res.Stored {
			t.Errorf("%s: Deliver: %+v %v", tt.name, res, err)
		}
		got := h.take("c1")
		slices.Sort(got)
		if !slices.EqualFunc(got, tt.wantFrames, jsonEqual) {
			t.Errorf("%s: frames %v, want %v", tt.name, got, tt.wantFrames)
		}
	}

	ids := map[string]bool{}
	for _, ev := range evlog.list() {
		if ids[ev.ID] {
			t.Errorf("event id %s used twice", ev.ID)
		}
		ids[ev.ID] = true
	}
}

func TestCompleteAllWithEventStore(t *testing.T) {
	t.Parallel()
	evlog := &eventLog{}
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { c.Events = evlog })
	h.ready("c1")
	h.subscribe("c1", "a", `subscription { messages(chatId: "1") { id } }`)
	h.subscribe("c1", "b", `subscription { messages(chatId: "2") { id } }`)
	if res, err := h.srv.Complete(t.Context(), "MESSAGES", nil); err != nil || !res.Stored {
		t.Fatalf("Complete: %+v %v", res, err)
	}
	evs := evlog.list()
	if len(evs) != 1 || !evs[0].Complete || len(evs[0].Payload) != 0 {
		t.Fatalf("stored %+v, want one Complete without payload", evs)
	}
	if res, err := h.srv.Deliver(t.Context(), evs[0]); err != nil || res.Delivered != 2 {
		t.Fatalf("Deliver: %+v %v", res, err)
	}
	got := h.take("c1")
	slices.Sort(got)
	if want := []string{`{"type":"complete","id":"a"}`, `{"type":"complete","id":"b"}`}; !slices.Equal(got, want) {
		t.Errorf("frames %v, want %v", got, want)
	}
}

func TestPublishWithEventStoreErrors(t *testing.T) {
	t.Parallel()
	down := errors.New("table not found")
	tests := []struct {
		name    string
		topic   string
		payload any
		putErr  error
		want    error  // errors.Is target, when set
		wantMsg string // substring, when set
	}{
		{name: "empty topic", topic: "", payload: map[string]any{}, want: gqlambda.ErrEmptyTopic},
		{name: "payload JSON cannot encode", topic: "T", payload: func() {}, wantMsg: "encode payload"},
		{name: "invalid raw JSON", topic: "T", payload: json.RawMessage(`{`), wantMsg: "invalid JSON"},
		{name: "store fails", topic: "T", payload: map[string]any{}, putErr: down, want: down, wantMsg: `topic "T"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evlog := &eventLog{err: tt.putErr}
			h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { c.Events = evlog })
			res, err := h.srv.Publish(t.Context(), tt.topic, tt.payload)
			if err == nil || res != (gqlambda.PublishResult{}) {
				t.Fatalf("got %+v, %v; want an error and no result", res, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err %q, want it to mention %q", err, tt.wantMsg)
			}
			if evs := evlog.list(); len(evs) != 0 {
				t.Errorf("stored %v", evs)
			}
		})
	}
}

// TestDeliver: Deliver fans out at once even with
// Config.Events set, and refuses events that can never be delivered.
func TestDeliver(t *testing.T) {
	t.Parallel()
	evlog := &eventLog{}
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { c.Events = evlog })
	h.ready("c1")
	h.subscribe("c1", "s", `subscription { messages(chatId: "1") { id } }`)
	tests := []struct {
		name    string
		ev      store.Event
		want    gqlambda.PublishResult
		frames  []string
		invalid bool
	}{
		{
			name:   "matching",
			ev:     store.Event{ID: "e1", Topic: "MESSAGES", Payload: json.RawMessage(`{"id":"1","chatId":"1","text":"t"}`)},
			want:   gqlambda.PublishResult{Matched: 1, Delivered: 1},
			frames: []string{`{"type":"next","id":"s","payload":{"data":{"messages":{"id":"1"}}}}`},
		},
		{
			name: "filtered",
			ev:   store.Event{ID: "e2", Topic: "MESSAGES", Payload: json.RawMessage(`{"id":"2","chatId":"2","text":"t"}`)},
			want: gqlambda.PublishResult{Filtered: 1},
		},
		{
			name: "null payload is filtered",
			ev:   store.Event{ID: "e3", Topic: "MESSAGES", Payload: json.RawMessage(`null`)},
			want: gqlambda.PublishResult{Filtered: 1},
		},
		{name: "no topic", ev: store.Event{ID: "e4", Payload: json.RawMessage(`{}`)}, invalid: true},
		{name: "payload not JSON", ev: store.Event{ID: "e5", Topic: "MESSAGES", Payload: json.RawMessage(`{"id":`)}, invalid: true},
	}
	for _, tt := range tests {
		res, err := h.srv.Deliver(t.Context(), tt.ev)
		if tt.invalid {
			if !errors.Is(err, store.ErrInvalidEvent) || !strings.Contains(err.Error(), tt.ev.ID) {
				t.Errorf("%s: err %v, want ErrInvalidEvent naming the event", tt.name, err)
			}
			continue
		}
		if err != nil || res != tt.want {
			t.Errorf("%s: %+v %v, want %+v", tt.name, res, err, tt.want)
		}
		h.expect("c1", tt.frames...)
	}
	if evs := evlog.list(); len(evs) != 0 {
		t.Errorf("Deliver stored events: %v", evs)
	}
}
