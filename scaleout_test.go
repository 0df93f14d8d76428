package gqlambda_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/localsqs"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/memory"
	"github.com/gqlambda/gqlambda/workqueue"
)

// broadcastSchema is a schema with one subscription field,
// messageBroadcast, on topic.
func broadcastSchema(t testing.TB, topic string) graphql.Schema {
	t.Helper()
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"hello": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) { return "world", nil }},
	}})
	sub := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"messageBroadcast": &graphql.Field{
			Type:      graphql.String,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{topic}}),
			Resolve: func(p graphql.ResolveParams) (any, error) {
				m, _ := p.Source.(map[string]any)
				return m["message"], nil
			},
		},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: sub})
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// subscribeBroadcast stores n connections (c00, c01, …), each with
// subscription 1 to topic T's messageBroadcast.
func subscribeBroadcast(t *testing.T, st store.Store, n int) {
	t.Helper()
	ctx := t.Context()
	for i := range n {
		conn := fmt.Sprintf("c%02d", i)
		if err := st.CreateConnection(ctx, store.Connection{ID: conn, Protocol: "graphql-transport-ws"}); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSubscription(ctx, store.Subscription{ConnectionID: conn, ID: "1", Topics: []string{"T"},
			Query: "subscription { messageBroadcast }", Protocol: "graphql-transport-ws", Endpoint: "https://x/prod"}); err != nil {
			t.Fatal(err)
		}
	}
}

// localQueue starts an SQS emulator with a queue and its dead-letter queue
// (redrive after maxReceive receives, visibility 1 s) and returns a client
// and both URLs.
func localQueue(t testing.TB, maxReceive int) (*sqs.Client, string, string) {
	t.Helper()
	ts := httptest.NewServer(localsqs.New(nil))
	t.Cleanup(ts.Close)
	client := sqs.New(sqs.Options{
		BaseEndpoint: aws.String(ts.URL), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	ctx := context.Background()
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ranges-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ranges"), Attributes: map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, attrs.Attributes["QueueArn"], maxReceive),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return client, *q.QueueUrl, *dlq.QueueUrl
}

// TestScaleOut publishes to 250 subscriptions over a threshold of 100 in
// ranges of 30 through a local SQS queue and its event source mapping:
// every subscription gets the event once, a range whose posts fail twice
// is retried alone until done, a range with a post that always fails goes
// dead to the dead-letter queue and is replayed from there once the post
// succeeds, and a range message delivered again changes nothing.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	const topic, n = "T", 250
	st := memory.New(nil)
	ctx := t.Context()
	for i := range n {
		conn := fmt.Sprintf("c-%03d", i)
		if err := st.CreateConnection(ctx, store.Connection{ID: conn, Protocol: "graphql-transport-ws", Acknowledged: true}); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSubscription(ctx, store.Subscription{ConnectionID: conn, ID: "1", Topics: []string{topic},
			Query: "subscription { messageBroadcast }", Protocol: "graphql-transport-ws", Endpoint: "https://x.execute-api.eu-west-1.amazonaws.com/prod"}); err != nil {
			t.Fatal(err)
		}
	}
	rec := gatewaytest.NewRecorder()
	var mu sync.Mutex
	failing := map[string]int{"c-017": 2, "c-200": -1} // failures left; -1: always
	rec.Hook = func(_ context.Context, _, conn string, _ []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if left := failing[conn]; left != 0 {
			failing[conn] = left - 1
			return errors.New("500 InternalServerErrorException")
		}
		return nil
	}
	client, queueURL, dlqURL := localQueue(t, 3)
	var completions atomic.Int32
	srv, err := gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(broadcastSchema(t, topic), nil), Store: st, Sender: rec,
		ScaleOut: &gqlambda.ScaleOut{
			Queue: workqueue.New(client, queueURL), Threshold: 100, RangeSize: 30, MaxWorkers: 4, MaxReceiveCount: 3,
			CheckpointInterval: 50 * time.Millisecond,
			OnComplete:         func(context.Context, store.SplitStatus) { completions.Add(1) },
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	// Below the threshold: delivered by the publisher.
	small, err := srv.Publish(ctx, "small-topic", map[string]any{"message": "x"})
	if err != nil || small.Split != nil {
		t.Fatalf("Publish to a topic without subscriptions: want no split, got %+v, %v", small, err)
	}

	esmCtx, stop := context.WithCancel(ctx)
	esm := &localsqs.ESM{Client: client, QueueURL: queueURL, BatchSize: 1, MaxConcurrency: 4, Handler: srv.RangeHandler()}
	var wg sync.WaitGroup
	wg.Go(func() { esm.Run(esmCtx) })
	defer func() { stop(); wg.Wait() }()

	res, err := srv.Publish(ctx, topic, map[string]any{"message": "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Split == nil || res.Split.Ranges != 9 || res.Split.Subscriptions != n || res.Split.Workers != 4 || res.Delivered != 0 {
		t.Fatalf("Publish: want a split into 9 ranges of %d subscriptions for 4 workers, got %+v (split %+v)", n, res, res.Split)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	status, err := srv.WaitSplit(wctx, res.Split.ID, 20*time.Millisecond)
	if err != nil {
		t.Fatalf("WaitSplit: %v (last status %+v)", err, status)
	}
	if status.Done != 8 || status.Dead != 1 || status.Delivered != n-1 {
		t.Errorf("after the workers: want 8 ranges done, 1 dead, %d delivered, got %+v", n-1, status)
	}
	check := func(when string, poisonFrames int) {
		t.Helper()
		for i := range n {
			conn := fmt.Sprintf("c-%03d", i)
			want := 1
			if conn == "c-200" {
				want = poisonFrames
			}
			if got := len(rec.Frames(conn)); got != want {
				t.Errorf("%s: %s got %d frames, want %d", when, conn, got, want)
			}
		}
	}
	check("after the workers", 0)
	if got := completions.Load(); got != 1 {
		t.Errorf("OnComplete calls after the workers: want 1, got %d", got)
	}

	// The dead range is in the dead-letter queue; replayed once the post
	// succeeds, it delivers to c-200 only.
	mu.Lock()
	failing["c-200"] = 0
	mu.Unlock()
	// The dead range's message reaches the dead-letter queue when it is
	// received after its last visibility timeout.
	moved := 0
	for redriveBy := time.Now().Add(30 * time.Second); moved == 0 && err == nil && time.Now().Before(redriveBy); {
		moved, err = workqueue.Redrive(ctx, client, dlqURL, queueURL, 0)
	}
	if err != nil || moved != 1 {
		t.Fatalf("Redrive: want 1 message moved, got %d, %v", moved, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for status.Dead > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if status, err = srv.WaitSplit(wctx, res.Split.ID, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if status.Done != 9 || status.Dead != 0 || status.Delivered != n {
		t.Errorf("after the replay: want 9 ranges done, %d delivered, got %+v", n, status)
	}
	check("after the replay", 1)

	// SQS delivering a range again: the worker finds it done.
	if err := workqueue.New(client, queueURL).SendRanges(ctx, []gqlambda.RangeTask{{Split: res.Split.ID, Index: 0, Topic: topic,
		Payload: []byte(`{"message":"hello"}`), Range: store.Range{Through: "30", Size: 30}}}); err != nil {
		t.Fatal(err)
	}
	// Until the worker deleted the message.
	for empty := false; !empty; {
		if time.Now().After(deadline) {
			t.Fatal("the duplicate message was not consumed within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
		a, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &queueURL, AttributeNames: []sqstypes.QueueAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		empty = a.Attributes["ApproximateNumberOfMessages"] == "0" && a.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	}
	check("after a duplicate message", 1)
}

// rangeRecorder is a RangeQueue that keeps what it is sent.
type rangeRecorder struct {
	mu    sync.Mutex
	tasks []gqlambda.RangeTask
}

func (q *rangeRecorder) SendRanges(_ context.Context, tasks []gqlambda.RangeTask) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, tasks...)
	return nil
}

// TestScaleOutDeliverOnce: an event that its source delivers twice is split
// once (the second Deliver gets the sealed split back, nothing is sent
// again), and a range delivered twice reaches its subscriptions once.
func TestScaleOutDeliverOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := memory.New(nil)
	subscribeBroadcast(t, st, 50)
	q := &rangeRecorder{}
	rec := gatewaytest.NewRecorder()
	srv, err := gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(broadcastSchema(t, "T"), nil), Store: st, Sender: rec,
		ScaleOut: &gqlambda.ScaleOut{Queue: q, Threshold: 10, RangeSize: 10}})
	if err != nil {
		t.Fatal(err)
	}
	ev := store.Event{ID: "event-1", Topic: "T", Payload: []byte(`{"message":"m"}`)}
	first, err := srv.Deliver(ctx, ev)
	if err != nil || first.Split == nil || first.Split.ID != "event-1" || first.Split.Ranges != 5 || first.Split.Pending != 5 {
		t.Fatalf("Deliver: want a split event-1 of 5 pending ranges, got %+v (%+v), %v", first, first.Split, err)
	}
	again, err := srv.Deliver(ctx, ev)
	if err != nil || again.Split == nil || again.Split.Ranges != 5 || len(q.tasks) != 5 {
		t.Fatalf("Deliver again: want the same split and no range sent again, got %+v, %d tasks sent, %v", again.Split, len(q.tasks), err)
	}
	for round := range 2 {
		for _, task := range q.tasks {
			if _, err := srv.DeliverRange(ctx, task, 1); err != nil {
				t.Fatalf("round %d: DeliverRange %d: %v", round, task.Index, err)
			}
		}
	}
	for i := range 50 {
		if got := len(rec.Frames(fmt.Sprintf("c%02d", i))); got != 1 {
			t.Errorf("c%02d: %d frames, want 1", i, got)
		}
	}
	status, err := srv.WaitSplit(ctx, "event-1", time.Millisecond)
	if err != nil || status.Done != 5 || status.Delivered != 50 {
		t.Errorf("WaitSplit: want 5 ranges done, 50 delivered, got %+v, %v", status, err)
	}
}

// TestScaleOutConfig: ScaleOut needs a queue and a store with ranges.
func TestScaleOutConfig(t *testing.T) {
	t.Parallel()
	engine := graphqlgo.New(broadcastSchema(t, "T"), nil)
	if _, err := gqlambda.New(gqlambda.Config{Engine: engine, Store: memory.New(nil), ScaleOut: &gqlambda.ScaleOut{}}); err == nil {
		t.Error("ScaleOut without Queue: want an error, got nil")
	}
	type plainStore struct{ store.Store }
	_, err := gqlambda.New(gqlambda.Config{Engine: engine, Store: plainStore{memory.New(nil)}, ScaleOut: &gqlambda.ScaleOut{Queue: &rangeRecorder{}}})
	if !errors.Is(err, gqlambda.ErrScaleOutStore) {
		t.Errorf("ScaleOut on a store without ranges: want ErrScaleOutStore, got %v", err)
	}
}

// hangingRanges is a store whose range reads, once hang is set, and whose
// reads of a topic's ranges, once hangTopic is set, answer nothing until
// their context ends.
type hangingRanges struct {
	*memory.Store
	hang, hangTopic, hangSeal atomic.Bool
}

// SealSplit answers nothing until its context ends, once hangSeal is set.
func (h *hangingRanges) SealSplit(ctx context.Context, id string, ranges int, expiresAt time.Time) (store.SplitStatus, error) {
	if !h.hangSeal.Load() {
		return h.Store.SealSplit(ctx, id, ranges, expiresAt)
	}
	<-ctx.Done()
	return store.SplitStatus{}, ctx.Err()
}

func (h *hangingRanges) TopicRanges(ctx context.Context, topic string, size int) iter.Seq2[store.Range, error] {
	if !h.hangTopic.Load() {
		return h.Store.TopicRanges(ctx, topic, size)
	}
	return func(yield func(store.Range, error) bool) {
		<-ctx.Done()
		yield(store.Range{}, ctx.Err())
	}
}

func (h *hangingRanges) RangeSubscriptions(ctx context.Context, topic string, r store.Range) iter.Seq2[store.Subscription, error] {
	if !h.hang.Load() {
		return h.Store.RangeSubscriptions(ctx, topic, r)
	}
	return func(yield func(store.Subscription, error) bool) {
		<-ctx.Done()
		yield(store.Subscription{}, ctx.Err())
	}
}

// TestScaleOutRangeStoreHangs: a range whose read hangs fails within
// Limits.StoreTimeout with ErrStoreTimeout, and is released for a retry,
// instead of holding its worker; so does a Publish whose read of the
// topic's ranges hangs, instead of holding its caller.
func TestScaleOutRangeStoreHangs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := &hangingRanges{Store: memory.New(nil)}
	subscribeBroadcast(t, st, 20)
	q := &rangeRecorder{}
	const timeout = 100 * time.Millisecond
	// A call the timeout did not bound would hang until the test's own
	// deadline; bound leaves a loaded runner room above the timeout.
	const bound = 3 * time.Second
	srv, err := gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(broadcastSchema(t, "T"), nil), Store: st, Sender: gatewaytest.NewRecorder(),
		ScaleOut: &gqlambda.ScaleOut{Queue: q, Threshold: 10, RangeSize: 10}, Limits: gqlambda.Limits{StoreTimeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := srv.Publish(ctx, "T", map[string]any{"message": "m"}); err != nil || res.Split == nil || len(q.tasks) != 2 {
		t.Fatalf("Publish: want a split of 2 ranges, got %+v, %d tasks, %v", res, len(q.tasks), err)
	}
	st.hang.Store(true)
	began := time.Now()
	_, err = srv.DeliverRange(ctx, q.tasks[0], 1)
	if took := time.Since(began); took > bound {
		t.Errorf("DeliverRange took %v with a store that hangs, want about %v", took, timeout)
	}
	if !errors.Is(err, gqlambda.ErrStoreTimeout) {
		t.Errorf("DeliverRange: want ErrStoreTimeout, got %v", err)
	}

	st.hangTopic.Store(true)
	began = time.Now()
	_, err = srv.Publish(ctx, "T", map[string]any{"message": "m"})
	if took := time.Since(began); took > bound {
		t.Errorf("Publish took %v with a store whose ranges hang, want about %v", took, timeout)
	}
	if !errors.Is(err, gqlambda.ErrStoreTimeout) {
		t.Errorf("Publish: want ErrStoreTimeout, got %v", err)
	}

	// The split log's calls are bounded and marked the same way.
	st.hangTopic.Store(false)
	st.hangSeal.Store(true)
	began = time.Now()
	_, err = srv.Publish(ctx, "T", map[string]any{"message": "m"})
	if took := time.Since(began); took > bound {
		t.Errorf("Publish took %v with a split log that hangs, want about %v", took, timeout)
	}
	if !errors.Is(err, gqlambda.ErrStoreTimeout) {
		t.Errorf("Publish with a split log that hangs: want ErrStoreTimeout, got %v", err)
	}
}

// TestScaleOutReadsOnce: a Publish to a topic of at most one range reads
// its subscriptions once and delivers them, without reading its ranges; a
// larger one below the threshold stops that read after one range, counts
// its keys and is read again to be delivered directly; above the threshold
// it splits. A read that fails within the first range delivers what it
// read and reports the error, as a direct fan-out does.
func TestScaleOutReadsOnce(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name                             string
		subs, failAfter                  int
		split                            bool
		delivered, subsReads, rangeReads int
		wantErr                          error
	}{
		{name: "within a range", subs: 3, delivered: 3, subsReads: 1},
		{name: "one full range", subs: 4, delivered: 4, subsReads: 1},
		{name: "more than a range, below the threshold", subs: 7, delivered: 7, subsReads: 2, rangeReads: 1},
		{name: "at the threshold", subs: 10, delivered: 10, subsReads: 2, rangeReads: 1},
		{name: "above the threshold", subs: 11, split: true, subsReads: 1, rangeReads: 1},
		{name: "a read that fails", subs: 3, failAfter: 2, delivered: 2, subsReads: 1, wantErr: errReadFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := &countingStore{Store: memory.New(nil), failTopicAfter: tt.failAfter}
			subscribeBroadcast(t, st, tt.subs)
			rec := gatewaytest.NewRecorder()
			q := &rangeRecorder{}
			srv, err := gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(broadcastSchema(t, "T"), nil), Store: st, Sender: rec,
				ScaleOut: &gqlambda.ScaleOut{Queue: q, Threshold: 10, RangeSize: 4}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Publish(t.Context(), "T", map[string]any{"message": "m"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Publish: want error %v, got %v", tt.wantErr, err)
			}
			if (res.Split != nil) != tt.split {
				t.Errorf("Publish split %v, want %v", res.Split != nil, tt.split)
			}
			got := 0
			for i := range tt.subs {
				got += len(rec.Frames(fmt.Sprintf("c%02d", i)))
			}
			if got != tt.delivered || res.Delivered != tt.delivered {
				t.Errorf("%d posts, %d delivered; want %d", got, res.Delivered, tt.delivered)
			}
			if n := int(st.topicReads.Load()); n != tt.subsReads {
				t.Errorf("the topic's subscriptions were read %d times, want %d", n, tt.subsReads)
			}
			if n := int(st.rangeReads.Load()); n != tt.rangeReads {
				t.Errorf("the topic's ranges were read %d times, want %d", n, tt.rangeReads)
			}
			if tt.split && len(q.tasks) != 3 {
				t.Errorf("%d ranges sent, want 3 (11 subscriptions in ranges of 4)", len(q.tasks))
			}
		})
	}
}
