package localbus_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/gqlambda/gqlambda/localbus"
)

// recorder is a target that keeps what it receives.
type recorder struct {
	mu     sync.Mutex
	events []events.EventBridgeEvent
	got    chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 100)} }

func (r *recorder) target(_ context.Context, ev events.EventBridgeEvent) error {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.got <- struct{}{}
	return nil
}

func (r *recorder) all() []events.EventBridgeEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.EventBridgeEvent(nil), r.events...)
}

// client is aws-sdk-go-v2's EventBridge client pointed at the bus.
func client(t *testing.T, bus *localbus.Bus) *eventbridge.Client {
	t.Helper()
	srv := httptest.NewServer(bus)
	t.Cleanup(srv.Close)
	return eventbridge.New(eventbridge.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(srv.URL),
	})
}

func newBus(t *testing.T, opts localbus.Options) *localbus.Bus {
	t.Helper()
	bus, err := localbus.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := bus.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return bus
}

// TestPutEventsWithTheSDK puts events with aws-sdk-go-v2: accepted entries
// get ids and reach the rules they match with the envelope Lambda receives;
// bad entries are refused one by one.
func TestPutEventsWithTheSDK(t *testing.T) {
	t.Parallel()
	bus := newBus(t, localbus.Options{Region: "eu-west-1", Account: "111122223333"})
	received, translated := newRecorder(), newRecorder()
	if err := bus.AddRule(localbus.Rule{Name: "received", Pattern: `{"source": ["apollo"], "detail-type": ["ClientMessageReceived"]}`, Target: received.target}); err != nil {
		t.Fatal(err)
	}
	if err := bus.AddRule(localbus.Rule{Name: "translated", Pattern: `{"detail-type": ["ClientMessageTranslated"], "detail": {"language": [{"anything-but": "xx"}]}}`, Target: translated.target}); err != nil {
		t.Fatal(err)
	}
	eb := client(t, bus)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	out, err := eb.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String("apollo"), DetailType: aws.String("ClientMessageReceived"), Detail: aws.String(`{"message":"Good morning","chatId":"chat"}`), Resources: []string{"arn:aws:x"}, Time: aws.Time(at)},
		{Source: aws.String("apollo"), DetailType: aws.String("ClientMessageReceived")},                                                // no detail
		{Source: aws.String("apollo"), DetailType: aws.String("ClientMessageReceived"), Detail: aws.String(`{"message":`)},             // malformed
		{Source: aws.String("apollo"), DetailType: aws.String("ClientMessageReceived"), Detail: aws.String(`["not", "an", "object"]`)}, // not an object
		{Source: aws.String("aws.ec2"), DetailType: aws.String("x"), Detail: aws.String(`{}`)},                                         // reserved source
		{DetailType: aws.String("x"), Detail: aws.String(`{}`)},                                                                        // no source
		{Source: aws.String("apollo"), Detail: aws.String(`{}`)},                                                                       // no detail type
		{Source: aws.String("apollo"), DetailType: aws.String("x"), Detail: aws.String(`{}`), EventBusName: aws.String("other")},       // unknown bus
		{Source: aws.String("translate"), DetailType: aws.String("ClientMessageTranslated"), Detail: aws.String(`{"language":"es"}`), EventBusName: aws.String(bus.ARN())},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 7 {
		t.Errorf("FailedEntryCount = %d, want 7", out.FailedEntryCount)
	}
	wantCodes := []string{"", "InvalidArgument", "MalformedDetail", "MalformedDetail", "NotAuthorizedForSourceException", "InvalidArgument", "InvalidArgument", "ResourceNotFoundException", ""}
	for i, e := range out.Entries {
		code := aws.ToString(e.ErrorCode)
		if code != wantCodes[i] {
			t.Errorf("entry %d: ErrorCode %q (%s), want %q", i, code, aws.ToString(e.ErrorMessage), wantCodes[i])
		}
		if (code == "") != (aws.ToString(e.EventId) != "") || (code != "") != (aws.ToString(e.ErrorMessage) != "") {
			t.Errorf("entry %d: an entry has an id or an error code and message: %+v", i, e)
		}
	}
	if msg := aws.ToString(out.Entries[1].ErrorMessage); msg != "Parameter Detail is not valid. Reason: Detail is a required argument." {
		t.Errorf("missing detail: message %q", msg)
	}
	if err := bus.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := received.all()
	if len(got) != 1 {
		t.Fatalf("the received rule got %d events, want 1", len(got))
	}
	ev := got[0]
	want := events.EventBridgeEvent{
		Version: "0", ID: aws.ToString(out.Entries[0].EventId), DetailType: "ClientMessageReceived", Source: "apollo",
		AccountID: "111122223333", Time: at, Region: "eu-west-1", Resources: []string{"arn:aws:x"},
	}
	detail := ev.Detail
	ev.Detail = nil
	if !equalEvents(ev, want) {
		t.Errorf("envelope %+v, want %+v", ev, want)
	}
	if string(detail) != `{"message":"Good morning","chatId":"chat"}` {
		t.Errorf("detail %s", detail)
	}
	if tr := translated.all(); len(tr) != 1 || tr[0].ID != aws.ToString(out.Entries[8].EventId) || tr[0].Resources == nil {
		t.Errorf("the translated rule got %+v, want the last entry with resources []", tr)
	}
	// The envelope reads as Lambda's JSON.
	data, _ := json.Marshal(got[0])
	for _, field := range []string{`"detail-type":"ClientMessageReceived"`, `"account":"111122223333"`, `"region":"eu-west-1"`, `"time":"2026-12-06T10:00:00Z"`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("envelope JSON %s lacks %s", data, field)
		}
	}
}

func equalEvents(a, b events.EventBridgeEvent) bool {
	return a.Version == b.Version && a.ID == b.ID && a.DetailType == b.DetailType && a.Source == b.Source &&
		a.AccountID == b.AccountID && a.Time.Equal(b.Time) && a.Region == b.Region && strings.Join(a.Resources, ",") == strings.Join(b.Resources, ",")
}

// TestPutEventsRefusedWhole checks the calls EventBridge refuses whole.
func TestPutEventsRefusedWhole(t *testing.T) {
	t.Parallel()
	bus := newBus(t, localbus.Options{})
	eb := client(t, bus)
	entry := types.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("d"), Detail: aws.String(`{}`)}
	big := types.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("d"), Detail: aws.String(`{"x":"` + strings.Repeat("x", localbus.MaxRequestSize) + `"}`)}
	for name, entries := range map[string][]types.PutEventsRequestEntry{
		"eleven entries": make([]types.PutEventsRequestEntry, 11),
		"too large":      {big},
	} {
		for i := range entries {
			if entries[i].Source == nil {
				entries[i] = entry
			}
		}
		_, err := eb.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries})
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
			t.Errorf("%s: error %v, want a ValidationException", name, err)
		}
	}
	if _, err := bus.PutEvents(t.Context(), nil); !errors.Is(err, localbus.ErrValidation) {
		t.Errorf("no entries: %v, want ErrValidation", err)
	}
}

// TestTestEventPattern calls TestEventPattern with the SDK.
func TestTestEventPattern(t *testing.T) {
	t.Parallel()
	eb := client(t, newBus(t, localbus.Options{}))
	event := `{"id": "1", "account": "123456789012", "source": "apollo", "time": "2026-12-06T10:00:00Z", "region": "us-east-1", "resources": [], "detail-type": "ClientMessageReceived", "detail": {"chatId": "chat"}}`
	for _, tt := range []struct {
		pattern string
		want    bool
	}{
		{`{"source": ["apollo"], "detail": {"chatId": [{"prefix": "ch"}]}}`, true},
		{`{"source": [{"anything-but": "apollo"}]}`, false},
	} {
		out, err := eb.TestEventPattern(t.Context(), &eventbridge.TestEventPatternInput{EventPattern: aws.String(tt.pattern), Event: aws.String(event)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Result != tt.want {
			t.Errorf("%s: Result %v, want %v", tt.pattern, out.Result, tt.want)
		}
	}
	_, err := eb.TestEventPattern(t.Context(), &eventbridge.TestEventPatternInput{EventPattern: aws.String(`{"source": "apollo"}`), Event: aws.String(event)})
	var invalid *types.InvalidEventPatternException
	if !errors.As(err, &invalid) {
		t.Errorf("invalid pattern: %v, want InvalidEventPatternException", err)
	}
	_, err = eb.TestEventPattern(t.Context(), &eventbridge.TestEventPatternInput{EventPattern: aws.String(`{}`), Event: aws.String(`{"source": "apollo"}`)})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" || !strings.Contains(apiErr.ErrorMessage(), "mandatory field") {
		t.Errorf("event without id: %v, want a ValidationException naming the field", err)
	}
}

// TestRetriedUntilDelivered has a target that fails once: the event is
// delivered again after the backoff, and reaches it exactly once.
func TestRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bus, err := localbus.New(localbus.Options{Retry: localbus.RetryPolicy{Backoff: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		var attempts, delivered atomic.Int32
		var at []time.Time
		err = bus.AddRule(localbus.Rule{Name: "flaky", Pattern: `{"source": ["s"]}`, Target: func(ctx context.Context, ev events.EventBridgeEvent) error {
			at = append(at, time.Now())
			if attempts.Add(1) == 1 {
				return errors.New("throttled")
			}
			delivered.Add(1)
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := bus.PutEvents(t.Context(), []localbus.Entry{{Source: "s", DetailType: "d", Detail: `{}`}})
		if err != nil || res.FailedEntryCount != 0 {
			t.Fatal(res, err)
		}
		if err := bus.Drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if attempts.Load() != 2 || delivered.Load() != 1 {
			t.Errorf("%d attempts, %d deliveries; want 2 and 1", attempts.Load(), delivered.Load())
		}
		if len(at) == 2 && at[1].Sub(start) != time.Second {
			t.Errorf("retried after %v, want the 1 s backoff", at[1].Sub(start))
		}
		if err := bus.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeadLetter has a target that always fails (or panics): after the
// retries, with doubling backoff, the event goes to the dead-letter hook.
func TestDeadLetter(t *testing.T) {
	t.Parallel()
	for _, panics := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			dead := make(chan localbus.DeadLetter, 1)
			bus, err := localbus.New(localbus.Options{
				Retry:        localbus.RetryPolicy{MaximumRetryAttempts: 3, Backoff: time.Second, MaxBackoff: 3 * time.Second},
				OnDeadLetter: func(_ context.Context, dl localbus.DeadLetter) { dead <- dl },
			})
			if err != nil {
				t.Fatal(err)
			}
			var at []time.Duration
			start := time.Now()
			err = bus.AddRule(localbus.Rule{Name: "broken", Pattern: `{}`, Target: func(context.Context, events.EventBridgeEvent) error {
				at = append(at, time.Since(start))
				if panics {
					panic("boom")
				}
				return errors.New("down")
			}})
			if err != nil {
				t.Fatal(err)
			}
			res, _ := bus.PutEvents(t.Context(), []localbus.Entry{{Source: "s", DetailType: "d", Detail: `{}`}})
			if err := bus.Drain(t.Context()); err != nil {
				t.Fatal(err)
			}
			dl := <-dead
			if dl.Rule != "broken" || dl.Attempts != 4 || dl.Event.ID != res.Entries[0].EventID || dl.Err == nil {
				t.Errorf("dead letter %+v", dl)
			}
			want := []time.Duration{0, time.Second, 3 * time.Second, 6 * time.Second}
			if len(at) != len(want) {
				t.Fatalf("attempts at %v, want %v", at, want)
			}
			for i := range want {
				if at[i] != want[i] {
					t.Errorf("attempts at %v, want %v", at, want)
					break
				}
			}
			_ = bus.Close(t.Context())
		})
	}
}

// TestMaximumEventAge gives up retrying once the next retry would come after
// the event's maximum age.
func TestMaximumEventAge(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var dead atomic.Int32
		bus, _ := localbus.New(localbus.Options{
			Retry:        localbus.RetryPolicy{MaximumRetryAttempts: 100, Backoff: time.Minute, MaxBackoff: time.Hour, MaximumEventAge: 5 * time.Minute},
			OnDeadLetter: func(_ context.Context, dl localbus.DeadLetter) { dead.Store(int32(dl.Attempts)) },
		})
		_ = bus.AddRule(localbus.Rule{Name: "r", Pattern: `{}`, Target: func(context.Context, events.EventBridgeEvent) error { return errors.New("down") }})
		_, _ = bus.PutEvents(t.Context(), []localbus.Entry{{Source: "s", DetailType: "d", Detail: `{}`}})
		_ = bus.Drain(t.Context())
		// Attempts at 0, 1, 3 min; the next (at 7) would be too old.
		if dead.Load() != 3 {
			t.Errorf("given up after %d attempts, want 3", dead.Load())
		}
		_ = bus.Close(t.Context())
	})
}

// TestCloseGivesUpRetries closes a bus whose target keeps failing: Close
// ends the waits, hands the event to the dead-letter hook and refuses new
// events.
func TestCloseGivesUpRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var dead atomic.Int32
		bus, _ := localbus.New(localbus.Options{
			Retry:        localbus.RetryPolicy{Backoff: time.Hour},
			OnDeadLetter: func(context.Context, localbus.DeadLetter) { dead.Add(1) },
		})
		_ = bus.AddRule(localbus.Rule{Name: "r", Pattern: `{}`, Target: func(context.Context, events.EventBridgeEvent) error { return errors.New("down") }})
		_, _ = bus.PutEvents(t.Context(), []localbus.Entry{{Source: "s", DetailType: "d", Detail: `{}`}})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := bus.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want the deadline", err)
		}
		if dead.Load() != 1 {
			t.Errorf("%d dead letters, want 1", dead.Load())
		}
		if _, err := bus.PutEvents(t.Context(), []localbus.Entry{{Source: "s", DetailType: "d", Detail: `{}`}}); !errors.Is(err, localbus.ErrClosed) {
			t.Errorf("PutEvents after Close = %v, want ErrClosed", err)
		}
	})
}

func TestAddRuleRefusesBadRules(t *testing.T) {
	t.Parallel()
	bus := newBus(t, localbus.Options{})
	noop := func(context.Context, events.EventBridgeEvent) error { return nil }
	if err := bus.AddRule(localbus.Rule{Name: "a", Pattern: `{}`, Target: noop}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []localbus.Rule{
		{Name: "a", Pattern: `{}`, Target: noop},
		{Name: "b", Pattern: `{"source": "x"}`, Target: noop},
		{Name: "c", Pattern: `{}`},
		{Pattern: `{}`, Target: noop},
	} {
		if err := bus.AddRule(r); !errors.Is(err, localbus.ErrInvalidRule) {
			t.Errorf("AddRule(%+v) = %v, want ErrInvalidRule", r, err)
		}
	}
}

// TestHTTPErrors checks the answers to requests that are not EventBridge's.
func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	bus := newBus(t, localbus.Options{})
	tests := []struct {
		method, target, body string
		status               int
		code                 string
	}{
		{"GET", "AWSEvents.PutEvents", "", 405, "UnknownOperationException"},
		{"POST", "", "{}", 400, "UnknownOperationException"},
		{"POST", "AWSEvents.PutRule", "{}", 400, "UnknownOperationException"},
		{"POST", "AWSEvents.PutEvents", "{", 400, "SerializationException"},
		{"POST", "AWSEvents.PutEvents", `{"Entries": [{"Time": "yesterday"}]}`, 400, "SerializationException"},
		{"POST", "AWSEvents.PutEvents", `{"Entries": []}`, 400, "ValidationException"},
		{"POST", "AWSEvents.PutEvents", `{"Entries": [{"Detail": "` + strings.Repeat("x", 4*localbus.MaxRequestSize) + `"}]}`, 413, "ValidationException"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, "/", strings.NewReader(tt.body))
		req.Header.Set("X-Amz-Target", tt.target)
		rec := httptest.NewRecorder()
		bus.ServeHTTP(rec, req)
		var body struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != tt.status || body.Type != tt.code || rec.Header().Get("X-Amzn-ErrorType") != tt.code {
			t.Errorf("%s %s %.40s: %d %s, want %d %s", tt.method, tt.target, tt.body, rec.Code, rec.Body, tt.status, tt.code)
		}
	}
}

// FuzzServeHTTP sends any body to both operations: the answer is 200 or a
// 4xx AWS JSON error, never a panic or a 5xx.
func FuzzServeHTTP(f *testing.F) {
	f.Add("PutEvents", `{"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}", "Time": 1765000000.5}]}`)
	f.Add("PutEvents", `{"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{\"a\": [1, {\"b\": null}]}", "Resources": ["r"], "Time": "2026-12-06T10:00:00Z"}]}`)
	f.Add("TestEventPattern", `{"EventPattern": "{\"source\": [{\"prefix\": \"a\"}]}", "Event": "{\"id\": \"1\", \"account\": \"1\", \"source\": \"ab\", \"time\": \"t\", \"region\": \"r\", \"resources\": [], \"detail-type\": \"d\"}"}`)
	bus, err := localbus.New(localbus.Options{})
	if err != nil {
		f.Fatal(err)
	}
	if err := bus.AddRule(localbus.Rule{Name: "all", Pattern: `{"detail": {"a": [{"exists": true}]}}`, Target: func(context.Context, events.EventBridgeEvent) error { return nil }}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, op, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AWSEvents."+op)
		rec := httptest.NewRecorder()
		bus.ServeHTTP(rec, req)
		if rec.Code != 200 && (rec.Code < 400 || rec.Code >= 500) {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %s", rec.Body)
		}
	})
}

// TestBounds checks Concurrency (targets running at a time) and MaxPending
// (deliveries not finished, beyond which PutEvents is throttled).
func TestBounds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var running, peak atomic.Int32
		bus, _ := localbus.New(localbus.Options{Concurrency: 2, MaxPending: 5})
		_ = bus.AddRule(localbus.Rule{Name: "slow", Pattern: `{}`, Target: func(ctx context.Context, _ events.EventBridgeEvent) error {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			<-release
			return nil
		}})
		entry := localbus.Entry{Source: "s", DetailType: "d", Detail: `{}`}
		if _, err := bus.PutEvents(t.Context(), []localbus.Entry{entry, entry, entry, entry, entry}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if running.Load() != 2 {
			t.Errorf("%d targets running, want Concurrency's 2", running.Load())
		}
		_, err := bus.PutEvents(t.Context(), []localbus.Entry{entry})
		if !errors.Is(err, localbus.ErrThrottled) {
			t.Errorf("PutEvents beyond MaxPending = %v, want ErrThrottled", err)
		}
		close(release)
		if err := bus.Drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if peak.Load() != 2 {
			t.Errorf("peak %d targets at a time, want 2", peak.Load())
		}
		if _, err := bus.PutEvents(t.Context(), []localbus.Entry{entry}); err != nil {
			t.Errorf("PutEvents once drained: %v", err)
		}
		_ = bus.Close(t.Context())
	})
}
