package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// invokeAPI is a fake Lambda Invoke API: WebSocket events are accepted
// (with the graphql-transport-ws subprotocol), HTTP events answered with
// the function's name. Each invocation lasts a little, so that invocations
// sent together overlap; it records the most that ran together.
type invokeAPI struct {
	running, peak atomic.Int32

	mu     sync.Mutex
	routes map[string][]string // function name → route keys (or HTTP paths) invoked
	// invoked holds a token after each invocation: see waitFor.
	invoked chan struct{}
}

func (f *invokeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2015-03-31/functions/"), "/invocations")
	var ev struct {
		Version        string `json:"version"`
		RawPath        string `json:"rawPath"`
		RequestContext struct {
			RouteKey string `json:"routeKey"`
		} `json:"requestContext"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// real-server wait: the invocations come from the gateway over real
	// sockets, so nothing shows that a second one would have started
	// meanwhile; holding each for a while gives it the time to.
	time.Sleep(20 * time.Millisecond)
	route := ev.RequestContext.RouteKey
	resp := `{"statusCode":200}`
	switch {
	case ev.Version == "2.0":
		route = "HTTP " + ev.RawPath
		resp = `{"statusCode":200,"body":"ok from ` + name + `"}`
	case route == "$connect":
		resp = `{"statusCode":200,"headers":{"Sec-WebSocket-Protocol":"graphql-transport-ws"}}`
	}
	f.mu.Lock()
	if f.routes == nil {
		f.routes = map[string][]string{}
	}
	f.routes[name] = append(f.routes[name], route)
	select {
	case f.invokedLocked() <- struct{}{}:
	default:
	}
	f.mu.Unlock()
	w.Write([]byte(resp))
}

// invokedLocked returns f.invoked, made on first use, with f.mu held.
func (f *invokeAPI) invokedLocked() chan struct{} {
	if f.invoked == nil {
		f.invoked = make(chan struct{}, 1)
	}
	return f.invoked
}

// waitFor waits, checking again after each invocation, until function was
// invoked n times for route; it fails the test after 5 seconds.
func (f *invokeAPI) waitFor(t *testing.T, function, route string, n int) {
	t.Helper()
	f.mu.Lock()
	invoked := f.invokedLocked()
	f.mu.Unlock()
	timeout := time.After(5 * time.Second)
	for f.count(function, route) < n {
		select {
		case <-invoked:
		case <-timeout:
			t.Fatalf("%s was invoked %d times for %s, want %d", function, f.count(function, route), route, n)
		}
	}
}

// count returns how many times function was invoked for route.
func (f *invokeAPI) count(function, route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.routes[function] {
		if r == route {
			n++
		}
	}
	return n
}

func TestGatewayCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string // besides -addr and -lambda
		wantPeak int32    // the most invocations at a time; 0: not checked
	}{
		// One Invoke API for both functions: they share its one slot.
		{name: "one slot for one Invoke API", args: []string{"-http-function", "api"}, wantPeak: 1},
		{name: "no limit", args: []string{"-http-function", "api", "-concurrency", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &invokeAPI{}
			lambdaSrv := httptest.NewServer(api)
			defer lambdaSrv.Close()

			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			var out, errOut syncBuffer
			c := cli{stdout: &out, stderr: &errOut, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
			exited := make(chan int, 1)
			args := append([]string{"gateway", "-addr", "127.0.0.1:0", "-lambda", lambdaSrv.URL, "-log-level", "error"}, tt.args...)
			go func() { exited <- c.run(ctx, args) }()
			wsURL, httpURL := gatewayURLs(t, &out, exited)
			if !strings.Contains(out.String(), "HTTP function  api at "+lambdaSrv.URL) {
				t.Errorf("stdout:\n%s", out.String())
			}

			// Clients connect and send a message, and HTTP requests come,
			// all at once.
			var wg sync.WaitGroup
			conns := make([]*websocket.Conn, 3)
			for i := range conns {
				wg.Go(func() {
					conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
					if err != nil {
						t.Error(err)
						return
					}
					conns[i] = conn
					if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
						t.Error(err)
					}
				})
				wg.Go(func() {
					resp, err := http.Get(httpURL + "?query=%7Ba%7D")
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "ok from api" {
						t.Errorf("GET /graphql: %s %q", resp.Status, b)
					}
				})
			}
			wg.Wait()
			api.waitFor(t, "function", "$default", len(conns)) // the messages
			for _, conn := range conns {
				if conn != nil {
					conn.Close(websocket.StatusNormalClosure, "")
				}
			}

			stop()
			select {
			case code := <-exited:
				if code != exitOK {
					t.Errorf("exit code %d; stderr:\n%s", code, errOut.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the gateway did not stop")
			}
			for _, want := range []struct {
				function, route string
				n               int
			}{
				{"function", "$connect", 3},
				{"function", "$default", 3},
				{"function", "$disconnect", 3},
				{"api", "HTTP /graphql", 3},
			} {
				if n := api.count(want.function, want.route); n != want.n {
					t.Errorf("%s invoked %d times for %s, want %d", want.function, n, want.route, want.n)
				}
			}
			if tt.wantPeak > 0 && api.peak.Load() != tt.wantPeak {
				t.Errorf("%d invocations ran together, want at most %d", api.peak.Load(), tt.wantPeak)
			}
		})
	}
}
