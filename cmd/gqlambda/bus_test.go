package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// eventFunction is a Lambda Invoke API whose functions take EventBridge
// events; its first invocation fails with a function error, as a handler
// that returned an error.
type eventFunction struct {
	mu     sync.Mutex
	calls  int
	events map[string][]events.EventBridgeEvent // function → events handled
	got    chan struct{}
}

func (f *eventFunction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2015-03-31/functions/"), "/invocations")
	body, _ := io.ReadAll(r.Body)
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == 1 {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.Write([]byte(`{"errorMessage": "translator down", "errorType": "errorString"}`))
		return
	}
	f.events[name] = append(f.events[name], ev)
	w.Write([]byte(`null`))
	select {
	case f.got <- struct{}{}:
	default:
	}
}

func (f *eventFunction) handled(name string) []events.EventBridgeEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.EventBridgeEvent(nil), f.events[name]...)
}

// TestBusCommand puts events with aws-sdk-go-v2 on `gqlambda bus`: the
// event a rule matches reaches its function, again after the first
// invocation failed, once; the other event reaches no function; -print
// prints both.
func TestBusCommand(t *testing.T) {
	fn := &eventFunction{events: map[string][]events.EventBridgeEvent{}, got: make(chan struct{}, 1)}
	lambdaSrv := httptest.NewServer(fn)
	defer lambdaSrv.Close()

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var out, errOut syncBuffer
	c := cli{stdout: &out, stderr: &errOut, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
	exited := make(chan int, 1)
	args := []string{"bus", "-addr", "127.0.0.1:0", "-name", "chat", "-print", "-log-level", "error",
		"-rule", "response=" + lambdaSrv.URL + "#responder " + `{"detail-type": ["ClientMessageTranslated"], "detail": {"chatId": [{"prefix": "ch"}]}}`}
	go func() { exited <- c.run(ctx, args) }()
	addr := regexp.MustCompile(`EventBridge API  (http://\S+)`)
	var busURL string
	for deadline := time.Now().Add(10 * time.Second); busURL == ""; {
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			busURL = m[1]
			break
		}
		select {
		case code := <-exited:
			t.Fatalf("exited with %d: %s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address on stdout: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond) // real-server wait: the command starts in its goroutine
	}

	eb := eventbridge.New(eventbridge.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), BaseEndpoint: aws.String(busURL)})
	res, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{EventBusName: aws.String("chat"), Source: aws.String("translate"), DetailType: aws.String("ClientMessageTranslated"), Detail: aws.String(`{"chatId": "chat", "message": "Bonjour"}`)},
		{EventBusName: aws.String("chat"), Source: aws.String("apollo"), DetailType: aws.String("ClientMessageReceived"), Detail: aws.String(`{"chatId": "chat", "message": "Good morning"}`)},
		{EventBusName: aws.String("other"), Source: aws.String("apollo"), DetailType: aws.String("ClientMessageReceived"), Detail: aws.String(`{}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.FailedEntryCount != 1 || aws.ToString(res.Entries[2].ErrorCode) != "ResourceNotFoundException" {
		t.Errorf("PutEvents: %d failed, entries %+v", res.FailedEntryCount, res.Entries)
	}
	select {
	case <-fn.got:
	case <-time.After(15 * time.Second):
		t.Fatalf("the function did not get the event; stderr:\n%s", errOut.String())
	}
	got := fn.handled("responder")
	if len(got) != 1 || got[0].ID != aws.ToString(res.Entries[0].EventId) || string(got[0].Detail) != `{"chatId":"chat","message":"Bonjour"}` {
		t.Errorf("responder handled %+v", got)
	}
	stop()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Errorf("exit code %d; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the bus did not stop")
	}
	fn.mu.Lock()
	calls := fn.calls
	fn.mu.Unlock()
	if calls != 2 {
		t.Errorf("%d invocations, want 2 (a failure, then its retry)", calls)
	}
	printed := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "{") {
			var ev events.EventBridgeEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Source == "" {
				t.Errorf("printed line %q: %v", line, err)
			}
			printed++
		}
	}
	if printed != 2 {
		t.Errorf("printed %d events, want 2:\n%s", printed, out.String())
	}
}

func TestParseBus(t *testing.T) {
	c, _, stderr := testCLI(nil, "")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bus"}, "no -rule and no -print"},
		{[]string{"bus", "-rule", "x"}, "want NAME=URL[#FUNCTION] PATTERN"},
		{[]string{"bus", "-rule", "x=http://127.0.0.1:9000"}, "want NAME=URL[#FUNCTION] PATTERN"},
		{[]string{"bus", "-rule", "x=127.0.0.1:9000 {}"}, "-rule"},
		{[]string{"bus", "-addr", "127.0.0.1:0", "-rule", `x=http://127.0.0.1:9000 {"source": "nope"}`}, "invalid event pattern"},
		{[]string{"bus", "-print", "-retries", "-1"}, "-retries is -1"},
		{[]string{"bus", "-print", "extra"}, `unexpected argument "extra"`},
	} {
		stderr.Reset()
		if code := c.run(t.Context(), tt.args); code != exitUsage || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
	r, err := parseBusRule(`a=http://127.0.0.1:9000/#fn {"source": ["x y"]}`)
	if err != nil || r.name != "a" || r.lambdaURL != "http://127.0.0.1:9000/" || r.function != "fn" || r.pattern != `{"source": ["x y"]}` {
		t.Errorf("parseBusRule = %+v, %v", r, err)
	}
}
