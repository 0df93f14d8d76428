package gqlambda_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda"
)

// TestHTTPRateLimit: with HTTPOptions.RateLimit, a client over its rate
// gets 429 with Retry-After and a GraphQL error coded RATE_LIMITED, before
// its operation runs; another client keeps its own budget.
func TestHTTPRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	handler := h.srv.HTTPHandler(&gqlambda.HTTPOptions{RateLimit: 0.001, RateBurst: 2})
	do := func(ip string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = ip + ":1234"
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		return w
	}
	for i := range 2 {
		if w := do("192.0.2.1"); w.Code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, w.Code, w.Body)
		}
	}
	w := do("192.0.2.1")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "RATE_LIMITED") {
		t.Errorf("request over the rate: %d %v %s, want 429 with Retry-After and RATE_LIMITED", w.Code, w.Header(), w.Body)
	}
	if w := do("192.0.2.2"); w.Code != http.StatusOK {
		t.Errorf("another client: %d, want 200", w.Code)
	}
	// Without the option, no bound.
	plain := h.srv.HTTPHandler(nil)
	for i := range 50 {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		plain.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("request %d without a rate limit: %d", i, w.Code)
		}
	}
}

// TestHTTPBodyReadDeadline: a client that sends its headers and then its
// body a byte at a time, too slowly, gets 408 when HTTPOptions.ReadTimeout
// runs out, and its connection is closed.
func TestHTTPBodyReadDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.srv.HTTPHandler(&gqlambda.HTTPOptions{ReadTimeout: 300 * time.Millisecond}))
	t.Cleanup(srv.Close)
	began := time.Now()
	resp := postUnfinishedBody(t, srv)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("answered after %v, want about the 300 ms read timeout", took)
	}
}

// TestHTTPRateLimitBeforeBody: a client over its rate gets 429 before the
// server reads its body, so a body that never comes costs it no wait: the
// answer comes at once, not after HTTPOptions.ReadTimeout.
func TestHTTPRateLimitBeforeBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.srv.HTTPHandler(&gqlambda.HTTPOptions{RateLimit: 0.001, RateBurst: 1, ReadTimeout: time.Minute}))
	t.Cleanup(srv.Close)
	// The burst of 1 is spent by a first request, and the next token comes
	// back only after 1,000 s, however slowly this machine runs.
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"query":"{ __typename }"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: status %d", resp.StatusCode)
	}
	began := time.Now()
	resp = postUnfinishedBody(t, srv)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("status %d, want 429", resp.StatusCode)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("answered after %v, want at once", took)
	}
}

// postUnfinishedBody sends srv a POST that announces a body of 100 bytes and
// sends 1, and returns the answer (within 10 s).
func postUnfinishedBody(t *testing.T, srv *httptest.Server) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a request whose body never comes: %v", err)
	}
	resp.Body.Close()
	return resp
}
