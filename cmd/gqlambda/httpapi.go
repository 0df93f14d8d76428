package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/localgateway"
)

// maxHTTPBody is the largest request body an HTTP API takes (10 MB).
const maxHTTPBody = 10 << 20

// requestTimeLayout is the format of requestContext.time, for instance
// "21/Nov/2026:10:15:38 +0000".
const requestTimeLayout = "02/Jan/2006:15:04:05 -0700"

// httpFunction serves HTTP requests by invoking a function with them, as an
// API Gateway HTTP API with a Lambda integration of payload format 2.0 does.
type httpFunction struct {
	invoker *invoker
	apiID   string
	now     func() time.Time
	log     *slog.Logger
	maxBody int64 // largest request body; 0: maxHTTPBody
}

// ServeHTTP invokes the function with r and writes its response. A failed
// invocation, or a response that cannot be decoded, is answered as an HTTP
// API does: 500 {"message":"Internal Server Error"}.
func (h *httpFunction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	requestID := newRequestID()
	w.Header().Set("Apigw-Requestid", requestID)
	limit := h.maxBody
	if limit <= 0 {
		limit = maxHTTPBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		httpAPIError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	if err != nil {
		httpAPIError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	ev := httpEvent(r, body, h.apiID, requestID, now)
	raw, err := h.invoker.invoke(r.Context(), ev)
	var resp events.APIGatewayV2HTTPResponse
	if err == nil {
		resp, err = decodeHTTPResponse(raw)
	}
	if err == nil {
		err = writeHTTPResponse(w, resp)
	}
	if err != nil {
		h.log.ErrorContext(r.Context(), "gqlambda: HTTP integration failed",
			slog.String("request_id", requestID), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("error", err.Error()))
		httpAPIError(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// httpAPIError answers as an HTTP API does when it cannot serve a request.
func httpAPIError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": message})
	w.Write(b)
}

// httpEvent builds the payload format 2.0 event of r, whose body is body:
// headers lowercased, repeated ones joined with commas, cookies apart,
// X-Forwarded-For, -Port, -Proto and X-Amzn-Trace-Id added; the body as
// text when it is UTF-8, in base64 otherwise.
func httpEvent(r *http.Request, body []byte, apiID, requestID string, now time.Time) events.APIGatewayV2HTTPRequest {
	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	headers := make(map[string]string, len(r.Header)+5)
	var cookies []string
	for k, vs := range r.Header {
		k = strings.ToLower(k)
		if k == "cookie" {
			for _, v := range vs {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[k] = strings.Join(vs, ",")
	}
	headers["host"] = r.Host
	if prior := headers["x-forwarded-for"]; prior != "" {
		headers["x-forwarded-for"] = prior + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-port"] = localPort(r)
	headers["x-forwarded-proto"] = "http"
	if r.TLS != nil {
		headers["x-forwarded-proto"] = "https"
	}
	headers["x-amzn-trace-id"] = newTraceID(now)

	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Cookies:        cookies,
		Headers:        headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "$default",
			AccountID:    "123456789012",
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        apiID,
			DomainName:   r.Host,
			DomainPrefix: domainPrefix(r.Host),
			Time:         now.UTC().Format(requestTimeLayout),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if a, ok := localgateway.AuthorizerContext(r.Context()); ok {
		// The gateway's authorizer allowed the request: its context, as an
		// HTTP API passes a Lambda authorizer's.
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: a}
	}
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
	return ev
}

// decodeHTTPResponse decodes a function's payload format 2.0 response. As
// with an HTTP API, valid JSON without a statusCode is the body of a 200
// application/json response.
func decodeHTTPResponse(raw []byte) (events.APIGatewayV2HTTPResponse, error) {
	var resp events.APIGatewayV2HTTPResponse
	var probe struct {
		StatusCode *int `json:"statusCode"`
	}
	if err := json.Unmarshal(raw, &probe); err == nil && probe.StatusCode != nil {
		if err := json.Unmarshal(raw, &resp); err != nil {
			return resp, fmt.Errorf("gqlambda: decode the function's HTTP response: %w", err)
		}
		return resp, nil
	}
	if !json.Valid(raw) {
		return resp, fmt.Errorf("gqlambda: the function's HTTP response is not JSON: %.80q", raw)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(bytes.TrimSpace(raw)),
	}, nil
}

// writeHTTPResponse writes resp: its headers, multi-value headers and
// cookies (as Set-Cookie), status and body (decoded from base64 when
// IsBase64Encoded). It writes nothing when resp is invalid.
func writeHTTPResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) error {
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return fmt.Errorf("gqlambda: the function's HTTP response has status %d", resp.StatusCode)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return fmt.Errorf("gqlambda: decode the function's base64 HTTP body: %w", err)
		}
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
	return nil
}

// localPort returns the port r was received on.
func localPort(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return port
		}
	}
	return "80"
}

// domainPrefix returns the first label of host (without its port), as
// requestContext.domainPrefix has it.
func domainPrefix(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	prefix, _, _ := strings.Cut(host, ".")
	return prefix
}

// newRequestID returns an id shaped like API Gateway's request ids: 11
// random bytes in padded URL-safe base64, such as "VNRXVFJOywMF3-Q=".
func newRequestID() string {
	var b [11]byte
	rand.Read(b[:])
	return base64.URLEncoding.EncodeToString(b[:])
}

// newTraceID returns an X-Amzn-Trace-Id header value.
func newTraceID(now time.Time) string {
	var b [12]byte
	rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b[:]))
}
