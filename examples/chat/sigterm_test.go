package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/internal/dynamotest"
)

// TestMain runs the chat itself when the test binary is started as the
// chat (TestSIGTERMWhileDynamoDBIsDown).
func TestMain(m *testing.M) {
	if os.Getenv("GQLAMBDA_RUN_CHAT") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for the writes of a process's output
// and the reads of the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startChat runs the chat (this test binary, as TestMain does) with args;
// its output goes to out and its end to exited. It is killed when the test
// ends.
func startChat(t *testing.T, args ...string) (cmd *exec.Cmd, out *syncBuffer, exited <-chan error) {
	t.Helper()
	cmd = exec.Command(os.Args[0], args...)
	// A binary built with -race sleeps 1 s at exit (atexit_sleep_ms) unless
	// told not to; that second would count against the shutdown bounds.
	cmd.Env = append(os.Environ(), "GQLAMBDA_RUN_CHAT=1", "AWS_LAMBDA_FUNCTION_NAME=",
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, out, done
}

// TestSIGTERMWhileDynamoDBIsDown: the chat in -dynamodb mode, started while
// DynamoDB does not answer, says once that it waits for it, and a SIGTERM
// stops it within 2 seconds, with status 0.
func TestSIGTERMWhileDynamoDBIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	cmd, out, exited := startChat(t, "-addr", "127.0.0.1:0", "-dynamodb", "http://"+dead)

	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "DynamoDB does not answer") {
		if time.Now().After(deadline) {
			t.Fatalf("the chat never said it waits for DynamoDB; output:\n%s", out.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("the chat exited (%v) instead of waiting for DynamoDB; output:\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	select {
	case err := <-exited:
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("the chat exited %v after SIGTERM, want within 2 s", took)
		}
		if ee, ok := errors.AsType[*exec.ExitError](err); ok || err != nil {
			t.Errorf("exit: %v (%v), want status 0; output:\n%s", err, ee, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the chat did not exit within 10 s of SIGTERM; output:\n%s", out.String())
	}
	if n := strings.Count(out.String(), "DynamoDB does not answer"); n != 1 {
		t.Errorf("said %d times that DynamoDB does not answer, want once; output:\n%s", n, out.String())
	}
}

// TestSIGTERMAfterDynamoDBWentDown: the chat in -dynamodb mode, with a
// client connected, whose DynamoDB Local stops: a SIGTERM still stops it
// promptly (its shutdown's clean-ups are bounded by the store timeout, and
// its stream pollers stop in their backoff), with status 0.
func TestSIGTERMAfterDynamoDBWentDown(t *testing.T) {
	d := dynamotest.Own(t)
	cmd, out, exited := startChat(t, "-addr", "127.0.0.1:0", "-dynamodb", d.Endpoint)

	deadline := time.Now().Add(60 * time.Second)
	var wsURL string
	for wsURL == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the chat never printed its URLs; output:\n%s", out.String())
		}
		for l := range strings.SplitSeq(out.String(), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "WebSocket" {
				wsURL = f[1]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := subscribeChat(t, wsURL, "room")
	go func() { // a client reads, and so answers the close handshake
		for {
			if _, _, err := c.ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)

	d.Stop(t)
	time.Sleep(time.Second) // the pollers meet the outage
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	select {
	case err := <-exited:
		took := time.Since(began)
		t.Logf("exited %v after SIGTERM", took)
		if took > 8*time.Second {
			t.Errorf("the chat exited %v after SIGTERM, want within 8 s (the store timeout and a margin)", took)
		}
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the chat did not exit within 30 s of SIGTERM; output:\n%s", out.String())
	}
}
