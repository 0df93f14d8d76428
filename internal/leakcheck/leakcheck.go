// Package leakcheck fails a test binary whose tests leave goroutines
// running. A package whose tests start goroutines runs it from TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
//
// Goroutines get a moment to end after the tests (a closed server's
// connections, a cancelled poller); the ones still there are reported with
// their stacks. The runtime's own goroutines (signal handling) and the
// testing package's are not leaks, and neither are the idle keep-alive
// connections of http.DefaultTransport, which are closed first.
package leakcheck

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Wait is how long Check waits for goroutines to end.
const Wait = 2 * time.Second

// Main runs the tests of m and, when they pass, checks that they left no
// goroutine behind: if they did, it prints the stacks and exits with 1.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := Check(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// Check waits up to [Wait] for every goroutine but the caller's, the
// runtime's and the testing package's to end, and returns an error with the
// stacks of those left. A test may call it when no other test runs.
func Check() error { return check(Wait) }

func check(wait time.Duration) error {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	deadline := time.Now().Add(wait)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		left := leaked()
		if len(left) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("leakcheck: %d goroutine(s) still running after the tests:\n\n%s",
				len(left), strings.Join(left, "\n\n"))
		}
		// real-server wait: goroutines end on the real clock.
		time.Sleep(pause)
	}
}

// HTTPClient returns an HTTP client with a transport of its own whose
// keep-alive connections are closed when t ends: a client that pools its
// connections elsewhere than in http.DefaultTransport (the AWS SDK's does)
// would leave them, and their goroutines, behind.
func HTTPClient(t testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16 // not 2: parallel tests reuse their connections
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// leaked returns the stacks of the goroutines other than the caller's and
// the ignored ones.
func leaked() []string {
	self := stacks(false)
	self = self[:bytes.IndexByte(self, '[')] // "goroutine N "
	var left []string
	for _, g := range strings.Split(string(stacks(true)), "\n\n") {
		if g = strings.TrimSpace(g); g != "" && !strings.HasPrefix(g, string(self)) && !ignored(g) {
			left = append(left, g)
		}
	}
	return left
}

// ignored reports whether goroutine g, as runtime.Stack prints it, is not
// the tests': its innermost function outside the runtime is in os/signal
// (the signal loop) or testing (the main goroutine and the runners of the
// tests still running, waiting for their subtests), or it has none.
func ignored(g string) bool {
	for _, line := range strings.Split(g, "\n")[1:] {
		switch {
		case strings.HasPrefix(line, "\t"), strings.HasPrefix(line, "runtime."):
		case strings.HasPrefix(line, "created by "):
			return true
		default:
			return strings.HasPrefix(line, "os/signal.") || strings.HasPrefix(line, "testing.")
		}
	}
	return true
}

// stacks returns runtime.Stack's text, whole.
func stacks(all bool) []byte {
	for buf := make([]byte, 64<<10); ; buf = make([]byte, 2*len(buf)) {
		if n := runtime.Stack(buf, all); n < len(buf) {
			return buf[:n]
		}
	}
}
