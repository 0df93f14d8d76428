package localgateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// WebSocketHandler is the function an API Gateway WebSocket API invokes for
// $connect, $default and $disconnect: the same signature as a Lambda
// function handler, for instance gqlambda's Server.WebSocketHandler.
type WebSocketHandler func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// ErrNoHandler is returned by [New] when Options.Handler is nil.
var ErrNoHandler = errors.New("localgateway: Options.Handler is required")

// Defaults of [Options].
const (
	DefaultStage                 = "local"
	DefaultPath                  = "/graphql"
	DefaultMaxMessageBytes       = 128 << 10
	DefaultMaxFrameBytes         = 32 << 10
	DefaultIdleTimeout           = 10 * time.Minute
	DefaultMaxConnectionDuration = 2 * time.Hour
	DefaultWriteTimeout          = 10 * time.Second
	DefaultReadTimeout           = 15 * time.Second
	DefaultQueueLength           = 64
	DefaultPostTimeout           = time.Second
)

// Options configures a [Gateway]. Only Handler is required; every other
// zero field takes the value API Gateway has.
type Options struct {
	// Handler is called in process for $connect, $default and
	// $disconnect, as API Gateway invokes the Lambda function.
	Handler WebSocketHandler

	// Stage is the stage name, the first path segment of the @connections
	// endpoint http://{host}/{stage}. Default "local".
	Stage string

	// Path is where clients connect (ws://{host}{Path}) and where HTTP
	// serves plain requests. Default "/graphql". WebSocket handshakes are
	// also accepted at "/" and "/{Stage}", the path of API Gateway's own
	// URL (wss://{domain}/{stage}).
	Path string

	// APIID is the apiId of the events. Default: 10 random lowercase
	// letters and digits.
	APIID string

	// MaxMessageBytes is the largest message a client may send; a larger
	// one closes the connection with 1009 "Message too big", and is also
	// the largest @connections POST (413 above it). Default 131072 (128
	// KiB), API Gateway's limit.
	MaxMessageBytes int

	// MaxFrameBytes is the largest WebSocket frame a client may send; a
	// larger frame closes the connection with 1009 "Message too big", even
	// when its message is within MaxMessageBytes. Frames are measured on
	// the wire, from their headers, before their payload is read. Posted
	// messages larger than this are sent in several frames of at most
	// MaxFrameBytes, as API Gateway does. Default 32768 (32 KiB), API
	// Gateway's limit.
	MaxFrameBytes int

	// IdleTimeout closes a connection with 1001 "Going away" when no
	// message went either way for this long. Control frames (ping, pong)
	// are not messages. Default 10 minutes, API Gateway's limit.
	IdleTimeout time.Duration

	// MaxConnectionDuration closes a connection with 1001 "Going away" this
	// long after it was established. Default 2 hours, API Gateway's limit.
	MaxConnectionDuration time.Duration

	// WriteTimeout bounds the write of one posted message. A client that
	// does not take a message within it is disconnected, and the post
	// fails with gateway.ErrGone: a slow client never holds up the others.
	// Writes are checked every quarter of WriteTimeout (by one goroutine,
	// from the first connection until Shutdown), so a stalled write ends
	// within 1.25 times WriteTimeout. Default 10 seconds.
	WriteTimeout time.Duration

	// QueueLength is how many posted messages a connection holds before
	// its client has read them. A post is answered once its message is
	// queued, as API Gateway answers once it has accepted a message; the
	// connection's own writer writes the queue in order. Default 64 (at
	// most 8 MiB of 128 KiB messages per connection).
	QueueLength int

	// PostTimeout is how long a post waits for room in a connection's
	// full queue. A connection whose queue stays full that long is closed
	// with 1008 "Message queue full" and is gone (410) for later posts: a
	// client that stopped reading delays the posts to the others by at
	// most PostTimeout, once. Default 1 second.
	PostTimeout time.Duration

	// Credentials, when set, are the only AWS access keys the @connections
	// API accepts: each request must be signed with SigV4 by them (for any
	// region, service execute-api), as API Gateway checks the caller's
	// signature; a request signed otherwise, or not at all, is refused with
	// 403 before it posts, reads or closes anything. Presigned URLs are not
	// accepted then. Without them, any signature is accepted: a development
	// mode that lets anyone who reaches the gateway inject messages into any
	// connection and close it, announced by a WARN when the gateway is
	// created. The gateway's own Post and Close (its use as a Sender in
	// process) are not affected.
	Credentials *Credentials

	// ReadTimeout bounds the read of one HTTP request, headers and body
	// (GraphQL over HTTP, the @connections API, the WebSocket handshake):
	// a client that sends its request a byte at a time is disconnected
	// when it runs out. It does not apply to WebSocket connections once
	// they are open. Default 15 seconds (headers alone: 10 seconds).
	ReadTimeout time.Duration

	// CodelessClose makes [Gateway.Close] close connections as API
	// Gateway's DeleteConnection does: with a close frame without status
	// code (the client sees 1005, No Status Received) and a $disconnect
	// reporting 1000 "Connection Closed Normally". By default Close sends
	// the code and reason it is given, which API Gateway cannot. A DELETE
	// on the @connections API is always codeless unless it carries the
	// X-Gqlambda-Close-Code or X-Gqlambda-Close-Reason header.
	CodelessClose bool

	// AcceptBinary delivers binary messages to the handler, base64-encoded
	// with IsBase64Encoded set. By default a binary message closes the
	// connection with 1003 "Unsupported data", as API Gateway does.
	AcceptBinary bool

	// HTTP, when set, serves the requests to Path that are not WebSocket
	// handshakes, for instance GraphQL over HTTP (POST and GET /graphql).
	HTTP http.Handler

	// Files, when set, is served at "/" (index.html for directories), for
	// the requests no other route takes.
	Files fs.FS

	// Routes, when set, serves other paths of the local app (such as a
	// sign-in endpoint that API Gateway would not serve), each at exactly
	// its path, before Files. Paths the gateway serves itself take
	// precedence.
	Routes map[string]http.Handler

	// Authorizer, when set, is a Lambda REQUEST authorizer run before
	// every $connect (and, with Authorizer.HTTP, every request to
	// Options.HTTP), with API Gateway's semantics: a refusal answers the
	// handshake with 401 or 403, and the principalId and context of an
	// allowed connection reach every one of its events as
	// requestContext.authorizer. Default: none, every handshake goes to
	// $connect.
	Authorizer *Authorizer

	// Logger receives the gateway's logs. Default: discard.
	Logger *slog.Logger

	// Now is the clock of the events' and the @connections API's
	// timestamps. Default time.Now. Timeouts always use the real clock.
	Now func() time.Time
}

// Gateway emulates an API Gateway WebSocket API: it accepts WebSocket
// connections, invokes the handler for their $connect, $default and
// $disconnect events as API Gateway invokes a Lambda function, and serves
// the @connections management API at http://{host}/{stage}/@connections/{id}
// (and /@connections/{id}).
//
// A Gateway is an http.Handler; serve it with [Gateway.Serve],
// [Gateway.ListenAndServe] or any http.Server, such as
// httptest.NewServer(g). It is also a Sender of the gqlambda package:
// [Gateway.Post] and [Gateway.Close] reach its connections in process.
//
// The messages of one connection are handled one at a time, in arrival
// order, so that protocols see their frames in order; different connections
// are handled concurrently. API Gateway itself may invoke the handler for
// several messages of a connection at once.
type Gateway struct {
	handler      WebSocketHandler
	stage        string
	path         string
	apiID        string
	maxMessage   int64
	maxFrame     int64
	idle         time.Duration
	maxDuration  time.Duration
	writeTimeout time.Duration
	readTimeout  time.Duration
	queueLength  int
	postTimeout  time.Duration
	codeless     bool
	acceptBinary bool
	creds        *Credentials
	http         http.Handler
	files        http.Handler
	routes       map[string]http.Handler
	authorizer   *Authorizer
	log          *slog.Logger
	now          func() time.Time

	// ctx is the context of the handler's invocations; cancel ends it
	// when a Shutdown gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.RWMutex
	conns    map[string]*conn
	shutdown bool
	// sweeping is set once the goroutine that enforces WriteTimeout runs;
	// stopSweep ends it.
	sweeping  bool
	stopSweep chan struct{}
	// wg counts the handshakes and connections in progress and the
	// closes they started.
	wg sync.WaitGroup
}

// New validates opts and returns a Gateway.
func New(opts Options) (*Gateway, error) {
	if opts.Handler == nil {
		return nil, ErrNoHandler
	}
	g := &Gateway{
		handler:      opts.Handler,
		stage:        cmp.Or(opts.Stage, DefaultStage),
		path:         cmp.Or(opts.Path, DefaultPath),
		apiID:        opts.APIID,
		maxMessage:   int64(positive(opts.MaxMessageBytes, DefaultMaxMessageBytes)),
		maxFrame:     int64(positive(opts.MaxFrameBytes, DefaultMaxFrameBytes)),
		idle:         positive(opts.IdleTimeout, DefaultIdleTimeout),
		maxDuration:  positive(opts.MaxConnectionDuration, DefaultMaxConnectionDuration),
		writeTimeout: positive(opts.WriteTimeout, DefaultWriteTimeout),
		readTimeout:  positive(opts.ReadTimeout, DefaultReadTimeout),
		queueLength:  positive(opts.QueueLength, DefaultQueueLength),
		postTimeout:  positive(opts.PostTimeout, DefaultPostTimeout),
		codeless:     opts.CodelessClose,
		creds:        opts.Credentials,
		acceptBinary: opts.AcceptBinary,
		http:         opts.HTTP,
		routes:       opts.Routes,
		log:          opts.Logger,
		now:          opts.Now,
		conns:        make(map[string]*conn),
		stopSweep:    make(chan struct{}),
	}
	if !strings.HasPrefix(g.path, "/") {
		return nil, fmt.Errorf("localgateway: Options.Path %q does not begin with /", g.path)
	}
	if strings.ContainsAny(g.stage, "/?#") || strings.HasPrefix(g.stage, "@") {
		return nil, fmt.Errorf("localgateway: invalid Options.Stage %q", g.stage)
	}
	if g.apiID == "" {
		g.apiID = newAPIID()
	}
	if opts.Files != nil {
		g.files = http.FileServerFS(opts.Files)
	}
	if a := opts.Authorizer; a != nil {
		if a.Func == nil {
			return nil, errors.New("localgateway: Options.Authorizer.Func is required")
		}
		if err := errors.Join(validIdentitySources(a.IdentitySource, "route.request."), validIdentitySources(a.HTTPIdentitySource, "$request.")); err != nil {
			return nil, err
		}
		g.authorizer = a
		if a.HTTP && g.http != nil {
			g.http = g.authorizeHTTP(g.http)
		}
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.creds != nil && (g.creds.AccessKeyID == "" || g.creds.SecretAccessKey == "") {
		return nil, errors.New("localgateway: Options.Credentials needs an access key id and a secret access key")
	}
	if g.creds == nil {
		g.log.Warn("localgateway: the @connections API accepts any signature (development mode): anyone who reaches it can post to and close any connection; set Options.Credentials to verify SigV4")
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g, nil
}

func positive[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Stage returns the stage name.
func (g *Gateway) Stage() string { return g.stage }

// Path returns the WebSocket path.
func (g *Gateway) Path() string { return g.path }

// APIID returns the API id of the events.
func (g *Gateway) APIID() string { return g.apiID }

// Connections returns the ids of the open connections, sorted. A connection
// being closed is no longer open.
func (g *Gateway) Connections() []string {
	g.mu.Lock()
	ids := make([]string, 0, len(g.conns))
	for id, c := range g.conns {
		if !c.isClosing() {
			ids = append(ids, id)
		}
	}
	g.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// ServeHTTP serves everything on one listener: the @connections API, the
// WebSocket handshakes, Options.HTTP at Path and Options.Files.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segments := pathSegments(r.URL)
	if id, ok := g.connectionsRoute(segments); ok {
		g.serveConnections(w, r, id)
		return
	}
	if isUpgrade(r) && g.isWebSocketPath(r.URL.Path) {
		g.serveWebSocket(w, r)
		return
	}
	if g.http != nil && r.URL.Path == g.path {
		g.http.ServeHTTP(w, r)
		return
	}
	if h, ok := g.routes[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	if g.files != nil {
		g.files.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

// pathSegments splits the escaped path of u and unescapes each segment, so
// that a connection id keeps an escaped "/" or "=".
func pathSegments(u *url.URL) []string {
	parts := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if s, err := url.PathUnescape(p); err == nil {
			parts[i] = s
		}
	}
	return parts
}

// connectionsRoute recognises /{stage}/@connections/{id} and
// /@connections/{id}.
func (g *Gateway) connectionsRoute(segments []string) (string, bool) {
	switch {
	case len(segments) == 2 && segments[0] == "@connections" && segments[1] != "":
		return segments[1], true
	case len(segments) == 3 && segments[0] == g.stage && segments[1] == "@connections" && segments[2] != "":
		return segments[2], true
	}
	return "", false
}

func (g *Gateway) isWebSocketPath(p string) bool {
	return p == g.path || p == "/" || p == "/"+g.stage
}

// isUpgrade reports whether r asks for a WebSocket.
func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// track counts a handshake in g.wg, unless the gateway is shut down.
func (g *Gateway) track() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutdown {
		return false
	}
	g.wg.Add(1)
	return true
}

// lookup returns the open connection id.
func (g *Gateway) lookup(id string) *conn {
	g.mu.RLock()
	c := g.conns[id]
	g.mu.RUnlock()
	if c == nil {
		return nil
	}
	<-c.ready
	if c.isClosing() {
		return nil
	}
	return c
}

// invoke calls the handler, turning a panic into an error as the Lambda
// runtime reports a crashed invocation.
func (g *Gateway) invoke(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (resp events.APIGatewayProxyResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("localgateway: %s handler panicked: %v", ev.RequestContext.RouteKey, p)
		}
	}()
	return g.handler(ctx, ev)
}

// Shutdown closes every connection with 1001 "Going away", invokes the
// handler with their $disconnect and waits for all invocations to end.
// Handshakes arriving afterwards are refused with 503. If ctx ends first,
// the remaining connections are dropped, the context of the invocations
// still running is cancelled and ctx's error is returned.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.shutdown = true
	conns := make([]*conn, 0, len(g.conns))
	for _, c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		<-c.ready
		if c.ws != nil {
			g.startClose(c, closeGoingAway)
		}
	}
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		g.endSweep()
		return nil
	case <-ctx.Done():
		g.cancel()
		g.mu.Lock()
		for _, c := range g.conns {
			select {
			case <-c.ready:
				if c.guard != nil {
					c.drop()
				}
			default:
			}
		}
		g.mu.Unlock()
		g.endSweep()
		return fmt.Errorf("localgateway: shutdown: %w", ctx.Err())
	}
}

// register adds the connection c, and starts the goroutine that enforces
// WriteTimeout with the first one.
func (g *Gateway) register(c *conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.conns[c.id] = c
	if !g.sweeping && !g.shutdown {
		g.sweeping = true
		go g.sweep()
	}
}

// endSweep stops the goroutine that enforces WriteTimeout.
func (g *Gateway) endSweep() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sweeping {
		g.sweeping = false
		close(g.stopSweep)
	}
}

// sweep disconnects, every quarter of WriteTimeout, the connections whose
// current post has been writing for longer than WriteTimeout: a post's
// write is bounded by WriteTimeout and a quarter of it at most. One
// goroutine for every connection, instead of a timer per write.
func (g *Gateway) sweep() {
	t := time.NewTicker(max(g.writeTimeout/4, time.Millisecond))
	defer t.Stop()
	var late []*conn
	for {
		select {
		case <-g.stopSweep:
			return
		case <-t.C:
		}
		now := time.Now()
		late = late[:0]
		g.mu.RLock()
		for _, c := range g.conns {
			if at := c.writing.Load(); at != 0 && now.Sub(c.start)-time.Duration(at) > g.writeTimeout {
				late = append(late, c)
			}
		}
		g.mu.RUnlock()
		for _, c := range late {
			c.drop()
		}
	}
}
