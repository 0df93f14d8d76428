// Package app runs the reference chat app of gqlambda, whatever its GraphQL
// engine: on Lambda it starts the handler that GQLAMBDA_HANDLER names
// (websocket, http, stream or messages); run locally it serves everything
// from one process on a local gateway, with the in-memory store, DynamoDB
// Local or Redis. On DynamoDB, chat messages reach their subscribers by
// change data capture of the messages table (the messages handler, or a
// local poller of its stream), and broadcasts through the events table's
// stream; on Redis and in memory, events fan out directly.
// examples/chat (graphql-go) and examples/chat-gqlgen (gqlgen) are its two
// engines.
package app

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/localgateway"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/store/dynamodb/cdc"
	"github.com/gqlambda/gqlambda/store/dynamodb/streams"
	"github.com/gqlambda/gqlambda/store/memory"
	"github.com/gqlambda/gqlambda/store/redis"
)

//go:embed web
var web embed.FS

// Topics the chat publishes to.
const (
	TopicBroadcast = "MESSAGE_BROADCAST"
	TopicChat      = "CHAT_MESSAGE"
)

// NewEngine builds the chat's GraphQL engine on a message store.
type NewEngine func(messages Messages) (gqlambda.Engine, error)

// Main runs the chat: on Lambda when AWS_LAMBDA_FUNCTION_NAME is set,
// locally otherwise (flags: -addr, -dynamodb, -redis, -codeless-close,
// -sweep-interval, -idle-after, -ping).
func Main(newEngine NewEngine) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		err = runLambda(context.Background(), logger, newEngine)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = runLocal(ctx, logger, os.Args[1:], newEngine)
	}
	if err != nil {
		logger.Error("chat", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

// runLambda starts the Lambda handler GQLAMBDA_HANDLER names.
func runLambda(ctx context.Context, logger *slog.Logger, newEngine NewEngine) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	tables := dynamodb.Tables{
		Connections:   os.Getenv("GQLAMBDA_CONNECTIONS_TABLE"),
		Subscriptions: os.Getenv("GQLAMBDA_SUBSCRIPTIONS_TABLE"),
		Events:        os.Getenv("GQLAMBDA_EVENTS_TABLE"),
	}
	client := awsdynamodb.NewFromConfig(cfg)
	messages := &DynamoMessages{Client: client, Table: os.Getenv("CHAT_MESSAGES_TABLE")}
	if messages.Table == "" && os.Getenv("GQLAMBDA_HANDLER") != "sweeper" { // the sweeper reads no message
		return errors.New("CHAT_MESSAGES_TABLE is not set")
	}
	engine, err := newEngine(messages)
	if err != nil {
		return err
	}
	st := dynamodb.New(client, &dynamodb.Options{Tables: tables})
	// Frames reach clients through the API's @connections endpoint,
	// signed with the function's role.
	var sender gateway.Sender = apigw.New(apigatewaymanagementapi.NewFromConfig(cfg), &apigw.Options{Logger: logger})
	scaleOut, sender, err := scaleOutFromEnv(cfg, st, sender, logger)
	if err != nil {
		return err
	}
	liveness, err := LivenessFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	srv, err := gqlambda.New(gqlambda.Config{
		Engine:   engine,
		Liveness: liveness,
		Hooks:    Hooks(),
		Store:    st,
		Sender:   sender,
		ScaleOut: scaleOut,
		// Mutations write events to the events table; its stream delivers
		// them (the stream handler below), so a mutation returns at once.
		Events: dynamodb.NewEventTable(client, &dynamodb.EventOptions{Table: tables.Events}),
		Logger: logger,
		// Metrics as CloudWatch Embedded Metric Format lines on stdout,
		// which CloudWatch Logs turns into the metrics of the stack's
		// dashboard and alarms (deploy/template.yaml, Observability).
		Telemetry: gqlambda.Telemetry{Metrics: os.Stdout, Service: os.Getenv("GQLAMBDA_METRICS_SERVICE")},
	})
	if err != nil {
		return err
	}
	switch h := os.Getenv("GQLAMBDA_HANDLER"); h {
	case "websocket":
		lambda.Start(srv.WebSocketHandler)
	case "http":
		lambda.Start(srv.HTTPAPIHandler(nil))
	case "stream":
		lambda.Start(srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord))
	case "messages":
		// Change data capture: each message written to the messages table
		// reaches the subscribers of its chat.
		lambda.Start(srv.DynamoDBStreamHandler(cdc.Decoder(ChangeMapping.Map)))
	case "sweeper":
		// Run on a schedule: connections whose $disconnect was lost are
		// found and removed (docs/liveness.md).
		lambda.Start(srv.SweepHandler)
	case "ranges":
		// Scale-out fan-out: the worker of the ranges queue (scaleout.go).
		lambda.Start(srv.RangeHandler())
	default:
		return fmt.Errorf("GQLAMBDA_HANDLER is %q: want websocket, http, stream, messages, sweeper or ranges", h)
	}
	return nil
}

// runLocal serves the chat on a local gateway until ctx ends.
func runLocal(ctx context.Context, logger *slog.Logger, args []string, newEngine NewEngine) error {
	flags := flag.NewFlagSet("chat", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:4000", "address to listen on")
	opts := LocalOptions{NewEngine: newEngine}
	flags.StringVar(&opts.DynamoDB, "dynamodb", "", "DynamoDB endpoint (such as DynamoDB Local's http://127.0.0.1:8000); default: the in-memory store")
	flags.StringVar(&opts.Redis, "redis", "", "Redis `URL` of the store (such as redis://127.0.0.1:6379, or rediss://user:password@host:6380 with TLS); default: the in-memory store")
	flags.BoolVar(&opts.CodelessClose, "codeless-close", false, "close connections as API Gateway does, without close codes")
	flags.StringVar(&opts.Auth, "auth", AuthNone, "authentication: \"\" (none: clients name themselves) or \"dev\" (the deployed chat's token authorizer, with tokens for any name at "+DevTokenPath+")")
	flags.StringVar(&opts.TablePrefix, "table-prefix", "", "start of the table names on DynamoDB (default "+DefaultTablePrefix+")")
	debugAddr := flags.String("debug-addr", "", "`address` of a second listener serving the process's memory and goroutines at GET /debug/runtime (off by default)")
	flags.DurationVar(&opts.SweepInterval, "sweep-interval", 0, "sweep idle connections every `DURATION` (such as 30s), as the sweeper function's schedule does on AWS; default: no sweeps")
	flags.DurationVar(&opts.Liveness.IdleAfter, "idle-after", 0, "with -sweep-interval, check connections idle for `DURATION`; default: the sweep interval")
	flags.BoolVar(&opts.Liveness.Ping, "ping", false, "with -sweep-interval, ping idle graphql-transport-ws connections and close those that do not answer")
	if err := flags.Parse(args); err != nil {
		return err
	}
	opts.Logger = logger
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	app, err := StartLocal(ctx, ln, opts)
	if err != nil {
		ln.Close()
		if ctx.Err() != nil {
			return nil // stopped (SIGTERM, Ctrl-C) while starting
		}
		return err
	}
	fmt.Printf("chat: open %s\n  WebSocket  %s\n  HTTP       %s\n", app.URL, app.WebSocketURL, app.HTTPURL)
	if *debugAddr != "" {
		stopDebug, url, err := serveDebug(*debugAddr, logger)
		if err != nil {
			_ = app.Shutdown(context.Background())
			return err
		}
		defer stopDebug()
		fmt.Printf("  Debug      %s\n", url)
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return app.Shutdown(shutdown)
}

// LocalOptions configure a local run.
type LocalOptions struct {
	// NewEngine builds the GraphQL engine. Required.
	NewEngine NewEngine
	// DynamoDB is the DynamoDB endpoint (DynamoDB Local); empty: the
	// in-memory store. With DynamoDB, broadcasts go through the events table
	// and its stream, and chat messages through the messages table's stream
	// (change data capture), as on AWS.
	DynamoDB string
	// TablePrefix starts the table names on DynamoDB; default
	// DefaultTablePrefix. Runs that share one DynamoDB need prefixes of
	// their own.
	TablePrefix string
	// Redis is the URL of a Redis server (redis:// or rediss://, as
	// go-redis's ParseURL reads it) that keeps the connections and
	// subscriptions; empty: the in-memory store. Events fan out directly
	// from the mutation, and the chat's messages stay in memory. At most one
	// of DynamoDB and Redis may be set.
	Redis string
	// KeyPrefix starts the keys on Redis; default store/redis's. Runs that
	// share one server need prefixes of their own.
	KeyPrefix string
	// CodelessClose closes connections as API Gateway does, without codes.
	CodelessClose bool
	// Auth is the authentication mode: AuthNone or AuthDev.
	Auth string
	// AuthSecret signs and verifies the tokens of AuthDev (at least 32
	// bytes); default: random, for this run only.
	AuthSecret []byte
	// SweepInterval, when positive, runs Server.Sweep at that interval, as
	// the sweeper function's schedule does on AWS; Liveness configures
	// what it does, its IdleAfter defaulting to SweepInterval.
	SweepInterval time.Duration
	Liveness      gqlambda.Liveness
	// Logger receives the logs; default: discard.
	Logger *slog.Logger
}

// LocalApp is the chat running on a local gateway.
type LocalApp struct {
	// URL is the chat page, WebSocketURL and HTTPURL the GraphQL endpoints.
	URL, WebSocketURL, HTTPURL string

	// Server, Store and Gateway are the parts, for tests.
	Server  *gqlambda.Server
	Store   store.Store
	Gateway *localgateway.Gateway

	serving *localgateway.Server
	stop    context.CancelFunc
	done    chan struct{}
	closers []func() error // run by Shutdown, in order
}

// StartLocal serves the chat on ln until Shutdown: the local gateway
// emulates API Gateway, the server runs in process.
func StartLocal(ctx context.Context, ln net.Listener, opts LocalOptions) (*LocalApp, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The gateway calls the server and the server posts through the
	// gateway: the server is set once both exist.
	var srv *gqlambda.Server
	var graphQLOverHTTP http.Handler
	files, err := fs.Sub(web, "web")
	if err != nil {
		return nil, err
	}
	authorizer, routes, httpOpts, err := localAuth(opts, logger)
	if err != nil {
		return nil, err
	}
	gw, err := localgateway.New(localgateway.Options{
		Handler: func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return srv.WebSocketHandler(ctx, ev)
		},
		HTTP:          http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { graphQLOverHTTP.ServeHTTP(w, r) }),
		Files:         files,
		Routes:        routes,
		Authorizer:    authorizer,
		CodelessClose: opts.CodelessClose,
		// The server posts through the gateway in process: its @connections
		// API needs no caller, so it takes only keys nobody has.
		Credentials: &localgateway.Credentials{AccessKeyID: "AKID" + rand.Text(), SecretAccessKey: rand.Text()},
		Logger:      logger,
	})
	if err != nil {
		return nil, err
	}
	cfg := gqlambda.Config{Sender: gw, Logger: logger, Hooks: Hooks(), Liveness: opts.Liveness}
	if opts.SweepInterval < 0 {
		return nil, fmt.Errorf("chat: sweep interval %v: want a positive duration", opts.SweepInterval)
	}
	if opts.SweepInterval > 0 && cfg.Liveness.IdleAfter == 0 {
		cfg.Liveness.IdleAfter = opts.SweepInterval
	}
	var messages Messages = NewMemoryMessages()
	var pollers []*streams.Poller
	var closers []func() error
	if opts.DynamoDB != "" && opts.Redis != "" {
		return nil, errors.New("chat: DynamoDB and Redis are both set: pick one store")
	}
	if opts.Redis != "" {
		redisOpts, err := goredis.ParseURL(opts.Redis)
		if err != nil {
			return nil, fmt.Errorf("chat: Redis URL: %w", err)
		}
		rdb := goredis.NewClient(redisOpts)
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			return nil, fmt.Errorf("chat: Redis at %s: %w", redisOpts.Addr, err)
		}
		closers = append(closers, rdb.Close)
		// The Redis store keeps connections and subscriptions; events fan
		// out directly from the mutations, as Config.Events is not set.
		cfg.Store = redis.New(rdb, &redis.Options{KeyPrefix: opts.KeyPrefix, Logger: logger})
	} else if opts.DynamoDB != "" {
		awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
		raw := awsdynamodb.NewFromConfig(awsCfg, func(o *awsdynamodb.Options) { o.BaseEndpoint = aws.String(opts.DynamoDB) })
		prefix := opts.TablePrefix
		if prefix == "" {
			prefix = DefaultTablePrefix
		}
		tables := dynamodb.PrefixedTables(prefix)
		create := func(ctx context.Context) error {
			if err := dynamodb.CreateTables(ctx, raw, tables); err != nil {
				return err
			}
			return CreateMessagesTable(ctx, raw, prefix+"chat-messages")
		}
		if err := awaitTables(ctx, create, opts.DynamoDB, logger); err != nil {
			return nil, err
		}
		// DynamoDB Local keeps its tables in memory: when it restarts, the
		// first call that misses a table creates them again (and the stream
		// pollers find the new streams).
		client := dynamodb.NewRecreatingClient(raw, create, logger)
		messages = &DynamoMessages{Client: client, Table: prefix + "chat-messages"}
		cfg.Store = dynamodb.New(client, &dynamodb.Options{Tables: tables})
		// As on AWS: mutations write events to the events table, and a
		// poller reads its stream as Lambda's event source mapping would.
		cfg.Events = dynamodb.NewEventTable(client, &dynamodb.EventOptions{Table: tables.Events})
		streamsClient := dynamodbstreams.NewFromConfig(awsCfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(opts.DynamoDB) })
		published, err := streams.NewPoller(streamsClient, streams.PollerOptions{
			Table:       tables.Events,
			TableClient: client,
			// Events written before this run are not delivered again.
			StartingPosition: streamtypes.ShardIteratorTypeLatest,
			Handler: func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
				return srv.DynamoDBStreamHandler(dynamodb.DecodeEventRecord)(ctx, ev)
			},
			Logger: logger,
		})
		if err != nil {
			return nil, err
		}
		// Chat messages are delivered by change data capture of their table,
		// as on AWS (GQLAMBDA_HANDLER=messages). From the stream's start: no
		// message written while the poller starts is missed, and older ones
		// find no subscriber (every connection of an earlier run ended).
		changes, err := streams.NewPoller(streamsClient, streams.PollerOptions{
			Table:            prefix + "chat-messages",
			TableClient:      client,
			StartingPosition: streamtypes.ShardIteratorTypeTrimHorizon,
			Handler: func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
				return srv.DynamoDBStreamHandler(cdc.Decoder(ChangeMapping.Map))(ctx, ev)
			},
			Logger: logger,
		})
		if err != nil {
			return nil, err
		}
		pollers = append(pollers, published, changes)
	} else {
		cfg.Store = memory.New(nil)
	}
	closeAll := func() {
		for _, c := range closers {
			_ = c()
		}
	}
	if cfg.Engine, err = opts.NewEngine(messages); err != nil {
		closeAll()
		return nil, err
	}
	if srv, err = gqlambda.New(cfg); err != nil {
		closeAll()
		return nil, err
	}
	graphQLOverHTTP = srv.HTTPHandler(httpOpts)

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	app := &LocalApp{Server: srv, Store: cfg.Store, Gateway: gw, stop: stop, done: make(chan struct{}), closers: closers}
	var running sync.WaitGroup
	for _, p := range pollers {
		running.Go(func() {
			if err := p.Run(runCtx); err != nil {
				logger.Error("stream poller stopped", slog.String("error", err.Error()))
			}
		})
	}
	if opts.SweepInterval > 0 {
		running.Go(func() {
			if err := srv.SweepEvery(runCtx, opts.SweepInterval); err != nil && runCtx.Err() == nil {
				logger.Error("sweeper stopped", slog.String("error", err.Error()))
			}
		})
	}
	go func() {
		defer close(app.done)
		running.Wait()
	}()
	app.serving = gw.Serve(ln)
	app.URL = app.serving.URL + "/"
	app.WebSocketURL = app.serving.WebSocketURL
	app.HTTPURL = app.serving.HTTPURL
	return app, nil
}

// DefaultTablePrefix starts the names of the tables of a local run on
// DynamoDB: gqlambda-connections, gqlambda-subscriptions, gqlambda-events
// (dynamodb's defaults) and gqlambda-chat-messages.
const DefaultTablePrefix = dynamodb.DefaultTablePrefix

// Shutdown closes every connection (each gets its $disconnect) and stops.
func (a *LocalApp) Shutdown(ctx context.Context) error {
	err := a.serving.Shutdown(ctx)
	a.stop()
	<-a.done
	for _, c := range a.closers {
		err = errors.Join(err, c())
	}
	return err
}
