//go:build unix

package dynamodb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// connectionsSink is a local @connections API: it answers every POST
// /bench/@connections/{id} with 200 after latency, and counts the posts per
// connection id and those that carry the current marker.
type connectionsSink struct {
	latency atomic.Int64 // time.Duration
	marker  atomic.Pointer[string]

	mu     sync.Mutex
	posts  int
	marked int
	ids    map[string]int
	bad    []string
	first  time.Time // when the first post since the last reset arrived
}

func (s *connectionsSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	id, ok := strings.CutPrefix(r.URL.Path, "/bench/@connections/")
	if err != nil || !ok || r.Method != http.MethodPost || id == "" {
		s.mu.Lock()
		s.bad = append(s.bad, fmt.Sprintf("%s %s (%v)", r.Method, r.URL.Path, err))
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if d := time.Duration(s.latency.Load()); d > 0 {
		// real-server wait: the benchmark measures wall time per post with
		// an @connections round trip's latency, over real sockets; a
		// bubble's virtual clock would measure nothing.
		time.Sleep(d)
	}
	marked := false
	if m := s.marker.Load(); m != nil {
		marked = bytes.Contains(body, []byte(*m))
	}
	s.mu.Lock()
	if s.posts == 0 {
		s.first = time.Now()
	}
	s.posts++
	s.ids[id]++
	if marked {
		s.marked++
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// reset zeroes the counters and sets the marker the next posts must carry.
func (s *connectionsSink) reset(marker string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts, s.marked, s.ids, s.bad, s.first = 0, 0, make(map[string]int), nil, time.Time{}
	s.marker.Store(&marker)
}

// check reports whether every one of n connections got exactly one post
// carrying the marker since the last reset.
func (s *connectionsSink) check(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(s.bad) > 0:
		return fmt.Errorf("sink: %d unexpected requests, first %s", len(s.bad), s.bad[0])
	case s.posts != n || len(s.ids) != n:
		return fmt.Errorf("sink: %d posts to %d connections, want %d to %d", s.posts, len(s.ids), n, n)
	case s.marked != n:
		return fmt.Errorf("sink: %d of %d posts carry this publish's marker", s.marked, n)
	}
	return nil
}

// fanOutEnv is a server on the DynamoDB store of DynamoDB Local with the
// production apigw.Client posting to a local sink.
type fanOutEnv struct {
	srv   *gqlambda.Server
	sink  *connectionsSink
	topic string
}

// newFanOutEnv creates fresh tables and n subscriptions to one topic,
// each through WebSocketHandler as API Gateway would send its events:
// $connect, connection_init, subscribe.
func newFanOutEnv(b *testing.B, n int) *fanOutEnv {
	b.Helper()
	client := dynamotest.Client(b)
	awsCfg, _ := dynamotest.Config(b)
	ctx := b.Context()
	p := dynamotest.Prefix(b)
	tables := dynamodb.PrefixedTables(p)
	if err := dynamodb.CreateTables(ctx, client, tables); err != nil {
		b.Fatal(err)
	}

	sink := &connectionsSink{ids: make(map[string]int)}
	hs := httptest.NewServer(sink)
	b.Cleanup(hs.Close)
	// Every connection to the sink stays open between posts and publishes,
	// as a warm Lambda's would.
	hc := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     time.Minute,
	}}
	b.Cleanup(hc.CloseIdleConnections)

	const topic = "messageBroadcast"
	var serverErrs atomic.Int64
	srv := newBenchServer(b, dynamodb.New(client, &dynamodb.Options{Tables: tables}),
		apigw.New(apigatewaymanagementapi.NewFromConfig(awsCfg), &apigw.Options{HTTPClient: hc}), hs.URL+"/bench",
		func(err error) {
			if serverErrs.Add(1) <= 3 {
				b.Error(err)
			}
		})

	subscribe, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "1",
		"payload": map[string]any{"query": "subscription { messageBroadcast }"}})
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n) && !b.Failed(); i = next.Add(1) - 1 {
				id := fmt.Sprintf("conn-%05d=", i)
				for _, ev := range []events.APIGatewayWebsocketProxyRequest{
					wsEvent(id, "CONNECT", "$connect", ""),
					wsEvent(id, "MESSAGE", "$default", `{"type":"connection_init","payload":{}}`),
					wsEvent(id, "MESSAGE", "$default", string(subscribe)),
				} {
					resp, err := srv.WebSocketHandler(ctx, ev)
					if err != nil || resp.StatusCode != http.StatusOK {
						b.Errorf("%s %s: status %d, %v", ev.RequestContext.RouteKey, id, resp.StatusCode, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	stored := 0
	for _, err := range dynamodb.New(client, &dynamodb.Options{Tables: tables}).TopicSubscriptions(ctx, topic) {
		if err != nil {
			b.Fatal(err)
		}
		stored++
	}
	if stored != n {
		b.Fatalf("%d subscriptions stored, want %d", stored, n)
	}
	return &fanOutEnv{srv: srv, sink: sink, topic: topic}
}

// newBenchServer returns the harness's server: subscription {
// messageBroadcast } on the topic of that name, graphql-go, on st, posting
// with sender, every error passed to onError.
func newBenchServer(b *testing.B, st *dynamodb.Store, sender gateway.Sender, endpoint string, onError func(error)) *gqlambda.Server {
	b.Helper()
	const topic = "messageBroadcast"
	schema, err := graphql.NewSchema(graphql.SchemaConfig{
		Query: graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
			"ok": &graphql.Field{Type: graphql.Boolean},
		}}),
		Subscription: graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
			"messageBroadcast": &graphql.Field{
				Type:      graphql.NewNonNull(graphql.String),
				Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{topic}}),
				Resolve: func(p graphql.ResolveParams) (any, error) {
					return p.Source.(map[string]any)["message"], nil
				},
			},
		}}),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := gqlambda.New(gqlambda.Config{
		Engine:   graphqlgo.New(schema, nil),
		Store:    st,
		Sender:   sender,
		Endpoint: endpoint,
		Hooks:    gqlambda.Hooks{OnError: func(_ context.Context, err error) { onError(err) }},
	})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// wsEvent is an API Gateway WebSocket event of connection id.
func wsEvent(id, eventType, route, body string) events.APIGatewayWebsocketProxyRequest {
	ev := events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			EventType: eventType, RouteKey: route, ConnectionID: id, MessageDirection: "IN",
			DomainName: "abcdef1234.execute-api.us-east-1.amazonaws.com", Stage: "bench", APIID: "abcdef1234",
			ConnectedAt: time.Now().UnixMilli(), RequestTimeEpoch: time.Now().UnixMilli(),
			Identity: events.APIGatewayRequestIdentity{SourceIP: "127.0.0.1", UserAgent: "bench"},
		},
	}
	if eventType == "CONNECT" {
		ev.Headers = map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"}
	}
	return ev
}

// benchmarkFanOut publishes one event to the n subscriptions of env per
// iteration and checks that each connection got it exactly once. Besides
// wall time per post it reports the process's CPU time and allocations per
// post (the in-process sink's included; DynamoDB Local's not) and the mean
// time from the call of Publish to the sink's first post.
func benchmarkFanOut(b *testing.B, n int, latency time.Duration) {
	env := newFanOutEnv(b, n)
	env.sink.latency.Store(int64(latency))
	ctx := b.Context()
	b.ReportAllocs()
	var firstPost time.Duration
	var ms0, ms1 runtime.MemStats
	cpu0 := cpuTime()
	runtime.ReadMemStats(&ms0)
	i := 0
	for b.Loop() {
		marker := fmt.Sprintf("m%d", i)
		i++
		env.sink.reset(marker)
		t0 := time.Now()
		res, err := env.srv.Publish(ctx, env.topic, map[string]any{"message": "hello " + marker})
		if err != nil || res.Delivered != n || res.Failed != 0 || res.Gone != 0 {
			b.Fatalf("Publish = %+v, %v; want %d delivered", res, err, n)
		}
		if err := env.sink.check(n); err != nil {
			b.Fatal(err)
		}
		env.sink.mu.Lock()
		firstPost += env.sink.first.Sub(t0)
		env.sink.mu.Unlock()
	}
	runtime.ReadMemStats(&ms1)
	cpu := cpuTime() - cpu0
	posts := float64(n * b.N)
	b.ReportMetric(posts/b.Elapsed().Seconds(), "posts/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/posts, "µs/post")
	b.ReportMetric(float64(cpu.Microseconds())/posts, "cpu-µs/post")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/posts, "allocs/post")
	b.ReportMetric(float64(firstPost.Microseconds())/1000/float64(b.N), "first-post-ms")
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFanOut1000 measures one Publish to the 1,000 subscriptions of a
// topic: the strongly consistent Query of DynamoDB Local, one shared
// execution, and 1,000 posts through the production apigw.Client to a
// local sink that answers at once. µs/post is wall time per post; the sink
// runs in the benchmark's process, so its work is in ns/op and allocs/op.
func BenchmarkFanOut1000(b *testing.B) {
	benchmarkFanOut(b, 1000, 0)
}

// BenchmarkFanOut1000Latency20ms is BenchmarkFanOut1000 with a sink that
// answers each post after 20 ms, about a real @connections round trip from
// Lambda: what it measures is mostly how many posts are in flight.
func BenchmarkFanOut1000Latency20ms(b *testing.B) {
	benchmarkFanOut(b, 1000, 20*time.Millisecond)
}
