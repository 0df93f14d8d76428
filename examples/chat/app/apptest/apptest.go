// Package apptest runs the end-to-end tests of the chat app against an
// engine: the npm graphql-ws and subscriptions-transport-ws clients (e2e/),
// graphql-http's audit and headless Chromium, and the sweeper's pings
// against graphql-ws, on the in-memory store, on
// DynamoDB Local and on redis-server. Every implementation of the chat schema
// runs them:
//
//	func TestEndToEnd(t *testing.T) { apptest.Run(t, newEngine) }
package apptest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/examples/chat/app"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/internal/redistest"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// Run runs every end-to-end test of the chat app on newEngine, as subtests.
// They need scripts/test's setup (GQLAMBDA_E2E, GQLAMBDA_DYNAMODB_ENDPOINT for
// the DynamoDB runs, GQLAMBDA_REDIS_URL for the Redis runs) and are skipped
// without it.
func Run(t *testing.T, newEngine app.NewEngine) {
	dir := E2EDir(t)
	t.Run("GraphQLWS", func(t *testing.T) { graphQLWS(t, newEngine, dir) })
	t.Run("Legacy", func(t *testing.T) { legacy(t, newEngine, dir) })
	t.Run("GraphQLOverHTTPAudit", func(t *testing.T) { audit(t, newEngine, dir) })
	t.Run("Browser", func(t *testing.T) { browser(t, newEngine, dir) })
	t.Run("Auth", func(t *testing.T) { auth(t, newEngine, dir) })
	t.Run("Liveness", func(t *testing.T) { liveness(t, newEngine, dir) })
}

// envE2E is set by scripts/test once it installed the end-to-end tests'
// Node packages (e2e/) and Chromium.
const envE2E = "GQLAMBDA_E2E"

// E2EDir returns the e2e folder, skipping the test without envE2E and
// failing when scripts/test should have prepared it and did not.
func E2EDir(t *testing.T) string {
	t.Helper()
	if os.Getenv(envE2E) == "" {
		t.Skipf("%s is not set: run the tests through scripts/test, which installs the Node clients and Chromium", envE2E)
	}
	dir, err := e2eRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "graphql-ws")); err != nil {
		t.Fatalf("%s is set but the Node packages are missing (%v): run scripts/e2e-setup", envE2E, err)
	}
	return dir
}

// startApp serves the chat on a free loopback port until the test ends.
func startApp(t *testing.T, newEngine app.NewEngine, opts app.LocalOptions) *app.LocalApp {
	opts.NewEngine = newEngine
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.StartLocal(t.Context(), ln, opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a
}

// Node runs a Node program of the e2e folder dir and fails the test with
// its output when it fails.
func Node(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitDisconnected waits until every client connection is gone from the
// gateway, which means every $disconnect was handled.
func waitDisconnected(t *testing.T, a *app.LocalApp) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Gateway.Connections()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still open after the clients left: %v", a.Gateway.Connections())
		}
		// real-server wait: the clients are Node processes on real sockets;
		// the gateway's connection list is all that shows they left.
		time.Sleep(20 * time.Millisecond)
	}
}

// expectNoSubscriptions fails if subscriptions are still left on the chat's
// topics some seconds after every client left (a connection leaves the
// gateway before its $disconnect handler has run).
func expectNoSubscriptions(t *testing.T, a *app.LocalApp) {
	t.Helper()
	eventually(t, func() []string {
		var left []string
		for _, topic := range []string{app.TopicBroadcast, app.TopicChat} {
			for sub, err := range a.Store.TopicSubscriptions(t.Context(), topic) {
				if err != nil {
					return []string{err.Error()}
				}
				left = append(left, fmt.Sprintf("subscription %q of connection %q left on %s after every client disconnected", sub.ID, sub.ConnectionID, topic))
			}
		}
		return left
	})
}

// eventually calls check until it reports no problem, for up to 15 seconds,
// and then fails the test with the last problems.
func eventually(t *testing.T, check func() []string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		problems := check()
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range problems {
				t.Error(p)
			}
			return
		}
		// real-server wait: the checks read the store (DynamoDB Local in
		// one scenario) after Node clients on real sockets left.
		time.Sleep(50 * time.Millisecond)
	}
}

// scenarios are the end-to-end runs: the chat on the in-memory store, on
// DynamoDB Local with broadcasts through the events table's stream and chat
// messages by change data capture of the messages table, and on
// redis-server with events fanned out directly.
func scenarios(t *testing.T) []struct {
	name string
	opts func(t *testing.T) app.LocalOptions
} {
	return []struct {
		name string
		opts func(t *testing.T) app.LocalOptions
	}{
		{"memory", func(*testing.T) app.LocalOptions { return app.LocalOptions{} }},
		{"dynamodb", func(t *testing.T) app.LocalOptions {
			_, endpoint := dynamotest.Config(t)
			// DynamoDB Local is shared by every test of the run: tables of
			// this run's own.
			return app.LocalOptions{DynamoDB: endpoint, TablePrefix: dynamotest.Prefix(t)}
		}},
		{"redis", func(t *testing.T) app.LocalOptions {
			// The server is shared by every test of the run: keys of this
			// run's own.
			return app.LocalOptions{Redis: redistest.URL(t), KeyPrefix: redistest.Prefix(t)}
		}},
	}
}

func graphQLWS(t *testing.T, newEngine app.NewEngine, dir string) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			opts := sc.opts(t)
			a := startApp(t, newEngine, opts)
			out := Node(t, dir, []string{"CHAT_WS_URL=" + a.WebSocketURL}, "--test", "--test-reporter=spec", "graphql-ws.test.mjs")
			t.Log(out)
			waitDisconnected(t, a)
			expectNoSubscriptions(t, a)
			if opts.DynamoDB != "" {
				expectEmptyTables(t, opts.TablePrefix)
				expectNoChatEvents(t, opts.TablePrefix)
			}
			if opts.Redis != "" {
				expectNoKeys(t, opts.KeyPrefix)
			}
		})
	}
}

// expectEmptyTables scans the connections and subscriptions tables of
// DynamoDB Local (a test may scan; the store never does): after every client
// disconnected, nothing of them is left. The subscriptions table also holds
// the delivery log's items (events delivered, remembered for the
// redelivery window), which belong to no connection: those stay.
func expectEmptyTables(t *testing.T, prefix string) {
	t.Helper()
	client := dynamotest.Client(t)
	eventually(t, func() []string {
		var left []string
		for _, table := range []string{prefix + "connections", prefix + "subscriptions"} {
			out, err := client.Scan(t.Context(), &awsdynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return []string{err.Error()}
			}
			var items []map[string]types.AttributeValue
			for _, item := range out.Items {
				if _, delivery := item[dynamodb.AttrConnectionID]; !delivery && table == prefix+"subscriptions" {
					continue // a delivery log item
				}
				items = append(items, item)
			}
			if len(items) > 0 {
				left = append(left, fmt.Sprintf("%s holds %d items after every client disconnected: %v", table, len(items), items[0]))
			}
		}
		return left
	})
}

// expectNoKeys lists the keys of redis-server under prefix (a test may
// scan; the store never does): after every client disconnected, nothing of
// them is left but what deletions keep for 30 s so that a retried call gets
// the same answer (store/redis's "x{" keys), and those expire.
func expectNoKeys(t *testing.T, prefix string) {
	t.Helper()
	client := redistest.Client(t)
	eventually(t, func() []string {
		var left []string
		for _, key := range redistest.Keys(t, client, prefix) {
			ttl, err := client.PTTL(t.Context(), key).Result()
			switch {
			case err != nil:
				return []string{err.Error()}
			case strings.HasPrefix(key, prefix+"x{") && ttl > 0 && ttl <= 30*time.Second:
			default:
				left = append(left, fmt.Sprintf("key %q (time to live %v) left after every client disconnected", key, ttl))
			}
		}
		return left
	})
}

// browser runs the chat page in headless Chromium on the in-memory store
// and on Redis; the screenshots of the Redis run go to a folder of their
// own.
func browser(t *testing.T, newEngine app.NewEngine, dir string) {
	chromium := Chromium(t)
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			opts := sc.opts(t)
			artifacts := ArtifactsDir(dir)
			if sc.name != "memory" {
				artifacts = filepath.Join(artifacts, sc.name)
			}
			a := startApp(t, newEngine, opts)
			out := Node(t, dir, []string{"CHROMIUM=" + chromium}, "browser.mjs", a.URL, artifacts)
			t.Log(out)
			for _, name := range []string{"chat-sender.png", "chat-receiver.png"} {
				if fi, err := os.Stat(filepath.Join(artifacts, name)); err != nil || fi.Size() == 0 {
					t.Errorf("screenshot %s missing: %v", name, err)
				}
			}
			if opts.DynamoDB != "" {
				expectNoChatEvents(t, opts.TablePrefix)
			}
		})
	}
}

// expectNoChatEvents checks that no chat message went through the events
// table of DynamoDB Local: on DynamoDB they reach subscribers by change data
// capture of the messages table, and the events table only carries
// broadcasts.
func expectNoChatEvents(t *testing.T, prefix string) {
	t.Helper()
	client := dynamotest.Client(t)
	out, err := client.Scan(t.Context(), &awsdynamodb.ScanInput{TableName: aws.String(prefix + "events"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range out.Items {
		if topic, ok := item[dynamodb.EventAttrTopic].(*types.AttributeValueMemberS); !ok || topic.Value != app.TopicBroadcast {
			t.Errorf("the events table holds an event that is not a broadcast: %v", item)
		}
	}
}

func audit(t *testing.T, newEngine app.NewEngine, dir string) {
	a := startApp(t, newEngine, app.LocalOptions{})
	out := Node(t, dir, nil, "audit.mjs", a.HTTPURL)
	t.Log(out)
	// scripts/test prints the table after the run.
	example := "example"
	if wd, err := os.Getwd(); err == nil {
		example = filepath.Base(wd)
	}
	path := filepath.Join(ArtifactsDir(dir), "graphql-http-audit-"+example+".md")
	if err := os.WriteFile(path, []byte("graphql-http audit of examples/"+example+"'s /graphql\n\n"+out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Chromium returns the headless Chromium the browser tests drive:
// $CHROMIUM, default /usr/bin/chromium, failing the test when it is missing.
func Chromium(t *testing.T) string {
	t.Helper()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is set but Chromium is missing (%v): run scripts/e2e-setup", envE2E, err)
	}
	return chromium
}

// ArtifactsDir is where the end-to-end tests leave what they produce:
// $GQLAMBDA_ARTIFACTS (default: the e2e folder's artifacts), created.
func ArtifactsDir(e2e string) string {
	dir := os.Getenv("GQLAMBDA_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(e2e, "artifacts")
	}
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

func legacy(t *testing.T, newEngine app.NewEngine, dir string) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			opts := sc.opts(t)
			a := startApp(t, newEngine, opts)
			out := Node(t, dir, []string{"CHAT_WS_URL=" + a.WebSocketURL}, "--test", "--test-reporter=spec", "legacy.test.mjs")
			t.Log(out)
			waitDisconnected(t, a)
			expectNoSubscriptions(t, a)
			if opts.Redis != "" {
				expectNoKeys(t, opts.KeyPrefix)
			}
		})
	}
}

// auth runs the chat with -auth dev (the deployed chat's authorizer on the
// local gateway, and dev tokens) on each store: auth.test.mjs with the
// graphql-ws client and plain fetch, then the chat page in headless
// Chromium, which gets its tokens itself.
func auth(t *testing.T, newEngine app.NewEngine, dir string) {
	chromium := Chromium(t)
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			opts := sc.opts(t)
			opts.Auth = app.AuthDev
			a := startApp(t, newEngine, opts)
			out := Node(t, dir, []string{"CHAT_URL=" + strings.TrimSuffix(a.URL, "/")}, "--test", "--test-reporter=spec", "auth.test.mjs")
			t.Log(out)
			artifacts := filepath.Join(ArtifactsDir(dir), "auth-"+sc.name)
			out = Node(t, dir, []string{"CHROMIUM=" + chromium}, "browser.mjs", a.URL, artifacts)
			t.Log(out)
			waitDisconnected(t, a)
			expectNoSubscriptions(t, a)
			if opts.DynamoDB != "" {
				expectEmptyTables(t, opts.TablePrefix)
			}
			if opts.Redis != "" {
				expectNoKeys(t, opts.KeyPrefix)
			}
		})
	}
}

// e2eRoot finds the repository's e2e folder from the test's working
// directory (the package folder) upwards.
func e2eRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "e2e", "package.json")); err == nil {
			return filepath.Join(dir, "e2e"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no e2e/package.json above the working directory")
		}
		dir = parent
	}
}
