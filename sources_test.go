package gqlambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store"
)

// The source handlers run against captured events in testdata/sources, one
// file per source, each an object of named events in the shapes AWS
// documents for Lambda (the SQS, SNS, EventBridge and Kinesis event
// payloads), with the records that cannot be delivered that a real queue or
// stream may carry.

// loadSource reads the event called name from testdata/sources/file.
func loadSource[T any](t *testing.T, file, name string) T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "sources", file))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var ev T
	if err := json.Unmarshal(all[name], &ev); err != nil || all[name] == nil {
		t.Fatalf("%s: event %q: %v", file, name, err)
	}
	return ev
}

// subscribeChat makes connection id ready and subscribes its operation "s"
// to the messages of chat.
func (h *harness) subscribeChat(id, chat string) {
	h.t.Helper()
	h.ready(id)
	h.subscribe(id, "s", `subscription { messages(chatId: "`+chat+`") { id } }`)
}

// failPostsTo makes posts to connection id fail (as after every retry of
// the Sender) while the returned func has not been called.
func (h *harness) failPostsTo(id string) (stop func()) {
	var mu sync.Mutex
	failing := true
	h.rec.Hook = func(_ context.Context, _, conn string, _ []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if failing && conn == id {
			return errors.New("503 Service Unavailable after every retry")
		}
		return nil
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		failing = false
	}
}

// expectErrors checks that OnError got one error per entry of want, each
// containing every string of its entry, in order, and forgets them.
func (h *harness) expectErrors(want ...[]string) {
	h.t.Helper()
	got := h.errs.list()
	h.errs.mu.Lock()
	h.errs.calls = nil
	h.errs.mu.Unlock()
	if len(got) != len(want) {
		h.t.Fatalf("OnError got %d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		for _, sub := range w {
			if !strings.Contains(got[i], sub) {
				h.t.Errorf("OnError %d: %q does not contain %q", i, got[i], sub)
			}
		}
	}
}

func sqsFailures(resp events.SQSEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func kinesisFailures(resp events.KinesisEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func (h *harness) sqs(ev events.SQSEvent) []string {
	h.t.Helper()
	resp, err := h.srv.SQSHandler(nil)(context.Background(), ev)
	if err != nil {
		h.t.Fatalf("SQSHandler: %v", err)
	}
	return sqsFailures(resp)
}

// TestSQSHandler: envelopes are delivered (a publish, one with an id of its
// own, a complete); a body that is not an envelope is reported and dropped,
// never retried.
func TestSQSHandler(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("c1", "c1")
	h.subscribeChat("c2", "c2")
	batch := loadSource[events.SQSEvent](t, "sqs.json", "standard")
	if f := h.sqs(batch); f != nil {
		t.Errorf("batch item failures %v, want none: undeliverable messages are dropped", f)
	}
	h.expect("c1", next("s", "1"))
	h.expect("c2", next("s", "2"), `{"type":"complete","id":"s"}`)
	h.expectErrors(
		[]string{"SQS record 2e1424d4-f796-459a-8184-9c92662be6da skipped", store.ErrInvalidEvent.Error(), "not an envelope"},
		[]string{"SQS record 4b9c2fbd-1d4c-4c3a-9f1e-7f2c3a1b5e60 skipped", "no topic"},
	)
}

// TestSQSHandlerRedelivery: SQS delivers a message again (its visibility
// timeout ran out, or a duplicate): each subscription gets each event once.
func TestSQSHandlerRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("a", "c1")
	h.subscribeChat("b", "c1")
	batch := loadSource[events.SQSEvent](t, "sqs.json", "standard")
	batch.Records = batch.Records[:1]
	for range 3 {
		if f := h.sqs(batch); f != nil {
			t.Fatalf("failures %v", f)
		}
	}
	h.expect("a", next("s", "1"))
	h.expect("b", next("s", "1"))
	h.expectErrors()
}

// TestSQSHandlerPartialFailure: a message one of whose deliveries fails is
// the only batch item failure; SQS delivers it again, alone, and the retry
// reaches the subscription it missed and no other.
func TestSQSHandlerPartialFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("ok", "c1")
	h.subscribeChat("flaky", "c1")
	h.subscribeChat("other", "c2")
	heal := h.failPostsTo("flaky")
	batch := loadSource[events.SQSEvent](t, "sqs.json", "standard")
	batch.Records = []events.SQSMessage{batch.Records[0], batch.Records[3]}
	if got, want := h.sqs(batch), []string{batch.Records[0].MessageId}; !slices.Equal(got, want) {
		t.Fatalf("failures %v, want %v", got, want)
	}
	h.expect("ok", next("s", "1"))
	h.expect("flaky")
	h.expect("other", next("s", "2"))
	h.expectErrors([]string{"503"})

	heal()
	retry := events.SQSEvent{Records: batch.Records[:1]}
	if f := h.sqs(retry); f != nil {
		t.Fatalf("retry failures %v", f)
	}
	h.expect("flaky", next("s", "1"))
	h.expect("ok")
	h.expect("other")
	h.expectErrors()
}

// TestSQSHandlerFIFO: in a FIFO queue's batch, the first failure fails every
// later message too, unprocessed, so that none overtakes it.
func TestSQSHandlerFIFO(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("a", "c1")
	h.subscribeChat("b", "c1")
	stop := false
	h.rec.Hook = func(_ context.Context, _, conn string, frame []byte) error {
		if !stop && conn == "a" && strings.Contains(string(frame), `"id":"2"`) {
			return errors.New("503")
		}
		return nil
	}
	batch := loadSource[events.SQSEvent](t, "sqs.json", "fifo")
	if got, want := h.sqs(batch), []string{"a2", "a3"}; !slices.Equal(got, want) {
		t.Fatalf("failures %v, want %v", got, want)
	}
	h.expect("a", next("s", "1"))
	h.expect("b", next("s", "1"), next("s", "2"))
	h.expectErrors([]string{"503"})
	stop = true
	batch.Records = batch.Records[1:]
	if f := h.sqs(batch); f != nil {
		t.Fatalf("retry failures %v", f)
	}
	h.expect("a", next("s", "2"), next("s", "3"))
	h.expect("b", next("s", "3"))
}

// TestSQSHandlerConcurrentDuplicate: while one invocation delivers a message,
// a second one gets the same message (SQS's visibility timeout ran out): it
// does not deliver it again, and reports it as a failure so that SQS
// retries it; the retry finds it delivered.
func TestSQSHandlerConcurrentDuplicate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("c1", "c1")
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.rec.Hook = func(context.Context, string, string, []byte) error {
		blocked := false
		once.Do(func() { blocked = true })
		if blocked {
			close(started)
			<-release
		}
		return nil
	}
	batch := loadSource[events.SQSEvent](t, "sqs.json", "standard")
	batch.Records = batch.Records[:1]
	first := make(chan []string)
	go func() {
		resp, _ := h.srv.SQSHandler(nil)(context.Background(), batch)
		first <- sqsFailures(resp)
	}()
	<-started
	if got, want := h.sqs(batch), []string{batch.Records[0].MessageId}; !slices.Equal(got, want) {
		t.Errorf("duplicate during the delivery: failures %v, want %v", got, want)
	}
	h.expectErrors([]string{gqlambda.ErrDeliveryInProgress.Error()})
	close(release)
	if f := <-first; f != nil {
		t.Errorf("first invocation: failures %v", f)
	}
	if f := h.sqs(batch); f != nil {
		t.Errorf("retry: failures %v", f)
	}
	h.expect("c1", next("s", "1"))
	h.expectErrors()
}

// TestRedeliveryLeaseAndWindow: a claim left by an invocation that crashed
// blocks the delivery until its lease ends, then the event is delivered; a
// delivery is remembered for the window, and after it delivered again.
func TestRedeliveryLeaseAndWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(cfg *gqlambda.Config, _ *hookLog) {
		cfg.Redelivery = gqlambda.Redelivery{Window: time.Hour, Lease: 30 * time.Second}
	})
	h.subscribeChat("c1", "c1")
	batch := loadSource[events.SQSEvent](t, "sqs.json", "standard")
	batch.Records = batch.Records[:1]
	d := store.Delivery{EventID: batch.Records[0].MessageId, ConnectionID: "c1", SubscriptionID: "s"}
	now := h.now()
	if st, err := h.store.ClaimDelivery(context.Background(), d, "crashed", now.Add(30*time.Second), now.Add(time.Hour)); err != nil || st != store.Claimed {
		t.Fatalf("claim as a crashing invocation: %v %v", st, err)
	}
	if f := h.sqs(batch); len(f) != 1 {
		t.Fatalf("failures %v, want the message, blocked by the claim", f)
	}
	h.expect("c1")
	h.expectErrors([]string{gqlambda.ErrDeliveryInProgress.Error()})

	h.advance(30 * time.Second) // the crashed claim's lease ends
	if f := h.sqs(batch); f != nil {
		t.Fatalf("failures %v after the lease ended", f)
	}
	h.expect("c1", next("s", "1"))
	// The delivery's window runs an hour from its delivery at 30 s; the
	// crashed claim's ended at 1 h. Checked 15 s inside the first and past
	// the second (a store that kept the crashed claim's expiry fails), with
	// room for the harness's clock, which also runs in real time.
	h.advance(time.Hour - 15*time.Second)
	h.sqs(batch)
	h.expect("c1")
	h.advance(time.Minute) // the window ends
	h.sqs(batch)
	h.expect("c1", next("s", "1"))
	h.expectErrors()
}

// TestRedeliveryOff: a negative window turns deduplication off, and a store
// without a delivery log cannot deduplicate: redeliveries are delivered.
func TestRedeliveryOff(t *testing.T) {
	t.Parallel()
	for name, configure := range map[string]func(*gqlambda.Config, *hookLog){
		"negative window": func(cfg *gqlambda.Config, _ *hookLog) { cfg.Redelivery.Window = -1 },
		"no delivery log": func(cfg *gqlambda.Config, _ *hookLog) { cfg.Store = storeOnly{cfg.Store} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, configure)
			h.subscribeChat("c1", "c1")
			batch := loadSource[events.SQSEvent](t, "sqs.json", "standard")
			batch.Records = batch.Records[:1]
			h.sqs(batch)
			h.sqs(batch)
			h.expect("c1", next("s", "1"), next("s", "1"))
		})
	}
}

// storeOnly hides every method of a store but those of store.Store.
type storeOnly struct{ store.Store }

// TestKinesisHandler: records in order; one whose data is not an envelope is
// reported and skipped; the first failure fails the rest of the batch by
// sequence number, and the retry delivers each event once per subscription.
func TestKinesisHandler(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("ok", "c1")
	h.subscribeChat("flaky", "c1")
	h.subscribeChat("other", "c2")
	stop := false
	h.rec.Hook = func(_ context.Context, _, conn string, frame []byte) error {
		if !stop && conn == "flaky" && strings.Contains(string(frame), `"id":"2"`) {
			return errors.New("503")
		}
		return nil
	}
	batch := loadSource[events.KinesisEvent](t, "kinesis.json", "batch")
	handler := h.srv.KinesisHandler(nil)
	resp, err := handler(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	seq := func(i int) string { return batch.Records[i].Kinesis.SequenceNumber }
	if got, want := kinesisFailures(resp), []string{seq(2), seq(3)}; !slices.Equal(got, want) {
		t.Fatalf("failures %v, want %v", got, want)
	}
	h.expect("ok", next("s", "1"), next("s", "2"))
	h.expect("flaky", next("s", "1"))
	h.expect("other")
	h.expectErrors([]string{"Kinesis record " + seq(1) + " skipped", store.ErrInvalidEvent.Error()}, []string{"503"})

	stop = true
	batch.Records = batch.Records[2:]
	if resp, err = handler(context.Background(), batch); err != nil || resp.BatchItemFailures != nil {
		t.Fatalf("retry: %+v %v", resp, err)
	}
	h.expect("flaky", next("s", "2"))
	h.expect("ok")
	h.expect("other", next("s", "3"))
}

// TestSNSHandler: the topic's name or a message attribute names the topic;
// a message that is not JSON is reported and dropped; a failed delivery
// makes the invocation fail (Lambda retries it), and the retry reaches only
// the subscription that missed it.
func TestSNSHandler(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("ok", "c1")
	h.subscribeChat("flaky", "c1")
	byName := h.srv.SNSHandler(nil)
	byAttribute := h.srv.SNSHandler(gqlambda.SNSMapping{TopicAttribute: "topic"}.Map)

	if err := byName(context.Background(), loadSource[events.SNSEvent](t, "sns.json", "not-json")); err != nil {
		t.Errorf("a message that is not JSON: %v, want nil (not retried)", err)
	}
	h.expectErrors([]string{"SNS record c1d2e3f4-ee98-5cb9-9903-4c221d41eb5e skipped", "not JSON"})

	// The default mapping names the topic after the SNS topic "app-events":
	// no subscriber.
	routed := loadSource[events.SNSEvent](t, "sns.json", "attribute")
	if err := byName(context.Background(), routed); err != nil {
		t.Fatal(err)
	}
	h.expect("ok")
	if err := byAttribute(context.Background(), routed); err != nil {
		t.Fatal(err)
	}
	h.expect("ok", next("s", "2"))
	h.expect("flaky", next("s", "2"))

	heal := h.failPostsTo("flaky")
	ev := loadSource[events.SNSEvent](t, "sns.json", "topic-name")
	if err := byName(context.Background(), ev); !errors.Is(err, gqlambda.ErrRetry) {
		t.Fatalf("failed delivery: error %v, want ErrRetry", err)
	}
	h.expectErrors([]string{"503"})
	heal()
	for range 2 { // Lambda's retries of the asynchronous invocation
		if err := byName(context.Background(), ev); err != nil {
			t.Fatalf("retry: %v", err)
		}
	}
	h.expect("ok", next("s", "1"))
	h.expect("flaky", next("s", "1"))
	h.expectErrors()
}

// TestEventBridgeHandler: the detail-type names the topic by default, a
// detail field with EventBridgeMapping.TopicField; an event without that
// field is reported and dropped; redeliveries reach each subscription once.
func TestEventBridgeHandler(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("c2", "c2")
	h.ready("room")
	h.subscribe("room", "r", `subscription { room(chatId: "c1") { id text } }`)
	byDetailType := h.srv.EventBridgeHandler(nil)
	// The rooms' topics are "room:" and the chat id: a mapping of one's own
	// on top of the default one.
	byChat := h.srv.EventBridgeHandler(func(ev events.EventBridgeEvent) ([]store.Event, error) {
		evs, err := gqlambda.EventBridgeMapping{TopicField: "chatId"}.Map(ev)
		for i := range evs {
			evs[i].Topic = "room:" + evs[i].Topic
		}
		return evs, err
	})

	ev := loadSource[events.EventBridgeEvent](t, "eventbridge.json", "detail-type")
	for range 2 {
		if err := byDetailType(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	h.expect("c2", next("s", "3"))

	translated := loadSource[events.EventBridgeEvent](t, "eventbridge.json", "translated")
	for range 2 {
		if err := byChat(context.Background(), translated); err != nil {
			t.Fatal(err)
		}
	}
	h.expect("room", `{"type":"next","id":"r","payload":{"data":{"room":{"id":"1","text":"Bonjour"}}}}`)

	if err := byChat(context.Background(), loadSource[events.EventBridgeEvent](t, "eventbridge.json", "no-chat-id")); err != nil {
		t.Errorf("an event without the topic field: %v, want nil (not retried)", err)
	}
	h.expectErrors([]string{"EventBridge record 8c9d0e1f-b491-4cf7-a9f1-bf3703467718 skipped", "no string at chatId"})

	h.rec.Hook = func(context.Context, string, string, []byte) error { return errors.New("503") }
	translated.ID = "another-event"
	if err := byChat(context.Background(), translated); !errors.Is(err, gqlambda.ErrRetry) || !strings.Contains(err.Error(), "another-event") {
		t.Errorf("failed delivery: %v, want ErrRetry naming the event", err)
	}
}

// TestSourceResponsesJSON: the batch responses encode as Lambda reads them.
func TestSourceResponsesJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("c1", "c1")
	h.rec.Hook = func(context.Context, string, string, []byte) error { return errors.New("down") }
	sqsBatch := loadSource[events.SQSEvent](t, "sqs.json", "standard")
	sqsResp, _ := h.srv.SQSHandler(nil)(context.Background(), sqsBatch)
	kinBatch := loadSource[events.KinesisEvent](t, "kinesis.json", "batch")
	kinResp, _ := h.srv.KinesisHandler(nil)(context.Background(), kinBatch)
	for _, tt := range []struct {
		resp any
		want string
	}{
		{sqsResp, `{"batchItemFailures":[{"itemIdentifier":"059f36b4-87a3-44ab-83d2-661975830a7d"}]}`},
		{kinResp, `{"batchItemFailures":[{"itemIdentifier":"49590338271490256608559692538361571095921575989136588898"},` +
			`{"itemIdentifier":"49590338271490256608559692540925702759324208523137515618"},` +
			`{"itemIdentifier":"49590338271490256608559692541134809364542108765873627138"},` +
			`{"itemIdentifier":"49590338271490256608559692541134809364542108765873627139"}]}`},
	} {
		if out, err := json.Marshal(tt.resp); err != nil || string(out) != tt.want {
			t.Errorf("response %s %v, want %s", out, err, tt.want)
		}
	}
}

func TestDecodeEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data    string
		want    store.Event
		invalid string
	}{
		{data: `{"topic":"T","payload":{"a":1}}`, want: store.Event{Topic: "T", Payload: json.RawMessage(`{"a":1}`)}},
		{data: `{"topic":"T","payload":"text","complete":true,"id":"k"}`, want: store.Event{ID: "k", Topic: "T", Payload: json.RawMessage(`"text"`), Complete: true}},
		{data: `{"topic":"T"}`, want: store.Event{Topic: "T"}},
		{data: `{"topic":"T","payload":null}`, want: store.Event{Topic: "T", Payload: json.RawMessage(`null`)}},
		{data: `{"topic":"T","extra":[1,2]}`, want: store.Event{Topic: "T"}},
		{data: ``, invalid: "not an envelope"},
		{data: `hello`, invalid: "not an envelope"},
		{data: `[]`, invalid: "not an envelope"},
		{data: `{"topic":7}`, invalid: "not an envelope"},
		{data: `{"topic":""}`, invalid: "no topic"},
		{data: `{"payload":{}}`, invalid: "no topic"},
		{data: `{"topic":"T","complete":"yes"}`, invalid: "not an envelope"},
	}
	for _, tt := range tests {
		ev, err := gqlambda.DecodeEnvelope([]byte(tt.data))
		if tt.invalid != "" {
			if !errors.Is(err, store.ErrInvalidEvent) || !strings.Contains(err.Error(), tt.invalid) {
				t.Errorf("DecodeEnvelope(%s) = %+v, %v; want an invalid event: %s", tt.data, ev, err, tt.invalid)
			}
			continue
		}
		if err != nil || ev.ID != tt.want.ID || ev.Topic != tt.want.Topic || ev.Complete != tt.want.Complete || string(ev.Payload) != string(tt.want.Payload) {
			t.Errorf("DecodeEnvelope(%s) = %+v, %v; want %+v", tt.data, ev, err, tt.want)
		}
	}
}

// FuzzDecodeEnvelope: an envelope is refused with store.ErrInvalidEvent, or
// its event has a topic and a JSON payload (or none), and encoding it as an
// Envelope again decodes to the same event.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, seed := range []string{`{"topic":"T","payload":{"a":1}}`, `{"topic":"T","complete":true,"id":"x"}`, `{"topic":""}`, `nope`, `{"topic":"T","payload":null}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := gqlambda.DecodeEnvelope(data)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidEvent) {
				t.Fatalf("DecodeEnvelope(%q): error %v does not wrap ErrInvalidEvent", data, err)
			}
			return
		}
		if ev.Topic == "" || (len(ev.Payload) > 0 && !json.Valid(ev.Payload)) {
			t.Fatalf("DecodeEnvelope(%q) = %+v: no topic, or a payload that is not JSON", data, ev)
		}
		again, err := json.Marshal(gqlambda.Envelope{Topic: ev.Topic, Payload: ev.Payload, Complete: ev.Complete, ID: ev.ID})
		if err != nil {
			t.Fatalf("encode %+v: %v", ev, err)
		}
		back, err := gqlambda.DecodeEnvelope(again)
		if err != nil || back.Topic != ev.Topic || back.ID != ev.ID || back.Complete != ev.Complete || !jsonEqual(string(back.Payload), string(ev.Payload)) {
			t.Fatalf("round trip of %q: %s decodes to %+v, %v; want %+v", data, again, back, err, ev)
		}
	})
}

func TestSNSMapping(t *testing.T) {
	t.Parallel()
	note := func(arn, msg string, attrs map[string]any) events.SNSEventRecord {
		return events.SNSEventRecord{SNS: events.SNSEntity{TopicArn: arn, Message: msg, MessageAttributes: attrs}}
	}
	str := func(v string) map[string]any { return map[string]any{"Type": "String", "Value": v} }
	tests := []struct {
		name    string
		m       gqlambda.SNSMapping
		rec     events.SNSEventRecord
		topic   string
		invalid string
	}{
		{"topic name", gqlambda.SNSMapping{}, note("arn:aws:sns:eu-west-1:1:MY_TOPIC", `{"a":1}`, nil), "MY_TOPIC", ""},
		{"attribute ignored without TopicAttribute", gqlambda.SNSMapping{}, note("arn:aws:sns:eu-west-1:1:t", `1`, map[string]any{"topic": str("X")}), "t", ""},
		{"attribute", gqlambda.SNSMapping{TopicAttribute: "topic"}, note("arn:aws:sns:eu-west-1:1:t", `"s"`, map[string]any{"topic": str("X")}), "X", ""},
		{"attribute absent", gqlambda.SNSMapping{TopicAttribute: "topic"}, note("arn:aws:sns:eu-west-1:1:t", `[]`, nil), "t", ""},
		{"attribute not a string", gqlambda.SNSMapping{TopicAttribute: "topic"}, note("arn:aws:sns:eu-west-1:1:t", `{}`, map[string]any{"topic": map[string]any{"Type": "Number", "Value": "1"}}), "", "not a String"},
		{"attribute empty", gqlambda.SNSMapping{TopicAttribute: "topic"}, note("arn:aws:sns:eu-west-1:1:t", `{}`, map[string]any{"topic": str("")}), "", "no topic"},
		{"no ARN", gqlambda.SNSMapping{}, note("", `{}`, nil), "", "no topic"},
		{"not JSON", gqlambda.SNSMapping{}, note("arn:aws:sns:eu-west-1:1:t", `Hello`, nil), "", "not JSON"},
	}
	for _, tt := range tests {
		evs, err := tt.m.Map(tt.rec)
		if tt.invalid != "" {
			if !errors.Is(err, store.ErrInvalidEvent) || !strings.Contains(err.Error(), tt.invalid) {
				t.Errorf("%s: Map = %+v, %v; want an invalid event: %s", tt.name, evs, err, tt.invalid)
			}
			continue
		}
		if err != nil || len(evs) != 1 || evs[0].Topic != tt.topic || string(evs[0].Payload) != tt.rec.SNS.Message {
			t.Errorf("%s: Map = %+v, %v; want topic %q and the message as payload", tt.name, evs, err, tt.topic)
		}
	}
}

func TestEventBridgeMapping(t *testing.T) {
	t.Parallel()
	ev := func(detailType, detail string) events.EventBridgeEvent {
		return events.EventBridgeEvent{ID: "1", DetailType: detailType, Detail: json.RawMessage(detail)}
	}
	tests := []struct {
		name    string
		m       gqlambda.EventBridgeMapping
		ev      events.EventBridgeEvent
		topic   string
		invalid string
	}{
		{"detail-type", gqlambda.EventBridgeMapping{}, ev("MESSAGES", `{"a":1}`), "MESSAGES", ""},
		{"detail-type with any detail", gqlambda.EventBridgeMapping{}, ev("T", `[1]`), "T", ""},
		{"field", gqlambda.EventBridgeMapping{TopicField: "chatId"}, ev("x", `{"chatId":"c1"}`), "c1", ""},
		{"nested field", gqlambda.EventBridgeMapping{TopicField: "chat.id"}, ev("x", `{"chat":{"id":"c9"}}`), "c9", ""},
		{"field absent", gqlambda.EventBridgeMapping{TopicField: "chatId"}, ev("x", `{"other":1}`), "", "no string at chatId"},
		{"field not a string", gqlambda.EventBridgeMapping{TopicField: "chatId"}, ev("x", `{"chatId":7}`), "", "no string at chatId"},
		{"path through a non-object", gqlambda.EventBridgeMapping{TopicField: "a.b"}, ev("x", `{"a":"s"}`), "", "no string at a.b"},
		{"field empty", gqlambda.EventBridgeMapping{TopicField: "chatId"}, ev("x", `{"chatId":""}`), "", "no topic"},
		{"no detail-type", gqlambda.EventBridgeMapping{}, ev("", `{}`), "", "no topic"},
		{"no detail", gqlambda.EventBridgeMapping{}, ev("T", ``), "", "not JSON"},
		{"detail not JSON", gqlambda.EventBridgeMapping{}, ev("T", `{`), "", "not JSON"},
	}
	for _, tt := range tests {
		evs, err := tt.m.Map(tt.ev)
		if tt.invalid != "" {
			if !errors.Is(err, store.ErrInvalidEvent) || !strings.Contains(err.Error(), tt.invalid) {
				t.Errorf("%s: Map = %+v, %v; want an invalid event: %s", tt.name, evs, err, tt.invalid)
			}
			continue
		}
		if err != nil || len(evs) != 1 || evs[0].Topic != tt.topic || !jsonEqual(string(evs[0].Payload), string(tt.ev.Detail)) {
			t.Errorf("%s: Map = %+v, %v; want topic %q and the detail as payload", tt.name, evs, err, tt.topic)
		}
	}
}

// TestSourceEventIDs: events a mapping leaves without id get the record's
// own, with an index when a record carries several, so that each is
// deduplicated on its own.
func TestSourceEventIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("c1", "c1")
	twice := func(msg events.SQSMessage) ([]store.Event, error) {
		ev, err := gqlambda.DecodeEnvelope([]byte(msg.Body))
		return []store.Event{ev, ev}, err
	}
	batch := loadSource[events.SQSEvent](t, "sqs.json", "standard")
	batch.Records = batch.Records[:1]
	for range 2 {
		if resp, err := h.srv.SQSHandler(twice)(context.Background(), batch); err != nil || resp.BatchItemFailures != nil {
			t.Fatalf("%+v %v", resp, err)
		}
	}
	// The two events of the record are two events: each reaches c1 once.
	h.expect("c1", next("s", "1"), next("s", "1"))
}
