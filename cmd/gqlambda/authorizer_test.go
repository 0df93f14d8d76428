package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// authInvokeAPI is a fake Lambda Invoke API with three functions: "auth", a
// REQUEST authorizer allowing the token "ok" (query string or bearer) as
// principal u1 with context {"name": "Ann"} and failing with Unauthorized
// otherwise; "function", a WebSocket handler; and "api", an HTTP handler.
// It records the authorizer context each handler invocation carried.
type authInvokeAPI struct {
	mu   sync.Mutex
	seen map[string][]string // function → authorizer context (JSON) of each invocation
}

func (f *authInvokeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2015-03-31/functions/"), "/invocations")
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		Type    string            `json:"type"`
		Arn     string            `json:"methodArn"`
		Query   map[string]string `json:"queryStringParameters"`
		Headers map[string]string `json:"headers"`
		RC      struct {
			RouteKey   string          `json:"routeKey"`
			Authorizer json.RawMessage `json:"authorizer"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch name {
	case "auth":
		if ev.Type != "REQUEST" || ev.Query["token"] != "ok" && ev.Headers["authorization"] != "Bearer ok" {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			w.Write([]byte(`{"errorMessage":"Unauthorized","errorType":"errorString"}`))
			return
		}
		resp, _ := json.Marshal(map[string]any{
			"principalId": "u1",
			"policyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
				"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ev.Arn,
			}}},
			"context": map[string]any{"name": "Ann"},
		})
		w.Write(resp)
		return
	}
	f.mu.Lock()
	if f.seen == nil {
		f.seen = map[string][]string{}
	}
	f.seen[name] = append(f.seen[name], string(ev.RC.Authorizer))
	f.mu.Unlock()
	switch {
	case name == "api":
		w.Write([]byte(`{"statusCode":200,"body":"ok"}`))
	case ev.RC.RouteKey == "$connect":
		w.Write([]byte(`{"statusCode":200,"headers":{"Sec-WebSocket-Protocol":"graphql-transport-ws"}}`))
	default:
		w.Write([]byte(`{"statusCode":200}`))
	}
}

// TestGatewayAuthorizerFunction: `gqlambda gateway -authorizer-function`
// invokes the authorizer function before $connect and HTTP requests, with
// API Gateway's refusals, and passes an allowed caller's principal and
// context to the handlers.
func TestGatewayAuthorizerFunction(t *testing.T) {
	api := &authInvokeAPI{}
	lambdaSrv := httptest.NewServer(api)
	defer lambdaSrv.Close()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var out, errOut syncBuffer
	c := cli{stdout: &out, stderr: &errOut, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
	exited := make(chan int, 1)
	go func() {
		exited <- c.run(ctx, []string{"gateway", "-addr", "127.0.0.1:0", "-lambda", lambdaSrv.URL, "-log-level", "error",
			"-http-function", "api", "-authorizer-function", "auth", "-concurrency", "0"})
	}()
	wsURL, httpURL := gatewayURLs(t, &out, exited)
	if !strings.Contains(out.String(), "authorizer     auth at "+lambdaSrv.URL) {
		t.Errorf("stdout:\n%s", out.String())
	}

	for query, want := range map[string]int{"": 401, "?token=bad": 401} {
		_, resp, err := websocket.Dial(ctx, wsURL+query, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err == nil || resp == nil || resp.StatusCode != want {
			t.Errorf("dial with %q: %v, want status %d", query, err, want)
		}
	}
	conn, _, err := websocket.Dial(ctx, wsURL+"?token=ok", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	for auth, want := range map[string]int{"": 401, "Bearer bad": 401, "Bearer ok": 200} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, httpURL, strings.NewReader(`{"query":"{a}"}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("POST with %q: %d, want %d", auth, resp.StatusCode, want)
		}
	}
	conn.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		api.mu.Lock()
		n := len(api.seen["function"])
		api.mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		// real-server wait: the $disconnect comes from the gateway over a
		// real socket, after the close handshake.
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-exited
	api.mu.Lock()
	defer api.mu.Unlock()
	if got := api.seen["function"]; len(got) != 3 {
		t.Fatalf("the WebSocket function was invoked %d times, want 3 ($connect, $default, $disconnect of the allowed client only)", len(got))
	}
	for _, a := range append(api.seen["function"], api.seen["api"]...) {
		var m map[string]any
		if err := json.Unmarshal([]byte(a), &m); err != nil {
			t.Fatalf("authorizer context %s: %v", a, err)
		}
		if l, ok := m["lambda"].(map[string]any); ok { // the HTTP event's
			m = l
		}
		if m["principalId"] != "u1" || m["name"] != "Ann" {
			t.Errorf("authorizer context %s, want principal u1 and the context", a)
		}
	}
	if len(api.seen["api"]) != 1 {
		t.Errorf("the HTTP function was invoked %d times, want once (the allowed request)", len(api.seen["api"]))
	}
}

// FuzzDecodeAuthorizerAnswer: any answer decodes without panicking, and
// one that decodes, encoded again in aws-lambda-go's form, decodes to the
// same answer.
func FuzzDecodeAuthorizerAnswer(f *testing.F) {
	f.Add(`{"principalId":"u1","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn"}]},"context":{"a":1}}`)
	f.Add(`{"principalId":"u1","policyDocument":{"Statement":[{"Action":["a","b"],"Effect":"Deny","Resource":["x"]}]}}`)
	f.Add(`{"policyDocument":{"Statement":[{"Action":1}]}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, raw string) {
		resp, err := decodeAuthorizerAnswer([]byte(raw), "f")
		if err != nil {
			return
		}
		again, _ := json.Marshal(resp)
		resp2, err := decodeAuthorizerAnswer(again, "f")
		if err != nil {
			t.Fatalf("%s decoded, its re-encoding %s does not: %v", raw, again, err)
		}
		b1, _ := json.Marshal(resp2)
		if string(b1) != string(again) {
			t.Fatalf("round trip of %s: %s, then %s", raw, again, b1)
		}
	})
}
