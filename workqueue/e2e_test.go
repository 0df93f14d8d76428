package workqueue_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/internal/scaleapp"
	"github.com/gqlambda/gqlambda/localsqs"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/workqueue"
)

// envWorker, set to 1, makes the test binary a worker process of
// TestScaleOutProcesses instead of running tests.
const envWorker = "GQLAMBDA_SCALE_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(envWorker) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		level := slog.LevelWarn
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
		if err := scaleapp.RunWorker(ctx, scaleapp.FromEnv(), log); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sink is an @connections endpoint that counts the posts answered 200 per
// connection, failing posts to ids ending in "f" (flaky) the first 8 times
// (one Post's every attempt by apigw, so the range fails once) and to ids
// ending in "p" (poisoned) while poisoned.
type sink struct {
	mu       sync.Mutex
	ok       map[string]int
	attempts map[string]int
	poisoned bool
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, id, ok := strings.Cut(r.URL.Path, "/@connections/")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[id]++
	if strings.HasSuffix(id, "f") && s.attempts[id] <= 8 || strings.HasSuffix(id, "p") && s.poisoned {
		w.Header().Set("x-amzn-ErrorType", "InternalServerErrorException")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"message":"Internal server error"}`))
		return
	}
	s.ok[id]++
}

// TestScaleOutProcesses runs the scale-out path as on AWS, with local
// components: DynamoDB Local, a local SQS queue with its dead-letter queue,
// three worker processes each running the event source mapping with
// Server.RangeHandler and posting through apigw behind the shared throttle,
// and an @connections sink. A publish to 2,000 subscriptions split into 20
// ranges reaches each subscription exactly once; the range with a flaky
// connection is retried alone; the range with a poisoned connection goes to
// the dead-letter queue after 3 receives, and a replay from there delivers
// to that connection only.
func TestScaleOutProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	client := dynamotest.Client(t)
	ctx := t.Context()
	_, endpoint := dynamotest.Config(t)
	cfg := scaleapp.Config{DynamoDB: endpoint, TablePrefix: dynamotest.Prefix(t), Rate: 2000, Threshold: 500, RangeSize: 100,
		MaxReceive: 3, FanOut: 64, MaxWorkers: 3, Concurrency: 2, CheckpointMs: 200}
	if err := dynamodb.CreateTables(ctx, client, cfg.Tables()); err != nil {
		t.Fatal(err)
	}
	// Closed after the workers stopped (cleanups run last first).
	sqsServer := httptest.NewServer(localsqs.New(nil))
	t.Cleanup(sqsServer.Close)
	cfg.SQS = sqsServer.URL
	sqsClient := cfg.SQSClient()
	queueURL, dlqURL, err := scaleapp.CreateQueues(ctx, sqsClient, "ranges", cfg.MaxReceive, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QueueURL = queueURL

	sk := &sink{ok: map[string]int{}, attempts: map[string]int{}, poisoned: true}
	sinkServer := httptest.NewServer(sk)
	t.Cleanup(sinkServer.Close)

	// The subscriptions, as the WebSocket handler stores them.
	const n = 2000
	st := dynamodb.New(client, &dynamodb.Options{Tables: cfg.Tables()})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%04dc", i)
	}
	// Same length, so that they sort among the others, in two ranges.
	ids[777], ids[1555] = "0777f", "1555p"
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := st.CreateConnection(ctx, store.Connection{ID: id, Endpoint: sinkServer.URL + "/stage", Protocol: "graphql-transport-ws"}); err != nil {
				errs <- err
				return
			}
			if err := st.CreateSubscription(ctx, store.Subscription{ConnectionID: id, ID: "1", Topics: []string{scaleapp.Topic},
				Query: scaleapp.Query, Endpoint: sinkServer.URL + "/stage", Protocol: "graphql-transport-ws"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Three worker processes.
	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), envWorker+"=1"), cfg.Env()...)
		cmd.Stderr = &prefixWriter{t: t, prefix: fmt.Sprintf("worker %d: ", i)}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
	}

	srv, _, err := cfg.Server(slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Publish(ctx, scaleapp.Topic, map[string]any{"message": "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Split == nil || res.Split.Ranges != 20 || res.Split.Subscriptions != n || res.Split.Workers != 3 {
		t.Fatalf("Publish: want a split of %d subscriptions into 20 ranges for 3 workers, got %+v (%+v)", n, res, res.Split)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	status, err := srv.WaitSplit(wctx, res.Split.ID, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("WaitSplit: %v (last status %+v)", err, status)
	}
	if status.Done != 19 || status.Dead != 1 || status.Delivered != n-1 {
		t.Errorf("after the workers: want 19 ranges done, 1 dead, %d delivered, got %+v", n-1, status)
	}
	check := func(when string, poison int) {
		t.Helper()
		sk.mu.Lock()
		defer sk.mu.Unlock()
		for _, id := range ids {
			want := 1
			if id == "1555p" {
				want = poison
			}
			if got := sk.ok[id]; got != want {
				t.Errorf("%s: %s delivered %d times, want %d", when, id, got, want)
			}
		}
		if sk.attempts["0777f"] <= 8 {
			t.Errorf("%s: 0777f was posted %d times: its range was not retried", when, sk.attempts["0777f"])
		}
	}
	check("after the workers", 0)

	sk.mu.Lock()
	sk.poisoned = false
	sk.mu.Unlock()
	// The dead range's message reaches the dead-letter queue when it is
	// received after its last visibility timeout.
	moved := 0
	for moved == 0 && err == nil && wctx.Err() == nil {
		moved, err = workqueue.Redrive(wctx, sqsClient, dlqURL, queueURL, 0)
	}
	if err != nil || moved != 1 {
		t.Fatalf("Redrive: want 1 message moved from the dead-letter queue, got %d, %v", moved, err)
	}
	for status.Dead > 0 && wctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		if status, err = srv.WaitSplit(wctx, res.Split.ID, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if status.Done != 20 || status.Dead != 0 || status.Delivered != n {
		t.Errorf("after the replay: want 20 ranges done, %d delivered, got %+v", n, status)
	}
	check("after the replay", 1)
}

// prefixWriter logs a worker's standard error through t.
type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		w.t.Log(w.prefix + strings.TrimRight(line, "\n"))
	}
	return len(p), nil
}
