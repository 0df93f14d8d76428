package leakcheck

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// blocked waits on stop; its name is how the test finds it in a report.
func blocked(started chan<- struct{}, stop <-chan struct{}, done chan<- struct{}) {
	close(started)
	<-stop
	close(done)
}

func TestCheckReportsLeakedGoroutine(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatalf("Check before the leak: %v", err)
	}
	started, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go blocked(started, stop, done)
	<-started
	err := check(0)
	if err == nil || !strings.Contains(err.Error(), "leakcheck.blocked(") || !strings.Contains(err.Error(), "1 goroutine(s)") {
		t.Errorf("Check with a goroutine blocked on a channel: %v, want an error with its stack", err)
	}
	close(stop)
	<-done // blocked is ending; Check waits for it to be gone
	if err := Check(); err != nil {
		t.Errorf("Check once the goroutine ended: %v", err)
	}
}

func TestIgnored(t *testing.T) {
	for _, tt := range []struct {
		stack string
		want  bool
	}{
		{"goroutine 5 [select, locked to thread]:\nruntime.gopark(...)\n\t/go/src/runtime/proc.go:435\n" +
			"runtime.ensureSigM.func1()\n\t/go/src/runtime/signal_unix.go:1053\n" +
			"created by runtime.ensureSigM in goroutine 1\n\t/go/src/runtime/signal_unix.go:1036", true},
		{"goroutine 6 [syscall]:\nos/signal.signal_recv()\n\t/go/src/runtime/sigqueue.go:152\n" +
			"os/signal.loop()\n\t/go/src/os/signal/signal_unix.go:23\n" +
			"created by os/signal.Notify.func1.1 in goroutine 1\n\t/go/src/os/signal/signal.go:152", true},
		{"goroutine 1 [chan receive]:\nruntime.gopark(...)\n\t/go/src/runtime/proc.go:435\n" +
			"testing.(*T).Run(0xc0000b6248, {0x960dc3, 0x1f}, 0x9746b0)\n\t/go/src/testing/testing.go:2109 +0xb3e\n" +
			"testing.(*M).Run(0xc000088320)\n\t/go/src/testing/testing.go:2443\nmain.main()\n\t_testmain.go:50", true},
		{"goroutine 7 [chan receive]:\nruntime.gopark(...)\n\t/go/src/runtime/proc.go:435\n" +
			"example.com/p.wait(...)\n\t/p/p.go:3\n" +
			"created by example.com/p.Start in goroutine 1\n\t/p/p.go:9", false},
	} {
		if got := ignored(tt.stack); got != tt.want {
			t.Errorf("ignored(%q) = %v, want %v", tt.stack, got, tt.want)
		}
	}
}

// forever is never closed: a goroutine receiving from it leaks.
var forever = make(chan struct{})

func leakForever() { <-forever }

// TestMainExitsOnLeak runs TestLeakingHelper in a child process: its
// TestMain, Main, must fail the passing test binary and print the stack of
// the goroutine the test left.
func TestMainExitsOnLeak(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeakingHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LEAKCHECK_HELPER=1")
	out, err := cmd.CombinedOutput()
	if exit, ok := errors.AsType[*exec.ExitError](err); !ok || exit.ExitCode() != 1 {
		t.Fatalf("the leaking test binary: %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "leakcheck: 1 goroutine(s) still running") || !strings.Contains(string(out), "leakcheck.leakForever(") {
		t.Errorf("output does not name the leaked goroutine:\n%s", out)
	}
}

// TestLeakingHelper passes and leaves a goroutine; it runs only as
// TestMainExitsOnLeak's child.
func TestLeakingHelper(t *testing.T) {
	if os.Getenv("LEAKCHECK_HELPER") == "" {
		t.Skip("run by TestMainExitsOnLeak")
	}
	go leakForever()
}
