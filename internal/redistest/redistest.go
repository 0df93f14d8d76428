// Package redistest connects tests to Redis: to the redis-server that
// scripts/redis-server starts and announces in GQLAMBDA_REDIS_URL, and to
// servers and clusters of a test's own (for tests that stop, freeze or
// restart a server), started from the same Debian package.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable holding the URL of the shared
// redis-server, such as redis://127.0.0.1:6380.
const EnvURL = "GQLAMBDA_REDIS_URL"

// URL returns the shared server's URL from GQLAMBDA_REDIS_URL. When the
// variable is unset the test is skipped (run it through scripts/test, which
// starts redis-server); when it is set and the server does not answer PING,
// the test fails.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Skipf("%s is not set: run the tests through scripts/test, which starts redis-server", EnvURL)
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s=%q: %v", EnvURL, u, err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis-server at %s (from %s) does not answer: %v", u, EnvURL, err)
	}
	return u
}

// Client returns a client of the shared server (see [URL]), closed when the
// test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// Prefix returns a key prefix that no other test (or run) uses: the shared
// server is shared by every test of a run.
func Prefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 60 {
		name = name[:60]
	}
	return "t-" + name + "-" + strings.ToLower(rand.Text()[:6]) + ":"
}

// Keys returns every key of the shared server that starts with prefix, by
// SCAN: a test may scan; the store never does.
func Keys(t testing.TB, c redis.UniversalClient, prefix string) []string {
	t.Helper()
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		return it.Err()
	}
	var err error
	switch c := c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	case *redis.Client:
		err = scan(t.Context(), c)
	default:
		t.Fatalf("redistest.Keys: unsupported client %T", c)
	}
	if err != nil {
		t.Fatalf("SCAN %s*: %v", prefix, err)
	}
	return keys
}

// escapeGlob escapes the characters SCAN's MATCH pattern gives a meaning.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Server is a redis-server of a test's own, on a loopback port, stopped
// when the test ends.
type Server struct {
	// Addr is the server's host:port. It stays the same across Restart.
	Addr string

	t    testing.TB
	args []string
	dir  string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// binary returns the path of redis-server, skipping the test when the
// shared server is not configured (this is a machine without the project's
// test setup) and failing it when it is but redis-server is missing.
func binary(t testing.TB, name string) string {
	t.Helper()
	URL(t)
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is set but %s is not installed (run scripts/redis-server install): %v", EnvURL, name, err)
	}
	return path
}

// StartServer starts a redis-server of the test's own on a free loopback
// port, in memory unless args say otherwise (args are added to the command
// line, such as "--appendonly", "yes"), and waits until it answers. Its
// working folder is a fresh temporary one. It is skipped like [URL].
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	port := freePort(t, false)
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		t:    t,
		args: args,
		dir:  t.TempDir(),
	}
	s.log = filepath.Join(s.dir, "redis-server.log")
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start starts the server on s.Addr and waits until it answers PING.
func (s *Server) start() {
	s.t.Helper()
	bin := binary(s.t, "redis-server")
	_, port, _ := net.SplitHostPort(s.Addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", s.log}, s.args...)
	s.cmd = exec.Command(bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	waitReady(s.t, s.Addr, s.done, s.log)
}

// waitReady waits until the server at addr answers PING, failing the test
// if it exits first (done closes) or does not answer within 10 seconds.
func waitReady(t testing.TB, addr string, done <-chan struct{}, logFile string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("redis-server on %s exited at start: %s", addr, tail(logFile))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s does not answer after 10 s: %v\n%s", addr, err, tail(logFile))
		}
		time.Sleep(20 * time.Millisecond) // real-server wait: the server is starting
	}
}

// tail returns the last lines of a log file, for failure messages.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// signal sends sig to the server process.
func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v to redis-server: %v", sig, err)
	}
}

// Freeze stops the server process (SIGSTOP): it keeps its sockets but
// answers nothing, as a server under a failover or a network partition.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

// Kill ends the server at once (SIGKILL), as a crash, and waits until it
// is gone.
func (s *Server) Kill() {
	s.t.Helper()
	s.signal(syscall.SIGKILL)
	<-s.done
}

// Restart starts the server again on the same address, with the same
// arguments and folder (an append-only file in it is loaded), after Kill.
func (s *Server) Restart() {
	s.t.Helper()
	select {
	case <-s.done:
	default:
		s.t.Fatal("redistest: Restart of a server that is still running")
	}
	s.start()
}

// stop ends the server if it still runs: SIGCONT (in case it is frozen),
// SIGTERM, then SIGKILL after 10 seconds.
func (s *Server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// StartCluster starts a Redis Cluster of n primaries (no replicas), each a
// redis-server of the test's own on a loopback port, and returns their
// addresses once the cluster reports every slot served. It is skipped like
// [URL]. n must be at least 3, the least redis-cli accepts.
func StartCluster(t testing.TB, n int) []string {
	t.Helper()
	cli := binary(t, "redis-cli")
	addrs := make([]string, n)
	for i := range n {
		// The cluster bus listens on the port + 10000.
		port := freePort(t, true)
		s := &Server{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			t:    t,
			args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"},
			dir:  t.TempDir(),
		}
		s.log = filepath.Join(s.dir, "redis-server.log")
		s.start()
		t.Cleanup(s.stop)
		addrs[i] = s.Addr
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				c.Close()
				t.Fatalf("cluster node %s not ready after a minute: %v %s", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond) // real-server wait: the cluster is forming
		}
		c.Close()
	}
	return addrs
}

// freePort returns a loopback port that nothing listens on (and, with bus,
// whose port + 10000 is free too).
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !bus {
			return port
		}
		if port+10000 > 65535 {
			continue
		}
		if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			l2.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// String names the server for failure messages.
func (s *Server) String() string { return fmt.Sprintf("redis-server on %s", s.Addr) }
