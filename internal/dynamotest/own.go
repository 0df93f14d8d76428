package dynamotest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Local is a DynamoDB Local of a test's own, which the test may stop and
// start again (in memory: it starts again empty), on the same port.
type Local struct {
	// Endpoint is its URL, http://127.0.0.1:{port}.
	Endpoint string

	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Own starts a DynamoDB Local of the test's own on a free port, with the jar
// scripts/dynamodb-local installed (GQLAMBDA_DYNAMODB_LOCAL_DIR, else the
// script's cache folder); it is stopped when the test ends. Like [Config],
// it skips the test when GQLAMBDA_DYNAMODB_ENDPOINT is unset, and fails it
// when the jar cannot be found or the server does not start.
func Own(t testing.TB) *Local {
	t.Helper()
	if os.Getenv(EnvEndpoint) == "" {
		t.Skipf("%s is not set: run the tests through scripts/test, which installs and starts DynamoDB Local", EnvEndpoint)
	}
	dir := os.Getenv("GQLAMBDA_DYNAMODB_LOCAL_DIR")
	if dir == "" {
		cache := os.Getenv("GQLAMBDA_CACHE")
		if cache == "" {
			base := os.Getenv("XDG_CACHE_HOME")
			if base == "" {
				home, _ := os.UserHomeDir()
				base = filepath.Join(home, ".cache")
			}
			cache = filepath.Join(base, "gqlambda")
		}
		dir = filepath.Join(cache, "dynamodb-local-2.9.30")
	}
	if _, err := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); err != nil {
		t.Fatalf("DynamoDB Local's jar: %v (scripts/dynamodb-local install puts it there)", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	d := &Local{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, port: port}
	d.Start(t)
	t.Cleanup(func() { d.Stop(t) })
	return d
}

// Start starts the server (again, empty) and waits until it answers.
func (d *Local) Start(t testing.TB) {
	t.Helper()
	cmd := exec.Command("java", "-Xmx512m", "-Djava.library.path="+filepath.Join(d.dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(d.dir, "DynamoDBLocal.jar"), "-inMemory", "-sharedDb", "-disableTelemetry", "-port", fmt.Sprint(d.port))
	// It writes its metadata file into its working directory.
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start DynamoDB Local: %v", err)
	}
	d.cmd, d.done = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(d.done)
	}()
	deadline := time.Now().Add(90 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(d.Endpoint)
		if err == nil {
			resp.Body.Close()
			client.CloseIdleConnections()
			return
		}
		select {
		case <-d.done:
			t.Fatalf("DynamoDB Local exited at start")
		default:
		}
		if time.Now().After(deadline) {
			d.Stop(t)
			t.Fatalf("DynamoDB Local does not answer at %s: %v", d.Endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s) and waits until
// it has exited. Stopping a stopped server does nothing.
func (d *Local) Stop(t testing.TB) {
	t.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-d.done:
	case <-ctx.Done():
		d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd = nil
}
