package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket/wsjson"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/internal/leakcheck"
	"github.com/gqlambda/gqlambda/internal/servertest"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// envCrashGateway carries, to the process TestCrashGatewayProcess runs in,
// the arguments of the gateway command it serves, tab-separated.
const envCrashGateway = "GQLAMBDA_TEST_GATEWAY_ARGS"

// TestCrashGatewayProcess is not a test: it is the gateway process of
// TestSweepAfterGatewayCrash, which starts the test binary again with
// envCrashGateway set and kills it with SIGKILL.
func TestCrashGatewayProcess(t *testing.T) {
	args := os.Getenv(envCrashGateway)
	if args == "" {
		t.Skip("the gateway process of TestSweepAfterGatewayCrash, started by it")
	}
	c := cli{stdout: os.Stdout, stderr: os.Stderr, stdin: strings.NewReader(""), getenv: os.Getenv}
	os.Exit(c.run(context.Background(), strings.Split(args, "\t")))
}

// gatewayProcess is `gqlambda gateway` running in a process of its own.
type gatewayProcess struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan int
	ws     string
}

// startGatewayProcess starts the gateway at addr in front of the Invoke
// API at lambdaURL and waits for it to listen.
func startGatewayProcess(t *testing.T, addr, lambdaURL string) *gatewayProcess {
	t.Helper()
	args := []string{"gateway", "-addr", addr, "-lambda", lambdaURL, "-concurrency", "0", "-log-level", "warn"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashGatewayProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashGateway+"="+strings.Join(args, "\t"), "AWS_REGION=us-east-1")
	p := &gatewayProcess{cmd: cmd, out: &syncBuffer{}, exited: make(chan int, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		p.exited <- cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		p.exited <- -1
	})
	p.ws = waitWebSocketURL(t, p.out, p.exited)
	return p
}

// kill ends the gateway process with SIGKILL, as kill -9 does: it sends
// no $disconnect, and its clients' sockets die with it.
func (p *gatewayProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	code := <-p.exited
	p.exited <- code
}

// waitWebSocketURL waits for the gateway to print its WebSocket URL.
func waitWebSocketURL(t *testing.T, out *syncBuffer, exited chan int) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		for line := range strings.Lines(out.String()) {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "WebSocket" {
				return f[1]
			}
		}
		select {
		case code := <-exited:
			exited <- code
			t.Fatalf("the gateway exited with %d:\n%s", code, out.String())
		case <-deadline:
			t.Fatalf("the gateway printed no WebSocket URL:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// invokeHandler serves the Lambda Invoke API of a WebSocket function that
// runs srv's handler in this process, and records the ids of the
// connections it accepted.
type invokeHandler struct {
	srv *gqlambda.Server

	mu        sync.Mutex
	connected []string
}

func (h *invokeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev events.APIGatewayWebsocketProxyRequest
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := h.srv.WebSocketHandler(r.Context(), ev)
	if err != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		json.NewEncoder(w).Encode(map[string]string{"errorMessage": err.Error()})
		return
	}
	if ev.RequestContext.RouteKey == "$connect" && resp.StatusCode == http.StatusOK {
		h.mu.Lock()
		h.connected = append(h.connected, ev.RequestContext.ConnectionID)
		h.mu.Unlock()
	}
	json.NewEncoder(w).Encode(resp)
}

// takeConnected returns the connections accepted since the last call.
func (h *invokeHandler) takeConnected() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := h.connected
	h.connected = nil
	return ids
}

// sweepRun is one sweep of the test's schedule.
type sweepRun struct {
	start, end time.Time
	res        gqlambda.SweepResult
	err        error
}

// TestSweepAfterGatewayCrash is the crash test of docs/liveness.md: 200
// subscribed clients on the local gateway, in a process of its own, with
// the WebSocket function and a sweeper on a schedule in this one and the
// state in DynamoDB Local. The gateway is killed with SIGKILL, so no
// $disconnect reaches the function, and started again on the same address.
// The first sweep after the restart (so within one sweep interval of it)
// leaves no row of the 200; a publish then posts to the live clients only;
// and no sweep ever removes a live client.
func TestSweepAfterGatewayCrash(t *testing.T) {
	awsCfg, _ := dynamotest.Config(t)
	if testing.Short() {
		t.Skip("runs the gateway in a process of its own, with 220 clients")
	}
	const (
		crashed  = 200
		live     = 20
		interval = 3 * time.Second
	)
	client := dynamotest.Client(t)
	tables := dynamodb.PrefixedTables(dynamotest.Prefix(t))
	if err := dynamodb.CreateTables(t.Context(), client, tables); err != nil {
		t.Fatal(err)
	}
	env := &servertest.Env{Prefix: dynamotest.Prefix(t)}
	schema, err := servertest.GraphQLGo(env)
	if err != nil {
		t.Fatal(err)
	}
	var (
		errMu sync.Mutex
		errs  []string
	)
	srv, err := gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(schema, nil),
		Store:  dynamodb.New(client, &dynamodb.Options{Tables: tables}),
		// The @connections client of production, signing its calls, on the
		// endpoint the gateway's events name.
		Sender:   apigw.New(apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) { o.HTTPClient = leakcheck.HTTPClient(t) }), nil),
		Liveness: gqlambda.Liveness{IdleAfter: time.Second, InitTimeout: 10 * time.Second},
		Hooks: gqlambda.Hooks{OnError: func(_ context.Context, err error) {
			errMu.Lock()
			errs = append(errs, err.Error())
			errMu.Unlock()
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fn := &invokeHandler{srv: srv}
	lambdaAPI := httptest.NewServer(fn)
	defer lambdaAPI.Close()

	addr := freeAddr(t)
	gw := startGatewayProcess(t, addr, lambdaAPI.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	// subscribeAll connects n clients, each subscribed to the messages
	// topic; the pong after the subscribe says it is stored.
	subscribeAll := func(url string, n int) []*gqlClient {
		clients := make([]*gqlClient, n)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i := range clients {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c, err := dialGraphQL(ctx, url)
				if err != nil {
					t.Error(err)
					return
				}
				clients[i] = c
				for _, m := range []map[string]any{
					{"id": "s", "type": "subscribe", "payload": map[string]any{"query": `subscription { messages { text } }`}},
					{"type": "ping"},
				} {
					if err := wsjson.Write(ctx, c.conn, m); err != nil {
						t.Error(err)
						return
					}
				}
				var pong struct{ Type string }
				if err := wsjson.Read(ctx, c.conn, &pong); err != nil || pong.Type != "pong" {
					t.Errorf("after subscribe and ping: %q, %v; want pong", pong.Type, err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		return clients
	}
	first := subscribeAll(gw.ws, crashed)
	dead := fn.takeConnected()
	if len(dead) != crashed {
		t.Fatalf("%d connections accepted, want %d", len(dead), crashed)
	}
	if n := rowsOf(t, client, tables, dead); n != 2*crashed {
		t.Fatalf("%d rows of the %d clients before the crash, want %d (a connection and a subscription each)", n, crashed, 2*crashed)
	}

	// The schedule: a sweep every interval, started whether or not the
	// previous one is over, as a scheduler invokes a function.
	var (
		runMu  sync.Mutex
		starts []time.Time          // of each sweep, in order
		ended  = map[int]sweepRun{} // by index in starts
	)
	sweepCtx, stopSweeping := context.WithCancel(ctx)
	var sweeping sync.WaitGroup
	sweeping.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			var r sweepRun
			select {
			case <-sweepCtx.Done():
				return
			case ts := <-tick.C:
				r = sweepRun{start: ts} // the tick's time: a late wake-up is the runner's, not the sweeper's
			}
			runMu.Lock()
			i := len(starts)
			starts = append(starts, r.start)
			runMu.Unlock()
			sweeping.Go(func() {
				r.res, r.err = srv.Sweep(sweepCtx)
				r.end = time.Now()
				runMu.Lock()
				ended[i] = r
				runMu.Unlock()
			})
		}
	})
	defer func() {
		stopSweeping()
		sweeping.Wait()
	}()
	// await calls ready under runMu every 50 ms until it reports true; the
	// test fails, saying what it waited for, if ctx ends first.
	await := func(what string, ready func() bool) {
		t.Helper()
		for {
			runMu.Lock()
			ok := ready()
			runMu.Unlock()
			if ok {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waited in vain for %s: %v", what, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// waitSweep waits for the end of the first sweep that starts after
	// since.
	waitSweep := func(what string, since time.Time) sweepRun {
		t.Helper()
		var r sweepRun
		await(fmt.Sprintf("%s: a sweep that started after %v to end", what, since), func() bool {
			var done bool
			r, done = ended[slices.IndexFunc(starts, func(s time.Time) bool { return s.After(since) })]
			return done
		})
		if r.err != nil {
			t.Fatalf("%s: sweep: %v", what, r.err)
		}
		return r
	}
	// waitSweepsBefore waits for the end of every sweep that started
	// before t0.
	waitSweepsBefore := func(t0 time.Time) {
		t.Helper()
		await(fmt.Sprintf("every sweep that started before %v to end", t0), func() bool {
			for i, s := range starts {
				if _, done := ended[i]; !done && s.Before(t0) {
					return false
				}
			}
			return true
		})
	}

	// While the clients are connected, the sweeps find them idle and alive.
	checked := 0
	for since := time.Now(); checked < crashed; {
		r := waitSweep("before the crash", since)
		if r.res.Gone+r.res.InitTimedOut+r.res.PongMissed > 0 {
			t.Fatalf("a sweep removed live clients: %+v", r.res)
		}
		checked += r.res.Alive
		since = r.end
	}
	if n := rowsOf(t, client, tables, dead); n != 2*crashed {
		t.Fatalf("%d rows of the live clients after sweeps, want %d", n, 2*crashed)
	}

	// The crash, and the restart on the same address.
	gw.kill(t)
	for _, c := range first {
		c.conn.CloseNow()
	}
	gw = startGatewayProcess(t, addr, lambdaAPI.URL)
	restarted := time.Now()
	others := subscribeAll(gw.ws, live)
	defer func() {
		for _, c := range others {
			c.conn.CloseNow()
		}
	}()
	alive := fn.takeConnected()

	// The test schedules the sweeps itself (a tick every interval), so the
	// first one after the restart starts within one interval of it.
	r := waitSweep("after the restart", restarted)
	t.Logf("first sweep after the restart: %+v in %v, %v after the restart", r.res, r.end.Sub(r.start), r.end.Sub(restarted))
	// On a loaded runner a sweep can outlast the interval, so one that
	// began before the restart may still be deleting some of the crashed
	// clients' rows while the first one after it ends: wait for those too.
	waitSweepsBefore(restarted)
	if n := rowsOf(t, client, tables, dead); n != 0 {
		t.Fatalf("%d rows of the %d crashed clients left after the first sweep after the restart, want none", n, crashed)
	}
	if n := rowsOf(t, client, tables, alive); n != 2*live {
		t.Fatalf("%d rows of the %d live clients, want %d", n, live, 2*live)
	}

	// A publish posts to the live clients only.
	res, err := srv.Publish(ctx, env.MessagesTopic(), map[string]any{"id": "1", "room": "r", "text": "after the crash"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != live || res.Delivered != live || res.Gone != 0 || res.Failed != 0 {
		t.Fatalf("publish after the sweep: %+v; want %d matched and delivered, none gone or failed", res, live)
	}
	for _, c := range others {
		c.expect(t, ctx, message{ID: "s", Type: "next", Payload: `{"data":{"messages":{"text":"after the crash"}}}`})
	}

	// The live clients, idle now, are checked and kept.
	for since, seen := time.Now(), 0; seen < live; {
		r := waitSweep("after the publish", since)
		if r.res.Gone+r.res.InitTimedOut+r.res.PongMissed > 0 {
			t.Fatalf("a sweep removed live clients: %+v", r.res)
		}
		seen += r.res.Alive
		since = r.end
	}
	if n := rowsOf(t, client, tables, alive); n != 2*live {
		t.Fatalf("%d rows of the %d live clients after the sweeps, want %d", n, live, 2*live)
	}
	errMu.Lock()
	defer errMu.Unlock()
	for _, e := range errs {
		// While the gateway was down (or being killed), a GET found no
		// server; nothing else may fail.
		if !strings.Contains(e, "connection refused") && !strings.Contains(e, "connection reset") && !strings.Contains(e, "EOF") {
			t.Errorf("OnError: %s", e)
		}
	}
}

// rowsOf counts the items of the connections and subscriptions tables
// that belong to the connections ids.
func rowsOf(t *testing.T, client *awsdynamodb.Client, tables dynamodb.Tables, ids []string) int {
	t.Helper()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	n := 0
	for _, it := range scanAll(t, client, tables.Connections) {
		if want[str(it[dynamodb.AttrID])] {
			n++
		}
	}
	for _, it := range scanAll(t, client, tables.Subscriptions) {
		if want[str(it[dynamodb.AttrConnectionID])] {
			n++
		}
	}
	return n
}

// scanAll reads every item of table, page after page, consistently: a
// check of what a test left, on a table of its own.
func scanAll(t *testing.T, client *awsdynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	in := &awsdynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)}
	var items []map[string]types.AttributeValue
	for {
		out, err := client.Scan(t.Context(), in)
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
