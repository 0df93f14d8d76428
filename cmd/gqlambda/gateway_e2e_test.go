package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/gqlambda/gqlambda/examples/chat/app"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/internal/leakcheck"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/store/dynamodb/streams"
)

// The packages the end-to-end test builds: the AWS Lambda Runtime Interface
// Emulator (a tool dependency of the module) and the chat example, the
// function's bootstrap.
const (
	riePackage  = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	chatPackage = "github.com/gqlambda/gqlambda/examples/chat"
)

// TestGatewayWithRuntimeInterfaceEmulator runs the chat example as it runs
// on AWS: its bootstrap in four Runtime Interface Emulators (the websocket,
// http, stream and messages handlers), DynamoDB Local for the tables,
// pollers of the events table's and the messages table's streams in place
// of the event source mappings, and `gqlambda gateway` in front, driven by
// two graphql-transport-ws clients and an HTTP client.
func TestGatewayWithRuntimeInterfaceEmulator(t *testing.T) {
	cfg, endpoint := dynamotest.Config(t)
	if testing.Short() {
		t.Skip("builds and runs the Runtime Interface Emulator")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is needed to build the emulator and the function")
	}
	dir := t.TempDir()
	rie, bootstrap := filepath.Join(dir, "aws-lambda-rie"), filepath.Join(dir, "bootstrap")
	var wg sync.WaitGroup
	for _, b := range []struct{ out, pkg string }{{rie, riePackage}, {bootstrap, chatPackage}} {
		wg.Go(func() {
			cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", b.out, b.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("go build %s: %v\n%s", b.pkg, err, out)
			}
		})
	}

	// The tables, as `gqlambda tables create` makes them, and the chat's
	// messages table.
	region := cfg.Region
	client := dynamotest.Client(t)
	prefix := dynamotest.Prefix(t)
	c, _, stderr := testCLI(map[string]string{"AWS_REGION": region}, "")
	if code := c.run(t.Context(), []string{"tables", "create", "-dynamodb", endpoint, "-prefix", prefix}); code != exitOK {
		t.Fatalf("tables create: exit code %d\n%s", code, stderr)
	}
	tables := dynamodb.PrefixedTables(prefix)
	messagesTable := prefix + "messages"
	createMessagesTableT(t, client, messagesTable)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	env := map[string]string{
		"AWS_REGION":                   region,
		"AWS_ACCESS_KEY_ID":            "local",
		"AWS_SECRET_ACCESS_KEY":        "local",
		"AWS_ENDPOINT_URL_DYNAMODB":    endpoint,
		"GQLAMBDA_CONNECTIONS_TABLE":   tables.Connections,
		"GQLAMBDA_SUBSCRIPTIONS_TABLE": tables.Subscriptions,
		"GQLAMBDA_EVENTS_TABLE":        tables.Events,
		"CHAT_MESSAGES_TABLE":          messagesTable,
	}
	var webSocketFn, httpFn, streamFn, messagesFn string
	wg = sync.WaitGroup{}
	for _, f := range []struct {
		handler string
		url     *string
	}{{"websocket", &webSocketFn}, {"http", &httpFn}, {"stream", &streamFn}, {"messages", &messagesFn}} {
		wg.Go(func() { *f.url = startEmulator(t, rie, bootstrap, f.handler, env) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// The events table's stream invokes the stream function, and the
	// messages table's the messages function (change data capture), each
	// read as its event source mapping would.
	for _, s := range []struct{ table, fn string }{{tables.Events, streamFn}, {messagesTable, messagesFn}} {
		fn := newInvoker(newLambdaClient(s.fn, region, leakcheck.HTTPClient(t)), defaultFunction, 1)
		poller, err := streams.NewPoller(dynamotest.StreamsClient(t), streams.PollerOptions{
			Table:        s.table,
			TableClient:  client,
			PollInterval: 50 * time.Millisecond,
			RetryDelay:   100 * time.Millisecond,
			Handler: func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
				var resp events.DynamoDBEventResponse
				raw, err := fn.invoke(ctx, ev)
				if err == nil {
					err = json.Unmarshal(raw, &resp)
				}
				return resp, err
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		pollCtx, stopPolling := context.WithCancel(context.WithoutCancel(t.Context()))
		polled := make(chan error, 1)
		go func() { polled <- poller.Run(pollCtx) }()
		t.Cleanup(func() {
			stopPolling()
			if err := <-polled; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("poller of %s: %v", s.table, err)
			}
		})
	}

	// The gateway, in process, on a free port.
	gwCtx, stopGateway := context.WithCancel(t.Context())
	defer stopGateway()
	var gwOut, gwErr syncBuffer
	gw := cli{stdout: &gwOut, stderr: &gwErr, stdin: strings.NewReader(""), getenv: func(k string) string {
		// The function's keys: the @connections API verifies its signatures.
		return map[string]string{"AWS_REGION": region, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}[k]
	}}
	exited := make(chan int, 1)
	go func() {
		exited <- gw.run(gwCtx, []string{"gateway", "-addr", "127.0.0.1:0", "-lambda", webSocketFn, "-http-lambda", httpFn, "-log-level", "warn"})
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway stdout:\n%s\ngateway stderr:\n%s", gwOut.String(), gwErr.String())
		}
	})
	wsURL, httpURL := gatewayURLs(t, &gwOut, exited)

	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()

	// Two clients connect at once: their $connect invocations wait for
	// each other, and each writes its connection item.
	var a, b *gqlClient
	wg = sync.WaitGroup{}
	for _, cl := range []**gqlClient{&a, &b} {
		wg.Go(func() {
			var err error
			if *cl, err = dialGraphQL(ctx, wsURL); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	defer a.conn.CloseNow()
	defer b.conn.CloseNow()
	if n := countItems(t, client, tables.Connections); n != 2 {
		t.Errorf("%d connection items, want 2", n)
	}

	// Both subscribe to the broadcasts, a to chat c1 too; a ping after
	// them makes sure they are stored when its pong comes back.
	a.subscribe(t, ctx, "b", `subscription { messageBroadcast }`)
	a.subscribe(t, ctx, "c", `subscription { chat(chatId: "c1") { text } }`)
	b.subscribe(t, ctx, "b", `subscription { messageBroadcast }`)
	for _, cl := range []*gqlClient{a, b} {
		cl.send(t, ctx, map[string]any{"type": "ping"})
		cl.expect(t, ctx, message{Type: "pong"})
	}

	// A mutation over HTTP, through the HTTP function: the message it writes
	// reaches a through the messages table's stream and the messages
	// function. (The chat takes a message's author from the caller's
	// identity, never from an argument; without an authorizer an HTTP caller
	// has none.)
	resp := postGraphQL(t, ctx, httpURL, `mutation { sendMessage(chatId: "c1", text: "hello") { text } }`)
	if want := `{"data":{"sendMessage":{"text":"hello"}}}`; resp != want {
		t.Errorf("HTTP mutation answered %s, want %s", resp, want)
	}
	a.expect(t, ctx, message{ID: "c", Type: "next", Payload: `{"data":{"chat":{"text":"hello"}}}`})

	// A mutation over the socket: b gets its result, then both get the
	// broadcast.
	b.subscribe(t, ctx, "m", `mutation { broadcastMessage(message: "hi") }`)
	b.expect(t, ctx,
		message{ID: "m", Type: "next", Payload: `{"data":{"broadcastMessage":"hi"}}`},
		message{ID: "m", Type: "complete"},
		message{ID: "b", Type: "next", Payload: `{"data":{"messageBroadcast":"hi"}}`})
	a.expect(t, ctx, message{ID: "b", Type: "next", Payload: `{"data":{"messageBroadcast":"hi"}}`})

	// A query over the socket reads the message the HTTP mutation stored.
	a.subscribe(t, ctx, "q", `query { messages(chatId: "c1") { text } }`)
	a.expect(t, ctx,
		message{ID: "q", Type: "next", Payload: `{"data":{"messages":[{"text":"hello"}]}}`},
		message{ID: "q", Type: "complete"})

	// The broadcast went through the events table; the chat message did
	// not (change data capture delivered it).
	topics := map[string]int{}
	for _, item := range scan(t, client, tables.Events) {
		topics[str(item[dynamodb.EventAttrTopic])]++
	}
	if topics["MESSAGE_BROADCAST"] != 1 || len(topics) != 1 {
		t.Errorf("events by topic: %v, want one MESSAGE_BROADCAST and nothing else", topics)
	}

	// Closing the sockets sends $disconnect: the connection items go.
	a.conn.Close(websocket.StatusNormalClosure, "")
	b.conn.Close(websocket.StatusNormalClosure, "")
	// real-server wait: the function deletes them in an emulator's process,
	// in DynamoDB Local; only polling the table shows when.
	for deadline := time.Now().Add(15 * time.Second); countItems(t, client, tables.Connections) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connection items left after the clients closed", countItems(t, client, tables.Connections))
		}
	}

	stopGateway()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Errorf("gateway exited with %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway did not stop")
	}
}

// startEmulator runs the Runtime Interface Emulator with bootstrap as the
// function, GQLAMBDA_HANDLER=handler and env, on free loopback ports, until
// the test ends, and returns the URL of its Invoke API.
func startEmulator(t *testing.T, rie, bootstrap, handler string, env map[string]string) string {
	t.Helper()
	addr, runtimeAPI := freeAddr(t), freeAddr(t)
	cmd := exec.Command(rie, "--log-level", "error",
		"--runtime-interface-emulator-address", addr, "--runtime-api-address", runtimeAPI, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	// The emulator passes its environment on to the function: none of the
	// machine's AWS settings, the test's instead.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "GQLAMBDA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "GQLAMBDA_HANDLER="+handler)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The function runs as a child of the emulator and exits once the
	// emulator is gone; do not wait for its output for long.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Errorf("start the emulator: %v", err)
		return ""
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s function (emulator at %s):\n%s", handler, addr, out.String())
		}
	})
	// real-server wait: the emulator is another process; only dialling its
	// port shows that it listens.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Errorf("the %s emulator does not listen on %s: %v\n%s", handler, addr, err, out.String())
			return ""
		}
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// gatewayURLs waits for the gateway command to print its WebSocket and HTTP
// URLs.
func gatewayURLs(t *testing.T, out *syncBuffer, exited <-chan int) (ws, httpURL string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for line := range strings.Lines(out.String()) {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "WebSocket" {
				ws = f[1]
			}
			if len(f) == 2 && f[0] == "HTTP" {
				httpURL = f[1]
			}
		}
		if ws != "" && httpURL != "" {
			return ws, httpURL
		}
		select {
		case code := <-exited:
			t.Fatalf("the gateway exited with %d", code)
		case <-deadline:
			t.Fatalf("the gateway printed no URLs:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// scan returns the items of table.
func scan(t *testing.T, client *awsdynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	out, err := client.Scan(t.Context(), &awsdynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("scan %s: %v", table, err)
	}
	return out.Items
}

// countItems returns the number of items of table.
func countItems(t *testing.T, client *awsdynamodb.Client, table string) int {
	t.Helper()
	return len(scan(t, client, table))
}

// postGraphQL posts query to url and returns the response body.
func postGraphQL(t *testing.T, ctx context.Context, url, query string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s\n%s", url, resp.Status, b)
	}
	return compactJSON(t, b)
}

// compactJSON returns the JSON text b with sorted keys and no spaces.
func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%q is not JSON: %v", b, err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// message is a graphql-transport-ws message; Payload is compact JSON with
// sorted keys.
type message struct {
	ID      string
	Type    string
	Payload string
}

// gqlClient is a graphql-transport-ws client.
type gqlClient struct {
	conn *websocket.Conn
}

// dialGraphQL connects to url and initializes the connection.
func dialGraphQL(ctx context.Context, url string) (*gqlClient, error) {
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init"}); err != nil {
		conn.CloseNow()
		return nil, err
	}
	var ack struct{ Type string }
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack.Type != "connection_ack" {
		conn.CloseNow()
		return nil, fmt.Errorf("connection_init answered %q, %v; want connection_ack", ack.Type, err)
	}
	return &gqlClient{conn: conn}, nil
}

// send sends v.
func (c *gqlClient) send(t *testing.T, ctx context.Context, v any) {
	t.Helper()
	if err := wsjson.Write(ctx, c.conn, v); err != nil {
		t.Fatal(err)
	}
}

// subscribe sends a subscribe message.
func (c *gqlClient) subscribe(t *testing.T, ctx context.Context, id, query string) {
	t.Helper()
	c.send(t, ctx, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query}})
}

// expect reads messages until it has read every one of want, in any order
// (those of one id in order), and fails on any other.
func (c *gqlClient) expect(t *testing.T, ctx context.Context, want ...message) {
	t.Helper()
	for len(want) > 0 {
		var raw struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := wsjson.Read(ctx, c.conn, &raw); err != nil {
			t.Fatalf("waiting for %+v: %v", want, err)
		}
		m := message{ID: raw.ID, Type: raw.Type}
		if len(raw.Payload) > 0 {
			m.Payload = compactJSON(t, raw.Payload)
		}
		i := 0
		for i < len(want) && (want[i].ID != m.ID || want[i].Type != m.Type) {
			i++
		}
		if i == len(want) || earlierOfID(want[:i], m.ID) {
			t.Fatalf("received %+v, want %+v", m, want)
		}
		if want[i].Payload != m.Payload {
			t.Errorf("received %s %s with %s, want %s", m.ID, m.Type, m.Payload, want[i].Payload)
		}
		want = append(want[:i:i], want[i+1:]...)
	}
}

// earlierOfID reports whether msgs has a message of id.
func earlierOfID(msgs []message, id string) bool {
	for _, m := range msgs {
		if m.ID == id {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// createMessagesTableT creates the chat example's messages table.
func createMessagesTableT(t *testing.T, client *awsdynamodb.Client, name string) {
	t.Helper()
	if err := app.CreateMessagesTable(t.Context(), client, name); err != nil {
		t.Fatal(err)
	}
}
