package gqlambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store"
)

// TestFilterOperators subscribes with every AppSync operator through the
// subscription's arguments and publishes one matching and one non-matching
// event for each.
func TestFilterOperators(t *testing.T) {
	t.Parallel()
	type ev = map[string]any
	tests := []struct {
		op, value string // operator and JSON value, on field priority or text or tags
		field     string
		match     ev
		miss      ev
	}{
		{"eq", `"7"`, "chatId", ev{"chatId": "7"}, ev{"chatId": "8"}},
		{"ne", `"7"`, "chatId", ev{"chatId": "8"}, ev{"chatId": "7"}},
		{"lt", `5`, "priority", ev{"priority": 4}, ev{"priority": 5}},
		{"le", `5`, "priority", ev{"priority": 5}, ev{"priority": 6}},
		{"gt", `5`, "priority", ev{"priority": 6}, ev{"priority": 5}},
		{"ge", `5`, "priority", ev{"priority": 5}, ev{"priority": 4}},
		{"in", `["a","b"]`, "author", ev{"author": "b"}, ev{"author": "c"}},
		{"notIn", `["a","b"]`, "author", ev{"author": "c"}, ev{"author": "a"}},
		{"between", `[2,4]`, "priority", ev{"priority": 4}, ev{"priority": 5}},
		{"contains", `"ell"`, "text", ev{"text": "hello"}, ev{"text": "help"}},
		{"contains", `"go"`, "tags", ev{"tags": []string{"aws", "go"}}, ev{"tags": []string{"aws"}}},
		{"notContains", `"ell"`, "text", ev{"text": "help"}, ev{"text": "hello"}},
		{"beginsWith", `"he"`, "text", ev{"text": "hello"}, ev{"text": "oh hey"}},
		{"containsAny", `["go","rust"]`, "tags", ev{"tags": []string{"rust"}}, ev{"tags": []string{"zig"}}},
		{"eq", `"x"`, "meta.kind", ev{"meta": ev{"kind": "x"}}, ev{"meta": ev{"kind": "y"}}},
	}
	for _, tt := range tests {
		t.Run(tt.op+"/"+tt.field, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			h.ready("c1")
			where := fmt.Sprintf(`{"filterGroup":[{"filters":[{"fieldName":%q,"operator":%q,"value":%s}]}]}`, tt.field, tt.op, tt.value)
			q, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "f", "payload": map[string]any{
				"query": `subscription($w: String) { messages(where: $w) { id } }`, "variables": map[string]any{"w": where}}})
			h.send("c1", string(q))
			h.expect("c1")

			miss := withID(tt.miss, "miss")
			if res := h.publish("MESSAGES", miss); res != (gqlambda.PublishResult{Filtered: 1}) {
				t.Errorf("non-matching event: %+v", res)
			}
			h.expect("c1")
			if res := h.publish("MESSAGES", withID(tt.match, "hit")); res != (gqlambda.PublishResult{Matched: 1, Delivered: 1}) {
				t.Errorf("matching event: %+v", res)
			}
			h.expect("c1", `{"type":"next","id":"f","payload":{"data":{"messages":{"id":"hit"}}}}`)
		})
	}
}

func withID(m map[string]any, id string) map[string]any {
	out := map[string]any{"id": id, "chatId": "c", "text": "t"}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestFilterGroupsAndNestedEquality(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("c1")
	// (chatId = 1 AND priority >= 3) OR author = "boss"
	where := `{"filterGroup":[
		{"filters":[{"fieldName":"chatId","operator":"eq","value":"1"},{"fieldName":"priority","operator":"ge","value":3}]},
		{"filters":[{"fieldName":"author","operator":"eq","value":"boss"}]}]}`
	q, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "g", "payload": map[string]any{
		"query": `subscription($w: String) { messages(where: $w) { id } }`, "variables": map[string]any{"w": where}}})
	h.send("c1", string(q))
	h.subscribe("c1", "room", `subscription { messages(chatId: "1") { id } }`)
	events := []struct {
		ev   map[string]any
		want []string // operation ids that receive it
	}{
		{map[string]any{"id": "1", "chatId": "1", "text": "t", "priority": 3}, []string{"g", "room"}},
		{map[string]any{"id": "2", "chatId": "1", "text": "t", "priority": 2}, []string{"room"}},
		{map[string]any{"id": "3", "chatId": "2", "text": "t", "author": "boss"}, []string{"g"}},
		{map[string]any{"id": "4", "chatId": "2", "text": "t"}, nil},
	}
	for _, e := range events {
		h.publish("MESSAGES", e.ev)
		var got []string
		for _, f := range h.take("c1") {
			var m struct{ ID string }
			_ = json.Unmarshal([]byte(f), &m)
			got = append(got, m.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, e.want) {
			t.Errorf("event %v reached %v, want %v", e.ev["id"], got, e.want)
		}
	}
}

func TestTopics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("c1")
	h.subscribe("c1", "m", `subscription { multi { id } }`)
	h.subscribe("c1", "r7", `subscription { room(chatId: "7") { id } }`)
	h.subscribe("c1", "r8", `subscription { room(chatId: "8") { id } }`)
	// One subscription listens to two topics; each event reaches it once.
	h.publish("A", map[string]any{"id": "a"})
	h.publish("B", map[string]any{"id": "b"})
	h.expect("c1", `{"type":"next","id":"m","payload":{"data":{"multi":{"id":"a"}}}}`, `{"type":"next","id":"m","payload":{"data":{"multi":{"id":"b"}}}}`)
	// Topics computed from arguments.
	h.publish("room:7", map[string]any{"id": "x"})
	h.expect("c1", `{"type":"next","id":"r7","payload":{"data":{"room":{"id":"x"}}}}`)
	if _, err := h.srv.Publish(context.Background(), "", nil); !errors.Is(err, gqlambda.ErrEmptyTopic) {
		t.Errorf("empty topic: %v", err)
	}
	if _, err := h.srv.Publish(context.Background(), "A", func() {}); err == nil {
		t.Error("a payload JSON cannot encode must be an error")
	}
}

// TestGoneConnectionIsCleanedUp: a client vanished without a $disconnect;
// the first delivery attempt learns it (410) and deletes its state once.
func TestGoneConnectionIsCleanedUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, log *hookLog) {
		c.Hooks.OnDisconnect = func(ctx context.Context, conn gqlambda.Conn, info gqlambda.DisconnectInfo) error {
			log.add("OnDisconnect %s %s", conn.ID, info.Cause)
			return nil
		}
		c.Hooks.OnComplete = func(ctx context.Context, sub store.Subscription, reason gqlambda.CompleteReason) error {
			log.add("OnComplete %s %s %s", sub.ConnectionID, sub.ID, reason)
			return nil
		}
	})
	h.ready("alive")
	h.ready("gone")
	h.subscribe("alive", "s", `subscription { messages { id } }`)
	for i := range 3 {
		h.subscribe("gone", fmt.Sprint("s", i), `subscription { messages { id } }`)
	}
	h.subscribe("gone", "other-topic", `subscription { multi { id } }`)
	h.rec.SetGone("gone")

	res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "c", "text": "t"})
	if res.Matched != 4 || res.Delivered != 1 || res.Gone != 3 || res.Failed != 0 {
		t.Fatalf("publish: %+v", res)
	}
	h.expectNoState("gone", "MESSAGES", "A", "B")
	if n := h.log.count("OnDisconnect gone gone"); n != 1 {
		t.Errorf("OnDisconnect ran %d times, want once", n)
	}
	if n := h.log.count("OnComplete gone"); n != 4 {
		t.Errorf("OnComplete ran %d times for gone's 4 subscriptions", n)
	}
	// The next publish makes no post to it.
	before := h.rec.Posts()
	res = h.publish("MESSAGES", map[string]any{"id": "2", "chatId": "c", "text": "t"})
	if res != (gqlambda.PublishResult{Matched: 1, Delivered: 1}) || h.rec.Posts() != before+1 {
		t.Errorf("second publish: %+v, posts %d → %d", res, before, h.rec.Posts())
	}
	// The late $disconnect finds nothing to do.
	h.hangUp("gone", 1006, "")
	if n := h.log.count("OnDisconnect gone"); n != 1 {
		t.Errorf("OnDisconnect ran %d times", n)
	}
	if errs := h.errs.list(); len(errs) != 0 {
		t.Errorf("a gone client is not an error: %v", errs)
	}
}

func TestGoneDuringProtocolReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.open("c1")
	h.rec.SetGone("c1")
	h.send("c1", `{"type":"connection_init"}`)
	h.expectNoState("c1")
}

func TestFailedPostsAreReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("ok")
	h.ready("bad")
	h.subscribe("ok", "s", `subscription { messages { id } }`)
	h.subscribe("bad", "s", `subscription { messages { id } }`)
	h.rec.Hook = func(ctx context.Context, endpoint, id string, frame []byte) error {
		if id == "bad" {
			return errors.New("503 after every retry")
		}
		return nil
	}
	res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "c", "text": "t"})
	if res != (gqlambda.PublishResult{Matched: 2, Delivered: 1, Failed: 1}) {
		t.Fatalf("%+v", res)
	}
	if errs := h.errs.list(); len(errs) != 1 || !strings.Contains(errs[0], "bad") || !strings.Contains(errs[0], "503") {
		t.Errorf("OnError got %v", errs)
	}
	// A failed post is not a gone client: its state stays.
	if _, err := h.store.GetConnection(context.Background(), "bad"); err != nil {
		t.Error(err)
	}
}

// TestSlowConnectionDoesNotBlockOthers holds one connection's post until all
// the others were delivered.
func TestSlowConnectionDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	const n = 50
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { c.Limits.FanOutConcurrency = 4 })
	for i := range n {
		id := fmt.Sprint("c", i)
		h.ready(id)
		h.subscribe(id, "s", `subscription { messages { id } }`)
	}
	var others atomic.Int64
	release := make(chan struct{})
	h.rec.Hook = func(ctx context.Context, endpoint, id string, frame []byte) error {
		if id == "c0" {
			<-release
			return nil
		}
		if others.Add(1) == n-1 {
			close(release)
		}
		return nil
	}
	res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "c", "text": "t"})
	if res.Delivered != n {
		t.Fatalf("%+v", res)
	}
}

// TestOversizedResultEndsTheSubscription: with Limits.EndOnOversizedResult,
// a result one byte over the limit ends its subscription with an error (by
// default it is replaced by a next carrying the error: the server suite's
// ResultOverTheMessageLimit).
func TestOversizedResultEndsTheSubscription(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, log *hookLog) {
		c.Limits.EndOnOversizedResult = true
		c.Hooks.OnComplete = func(ctx context.Context, sub store.Subscription, reason gqlambda.CompleteReason) error {
			log.add("OnComplete %s %s", sub.ID, reason)
			return nil
		}
	})
	h.ready("c1")
	h.subscribe("c1", "b", `subscription { big }`)
	limit := 128 << 10
	overhead := len(`{"type":"next","id":"b","payload":{"data":{"big":""}}}`)

	// Exactly at the limit: delivered.
	h.publish("BIG", map[string]any{"size": limit - overhead})
	if got := h.take("c1"); len(got) != 1 || len(got[0]) != limit {
		t.Fatalf("at the limit: %d frames, first %d bytes, want one of %d", len(got), len(got[0]), limit)
	}
	// One byte over: an error ends the operation, and nothing else is lost.
	res := h.publish("BIG", map[string]any{"size": limit - overhead + 1})
	if res.Delivered != 1 {
		t.Fatalf("%+v", res)
	}
	h.expect("c1", fmt.Sprintf(`{"type":"error","id":"b","payload":[{"message":"The result is %d bytes, over the %d-byte message limit","extensions":{"code":"MESSAGE_TOO_LARGE"}}]}`, limit+1, limit))
	if subs := h.subscriptions("BIG"); len(subs) != 0 {
		t.Errorf("subscription kept after its error: %v", subs)
	}
	if !slices.Contains(h.log.list(), "OnComplete b server") {
		t.Errorf("hooks: %v", h.log.list())
	}
	h.expectOpen("c1")

	// The same limit applies to queries over the socket.
	h.send("c1", fmt.Sprintf(`{"type":"subscribe","id":"q","payload":{"query":"{ large(size: %d) }"}}`, limit))
	got := h.take("c1")
	if len(got) != 1 || !strings.Contains(got[0], `"type":"error"`) || !strings.Contains(got[0], "MESSAGE_TOO_LARGE") {
		t.Errorf("large query result: %v", got)
	}
}

func TestSharedExecution(t *testing.T) {
	t.Parallel()
	var runs atomic.Int64
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
		eng := c.Engine
		c.Engine = countingEngine{eng, &runs}
		c.Hooks.OnConnectionInit = func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (gqlambda.InitResult, error) {
			return gqlambda.InitResult{Context: json.RawMessage(payload)}, nil
		}
	})
	// Ten connections with one context, five with another, all subscribed
	// with the same document: two executions per event.
	for i := range 15 {
		id := fmt.Sprint("c", i)
		h.open(id)
		h.send(id, fmt.Sprintf(`{"type":"connection_init","payload":{"team":%d}}`, min(i/10, 1)))
		h.subscribe(id, "s", `subscription { messages { id } }`)
	}
	runs.Store(0)
	res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "c", "text": "t"})
	if res.Delivered != 15 {
		t.Fatalf("%+v", res)
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("%d executions, want 2 (one per distinct context)", n)
	}

	per := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
		c.Engine = countingEngine{c.Engine, &runs}
		c.ExecutePerConnection = true
	})
	for i := range 5 {
		id := fmt.Sprint("c", i)
		per.ready(id)
		per.subscribe(id, "s", `subscription { messages { id } }`)
	}
	runs.Store(0)
	per.publish("MESSAGES", map[string]any{"id": "1", "chatId": "c", "text": "t"})
	if n := runs.Load(); n != 5 {
		t.Errorf("ExecutePerConnection: %d executions, want 5", n)
	}
}

// countingEngine counts executions.
type countingEngine struct {
	gqlambda.Engine
	runs *atomic.Int64
}

func (e countingEngine) Prepare(ctx context.Context, q, name string) (gqlambda.Operation, error) {
	op, err := e.Engine.Prepare(ctx, q, name)
	if err != nil {
		return nil, err
	}
	return countingOp{op, e.runs}, nil
}

type countingOp struct {
	gqlambda.Operation
	runs *atomic.Int64
}

func (o countingOp) Execute(ctx context.Context, vars map[string]any, root any) ([]byte, error) {
	o.runs.Add(1)
	return o.Operation.Execute(ctx, vars, root)
}

func TestConcurrentPublishes(t *testing.T) {
	t.Parallel()
	const conns, events = 20, 25
	h := newHarness(t, nil)
	for i := range conns {
		id := fmt.Sprint("c", i)
		h.ready(id)
		h.subscribe(id, "s", `subscription { messages { id } }`)
	}
	var wg sync.WaitGroup
	for e := range events {
		wg.Go(func() {
			res, err := h.srv.Publish(context.Background(), "MESSAGES", map[string]any{"id": fmt.Sprint(e), "chatId": "c", "text": "t"})
			if err != nil || res.Delivered != conns {
				t.Errorf("publish %d: %+v %v", e, res, err)
			}
		})
	}
	wg.Wait()
	for i := range conns {
		got := h.take(fmt.Sprint("c", i))
		seen := map[string]int{}
		for _, f := range got {
			var m struct {
				Payload struct {
					Data struct{ Messages struct{ ID string } }
				}
			}
			_ = json.Unmarshal([]byte(f), &m)
			seen[m.Payload.Data.Messages.ID]++
		}
		if len(got) != events || len(seen) != events {
			t.Errorf("c%d got %d frames, %d distinct events; want %d exactly once each", i, len(got), len(seen), events)
		}
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, log *hookLog) {
		c.Hooks.OnComplete = func(ctx context.Context, sub store.Subscription, reason gqlambda.CompleteReason) error {
			log.add("OnComplete %s %s %s", sub.ConnectionID, sub.ID, reason)
			return nil
		}
	})
	h.ready("c1")
	h.ready("c2")
	h.subscribe("c1", "r1", `subscription { messages(chatId: "1") { id } }`)
	h.subscribe("c2", "r2", `subscription { messages(chatId: "2") { id } }`)
	h.subscribe("c2", "all", `subscription { messages { id } }`)

	// Complete with a payload ends the subscriptions whose filter matches it.
	res, err := h.srv.Complete(context.Background(), "MESSAGES", map[string]any{"chatId": "1"})
	if err != nil || res != (gqlambda.PublishResult{Matched: 2, Filtered: 1, Delivered: 2}) {
		t.Fatalf("Complete: %+v %v", res, err)
	}
	h.expect("c1", `{"type":"complete","id":"r1"}`)
	h.expect("c2", `{"type":"complete","id":"all"}`)
	// Without payload it ends all of the topic's subscriptions.
	res, _ = h.srv.Complete(context.Background(), "MESSAGES", nil)
	if res.Delivered != 1 {
		t.Fatalf("Complete(nil): %+v", res)
	}
	h.expect("c2", `{"type":"complete","id":"r2"}`)
	if subs := h.subscriptions("MESSAGES"); len(subs) != 0 {
		t.Errorf("left: %v", subs)
	}
	if n := h.log.count("OnComplete"); n != 3 {
		t.Errorf("OnComplete ran %d times, want 3: %v", n, h.log.list())
	}
	if res := h.publish("MESSAGES", map[string]any{"id": "1", "chatId": "1", "text": "t"}); res.Matched != 0 {
		t.Errorf("completed subscriptions still receive: %+v", res)
	}
}

// failingStore fails topic reads.
type failingStore struct{ store.Store }

func (failingStore) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) { yield(store.Subscription{}, errors.New("throttled")) }
}

func TestPublishReportsStoreFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	srv, err := gqlambda.New(gqlambda.Config{Engine: countingEngine{}, Store: failingStore{h.store}, Sender: h.rec})
	if err != nil {
		t.Fatal(err)
	}
	_, err = srv.Publish(context.Background(), "MESSAGES", map[string]any{"x": 1})
	if err == nil || !strings.Contains(err.Error(), "throttled") || !strings.Contains(err.Error(), "MESSAGES") {
		t.Errorf("err %v", err)
	}
}
