// Command adapter runs gqlambda as a peer of the bench-peers fan-out harness
// (shared/bench-peers, README section "Adding a peer"), under the same
// conditions as the Node libraries it is compared with: DynamoDB Local (or a
// redis-server), and a local @connections sink that answers each post after
// a set latency.
//
// GQLAMBDA_BENCH_STORE picks the store: dynamodb (the default; DynamoDB Local
// at BENCH_DDB_ENDPOINT) or redis (store/redis on the redis-server the
// harness starts for a peer whose peer.json says "redis": true, at
// BENCH_REDIS_URL). bench/peer is the DynamoDB peer, bench/peer-redis the
// Redis one; both build this program.
//
// BENCH_PHASE=setup creates the tables (DynamoDB), then BENCH_N
// subscriptions through Server.WebSocketHandler with API Gateway-shaped
// events ($connect offering graphql-transport-ws, connection_init,
// subscribe), BENCH_SETUP_CONCURRENCY clients at a time, and checks their
// number with the store's TopicSubscriptions (strongly consistent on both
// stores).
//
// BENCH_PHASE=publish builds the publisher (the store, the production
// apigw.Client posting to BENCH_SINK_ENDPOINT through a net/http transport
// capped at BENCH_MAX_SOCKETS connections, 0 = none) and times one
// Server.Publish per publish command read from stdin.
//
// Stdout carries the protocol's JSON lines only; logs go to stderr.
//
// Optional knobs for experiments (unset in peer.json, so every harness run
// measures the library's defaults):
//
//	GQLAMBDA_BENCH_FANOUT     Limits.FanOutConcurrency (default: the library's)
//	GQLAMBDA_BENCH_PAGE_SIZE  the store's Options.PageSize (default: the library's)
//	GQLAMBDA_BENCH_HTTP=sdk   post with the SDK's default HTTP client instead
//	                          of the capped transport (BENCH_MAX_SOCKETS is
//	                          then not honoured)
//	GQLAMBDA_BENCH_CPUPROFILE write a CPU profile of the publish phase (from
//	                          ready to exit) to this file
//	GQLAMBDA_BENCH_SETUP_CPUPROFILE write a CPU profile of the setup phase's
//	                          subscribing (after the tables exist) to this file
//	GQLAMBDA_BENCH_EMF        append the server's CloudWatch Embedded Metric
//	                          Format lines (Service "bench") to this file
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/graphql-go/graphql"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/store/redis"
)

// The API Gateway domain and stage the events name, as the harness's own
// events do (lib/apigw.mjs).
const (
	apiDomain = "abcdef1234.execute-api.us-east-1.amazonaws.com"
	apiStage  = "bench"
)

// Stores GQLAMBDA_BENCH_STORE names.
const (
	storeDynamoDB = "dynamodb"
	storeRedis    = "redis"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := configFromEnv()
	if err != nil {
		log.Error("adapter: configuration", slog.Any("error", err))
		os.Exit(2)
	}
	out := &emitter{w: os.Stdout}
	ctx := context.Background()
	switch cfg.phase {
	case "setup":
		err = setup(ctx, cfg, out, log)
	case "publish":
		err = publish(ctx, cfg, out, log, os.Stdin)
	default:
		err = fmt.Errorf("adapter: unknown BENCH_PHASE %q", cfg.phase)
	}
	if err != nil {
		log.Error("adapter: failed", slog.String("phase", cfg.phase), slog.Any("error", err))
		os.Exit(1)
	}
}

// config is what the harness passes in the environment.
type config struct {
	phase            string
	store            string // storeDynamoDB or storeRedis
	ddbEndpoint      string
	redisURL         string
	sinkEndpoint     string
	n                int
	topic            string
	setupConcurrency int
	maxSockets       int
	region           string

	fanOut       int    // 0: the library's default
	pageSize     int32  // 0: the library's default
	httpMode     string // "" or "sdk"
	cpuProfile   string // "" or a file for the publish phase's CPU profile
	setupProfile string // "" or a file for the setup phase's CPU profile
	emf          string // "" or a file the server appends its EMF lines to
}

func configFromEnv() (config, error) {
	atoi := func(name string, def int) (int, error) {
		v := os.Getenv(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("adapter: %s=%q: want an integer >= 0", name, v)
		}
		return n, nil
	}
	c := config{
		phase:        os.Getenv("BENCH_PHASE"),
		store:        orDefault(os.Getenv("GQLAMBDA_BENCH_STORE"), storeDynamoDB),
		ddbEndpoint:  os.Getenv("BENCH_DDB_ENDPOINT"),
		redisURL:     os.Getenv("BENCH_REDIS_URL"),
		sinkEndpoint: strings.TrimRight(os.Getenv("BENCH_SINK_ENDPOINT"), "/"),
		topic:        orDefault(os.Getenv("BENCH_TOPIC"), "messageBroadcast"),
		region:       orDefault(os.Getenv("AWS_REGION"), "us-east-1"),
		httpMode:     os.Getenv("GQLAMBDA_BENCH_HTTP"),
		cpuProfile:   os.Getenv("GQLAMBDA_BENCH_CPUPROFILE"),
		setupProfile: os.Getenv("GQLAMBDA_BENCH_SETUP_CPUPROFILE"),
		emf:          os.Getenv("GQLAMBDA_BENCH_EMF"),
	}
	var errs []error
	var err error
	if c.n, err = atoi("BENCH_N", 0); err != nil || c.n == 0 {
		errs = append(errs, orError(err, errors.New("adapter: BENCH_N is required")))
	}
	if c.setupConcurrency, err = atoi("BENCH_SETUP_CONCURRENCY", 32); err != nil {
		errs = append(errs, err)
	}
	if c.maxSockets, err = atoi("BENCH_MAX_SOCKETS", 50); err != nil {
		errs = append(errs, err)
	}
	if c.fanOut, err = atoi("GQLAMBDA_BENCH_FANOUT", 0); err != nil {
		errs = append(errs, err)
	}
	page, err := atoi("GQLAMBDA_BENCH_PAGE_SIZE", 0)
	if err != nil {
		errs = append(errs, err)
	}
	c.pageSize = int32(min(page, 1<<20))
	switch c.store {
	case storeDynamoDB:
		if c.ddbEndpoint == "" {
			errs = append(errs, errors.New("adapter: BENCH_DDB_ENDPOINT is required"))
		}
	case storeRedis:
		if c.redisURL == "" {
			errs = append(errs, errors.New(`adapter: BENCH_REDIS_URL is required with GQLAMBDA_BENCH_STORE=redis (peer.json: "redis": true)`))
		}
	default:
		errs = append(errs, fmt.Errorf("adapter: GQLAMBDA_BENCH_STORE=%q: want %q or %q", c.store, storeDynamoDB, storeRedis))
	}
	if c.phase == "publish" && c.sinkEndpoint == "" {
		errs = append(errs, errors.New("adapter: BENCH_SINK_ENDPOINT is required to publish"))
	}
	if c.httpMode != "" && c.httpMode != "sdk" {
		errs = append(errs, fmt.Errorf("adapter: GQLAMBDA_BENCH_HTTP=%q: want empty or \"sdk\"", c.httpMode))
	}
	c.setupConcurrency = max(c.setupConcurrency, 1)
	return c, errors.Join(errs...)
}

// orDefault returns v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// orError returns err, or def when err is nil.
func orError(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// emitter writes the protocol's JSON lines to stdout, one at a time.
type emitter struct {
	mu sync.Mutex
	w  *os.File
}

func (e *emitter) emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of plain values are emitted
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(append(b, '\n'))
}

// errorLog counts the failures the server passes to Hooks.OnError since
// the last take.
type errorLog struct {
	log   *slog.Logger
	mu    sync.Mutex
	n     int
	first error
}

func (l *errorLog) onError(ctx context.Context, err error) {
	l.mu.Lock()
	l.n++
	n := l.n
	if l.first == nil {
		l.first = err
	}
	l.mu.Unlock()
	if n <= 5 {
		l.log.WarnContext(ctx, "adapter: server error", slog.Any("error", err))
	}
}

// take returns the number of errors reported since the last take and the
// first of them, and starts counting again.
func (l *errorLog) take() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, first := l.n, l.first
	l.n, l.first = 0, nil
	return n, first
}

// schema is the harness's schema: subscription { messageBroadcast } on topic.
func schema(topic string) (graphql.Schema, error) {
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"ok": &graphql.Field{Type: graphql.Boolean, Resolve: func(graphql.ResolveParams) (any, error) { return true, nil }},
	}})
	sub := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"messageBroadcast": &graphql.Field{
			Type:      graphql.NewNonNull(graphql.String),
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{topic}}),
			Resolve: func(p graphql.ResolveParams) (any, error) {
				return p.Source.(map[string]any)["message"], nil
			},
		},
	}})
	return graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: sub})
}

// awsConfig is the harness's fake credentials and region.
func awsConfig(c config) aws.Config {
	return aws.Config{
		Region: c.region,
		Credentials: credentials.NewStaticCredentialsProvider(
			orDefault(os.Getenv("AWS_ACCESS_KEY_ID"), "bench"), orDefault(os.Getenv("AWS_SECRET_ACCESS_KEY"), "bench"), ""),
	}
}

// dynamoClient returns a DynamoDB client for DynamoDB Local whose transport
// keeps enough idle connections for the setup's concurrent clients.
func dynamoClient(c config) *awsdynamodb.Client {
	idle := max(c.setupConcurrency*2, 64)
	hc := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
	}}
	return awsdynamodb.NewFromConfig(awsConfig(c), func(o *awsdynamodb.Options) {
		o.BaseEndpoint = aws.String(c.ddbEndpoint)
		o.HTTPClient = hc
	})
}

// gatewayHTTPClient returns the HTTP client of the @connections client: at
// most maxSockets connections to the sink (0: no cap), every one of them
// kept alive between posts and between publishes.
func gatewayHTTPClient(maxSockets, n int) *http.Client {
	idle := maxSockets
	if idle <= 0 {
		idle = max(n, 1024)
	}
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxConnsPerHost:     maxSockets, // 0 = unlimited
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// sender returns the production apigw.Client posting to the sink, or a
// recorder when there is no sink (setup without BENCH_SINK_ENDPOINT). The
// server stores Config.Endpoint with every connection and subscription, and
// Publish posts to the stored endpoint: subscriptions created without a sink
// keep API Gateway's own endpoint, so the harness passes the sink to both
// phases.
func sender(c config) gateway.Sender {
	if c.sinkEndpoint == "" {
		return gatewaytest.NewRecorder()
	}
	var opts apigw.Options
	if c.httpMode != "sdk" {
		opts.HTTPClient = gatewayHTTPClient(c.maxSockets, c.n)
	}
	return apigw.New(apigatewaymanagementapi.NewFromConfig(awsConfig(c)), &opts)
}

// redisClient returns a client of the harness's redis-server with a pool
// for the setup's concurrent clients, as dynamoClient's transport has.
func redisClient(c config) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(c.redisURL)
	if err != nil {
		return nil, fmt.Errorf("adapter: BENCH_REDIS_URL: %w", err)
	}
	opts.PoolSize = max(c.setupConcurrency*2, 64)
	return goredis.NewClient(opts), nil
}

// peerName names the peer in the protocol's lines.
func (c config) peerName() string {
	if c.store == storeRedis {
		return "gqlambda-redis"
	}
	return "gqlambda"
}

// newStore returns the store GQLAMBDA_BENCH_STORE names.
func newStore(c config) (store.Store, error) {
	if c.store == storeRedis {
		rdb, err := redisClient(c)
		if err != nil {
			return nil, err
		}
		return redis.New(rdb, &redis.Options{PageSize: int(c.pageSize)}), nil
	}
	return dynamodb.New(dynamoClient(c), &dynamodb.Options{PageSize: c.pageSize}), nil
}

// newServer builds the server on the store GQLAMBDA_BENCH_STORE names.
func newServer(c config, log *slog.Logger) (*gqlambda.Server, store.Store, *errorLog, error) {
	s, err := schema(c.topic)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("adapter: schema: %w", err)
	}
	st, err := newStore(c)
	if err != nil {
		return nil, nil, nil, err
	}
	errs := &errorLog{log: log}
	var tel gqlambda.Telemetry
	if c.emf != "" {
		// The metrics of every invocation and publish, as on Lambda: one
		// CloudWatch Embedded Metric Format line each (docs/operations.md).
		f, err := os.OpenFile(c.emf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("adapter: GQLAMBDA_BENCH_EMF: %w", err)
		}
		tel.Metrics, tel.Service = f, "bench"
	}
	srv, err := gqlambda.New(gqlambda.Config{
		Engine:    graphqlgo.New(s, nil),
		Store:     st,
		Sender:    sender(c),
		Endpoint:  c.sinkEndpoint,
		Hooks:     gqlambda.Hooks{OnError: errs.onError},
		Limits:    gqlambda.Limits{FanOutConcurrency: c.fanOut},
		Logger:    log.With(slog.String("component", "gqlambda")),
		Telemetry: tel,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("adapter: server: %w", err)
	}
	return srv, st, errs, nil
}

// versions names the Go toolchain and the modules the adapter is built
// from.
func versions() map[string]any {
	v := map[string]any{"go": runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v["gqlambda"] = s.Value
		}
	}
	for _, d := range bi.Deps {
		switch d.Path {
		case "github.com/aws/aws-sdk-go-v2", "github.com/aws/aws-sdk-go-v2/service/dynamodb",
			"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi", "github.com/graphql-go/graphql",
			"github.com/redis/go-redis/v9":
			v[d.Path] = d.Version
		}
	}
	return v
}

func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

// randomID returns n random bytes in URL-safe base64, the shape of API
// Gateway's connection and request ids.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.URLEncoding.EncodeToString(b)
}

// requestContext is the requestContext API Gateway sends with every event
// of a connection.
func requestContext(connID string, connectedAt int64, route, eventType string) events.APIGatewayWebsocketProxyRequestContext {
	t := time.Now()
	rc := events.APIGatewayWebsocketProxyRequestContext{
		RouteKey:          route,
		EventType:         eventType,
		ExtendedRequestID: randomID(11),
		RequestTime:       t.UTC().Format("02/Jan/2006:15:04:05 -0700"),
		MessageDirection:  "IN",
		Stage:             apiStage,
		ConnectedAt:       connectedAt,
		RequestTimeEpoch:  t.UnixMilli(),
		Identity:          events.APIGatewayRequestIdentity{SourceIP: "127.0.0.1", UserAgent: "bench-peers"},
		RequestID:         randomID(11),
		DomainName:        apiDomain,
		ConnectionID:      connID,
		APIID:             "abcdef1234",
	}
	if eventType == "MESSAGE" {
		rc.MessageID = randomID(11)
	}
	return rc
}

func connectEvent(connID string, connectedAt int64) events.APIGatewayWebsocketProxyRequest {
	h := map[string]string{
		"Host":                     apiDomain,
		"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
		"Sec-WebSocket-Key":        randomID(16),
		"Sec-WebSocket-Version":    "13",
		"Sec-WebSocket-Protocol":   "graphql-transport-ws",
		"X-Amzn-Trace-Id":          "Root=1-" + randomID(4) + "-" + randomID(12),
		"X-Forwarded-For":          "127.0.0.1",
		"X-Forwarded-Port":         "443",
		"X-Forwarded-Proto":        "https",
	}
	mv := make(map[string][]string, len(h))
	for k, v := range h {
		mv[k] = []string{v}
	}
	return events.APIGatewayWebsocketProxyRequest{
		Headers:           h,
		MultiValueHeaders: mv,
		RequestContext:    requestContext(connID, connectedAt, "$connect", "CONNECT"),
	}
}

func messageEvent(connID string, connectedAt int64, body string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body:           body,
		RequestContext: requestContext(connID, connectedAt, "$default", "MESSAGE"),
	}
}

// stepTimes sums the time the handler took per step of the setup's clients,
// in nanoseconds: $connect, connection_init, subscribe.
type stepTimes [3]atomic.Int64

// meanMs returns the mean time of each step over n clients, in ms.
func (t *stepTimes) meanMs(n int) map[string]any {
	m := make(map[string]any, len(t))
	for i, name := range []string{"connect", "connection_init", "subscribe"} {
		m[name] = float64(t[i].Load()) / 1e6 / float64(max(n, 1))
	}
	return m
}

// subscribeClient does what a graphql-ws client does over API Gateway:
// $connect, connection_init, then one subscribe.
func subscribeClient(ctx context.Context, srv *gqlambda.Server, topic string, steps *stepTimes) error {
	id := randomID(11)
	at := time.Now().UnixMilli()
	subscribe, err := json.Marshal(map[string]any{
		"type": "subscribe", "id": "1",
		"payload": map[string]any{"query": "subscription { " + topic + " }"},
	})
	if err != nil {
		return err
	}
	for i, ev := range []events.APIGatewayWebsocketProxyRequest{
		connectEvent(id, at),
		messageEvent(id, at, `{"type":"connection_init","payload":{}}`),
		messageEvent(id, at, string(subscribe)),
	} {
		t := time.Now()
		resp, err := srv.WebSocketHandler(ctx, ev)
		steps[i].Add(int64(time.Since(t)))
		if err != nil {
			return fmt.Errorf("%s %s: %w", ev.RequestContext.RouteKey, id, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: status %d: %s", ev.RequestContext.RouteKey, id, resp.StatusCode, resp.Body)
		}
	}
	return nil
}

func setup(ctx context.Context, c config, out *emitter, log *slog.Logger) error {
	t0 := nowMs()
	if c.store == storeDynamoDB {
		if err := dynamodb.CreateTables(ctx, dynamoClient(c), dynamodb.Tables{}); err != nil {
			return fmt.Errorf("adapter: create tables: %w", err)
		}
	}
	tablesMs := nowMs() - t0
	srv, st, errs, err := newServer(c, log)
	if err != nil {
		return err
	}
	stop, err := startProfile(c.setupProfile)
	if err != nil {
		return err
	}
	defer stop()

	var next, done, failed atomic.Int64
	var steps stepTimes
	var firstMu sync.Mutex
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(c.setupConcurrency, c.n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				if next.Add(1) > int64(c.n) {
					return
				}
				if err := subscribeClient(ctx, srv, c.topic, &steps); err != nil {
					firstMu.Lock()
					if first == nil {
						first = err
					}
					firstMu.Unlock()
					if failed.Add(1) > 20 {
						cancel()
					}
					continue
				}
				if d := done.Add(1); d%1000 == 0 {
					out.emit(map[string]any{"event": "progress", "done": d, "of": c.n})
				}
			}
		})
	}
	wg.Wait()
	stop() // the profile covers the subscribing only
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("adapter: setup: %d clients failed, first: %w", f, first)
	}
	subscribedMs := nowMs() - t0 - tablesMs

	count := 0
	for _, err := range st.TopicSubscriptions(ctx, c.topic) {
		if err != nil {
			return fmt.Errorf("adapter: count subscriptions: %w", err)
		}
		count++
	}
	setupMs := nowMs() - t0
	if count != c.n {
		return fmt.Errorf("adapter: setup: expected %d subscriptions of topic %q, found %d", c.n, c.topic, count)
	}
	if n, firstErr := errs.take(); n > 0 {
		return fmt.Errorf("adapter: setup: the server reported %d errors, first: %w", n, firstErr)
	}
	out.emit(map[string]any{
		"event": "setup-done", "peer": c.peerName(), "store": c.store, "versions": versions(), "pid": os.Getpid(),
		"setupMs": setupMs, "tablesMs": tablesMs, "subscribeMs": subscribedMs, "subscriptions": count,
		"stepMeanMs": steps.meanMs(c.n),
		"how":        "WebSocketHandler: $connect + connection_init + subscribe per client",
	})
	return nil
}

// startProfile starts a CPU profile written to path (none when path is
// empty) and returns the function that stops it.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("adapter: cpu profile: %w", err)
	}
	return sync.OnceFunc(func() {
		pprof.StopCPUProfile()
		f.Close()
	}), nil
}

func publish(ctx context.Context, c config, out *emitter, log *slog.Logger, stdin *os.File) error {
	srv, _, errs, err := newServer(c, log)
	if err != nil {
		return err
	}
	stop, err := startProfile(c.cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	out.emit(map[string]any{"event": "ready", "peer": c.peerName(), "store": c.store, "versions": versions(), "pid": os.Getpid()})
	in := bufio.NewScanner(stdin)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		var cmd struct {
			Cmd    string `json:"cmd"`
			Run    string `json:"run"`
			Marker string `json:"marker"`
		}
		if err := json.Unmarshal([]byte(line), &cmd); err != nil {
			return fmt.Errorf("adapter: command %q: %w", line, err)
		}
		switch cmd.Cmd {
		case "publish":
			errs.take()
			payload := map[string]any{"message": "hello " + cmd.Marker}
			t0 := nowMs()
			res, err := srv.Publish(ctx, c.topic, payload)
			t1 := nowMs()
			reported, first := errs.take()
			msg := map[string]any{
				"event": "published", "run": cmd.Run, "t0": t0, "t1": t1, "error": nil,
				"matched": res.Matched, "delivered": res.Delivered, "gone": res.Gone, "failed": res.Failed,
			}
			switch {
			case err != nil:
				msg["error"] = err.Error()
			case res.Failed > 0:
				msg["error"] = fmt.Sprintf("publish: %d of %d deliveries failed", res.Failed, res.Matched)
			}
			if reported > 0 {
				msg["libraryErrors"] = reported
				msg["firstLibraryError"] = first.Error()
			}
			out.emit(msg)
		case "exit":
			// The harness may kill the process once it reads "bye": the
			// profile is written first.
			stop()
			out.emit(map[string]any{"event": "bye", "maxRssKb": peakRSSKb()})
			return nil
		default:
			return fmt.Errorf("adapter: unknown command %q", cmd.Cmd)
		}
	}
	return in.Err()
}

// peakRSSKb returns VmHWM, the process's peak resident set in KiB, from
// /proc/self/status, or 0 where there is none.
func peakRSSKb() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}
