package localgateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// closeSpec is how the gateway closes a connection: the close frame the
// client gets and the status the $disconnect event reports.
type closeSpec struct {
	// wire is the code of the close frame; StatusNoStatusRcvd sends a
	// close frame without code.
	wire   websocket.StatusCode
	reason string
	// code and report are the $disconnect event's disconnectStatusCode and
	// disconnectReason.
	code   int
	report string
}

var (
	// closeGoingAway ends idle connections, connections at their maximum
	// duration, and all of them on Shutdown.
	closeGoingAway = closeSpec{wire: websocket.StatusGoingAway, reason: "Going away", code: 1001, report: "Going away"}
	// closeTooBig answers a frame or message over the limits.
	closeTooBig = closeSpec{wire: websocket.StatusMessageTooBig, reason: "Message too big", code: 1009, report: "Message too big"}
	// closeUnsupported answers a binary message.
	closeUnsupported = closeSpec{wire: websocket.StatusUnsupportedData, reason: "Unsupported data", code: 1003, report: "Unsupported data"}
	// closeQueueFull ends a connection whose client does not read the
	// messages posted to it (see conn.enqueue).
	closeQueueFull = closeSpec{wire: websocket.StatusPolicyViolation, reason: "Message queue full", code: 1008, report: "Message queue full"}
	// closeCodeless is DeleteConnection's close.
	closeCodeless = closeSpec{wire: websocket.StatusNoStatusRcvd, code: 1000, report: "Connection Closed Normally"}
)

// conn is an open connection.
type conn struct {
	id          string
	domain      string // the Host the client connected to
	sourceIP    string
	userAgent   string
	connectedAt time.Time // by the gateway's clock
	start       time.Time // by the real clock, for timeouts

	// authorizer is the authorizer context of the connection's events
	// (principalId, context keys, integrationLatency); nil without an
	// authorizer. Set before $connect, never changed.
	authorizer map[string]any

	ws    *websocket.Conn
	guard *frameGuard

	// queue holds the posted messages the connection's writer goroutine
	// has not written yet (at most Options.QueueLength); closeReq takes
	// the close the writer sends once it has written what is queued.
	queue    chan []byte
	closeReq chan closeSpec
	// writing is when the write of the current message started, as a
	// duration since start (at least 1); 0 when no message is being
	// written. The gateway's sweep goroutine disconnects a connection
	// whose write takes longer than WriteTimeout.
	writing atomic.Int64
	// buf holds the message being read, reused from one message to the
	// next.
	buf bytes.Buffer

	// lastActive is the real time of the last message either way, as a
	// duration since start; lastActiveAt is the same by the gateway's
	// clock, in Unix nanoseconds.
	lastActive   atomic.Int64
	lastActiveAt atomic.Int64

	mu      sync.Mutex
	closing bool
	code    int    // the $disconnect status, once closing
	reason  string // the $disconnect reason, once closing

	// ready is closed once ws and guard are set, or the handshake failed
	// (the connection is then closing).
	ready chan struct{}
	// closeDone is closed when a close started by the gateway has ended.
	closeDone chan struct{}
	// done is closed when the connection has ended.
	done chan struct{}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// drop closes the client's TCP connection without a close frame; the
// connection then ends as an abnormal closure unless it was closing.
func (c *conn) drop() {
	c.guard.Conn.Close()
}

func (c *conn) touch(now time.Time) {
	c.lastActive.Store(int64(time.Since(c.start)))
	c.lastActiveAt.Store(now.UnixNano())
}

// verifyHandshake checks what the WebSocket library would refuse, so that a
// malformed handshake never reaches $connect, as on API Gateway.
func verifyHandshake(r *http.Request) (int, error) {
	switch {
	case r.Method != http.MethodGet:
		return http.StatusMethodNotAllowed, errors.New("WebSocket handshake method is not GET")
	case !r.ProtoAtLeast(1, 1):
		return http.StatusUpgradeRequired, errors.New("WebSocket handshake needs HTTP/1.1")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return http.StatusBadRequest, errors.New("unsupported WebSocket version: only 13 is supported")
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return http.StatusBadRequest, errors.New("WebSocket handshake needs one Sec-WebSocket-Key")
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return http.StatusBadRequest, errors.New("invalid Sec-WebSocket-Key")
	}
	return 0, nil
}

// serveWebSocket runs a connection from its handshake to its $disconnect.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !g.track() {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	defer g.wg.Done()
	if status, err := verifyHandshake(r); err != nil {
		http.Error(w, err.Error(), status)
		return
	}

	now := g.now()
	c := &conn{
		id:          newID(),
		domain:      r.Host,
		sourceIP:    remoteIP(r),
		userAgent:   r.UserAgent(),
		connectedAt: now,
		start:       time.Now(),
		queue:       make(chan []byte, g.queueLength),
		closeReq:    make(chan closeSpec, 1),
		ready:       make(chan struct{}),
		closeDone:   make(chan struct{}),
		done:        make(chan struct{}),
	}
	c.lastActiveAt.Store(now.UnixNano())
	log := g.log.With(slog.String("connection_id", c.id))
	// One event: the authorizer reads its headers and request id, and
	// $connect gets it with the authorizer's context.
	ev := g.connectEvent(r, c)
	if !g.authorizeConnect(w, r, &ev, c, log) {
		return
	}

	// $connect decides before the handshake is answered.
	resp, err := g.invoke(g.ctx, ev)
	if err != nil {
		log.ErrorContext(g.ctx, "localgateway: $connect handler failed", slog.Any("error", err))
		resp = events.APIGatewayProxyResponse{
			StatusCode: http.StatusInternalServerError,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       `{"message": "Internal server error"}`,
		}
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 299 {
		log.InfoContext(g.ctx, "localgateway: connection refused by $connect", slog.Int("status", status))
		refuse(w, status, resp)
		return
	}

	// API Gateway passes the handler's Sec-WebSocket-Protocol through as
	// it is: a client that did not offer it fails the handshake.
	if proto := responseHeader(resp, "Sec-WebSocket-Protocol"); proto != "" {
		w.Header().Set("Sec-WebSocket-Protocol", proto)
	}
	// The connection is registered as the 101 response goes out, so that
	// a client may be posted to as soon as its handshake completes; the
	// gateway's calls wait for it to be ready.
	gw := &guardWriter{ResponseWriter: w, maxFrame: g.maxFrame, maxMessage: g.maxMessage, onHijack: func() {
		g.register(c)
	}}
	ws, err := websocket.Accept(gw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // API Gateway does not check Origin
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		// $connect succeeded: let the handler forget the connection.
		log.ErrorContext(g.ctx, "localgateway: WebSocket handshake failed after $connect", slog.Any("error", err))
		c.mu.Lock()
		c.closing, c.code = true, 1006
		c.mu.Unlock()
		g.mu.Lock()
		delete(g.conns, c.id)
		g.mu.Unlock()
		close(c.ready)
		g.disconnect(c, log)
		return
	}
	ws.SetReadLimit(g.maxMessage) // the guard stops larger messages first
	c.ws, c.guard = ws, gw.guard
	c.lastActive.Store(int64(time.Since(c.start))) // idle from now on
	close(c.ready)

	g.mu.Lock()
	shutdown := g.shutdown
	g.mu.Unlock()
	log.DebugContext(g.ctx, "localgateway: connected", slog.String("subprotocol", ws.Subprotocol()))
	g.wg.Go(func() { g.write(c) })
	if shutdown {
		g.startClose(c, closeGoingAway)
	}
	g.wg.Go(func() { g.watch(c) })
	g.read(c, log)
}

// refuse answers a handshake with the handler's refusal.
func refuse(w http.ResponseWriter, status int, resp events.APIGatewayProxyResponse) {
	if status < 200 || status > 999 { // not a final HTTP status
		status = http.StatusInternalServerError
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Del("Content-Length")
	h.Del("Sec-WebSocket-Protocol")
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	w.WriteHeader(status)
	w.Write(body)
}

// read delivers the connection's messages one at a time, then its
// $disconnect. Reads are not bounded by a context (the watch goroutine, the
// gateway's closes and Shutdown end them by closing the connection), which
// spares the WebSocket library a timer per frame.
func (g *Gateway) read(c *conn, log *slog.Logger) {
	ctx := context.WithoutCancel(g.ctx)
	for {
		typ, err := c.readMessage(ctx)
		if err != nil {
			if c.guard != nil && c.guard.tooBig.Load() {
				log.InfoContext(g.ctx, "localgateway: frame or message too big: closing")
				g.startClose(c, closeTooBig)
			}
			g.finish(c, err, log)
			return
		}
		if c.isClosing() {
			continue // a message that crossed the gateway's close frame
		}
		c.touch(g.now())
		binary := typ == websocket.MessageBinary
		if binary && !g.acceptBinary {
			log.InfoContext(g.ctx, "localgateway: binary message: closing")
			g.startClose(c, closeUnsupported)
			continue
		}
		ev := g.messageEvent(c, c.buf.Bytes(), binary)
		if _, err := g.invoke(g.ctx, ev); err != nil {
			log.ErrorContext(g.ctx, "localgateway: $default handler failed", slog.Any("error", err))
			c.enqueue(g.ctx, g, internalErrorFrame(c.id, ev.RequestContext.RequestID))
		}
	}
}

// readMessage reads the next message into c.buf.
func (c *conn) readMessage(ctx context.Context) (websocket.MessageType, error) {
	typ, r, err := c.ws.Reader(ctx)
	if err != nil {
		return 0, err
	}
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(r); err != nil {
		return 0, err
	}
	return typ, nil
}

// finish ends a connection whose reads failed: the client closed it, it
// dropped, or the gateway closed it.
func (g *Gateway) finish(c *conn, err error, log *slog.Logger) {
	code, reason := 1006, "" // abnormal closure: no close frame
	if ce, ok := errors.AsType[websocket.CloseError](err); ok {
		code, reason = int(ce.Code), ce.Reason
	}
	c.mu.Lock()
	byGateway := c.closing
	if !c.closing {
		c.closing, c.code, c.reason = true, code, reason
	}
	c.mu.Unlock()
	if byGateway {
		<-c.closeDone
	} else {
		c.ws.CloseNow()
	}
	g.mu.Lock()
	delete(g.conns, c.id)
	g.mu.Unlock()
	close(c.done)
	g.disconnect(c, log)
}

// disconnect invokes the handler with the connection's $disconnect.
func (g *Gateway) disconnect(c *conn, log *slog.Logger) {
	log.DebugContext(g.ctx, "localgateway: disconnected", slog.Int("code", c.code), slog.String("reason", c.reason))
	if _, err := g.invoke(g.ctx, g.disconnectEvent(c, c.code, c.reason)); err != nil {
		log.ErrorContext(g.ctx, "localgateway: $disconnect handler failed", slog.Any("error", err))
	}
}

// startClose closes the connection as s says, unless it is already
// closing. The close handshake runs in the background; the connection is
// gone for Post and Close at once.
func (g *Gateway) startClose(c *conn, s closeSpec) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.closing, c.code, c.reason = true, s.code, s.report
	c.mu.Unlock()
	c.closeReq <- s // the writer sends it after the messages queued before it
	return true
}

// watch closes the connection when it has been idle for too long or has
// reached its maximum duration.
func (g *Gateway) watch(c *conn) {
	life := time.NewTimer(g.maxDuration)
	defer life.Stop()
	idle := time.NewTimer(g.idle)
	defer idle.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-life.C:
			g.startClose(c, closeGoingAway)
			return
		case <-idle.C:
			quiet := time.Since(c.start) - time.Duration(c.lastActive.Load())
			if quiet >= g.idle {
				g.startClose(c, closeGoingAway)
				return
			}
			idle.Reset(g.idle - quiet)
		}
	}
}

// enqueue queues frame for the connection's writer, as API Gateway accepts
// a message before its client has read it: a post is answered at once,
// whatever the client's speed. When the queue is full it waits up to
// PostTimeout for room; a connection whose queue stays full that long is
// closed with 1008 (Policy Violation) and is gone for every later post, so
// one client that does not read never holds up the posts to the others for
// longer than PostTimeout.
func (c *conn) enqueue(ctx context.Context, g *Gateway, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return errClosing
	}
	select {
	case c.queue <- frame:
		c.mu.Unlock()
		return nil
	default:
	}
	c.mu.Unlock()
	wait := time.NewTimer(g.postTimeout)
	defer wait.Stop()
	select {
	case c.queue <- frame:
		// Room was made; a close that began meanwhile still writes what
		// was queued before its close frame.
		return nil
	case <-c.done:
		return errClosing
	case <-ctx.Done():
		return ctx.Err()
	case <-wait.C:
	}
	if g.startClose(c, closeQueueFull) {
		g.log.InfoContext(g.ctx, "localgateway: the client does not read its messages: closing",
			slog.String("connection_id", c.id), slog.Int("queued", len(c.queue)))
		if c.writing.Load() != 0 {
			// The writer is stuck in a write the client does not take: the
			// close frame could never follow it.
			c.drop()
		}
	}
	return errQueueFull
}

var (
	errClosing   = errors.New("the connection is closing")
	errQueueFull = errors.New("the connection's message queue stayed full: the client does not read")
)

// write is the connection's writer: it writes the queued messages in
// order, then the close frame of a close the gateway started. A write that
// fails has dropped the connection; the queued messages are then
// discarded.
func (g *Gateway) write(c *conn) {
	broken := false // a write failed: the connection was dropped
	for {
		if broken {
			// Nothing more is written: the queue is left as it is (posts
			// wait for room until the connection ends, then fail), and the
			// writer waits for the end.
			select {
			case <-c.closeReq:
				c.ws.CloseNow()
				close(c.closeDone)
			case <-c.done:
			}
			return
		}
		select {
		case frame := <-c.queue:
			broken = !c.writeMessage(g, frame)
		case s := <-c.closeReq:
			if s.code != closeQueueFull.code {
				// What was posted before the close reaches the client
				// before the close frame, as the protocols expect (an
				// error message, then its close code).
			drain:
				for !broken {
					select {
					case frame := <-c.queue:
						broken = !c.writeMessage(g, frame)
					default:
						break drain
					}
				}
			}
			if broken {
				c.ws.CloseNow()
			} else {
				c.ws.Close(s.wire, s.reason)
			}
			close(c.closeDone)
			return
		case <-c.done:
			return
		}
	}
}

// writeMessage writes frame to the client as one message: a text message
// when it is UTF-8, binary otherwise, in frames of at most MaxFrameBytes.
// The write is bounded by WriteTimeout (see Gateway.sweep); a client that
// cannot take the message in time is disconnected. It reports whether the
// message was written; after a failed write the connection is dropped.
func (c *conn) writeMessage(g *Gateway, frame []byte) bool {
	typ := websocket.MessageText
	if !utf8.Valid(frame) {
		typ = websocket.MessageBinary
	}
	// A context without Done: the WebSocket library then sets up no timer
	// of its own.
	wctx := context.Background()
	c.writing.Store(max(1, int64(time.Since(c.start))))
	var err error
	if int64(len(frame)) <= g.maxFrame {
		err = c.ws.Write(wctx, typ, frame)
	} else {
		err = writeFragmented(wctx, c.ws, typ, frame, int(g.maxFrame))
	}
	c.writing.Store(0)
	if err != nil {
		c.drop()
		return false
	}
	c.touch(g.now())
	return true
}

// writeFragmented writes frame as one message in frames of at most size
// bytes.
func writeFragmented(ctx context.Context, ws *websocket.Conn, typ websocket.MessageType, frame []byte, size int) error {
	w, err := ws.Writer(ctx, typ)
	if err != nil {
		return err
	}
	for len(frame) > 0 {
		n := min(len(frame), size)
		if _, err := w.Write(frame[:n]); err != nil {
			return err
		}
		frame = frame[n:]
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("finish message: %w", err)
	}
	return nil
}
