package localgateway

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// requestTimeLayout is the format of requestContext.requestTime, for
// instance "21/Nov/2026:10:15:38 +0000".
const requestTimeLayout = "02/Jan/2006:15:04:05 -0700"

// newID returns an identifier shaped like API Gateway's connection, request
// and message ids: 11 random bytes in padded URL-safe base64, 16 characters
// ending in "=", such as "BJq2UdL9joECGhg=" or "VNRXVFJOywMF3-Q=".
func newID() string {
	var b [11]byte
	rand.Read(b[:])
	return base64.URLEncoding.EncodeToString(b[:])
}

// newAPIID returns a random API id: 10 lowercase letters and digits.
func newAPIID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [10]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// newTraceID returns an X-Amzn-Trace-Id header value.
func newTraceID(now time.Time) string {
	var b [12]byte
	rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b[:]))
}

// headerName spells a header as browsers send it and API Gateway passes
// it on, where that differs from Go's canonical form.
func headerName(canonical string) string {
	switch canonical {
	case "Sec-Websocket-Key":
		return "Sec-WebSocket-Key"
	case "Sec-Websocket-Version":
		return "Sec-WebSocket-Version"
	case "Sec-Websocket-Extensions":
		return "Sec-WebSocket-Extensions"
	case "Sec-Websocket-Protocol":
		return "Sec-WebSocket-Protocol"
	}
	return canonical
}

// isHopByHop reports whether API Gateway keeps a header of the handshake
// from $connect.
func isHopByHop(canonical string) bool {
	switch canonical {
	case "Connection", "Upgrade", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding":
		return true
	}
	return false
}

// requestContext fills the fields every event of a connection carries.
func (g *Gateway) requestContext(c *conn, routeKey, eventType string, now time.Time) events.APIGatewayWebsocketProxyRequestContext {
	id := newID()
	rc := events.APIGatewayWebsocketProxyRequestContext{
		RouteKey:          routeKey,
		EventType:         eventType,
		ExtendedRequestID: id,
		RequestTime:       now.UTC().Format(requestTimeLayout),
		MessageDirection:  "IN",
		Stage:             g.stage,
		ConnectedAt:       c.connectedAt.UnixMilli(),
		RequestTimeEpoch:  now.UnixMilli(),
		Identity: events.APIGatewayRequestIdentity{
			SourceIP:  c.sourceIP,
			UserAgent: c.userAgent,
		},
		RequestID:    id,
		DomainName:   c.domain,
		ConnectionID: c.id,
		APIID:        g.apiID,
	}
	if c.authorizer != nil {
		rc.Authorizer = c.authorizer // on every event, as API Gateway does
	}
	return rc
}

// connectEvent builds the $connect event of the handshake r: its headers as
// API Gateway forwards them (hop-by-hop headers removed, X-Forwarded-* and
// X-Amzn-Trace-Id added) and its query string.
func (g *Gateway) connectEvent(r *http.Request, c *conn) events.APIGatewayWebsocketProxyRequest {
	h := make(http.Header, len(r.Header)+5)
	h.Set("Host", r.Host)
	for k, vs := range r.Header {
		if !isHopByHop(k) {
			h[k] = vs
		}
	}
	forwarded := c.sourceIP
	if prior := r.Header.Get("X-Forwarded-For"); prior != "" {
		forwarded = prior + ", " + c.sourceIP
	}
	h.Set("X-Forwarded-For", forwarded)
	h.Set("X-Forwarded-Port", localPort(r))
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	h.Set("X-Forwarded-Proto", proto)
	h.Set("X-Amzn-Trace-Id", newTraceID(c.connectedAt))

	ev := events.APIGatewayWebsocketProxyRequest{
		Headers:           make(map[string]string, len(h)),
		MultiValueHeaders: make(map[string][]string, len(h)),
		RequestContext:    g.requestContext(c, "$connect", "CONNECT", c.connectedAt),
	}
	for k, vs := range h {
		k = headerName(k)
		ev.Headers[k] = vs[len(vs)-1]
		ev.MultiValueHeaders[k] = append([]string(nil), vs...)
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		ev.MultiValueQueryStringParameters = make(map[string][]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = vs[len(vs)-1]
			ev.MultiValueQueryStringParameters[k] = vs
		}
	}
	return ev
}

// messageEvent builds the $default event of a message. API Gateway sends no
// headers with messages.
func (g *Gateway) messageEvent(c *conn, data []byte, binary bool) events.APIGatewayWebsocketProxyRequest {
	ev := events.APIGatewayWebsocketProxyRequest{
		RequestContext: g.requestContext(c, "$default", "MESSAGE", g.now()),
		Body:           string(data),
	}
	ev.RequestContext.MessageID = newID()
	if binary {
		ev.Body = base64.StdEncoding.EncodeToString(data)
		ev.IsBase64Encoded = true
	}
	return ev
}

// disconnectEvent builds the $disconnect event. API Gateway sends these
// same four headers, three of them empty, with every $disconnect.
func (g *Gateway) disconnectEvent(c *conn, code int, reason string) events.APIGatewayWebsocketProxyRequest {
	ev := events.APIGatewayWebsocketProxyRequest{
		Headers: map[string]string{
			"Host":            c.domain,
			"x-api-key":       "",
			"X-Forwarded-For": "",
			"x-restapi":       "",
		},
		MultiValueHeaders: map[string][]string{
			"Host":            {c.domain},
			"x-api-key":       {""},
			"X-Forwarded-For": {""},
			"x-restapi":       {""},
		},
		RequestContext: g.requestContext(c, "$disconnect", "DISCONNECT", g.now()),
	}
	ev.RequestContext.DisconnectStatusCode = int64(code)
	ev.RequestContext.DisconnectReason = &reason
	return ev
}

// internalErrorFrame is what API Gateway sends a client when the
// integration of a message's route fails, byte for byte.
func internalErrorFrame(connectionID, requestID string) []byte {
	return fmt.Appendf(nil, `{"message": "Internal server error", "connectionId":%q, "requestId":%q}`, connectionID, requestID)
}

// remoteIP returns the IP address of the client of r.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// localPort returns the port the request arrived on.
func localPort(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return port
		}
	}
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		return port
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// responseHeader returns the value of a header of a handler's response,
// whatever its case, from Headers or MultiValueHeaders.
func responseHeader(resp events.APIGatewayProxyResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return strings.Join(vs, ", ")
		}
	}
	return ""
}
