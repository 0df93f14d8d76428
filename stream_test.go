package gqlambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/store/dynamodb/cdc"
)

// image is an event item's new image; empty values are left out.
func image(id, topic, payload, kind string) map[string]events.DynamoDBAttributeValue {
	img := map[string]events.DynamoDBAttributeValue{
		dynamodb.EventAttrID:          events.NewStringAttribute(id),
		dynamodb.EventAttrPublishedAt: events.NewNumberAttribute("1700000000000"),
		dynamodb.EventAttrTTL:         events.NewNumberAttribute("1700086400"),
	}
	if topic != "" {
		img[dynamodb.EventAttrTopic] = events.NewStringAttribute(topic)
	}
	if payload != "" {
		img[dynamodb.EventAttrPayload] = events.NewStringAttribute(payload)
	}
	if kind != "" {
		img[dynamodb.EventAttrKind] = events.NewStringAttribute(kind)
	}
	return img
}

// record is a stream record of the events table.
func record(name events.DynamoDBOperationType, seq string, img map[string]events.DynamoDBAttributeValue) events.DynamoDBEventRecord {
	r := events.DynamoDBEventRecord{
		EventName:   string(name),
		EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{
			Keys:           map[string]events.DynamoDBAttributeValue{dynamodb.EventAttrID: img[dynamodb.EventAttrID]},
			SequenceNumber: seq,
			StreamViewType: string(events.DynamoDBStreamViewTypeNewImage),
		},
	}
	if name != events.DynamoDBOperationTypeRemove {
		r.Change.NewImage = img
	}
	return r
}

func message(id, chatID string) string {
	return fmt.Sprintf(`{"id":%q,"chatId":%q,"text":"t"}`, id, chatID)
}

func next(opID, msgID string) string {
	return fmt.Sprintf(`{"type":"next","id":%q,"payload":{"data":{"messages":{"id":%q}}}}`, opID, msgID)
}

func failures(resp events.DynamoDBEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func (h *harness) stream(recs ...events.DynamoDBEventRecord) events.DynamoDBEventResponse {
	h.t.Helper()
	resp, err := h.srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord)(context.Background(), events.DynamoDBEvent{Records: recs})
	if err != nil {
		h.t.Fatalf("DynamoDBStreamHandler: %v", err)
	}
	return resp
}

// TestStreamHandlerDeliversInserts: INSERT records are delivered in order;
// MODIFY and REMOVE records (TTL deletes) are ignored.
func TestStreamHandlerDeliversInserts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("c1")
	h.subscribe("c1", "s", `subscription { messages { id } }`)
	resp := h.stream(
		record(events.DynamoDBOperationTypeInsert, "100", image("e1", "MESSAGES", message("1", "c"), "")),
		record(events.DynamoDBOperationTypeModify, "200", image("e2", "MESSAGES", message("2", "c"), "publish")),
		record(events.DynamoDBOperationTypeRemove, "300", image("e1", "MESSAGES", message("1", "c"), "")),
		record(events.DynamoDBOperationTypeInsert, "400", image("e4", "MESSAGES", message("4", "c"), "publish")),
		record(events.DynamoDBOperationTypeInsert, "500", image("e5", "OTHER", message("5", "c"), "")),
	)
	if f := failures(resp); f != nil {
		t.Errorf("failures %v", f)
	}
	h.expect("c1", next("s", "1"), next("s", "4"))
	if errs := h.errs.list(); len(errs) != 0 {
		t.Errorf("OnError: %v", errs)
	}
}

func TestStreamHandlerComplete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("c1")
	h.subscribe("c1", "r1", `subscription { messages(chatId: "1") { id } }`)
	h.subscribe("c1", "r2", `subscription { messages(chatId: "2") { id } }`)
	h.subscribe("c1", "r3", `subscription { messages(chatId: "3") { id } }`)
	resp := h.stream(
		record(events.DynamoDBOperationTypeInsert, "1", image("e1", "MESSAGES", `{"chatId":"1"}`, "complete")),
		record(events.DynamoDBOperationTypeInsert, "2", image("e2", "MESSAGES", message("m", "2"), "")),
		record(events.DynamoDBOperationTypeInsert, "3", image("e3", "MESSAGES", "", "complete")),
		record(events.DynamoDBOperationTypeInsert, "4", image("e4", "MESSAGES", message("late", "2"), "")),
	)
	if f := failures(resp); f != nil {
		t.Errorf("failures %v", f)
	}
	got := h.take("c1")
	want := []string{`{"type":"complete","id":"r1"}`, next("r2", "m")}
	if len(got) != 4 || !slices.EqualFunc(got[:2], want, jsonEqual) {
		t.Fatalf("frames %v", got)
	}
	last := got[2:]
	slices.Sort(last)
	if want := []string{`{"type":"complete","id":"r2"}`, `{"type":"complete","id":"r3"}`}; !slices.Equal(last, want) {
		t.Errorf("complete-all frames %v, want %v", last, want)
	}
	if subs := h.subscriptions("MESSAGES"); len(subs) != 0 {
		t.Errorf("left %v", subs)
	}
}

// TestStreamHandlerSkipsUndecodableRecords: a record that can never be
// delivered is reported and skipped; it never fails the batch.
func TestStreamHandlerSkipsUndecodableRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		img  map[string]events.DynamoDBAttributeValue
		want string // in the error passed to OnError
	}{
		{"no topic", image("bad", "", message("x", "c"), ""), "no topic"},
		{"empty topic", func() map[string]events.DynamoDBAttributeValue {
			img := image("bad", "MESSAGES", message("x", "c"), "")
			img[dynamodb.EventAttrTopic] = events.NewStringAttribute("")
			return img
		}(), "no topic"},
		{"topic not a string", func() map[string]events.DynamoDBAttributeValue {
			img := image("bad", "", message("x", "c"), "")
			img[dynamodb.EventAttrTopic] = events.NewNumberAttribute("7")
			return img
		}(), "attribute topic is not a string"},
		{"payload not JSON", image("bad", "MESSAGES", `{"id":"x",`, ""), "payload is not JSON"},
		{"payload not a string", func() map[string]events.DynamoDBAttributeValue {
			img := image("bad", "MESSAGES", "", "")
			img[dynamodb.EventAttrPayload] = events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("x")})
			return img
		}(), "attribute payload is not a string"},
		{"unknown kind", image("bad", "MESSAGES", message("x", "c"), "retract"), `unknown kind "retract"`},
		{"no image", nil, "no topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			h.ready("c1")
			h.subscribe("c1", "s", `subscription { messages { id } }`)
			resp := h.stream(
				record(events.DynamoDBOperationTypeInsert, "10", image("e1", "MESSAGES", message("1", "c"), "")),
				record(events.DynamoDBOperationTypeInsert, "20", tt.img),
				record(events.DynamoDBOperationTypeInsert, "30", image("e3", "MESSAGES", message("3", "c"), "")),
			)
			if f := failures(resp); f != nil {
				t.Errorf("failures %v: an undecodable record must not be retried", f)
			}
			h.expect("c1", next("s", "1"), next("s", "3"))
			errs := h.errs.list()
			if len(errs) != 1 || !strings.Contains(errs[0], "20") || !strings.Contains(errs[0], tt.want) ||
				!strings.Contains(errs[0], store.ErrInvalidEvent.Error()) {
				t.Errorf("OnError got %q, want one error about record 20: %s", errs, tt.want)
			}
		})
	}
}

// TestStreamHandlerStopsAtFailedDelivery: the first record whose delivery
// fails is a batch item failure, and so is every later record, unprocessed;
// earlier records are not. The retry then delivers the rest, and the failed
// record only to the subscription it did not reach.
func TestStreamHandlerStopsAtFailedDelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("ok")
	h.ready("bad")
	h.subscribe("ok", "s", `subscription { messages { id } }`)
	h.subscribe("bad", "s", `subscription { messages { id } }`)
	failing := true
	h.rec.Hook = func(ctx context.Context, endpoint, id string, frame []byte) error {
		if failing && id == "bad" && strings.Contains(string(frame), `"id":"2"`) {
			return errors.New("503 after every retry")
		}
		return nil
	}
	batch := []events.DynamoDBEventRecord{
		record(events.DynamoDBOperationTypeInsert, "100", image("e1", "MESSAGES", message("1", "c"), "")),
		record(events.DynamoDBOperationTypeInsert, "200", image("e2", "MESSAGES", message("2", "c"), "")),
		record(events.DynamoDBOperationTypeInsert, "300", image("e3", "MESSAGES", message("3", "c"), "")),
		record(events.DynamoDBOperationTypeModify, "400", image("e3", "MESSAGES", message("3", "c"), "")),
		record(events.DynamoDBOperationTypeInsert, "500", image("bad", "", "", "")),
	}
	resp := h.stream(batch...)
	if got, want := failures(resp), []string{"200", "300", "400", "500"}; !slices.Equal(got, want) {
		t.Fatalf("failures %v, want %v", got, want)
	}
	h.expect("ok", next("s", "1"), next("s", "2"))
	h.expect("bad", next("s", "1"))
	if errs := h.errs.list(); len(errs) != 1 || !strings.Contains(errs[0], "503") {
		t.Errorf("OnError: %v, want the failed post only", errs)
	}

	// Lambda retries from the lowest failed sequence number.
	failing = false
	resp = h.stream(batch[1:]...)
	if f := failures(resp); f != nil {
		t.Fatalf("retry failures %v", f)
	}
	h.expect("bad", next("s", "2"), next("s", "3"))
	// The delivery log remembers that "ok" had event 2: exactly once.
	h.expect("ok", next("s", "3"))
}

func TestStreamHandlerStoreFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	srv, err := gqlambda.New(gqlambda.Config{
		Engine: countingEngine{}, Store: failingStore{h.store}, Sender: h.rec,
		Hooks: gqlambda.Hooks{OnError: func(_ context.Context, err error) { h.errs.add("%v", err) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord)(t.Context(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		record(events.DynamoDBOperationTypeRemove, "1", image("e0", "MESSAGES", "", "")),
		record(events.DynamoDBOperationTypeInsert, "2", image("e1", "MESSAGES", `{}`, "")),
		record(events.DynamoDBOperationTypeInsert, "3", image("e2", "MESSAGES", `{}`, "")),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); !slices.Equal(got, []string{"2", "3"}) {
		t.Errorf("failures %v", got)
	}
	if errs := h.errs.list(); len(errs) != 1 || !strings.Contains(errs[0], "throttled") || !strings.Contains(errs[0], "e1") {
		t.Errorf("OnError: %v", errs)
	}
}

func TestStreamHandlerCancelled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("c1")
	h.subscribe("c1", "s", `subscription { messages { id } }`)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	resp, err := h.srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord)(ctx, events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		record(events.DynamoDBOperationTypeInsert, "1", image("e1", "MESSAGES", message("1", "c"), "")),
		record(events.DynamoDBOperationTypeInsert, "2", image("e2", "MESSAGES", message("2", "c"), "")),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("failures %v", got)
	}
	h.expect("c1")
}

// TestStreamHandlerGoneIsNotFailure: a client gone (410) is cleaned up, not
// retried.
func TestStreamHandlerGoneIsNotFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.ready("c1")
	h.subscribe("c1", "s", `subscription { messages { id } }`)
	h.rec.SetGone("c1")
	resp := h.stream(record(events.DynamoDBOperationTypeInsert, "1", image("e1", "MESSAGES", message("1", "c"), "")))
	if f := failures(resp); f != nil {
		t.Errorf("failures %v", f)
	}
	h.expectNoState("c1", "MESSAGES")
}

// TestStreamHandlerJSON: the response encodes as Lambda reads it.
func TestStreamHandlerJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var ev events.DynamoDBEvent
	raw := `{"Records":[{"eventID":"1","eventName":"INSERT","eventSource":"aws:dynamodb","dynamodb":{
		"Keys":{"id":{"S":"e1"}},
		"NewImage":{"id":{"S":"e1"},"topic":{"S":"MESSAGES"},"payload":{"S":"{\"id\":\"1\",\"chatId\":\"c\",\"text\":\"t\"}"},"kind":{"S":"publish"},"publishedAt":{"N":"1700000000000"},"ttl":{"N":"1700086400"}},
		"SequenceNumber":"111","SizeBytes":90,"StreamViewType":"NEW_IMAGE"}}]}`
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	h.ready("c1")
	h.subscribe("c1", "s", `subscription { messages { id } }`)
	h.rec.Hook = func(context.Context, string, string, []byte) error { return errors.New("down") }
	out, err := json.Marshal(h.stream(ev.Records...))
	if err != nil || string(out) != `{"batchItemFailures":[{"itemIdentifier":"111"}]}` {
		t.Errorf("response %s %v", out, err)
	}
}

// TestDynamoDBChangeStream: the stream of an application table (the chat's
// messages) through the change data capture decoder, on the captured records
// of testdata/sources/dynamodb.json: an insert and a modification are
// published, a record whose number is not a number is reported and skipped,
// a deletion by Time to Live is told apart from a caller's (here ignored),
// a caller's deletion completes the matching subscriptions; the batch
// redelivered reaches nobody twice.
func TestDynamoDBChangeStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.subscribeChat("c1", "c1")
	h.subscribeChat("c2", "c2")
	batch := loadSource[events.DynamoDBEvent](t, "dynamodb.json", "changes")
	handler := h.srv.DynamoDBStreamHandler(cdc.Decoder(cdc.Mapping{Topic: "MESSAGES", OnExpire: cdc.Ignore}.Map))
	for range 2 {
		resp, err := handler(context.Background(), batch)
		if err != nil || resp.BatchItemFailures != nil {
			t.Fatalf("%+v, %v", resp, err)
		}
		h.expectErrors([]string{"DynamoDB stream record 1100000000000000000003 skipped", store.ErrInvalidEvent.Error(), `"1,5"`})
	}
	h.expect("c1", next("s", "1"), next("s", "1"), `{"type":"complete","id":"s"}`)
	h.expect("c2")

	// By default a deletion by Time to Live is a removal: it completes.
	expiry := events.DynamoDBEvent{Records: batch.Records[3:4]}
	if resp, err := h.srv.DynamoDBStreamHandler(cdc.Decoder(cdc.Mapping{Topic: "MESSAGES"}.Map))(context.Background(), expiry); err != nil || resp.BatchItemFailures != nil {
		t.Fatalf("%+v, %v", resp, err)
	}
	h.expect("c2", `{"type":"complete","id":"s"}`)
}
