package gqlambda

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"time"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/internal/oplimit"
	"github.com/gqlambda/gqlambda/internal/telemetry"
	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
	"github.com/gqlambda/gqlambda/protocol/plainws"
	"github.com/gqlambda/gqlambda/protocol/transportws"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/memory"
)

// Config configures a [Server]. Engine is required, and Sender is for
// WebSocket APIs; the zero value of every other field is a sensible
// production default.
type Config struct {
	// Engine runs the GraphQL schema, for instance graphqlgo.New(schema, nil).
	Engine Engine

	// Store keeps connections and subscriptions. Default: a new in-memory
	// store (store/memory), which only works within one process; on AWS
	// Lambda New refuses to start without an explicit Store
	// (ErrMemoryStoreOnLambda).
	Store store.Store

	// Sender posts frames to clients and closes their connections: on AWS,
	// gateway/apigw's Client (apigw.NewDefault loads the function's AWS
	// configuration); locally, a localgateway.Gateway; in tests,
	// gateway/gatewaytest's Recorder. Required for WebSocket APIs and for
	// Publish and Complete (without it they fail with [ErrNoSender]); a
	// server that only answers GraphQL over HTTP may leave it nil.
	Sender gateway.Sender

	// Hooks are the lifecycle callbacks.
	Hooks Hooks

	// PlainProtocol makes connections that offer no subprotocol speak the
	// plain dialect of protocol/plainws: a GraphQL request
	// ({"query", "variables"}) in, each result ({"data": ...}) out, no
	// connection_init and no operation ids, as the AWS sample "Using Apollo
	// Server on AWS Lambda with Amazon EventBridge" does, so that its clients
	// run unchanged. graphql-ws and subscriptions-transport-ws clients always
	// offer their subprotocol and are not affected. Default false: a
	// connection that offers none speaks graphql-transport-ws.
	PlainProtocol bool

	// Context, when set, builds the context that an operation's resolvers
	// run with (and its subscribe phase: TopicsFunc, FilterFunc, the field's
	// hooks; and its predicate), from the context the server built and a
	// [ContextRequest]: the connection (its stored context, the data
	// OnConnect kept, the authorizer), the event being delivered, the HTTP
	// request. Return a context derived from ctx, so that ConnFromContext
	// and ServerFromContext keep working. It runs once per operation over
	// the socket or HTTP (after HTTPOptions.OnRequest), and during fan-out
	// once per execution (shared executions share it: see
	// ExecutePerConnection) and once per predicate. An error fails the
	// operation: the client gets an error for it over the socket, 500 over
	// HTTP; during fan-out the subscription counts as failed. It must be
	// safe for concurrent use. Default: none.
	Context func(ctx context.Context, req ContextRequest) (context.Context, error)

	// FormatError, when set, rewrites every GraphQL error before a client
	// receives it, as Apollo Server's formatError does: the errors in
	// results (resolver errors in next or data messages and in HTTP
	// responses, fan-out included) and those that end an operation (invalid
	// documents, refused operations, the server's own). It receives a copy
	// of the error and returns the error to send; nil sends
	// {"message":"Internal server error"}. Use it to keep internal messages
	// from clients in production. It must be safe for concurrent use.
	// Default: errors are sent as they are.
	FormatError func(ctx context.Context, err *Error) *Error

	// Events, when set, makes Publish and Complete asynchronous: they write
	// the event to this store and return PublishResult{Stored: true}, and the
	// store's stream delivers it through a stream handler such as
	// [Server.DynamoDBStreamHandler] (see also [Server.Deliver]). Publishers
	// then return as soon as the event is durable, and failed deliveries are
	// retried by the stream's event source mapping. store/dynamodb's
	// EventTable is the DynamoDB implementation.
	// Default: nil, Publish and Complete fan out directly.
	Events store.EventStore

	// Redelivery keeps events that a source delivers again from reaching a
	// subscription twice. The zero value is on, with a 24-hour window, when
	// the Store implements store.DeliveryLog.
	Redelivery Redelivery

	// ScaleOut, when set, splits a Publish to a topic with more
	// subscriptions than one invocation should deliver into ranges that
	// workers deliver (see [ScaleOut] and docs/scale-out.md). Default nil:
	// every Publish is delivered by its caller.
	ScaleOut *ScaleOut

	// Limits bound sizes and concurrency.
	Limits Limits

	// ConnectionCache keeps the connection records this process wrote or
	// read, so that most frames need no store read (on the local gateway,
	// none does; on Lambda, those reaching an instance that saw the
	// connection before). The zero value keeps up to 10,000 records for a
	// minute each; see [ConnectionCache] for what a record is trusted for.
	ConnectionCache ConnectionCache

	// Logger receives the server's logs, with connection_id,
	// subscription_id and topic attributes. Payloads and contexts are never
	// logged. Default: discard.
	Logger *slog.Logger

	// Endpoint is the @connections endpoint used to reach clients, stored
	// with each connection. Default: https://{domainName}/{stage} from the
	// $connect event, which is right for API Gateway's own domain. Set it
	// when clients connect through a custom domain (for instance
	// https://abc123.execute-api.eu-west-1.amazonaws.com/prod), or to a local
	// emulator.
	Endpoint string

	// ConnectionTTL is how long connection and subscription records live.
	// Default: 2h10m, just over API Gateway's 2-hour maximum connection
	// duration, so that records of connections whose $disconnect was lost
	// expire on their own.
	ConnectionTTL time.Duration

	// ExecutePerConnection executes a subscription's document once per
	// subscription for each event. By default one execution is shared by
	// all subscriptions of an event with equal document, operation name,
	// variables and connection context; resolvers then see a [Conn] without
	// ID. Set it when resolvers of subscription fields depend on the
	// connection id.
	ExecutePerConnection bool

	// DisableIntrospection refuses operations that select __schema or
	// __type (introspection), over the socket and over HTTP, with a GraphQL
	// error coded INTROSPECTION_DISABLED. Default: false, introspection is
	// served (GraphQL tools and code generators read the schema with it).
	DisableIntrospection bool

	// Liveness configures the activity the WebSocket handler records and
	// what [Server.Sweep] does with idle connections, when the Store
	// implements store.ActivityIndex (the stores of this module do).
	Liveness Liveness

	// Now is the clock. Default: time.Now.
	Now func() time.Time

	// Telemetry configures traces (OpenTelemetry) and metrics
	// (OpenTelemetry, CloudWatch Embedded Metric Format). Default: none,
	// at no cost.
	Telemetry Telemetry
}

// Limits bound what one message, one subscription and one fan-out may cost.
// Zero fields take their defaults.
type Limits struct {
	// MaxIncomingBytes is the largest client message accepted; larger ones
	// close the connection with 1009 (Message Too Big). Default: 131072
	// (128 KiB, API Gateway's own limit).
	MaxIncomingBytes int
	// MaxOutgoingBytes is the largest frame the server posts. An event whose
	// result would exceed it reaches that subscription as a `next` whose
	// result is a GraphQL error coded MESSAGE_TOO_LARGE, in place of the
	// data, and the subscription goes on (see EndOnOversizedResult); a
	// query's or mutation's result over it is an `error` for the operation.
	// Default: 131072 (128 KiB, API Gateway's limit).
	MaxOutgoingBytes int
	// EndOnOversizedResult ends a subscription whose result for an event is
	// over MaxOutgoingBytes, with an `error` message, instead of sending a
	// `next` that carries the error in place of that event's result.
	// Default: false, one oversized event never ends a subscription (one
	// large message published to a room would otherwise end every
	// subscription of the room).
	EndOnOversizedResult bool
	// MaxContextBytes is the largest encoded connection context
	// OnConnectionInit may keep; more refuses the connection. Default: 16384.
	MaxContextBytes int
	// MaxSubscriptionBytes is the largest subscription record (document,
	// variables, filter, context) the server stores; more rejects the
	// subscription. Default: 65536 (DynamoDB items hold at most 400 KB).
	MaxSubscriptionBytes int
	// FanOutConcurrency is how many deliveries of one Publish or Complete
	// run at once (executing, posting, retrying): the most posts in flight,
	// and so the memory of a fan-out, whatever the number of subscribers.
	// Default: 1,024. At a post's round trip of L seconds the fan-out sends
	// up to FanOutConcurrency/L posts per second; on AWS, apigw.Client paces
	// them to API Gateway's account throttle (apigw.Options.Rate, 10,000
	// per second), so the bound only needs to cover that rate times the
	// round trip. Lower it to bound memory further (each delivery in flight
	// holds a goroutine, a frame and, with apigw.Client, a connection). A
	// sender with a lower bound of its own (gateway.Bounded: apigw.Client's
	// MaxInFlight, itself capped by its transport's MaxConnsPerHost) lowers
	// it to that.
	FanOutConcurrency int
	// MaxDocumentBytes bounds a GraphQL document (the query text of an
	// operation, over the socket or HTTP). Default: 32768. Negative: no
	// bound.
	MaxDocumentBytes int
	// MaxDepth bounds how deep an operation nests fields, its fragments
	// expanded. Default: 20 (the introspection query clients send nests 13).
	// Negative: no bound.
	MaxDepth int
	// MaxFields bounds the fields an operation selects, its fragments
	// expanded (and the fields written in the whole document). Default: 2000.
	// Negative: no bound.
	MaxFields int
	// MaxAliases bounds an operation's aliased fields, fragments expanded.
	// Default: 50. Negative: no bound.
	MaxAliases int
	// MaxMutationFields bounds the root fields of a mutation, each of which
	// runs with its side effects. Default: 10. Negative: no bound.
	MaxMutationFields int
	// StoreTimeout bounds every store call (one page of a topic's
	// subscriptions, during a fan-out): a store that hangs answers within it
	// with an error wrapping ErrStoreTimeout, reported to Hooks.OnError, and
	// the client gets the protocol's answer to a failure instead of waiting
	// as long as the store hangs. Default: 5 seconds.
	StoreTimeout time.Duration
	// FrameRate bounds the frames a connection may send, per second, with
	// bursts of FrameBurst (a token bucket per connection, kept in the
	// process: on Lambda each instance counts the frames it handles). A
	// frame over it is refused before the store is read: an operation gets
	// an `error` coded RATE_LIMITED, anything else is dropped; see
	// MaxStrikes. Default 100. Negative: no bound.
	FrameRate float64
	// FrameBurst is how many frames a connection may send at once above
	// FrameRate. Default 200.
	FrameBurst int
	// MaxSubscriptionsPerConnection bounds the subscriptions one connection
	// holds, when the store bounds them in the write that creates one
	// (store.Store implementations that are a store.BoundedSubscriptions:
	// memory, DynamoDB and Redis; no extra store call). A
	// subscribe over it gets an `error` coded TOO_MANY_SUBSCRIPTIONS; see
	// MaxStrikes. Default 100. Negative: no bound.
	MaxSubscriptionsPerConnection int
	// MaxStrikes is how many refusals for FrameRate or
	// MaxSubscriptionsPerConnection a connection may earn before it is
	// closed with 4429 (Too many requests), as graphql-ws closes a client
	// that repeats its initialisation. Default 10. Negative: never closed.
	MaxStrikes int
	// AckWait is how long an operation of a legacy subscriptions-transport-ws
	// client that arrives before its connection is acknowledged waits for the
	// connection_init that client sent just before it (handled by another,
	// concurrent invocation). Default 2 seconds.
	AckWait time.Duration
}

const (
	defaultMaxDocument       = 32 << 10
	defaultMaxDepth          = 20
	defaultMaxFields         = 2000
	defaultMaxAliases        = 50
	defaultMaxMutationFields = 10
	defaultMaxMessage        = 128 << 10
	defaultMaxContext        = 16 << 10
	defaultMaxSubscription   = 64 << 10
	defaultFanOut            = 1024
	defaultConnectionTTL     = 2*time.Hour + 10*time.Minute
	defaultSubprotocol       = transportws.Subprotocol
	unknownConnectionCode    = 1013 // Try Again Later: the client reconnects
	unknownConnectionReason  = "Connection state not found"
)

func (l Limits) withDefaults() Limits {
	if l.MaxIncomingBytes <= 0 {
		l.MaxIncomingBytes = defaultMaxMessage
	}
	if l.MaxOutgoingBytes <= 0 {
		l.MaxOutgoingBytes = defaultMaxMessage
	}
	if l.MaxContextBytes <= 0 {
		l.MaxContextBytes = defaultMaxContext
	}
	if l.MaxSubscriptionBytes <= 0 {
		l.MaxSubscriptionBytes = defaultMaxSubscription
	}
	if l.FanOutConcurrency <= 0 {
		l.FanOutConcurrency = defaultFanOut
	}
	if l.AckWait <= 0 {
		l.AckWait = 2 * time.Second
	}
	if l.StoreTimeout <= 0 {
		l.StoreTimeout = 5 * time.Second
	}
	l.MaxDocumentBytes = orDefault(l.MaxDocumentBytes, defaultMaxDocument)
	l.MaxDepth = orDefault(l.MaxDepth, defaultMaxDepth)
	l.MaxFields = orDefault(l.MaxFields, defaultMaxFields)
	l.MaxAliases = orDefault(l.MaxAliases, defaultMaxAliases)
	l.MaxMutationFields = orDefault(l.MaxMutationFields, defaultMaxMutationFields)
	if l.FrameRate == 0 {
		l.FrameRate = defaultFrameRate
	}
	if l.FrameBurst <= 0 {
		l.FrameBurst = defaultFrameBurst
	}
	l.MaxSubscriptionsPerConnection = orDefault(l.MaxSubscriptionsPerConnection, defaultMaxSubscriptions)
	l.MaxStrikes = orDefault(l.MaxStrikes, defaultMaxStrikes)
	return l
}

// orDefault is v, or def when v is zero; a negative v (no bound) stays.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// documentLimits are the bounds every document is checked against before
// the engine sees it.
func (s *Server) documentLimits() oplimit.Limits {
	return oplimit.Limits{
		MaxBytes:          s.limits.MaxDocumentBytes,
		MaxDepth:          s.limits.MaxDepth,
		MaxFields:         s.limits.MaxFields,
		MaxAliases:        s.limits.MaxAliases,
		MaxMutationFields: s.limits.MaxMutationFields,
		NoIntrospection:   s.noIntrospection,
	}
}

// prepare checks a document against the operation limits, in one linear
// pass, and only then hands it to the engine to parse and validate.
func (s *Server) prepare(ctx context.Context, query, operationName string) (Operation, error) {
	if v := oplimit.Check(query, s.documentLimits()); v != nil {
		return nil, &Error{Message: v.Message, Extensions: map[string]any{"code": v.Code}}
	}
	return s.engine.Prepare(ctx, query, operationName)
}

// Server is a GraphQL-over-WebSocket server for API Gateway WebSocket APIs
// and Lambda. Its handlers and methods are safe for concurrent use, also by
// several invocations at once in one process. A Server holds no connection
// state of its own: everything is in its Store, so any number of Lambda
// instances can serve one API.
type Server struct {
	engine    Engine
	store     store.Store
	events    store.EventStore
	sender    gateway.Sender
	hooks     Hooks
	limits    Limits
	log       *slog.Logger
	endpoint  string
	ttl       time.Duration
	perConn   bool
	now       func() time.Time
	protocols map[string]protocol.Server
	plain     bool // Config.PlainProtocol

	deliveries    store.DeliveryLog // nil: no deduplication of redeliveries
	scale         *scaleOut         // Config.ScaleOut resolved (scaleout.go); nil: off
	window, lease time.Duration

	contextFunc func(ctx context.Context, req ContextRequest) (context.Context, error)
	formatError func(ctx context.Context, err *Error) *Error

	activity store.ActivityIndex // nil: no activity recorded, no sweeps
	liveness Liveness

	noIntrospection bool
	// tel is the server's telemetry; nil when Config.Telemetry asks for
	// none.
	tel *telemetry.T
	// pending are the deletions of connections the store failed, to retry
	// (cleanup.go).
	pending pendingCleanups
	// conns are the connection records this process keeps (conncache.go).
	conns *connCache
	// frames are the connections' frame budgets and strikes; boundedSubs
	// reports that the store bounds a connection's subscriptions
	// (abuse.go).
	frames      limiter
	boundedSubs bool
	// execSeed seeds the hash of fan-out execution keys.
	execSeed maphash.Seed
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, ErrNoEngine
	}
	s := &Server{
		engine:   cfg.Engine,
		store:    cfg.Store,
		events:   cfg.Events,
		sender:   cfg.Sender,
		hooks:    cfg.Hooks,
		limits:   cfg.Limits.withDefaults(),
		log:      cfg.Logger,
		endpoint: cfg.Endpoint,
		ttl:      cfg.ConnectionTTL,
		perConn:  cfg.ExecutePerConnection,
		now:      cfg.Now,

		contextFunc: cfg.Context,
		formatError: cfg.FormatError,

		noIntrospection: cfg.DisableIntrospection,
		execSeed:        maphash.MakeSeed(),
		protocols: map[string]protocol.Server{
			transportws.Subprotocol: transportws.Server{},
			legacyws.Subprotocol:    legacyws.Server{},
			plainws.Name:            plainws.Server{},
		},
		plain: cfg.PlainProtocol,
	}
	if s.store == nil {
		if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
			return nil, ErrMemoryStoreOnLambda
		}
		s.store = memory.New(nil)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.ttl <= 0 {
		s.ttl = defaultConnectionTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.configureRedelivery(cfg.Redelivery)
	_, s.boundedSubs = s.store.(store.BoundedSubscriptions)
	s.conns = newConnCache(cfg.ConnectionCache)
	s.activity, _ = s.store.(store.ActivityIndex)
	s.liveness = cfg.Liveness.withDefaults()
	if err := s.configureScaleOut(cfg.ScaleOut); err != nil {
		return nil, err
	}
	tel, err := newTelemetry(cfg)
	if err != nil {
		return nil, fmt.Errorf("gqlambda: Config.Telemetry: %w", err)
	}
	s.tel = tel
	if tel.Tracing() {
		s.store, s.engine = tracedStore{s: s.store, tel: tel}, tracedEngine{e: s.engine, tel: tel}
	}
	s.store = boundedStore{s: s.store, timeout: s.limits.StoreTimeout}
	return s, nil
}

// reportError logs err and passes it to Hooks.OnError.
func (s *Server) reportError(ctx context.Context, err error, attrs ...slog.Attr) {
	s.log.LogAttrs(ctx, slog.LevelError, err.Error(), attrs...)
	s.tel.Fail(ctx, err)
	if s.hooks.OnError != nil {
		s.hooks.OnError(ctx, err)
	}
}
