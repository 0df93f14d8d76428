package localgateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/gateway"
)

var (
	_ gateway.Sender    = (*Gateway)(nil)
	_ gateway.Inspector = (*Gateway)(nil)
)

// Headers of a DELETE on the @connections API that choose the close frame,
// an extension of this emulator: API Gateway's DeleteConnection always
// closes without a status code.
const (
	// CloseCodeHeader carries the close code to send, for instance 4401.
	CloseCodeHeader = "X-Gqlambda-Close-Code"
	// CloseReasonHeader carries the close reason to send; without
	// CloseCodeHeader the code is 1000.
	CloseReasonHeader = "X-Gqlambda-Close-Reason"
)

// maxCloseReason is the longest close reason a close frame holds.
const maxCloseReason = 123

// Post sends frame to the connection as one message, as the @connections
// API's PostToConnection does: a text message when frame is UTF-8, binary
// otherwise. endpoint is ignored, since a Gateway is one API. Post returns
// once the message is queued for the connection, as API Gateway answers
// once it has accepted a message: the connection's own writer writes its
// messages in order, so a client that reads slowly delays no other. The
// error wraps gateway.ErrGone when the connection does not exist, is
// closing, or its queue stayed full for PostTimeout (it is then closed
// with 1008), and gateway.ErrPayloadTooLarge when frame is over
// MaxMessageBytes. A client that does not take a message within
// WriteTimeout is disconnected.
func (g *Gateway) Post(ctx context.Context, endpoint, connectionID string, frame []byte) error {
	if int64(len(frame)) > g.maxMessage {
		return fmt.Errorf("localgateway: post to %s: %d bytes, over %d: %w", connectionID, len(frame), g.maxMessage, gateway.ErrPayloadTooLarge)
	}
	c := g.lookup(connectionID)
	if c == nil {
		return fmt.Errorf("localgateway: post to %s: %w", connectionID, gateway.ErrGone)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localgateway: post to %s: %w", connectionID, err)
	}
	if err := c.enqueue(ctx, g, frame); err != nil {
		return fmt.Errorf("localgateway: post to %s: %w: %w", connectionID, gateway.ErrGone, err)
	}
	return nil
}

// Close closes the connection with code and reason, or, with
// Options.CodelessClose, as API Gateway's DeleteConnection does: with a
// close frame without status code. The reason is cut to the 123 bytes a
// close frame holds. Closing a connection that is gone or already closing
// succeeds, as it does with apigw.Client. Close returns once the
// connection is gone for Post; the close handshake and the $disconnect
// follow in the background.
func (g *Gateway) Close(ctx context.Context, endpoint, connectionID string, code int, reason string) error {
	s := closeCodeless
	if !g.codeless {
		var err error
		if s, err = closeWith(code, reason); err != nil {
			return fmt.Errorf("localgateway: close %s: %w", connectionID, err)
		}
	}
	if c := g.lookup(connectionID); c != nil {
		g.startClose(c, s)
	}
	return nil
}

// Get describes the connection, as the @connections API's GetConnection
// does: when it connected, when it last sent or received a message, and
// its client's address and User-Agent. endpoint is ignored, since a Gateway
// is one API. The error wraps gateway.ErrGone when the connection does not
// exist or is closing.
func (g *Gateway) Get(ctx context.Context, endpoint, connectionID string) (gateway.ConnectionInfo, error) {
	if err := ctx.Err(); err != nil {
		return gateway.ConnectionInfo{}, fmt.Errorf("localgateway: get %s: %w", connectionID, err)
	}
	c := g.lookup(connectionID)
	if c == nil {
		return gateway.ConnectionInfo{}, fmt.Errorf("localgateway: get %s: %w", connectionID, gateway.ErrGone)
	}
	return c.info(), nil
}

// info is what GetConnection tells of c, to the millisecond, as the
// @connections API's timestamps carry.
func (c *conn) info() gateway.ConnectionInfo {
	return gateway.ConnectionInfo{
		ConnectedAt:  c.connectedAt.UTC().Truncate(time.Millisecond),
		LastActiveAt: time.Unix(0, c.lastActiveAt.Load()).UTC().Truncate(time.Millisecond),
		SourceIP:     c.sourceIP,
		UserAgent:    c.userAgent,
	}
}

// closeWith returns the closeSpec of an explicit code and reason.
func closeWith(code int, reason string) (closeSpec, error) {
	if !validCloseCode(code) {
		return closeSpec{}, fmt.Errorf("close code %d cannot be sent", code)
	}
	reason = truncate(reason, maxCloseReason)
	return closeSpec{wire: websocket.StatusCode(code), reason: reason, code: code, report: reason}, nil
}

// validCloseCode reports whether a close frame may carry code.
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// connectionInfo is GetConnection's answer.
type connectionInfo struct {
	ConnectedAt  string   `json:"connectedAt"`
	Identity     identity `json:"identity"`
	LastActiveAt string   `json:"lastActiveAt"`
}

type identity struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// timestamp formats t as the @connections API does (ISO 8601, UTC,
// milliseconds).
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// serveConnections serves the @connections API for connection id: POST
// sends a message, GET describes the connection, DELETE closes it. With
// Options.Credentials, a request must be signed with SigV4 by them (403
// otherwise, as AWS answers); without, any Authorization header is
// accepted, but a request with none is refused with 403 as AWS refuses
// unsigned calls.
func (g *Gateway) serveConnections(w http.ResponseWriter, r *http.Request, id string) {
	w.Header().Set("x-amzn-RequestId", newRequestID())
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.maxMessage))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			apiError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Request entity too large")
			return
		}
		apiError(w, http.StatusBadRequest, "BadRequestException", "Could not read the request body")
		return
	}
	if typ, msg := g.verify(r, body); typ != "" {
		g.log.InfoContext(r.Context(), "localgateway: @connections request refused", slog.String("method", r.Method),
			slog.String("connection_id", id), slog.String("reason", typ), slog.String("remote", r.RemoteAddr))
		apiError(w, http.StatusForbidden, typ, msg)
		return
	}
	switch r.Method {
	case http.MethodPost:
		switch err := g.Post(r.Context(), "", id, body); {
		case err == nil:
			w.WriteHeader(http.StatusOK)
		case errors.Is(err, gateway.ErrGone):
			gone(w)
		case errors.Is(err, gateway.ErrPayloadTooLarge):
			apiError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Request entity too large")
		default:
			apiError(w, http.StatusInternalServerError, "InternalServerErrorException", err.Error())
		}
	case http.MethodGet:
		info, err := g.Get(r.Context(), "", id)
		if err != nil {
			gone(w)
			return
		}
		b, _ := json.Marshal(connectionInfo{
			ConnectedAt:  timestamp(info.ConnectedAt),
			Identity:     identity{SourceIP: info.SourceIP, UserAgent: info.UserAgent},
			LastActiveAt: timestamp(info.LastActiveAt),
		})
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	case http.MethodDelete:
		s := closeCodeless
		if r.Header.Get(CloseCodeHeader) != "" || r.Header.Get(CloseReasonHeader) != "" {
			code := 1000
			if v := r.Header.Get(CloseCodeHeader); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					apiError(w, http.StatusBadRequest, "BadRequestException", "Invalid "+CloseCodeHeader)
					return
				}
				code = n
			}
			var err error
			if s, err = closeWith(code, r.Header.Get(CloseReasonHeader)); err != nil {
				apiError(w, http.StatusBadRequest, "BadRequestException", err.Error())
				return
			}
		}
		c := g.lookup(id)
		if c == nil || !g.startClose(c, s) {
			gone(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "DELETE, GET, POST")
		apiError(w, http.StatusMethodNotAllowed, "MethodNotAllowedException", "Method not allowed")
	}
}

// gone answers for a connection that does not exist (any more).
func gone(w http.ResponseWriter) {
	apiError(w, http.StatusGone, "GoneException", "Gone")
}

// apiError writes an AWS JSON error: the SDKs read the type from
// x-amzn-ErrorType, so a 410 becomes types.GoneException.
func apiError(w http.ResponseWriter, status int, typ, message string) {
	b, _ := json.Marshal(map[string]string{"message": message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-ErrorType", typ)
	w.WriteHeader(status)
	w.Write(b)
}

// newRequestID returns a random UUID for x-amzn-RequestId.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
