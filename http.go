package gqlambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel/propagation"

	"github.com/gqlambda/gqlambda/internal/telemetry"
)

// Media types of GraphQL over HTTP.
const (
	// MediaTypeGraphQLResponse is the response type of the GraphQL over HTTP
	// specification, whose status codes tell request errors (400) from
	// results (200).
	MediaTypeGraphQLResponse = "application/graphql-response+json"
	// MediaTypeJSON is the legacy response type, always 200 for well-formed
	// requests, and the type of request bodies.
	MediaTypeJSON = "application/json"
)

// defaultMaxHTTPBody bounds request bodies: API Gateway's REST and HTTP APIs
// accept up to 10 MB, far more than any GraphQL request needs.
const defaultMaxHTTPBody = 1 << 20

// HTTPOptions configures the GraphQL over HTTP handlers: [Server.HTTPHandler],
// [Server.APIGatewayHandler] and [Server.HTTPAPIHandler]. The zero value
// gives the defaults.
type HTTPOptions struct {
	// Batching accepts a JSON array of requests in one POST and answers with
	// an array of results. Off by default: batches multiply the cost of one
	// request, and the specification leaves them out.
	Batching bool

	// MaxBodyBytes bounds a request body; larger ones are refused with 413.
	// Default 1 MiB.
	MaxBodyBytes int

	// Timeout bounds the work of one request: its context, which resolvers
	// see, ends then, and also when the client goes away (net/http cancels
	// the request's context). Default 10 seconds.
	Timeout time.Duration

	// ReadTimeout bounds the read of a request body by [Server.HTTPHandler]
	// (a client that sends its body a byte at a time gets 408 when it runs
	// out). The headers are read by the http.Server before the handler
	// runs: bound them with its ReadHeaderTimeout (the local gateway sets
	// both). Default 10 seconds.
	ReadTimeout time.Duration

	// RateLimit bounds the requests of one client, per second, with bursts
	// of RateBurst (a token bucket per client, kept by the handler: on
	// Lambda, per instance; API Gateway's own throttling bounds the total).
	// A request over it is answered 429 with Retry-After and a GraphQL
	// error coded RATE_LIMITED, before its operation is parsed. Default 0:
	// no bound.
	RateLimit float64
	// RateBurst is how many requests a client may send at once above
	// RateLimit. Default: RateLimit, at least 1.
	RateBurst int
	// RateKey tells clients apart for RateLimit. Default: the source IP
	// (HTTPRequest.SourceIP). Behind a proxy, key on what the proxy
	// vouches for.
	RateKey func(req *HTTPRequest) string

	// OnRequest runs for every request that carries a GraphQL operation,
	// before the document is parsed: authenticate here. The context it
	// returns is the one resolvers run with (put the user in it). Returning
	// an error refuses the request: with the status of a [*StatusError] in
	// the chain, else 401, and the error's message as a GraphQL error.
	OnRequest func(ctx context.Context, req *HTTPRequest) (context.Context, error)

	// rates holds the clients' buckets of RateLimit.
	rates *limiter
}

// HTTPRequest is the request [HTTPOptions.OnRequest] sees, whichever handler
// received it.
type HTTPRequest struct {
	// Method is GET or POST.
	Method string
	// Header holds the request headers.
	Header http.Header
	// Query holds the query string parameters.
	Query url.Values
	// Authorizer is API Gateway's authorizer context (REST and HTTP APIs);
	// nil for net/http requests and Function URLs.
	Authorizer map[string]any
	// SourceIP is the client's address as API Gateway or net/http reports it.
	SourceIP string
	// Raw is the original request: *http.Request,
	// *events.APIGatewayProxyRequest or *events.APIGatewayV2HTTPRequest.
	Raw any
}

// httpResponse is a handler's answer before it is written to a transport.
type httpResponse struct {
	status int
	header http.Header
	body   []byte
}

// HTTPHandler returns a net/http handler that serves GraphQL queries and
// mutations over HTTP following the GraphQL over HTTP specification: POST
// with an application/json body, GET with the request in the query string
// (queries only: a mutation over GET is refused with 405), responses in
// application/graphql-response+json or application/json as the Accept
// header asks (application/json when it asks for neither in particular).
// Subscriptions are served over the WebSocket API only and get a request
// error here. opts may be nil.
func (s *Server) HTTPHandler(opts *HTTPOptions) http.Handler {
	o := s.httpOptions(opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &HTTPRequest{Method: r.Method, Header: r.Header, Query: r.URL.Query(), SourceIP: r.RemoteAddr, Raw: r}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			req.SourceIP = host
		}
		// The body is read only once the request passed the rate limit and
		// the Accept header: a client over its rate costs no read.
		read := false
		body := func() ([]byte, *httpResponse) {
			read = true
			// A deadline on the body's read: where the server cannot set
			// one (a recorder in tests), the read is bounded by the
			// server's own timeouts.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(o.ReadTimeout))
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(o.MaxBodyBytes)+1))
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				resp := plainResponse(http.StatusRequestTimeout, "the request body was not sent in time")
				resp.header.Set("Connection", "close")
				return nil, &resp
			}
			if err != nil && !isMaxBytes(err) {
				resp := plainResponse(http.StatusBadRequest, "reading the request body failed")
				return nil, &resp
			}
			return b, nil
		}
		resp := s.serveHTTP(r.Context(), o, req, body)
		for k, v := range resp.header {
			w.Header()[k] = v
		}
		if !read && r.ContentLength != 0 {
			// An unread body: net/http would read it (up to 256 KB) before
			// answering, to keep the connection, for as long as the client
			// takes to send it. Closing the connection answers at once.
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.body)
	})
}

// plainResponse is a text/plain answer, as http.Error writes one.
func plainResponse(status int, msg string) httpResponse {
	return httpResponse{status: status, body: []byte(msg + "\n"), header: http.Header{
		"Content-Type":           {"text/plain; charset=utf-8"},
		"X-Content-Type-Options": {"nosniff"},
	}}
}

// readBody returns a body that is already read, for serveHTTP.
func readBody(b []byte) func() ([]byte, *httpResponse) {
	return func() ([]byte, *httpResponse) { return b, nil }
}

func isMaxBytes(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}

// APIGatewayHandler returns the Lambda handler for an API Gateway REST API
// (proxy integration) route to GraphQL over HTTP; it behaves as
// [Server.HTTPHandler]. opts may be nil.
func (s *Server) APIGatewayHandler(opts *HTTPOptions) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	o := s.httpOptions(opts)
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		req := &HTTPRequest{
			Method:     ev.HTTPMethod,
			Header:     headerOf(ev.Headers, ev.MultiValueHeaders),
			Query:      queryOf(ev.QueryStringParameters, ev.MultiValueQueryStringParameters),
			Authorizer: ev.RequestContext.Authorizer,
			SourceIP:   ev.RequestContext.Identity.SourceIP,
			Raw:        &ev,
		}
		body, err := lambdaBody(ev.Body, ev.IsBase64Encoded)
		if err != nil {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest, Body: "invalid base64 body"}, nil
		}
		resp := s.serveHTTP(ctx, o, req, readBody(body))
		out := events.APIGatewayProxyResponse{StatusCode: resp.status, Body: string(resp.body), MultiValueHeaders: resp.header}
		return out, nil
	}
}

// HTTPAPIHandler returns the Lambda handler for an API Gateway HTTP API
// route or a Lambda Function URL (payload format 2.0) serving GraphQL over
// HTTP; it behaves as [Server.HTTPHandler]. opts may be nil.
func (s *Server) HTTPAPIHandler(opts *HTTPOptions) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	o := s.httpOptions(opts)
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		header := make(http.Header, len(ev.Headers))
		for k, v := range ev.Headers {
			// Payload 2.0 joins repeated headers with commas.
			header[http.CanonicalHeaderKey(k)] = []string{v}
		}
		query, err := url.ParseQuery(ev.RawQueryString)
		if err != nil {
			query = queryOf(ev.QueryStringParameters, nil)
		}
		req := &HTTPRequest{
			Method:   ev.RequestContext.HTTP.Method,
			Header:   header,
			Query:    query,
			SourceIP: ev.RequestContext.HTTP.SourceIP,
			Raw:      &ev,
		}
		if a := ev.RequestContext.Authorizer; a != nil {
			switch {
			case a.Lambda != nil:
				req.Authorizer = a.Lambda
			case a.JWT != nil:
				req.Authorizer = map[string]any{"claims": a.JWT.Claims, "scopes": a.JWT.Scopes}
			}
		}
		body, err := lambdaBody(ev.Body, ev.IsBase64Encoded)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: "invalid base64 body"}, nil
		}
		resp := s.serveHTTP(ctx, o, req, readBody(body))
		out := events.APIGatewayV2HTTPResponse{StatusCode: resp.status, Body: string(resp.body), Headers: map[string]string{}}
		for k, v := range resp.header {
			out.Headers[k] = strings.Join(v, ", ")
		}
		return out, nil
	}
}

func (s *Server) httpOptions(opts *HTTPOptions) HTTPOptions {
	var o HTTPOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxHTTPBody
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultHTTPTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = defaultHTTPTimeout
	}
	if o.RateLimit > 0 {
		o.RateBurst = max(o.RateBurst, int(o.RateLimit), 1)
		if o.RateKey == nil {
			o.RateKey = func(req *HTTPRequest) string { return req.SourceIP }
		}
		o.rates = &limiter{}
	}
	return o
}

// defaultHTTPTimeout bounds one GraphQL over HTTP request: under API
// Gateway's own 29 s integration timeout, and far over what a query needs.
const defaultHTTPTimeout = 10 * time.Second

// graphQLParams is one decoded GraphQL over HTTP request.
type graphQLParams struct {
	Query         string
	OperationName string
	Variables     map[string]any
	Extensions    map[string]any
}

// requestError is a malformed GraphQL over HTTP request: 400 whatever the
// media type.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// serveHTTP answers one GraphQL over HTTP request. body returns a POST's
// body, or the answer to one that could not be read; it is called once the
// request passed the rate limit and the Accept header.
func (s *Server) serveHTTP(ctx context.Context, o HTTPOptions, req *HTTPRequest, body func() ([]byte, *httpResponse)) (resp httpResponse) {
	if s.tel != nil {
		var span *telemetry.Frame
		ctx, span = s.tel.StartRequest(ctx, "gqlambda HTTP "+req.Method, propagation.HeaderCarrier(req.Header))
		defer func() { span.Answered(resp.status); span.End() }()
	}
	if o.rates != nil && !o.rates.take(o.RateKey(req), time.Now(), o.RateLimit, o.RateBurst) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "http: request over the client's rate: refused", slog.String("source_ip", req.SourceIP))
		return httpResponse{status: http.StatusTooManyRequests,
			header: http.Header{"Content-Type": {MediaTypeJSON + "; charset=utf-8"}, "Retry-After": {"1"}},
			body:   errorBody(fmt.Sprintf("Too many requests: at most %g a second", o.RateLimit), codeRateLimited)}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	mediaType, ok := negotiate(req.Header.Get("Accept"))
	if !ok {
		return errorResponse(http.StatusNotAcceptable, MediaTypeJSON,
			"Not acceptable: this server answers with "+MediaTypeGraphQLResponse+" or "+MediaTypeJSON, nil)
	}
	var batch []graphQLParams
	var isBatch bool
	var err error
	switch req.Method {
	case http.MethodGet:
		var p graphQLParams
		p, err = paramsFromQuery(req.Query)
		batch = []graphQLParams{p}
	case http.MethodPost:
		body, failed := body()
		if failed != nil {
			return *failed
		}
		if len(body) > o.MaxBodyBytes {
			return errorResponse(http.StatusRequestEntityTooLarge, mediaType,
				fmt.Sprintf("The request body is over the %d-byte limit", o.MaxBodyBytes), nil)
		}
		batch, isBatch, err = paramsFromBody(req.Header.Get("Content-Type"), body, o.Batching)
	default:
		return errorResponse(http.StatusMethodNotAllowed, mediaType, "GraphQL over HTTP accepts GET and POST",
			http.Header{"Allow": {"GET, POST"}})
	}
	if re, ok := errors.AsType[*requestError](err); ok {
		return errorResponse(re.status, mediaType, re.msg, nil)
	}

	ctx = withScope(ctx, scope{server: s, http: req})
	if o.OnRequest != nil {
		hctx, err := o.OnRequest(ctx, req)
		if m := MaskError(ctx, err); m != nil {
			return s.internalErrorResponse(ctx, mediaType, Errors{m})
		}
		if err != nil {
			status := http.StatusUnauthorized
			if se, ok := errors.AsType[*StatusError](err); ok && se.Status >= 400 && se.Status <= 599 {
				status = se.Status
			}
			return errorResponse(status, mediaType, err.Error(), nil)
		}
		ctx = hctx
	}
	ctx, err = s.buildContext(ctx, ContextRequest{HTTP: req})
	if err != nil {
		return s.internalErrorResponse(ctx, mediaType, s.internalFailure(ctx, fmt.Errorf("gqlambda: http: Config.Context: %w", err)))
	}

	results := make([][]byte, len(batch))
	status := http.StatusOK
	for i, p := range batch {
		res, st := s.executeHTTP(ctx, req.Method, mediaType, p)
		res = s.clientResult(ctx, res)
		results[i] = res
		if !isBatch {
			status = st
		}
		if st == http.StatusMethodNotAllowed && !isBatch {
			return httpResponse{status: st, header: http.Header{
				"Content-Type": {mediaType + "; charset=utf-8"}, "Allow": {"POST"},
			}, body: res}
		}
	}
	out := results[0]
	if isBatch {
		out = append([]byte{'['}, bytes.Join(results, []byte{','})...)
		out = append(out, ']')
	}
	return httpResponse{status: status, header: http.Header{"Content-Type": {mediaType + "; charset=utf-8"}}, body: out}
}

// executeHTTP runs one operation and returns its encoded result and status.
func (s *Server) executeHTTP(ctx context.Context, method, mediaType string, p graphQLParams) ([]byte, int) {
	// A GraphQL error that prevented execution (parse, validation, variable
	// coercion, a subscription): 400 in the specification's media type, 200
	// in legacy JSON.
	requestFailed := http.StatusOK
	if mediaType == MediaTypeGraphQLResponse {
		requestFailed = http.StatusBadRequest
	}
	op, err := s.prepare(ctx, p.Query, p.OperationName)
	if err != nil {
		if _, ok := errors.AsType[Errors](err); !ok {
			if _, ok := errors.AsType[*Error](err); !ok {
				return resultOfErrors(s.internalFailure(ctx, fmt.Errorf("gqlambda: http: prepare: %w", err))), http.StatusInternalServerError
			}
		}
		return resultOfErrors(graphQLErrors(err)), requestFailed
	}
	switch op.Type() {
	case Subscription:
		return errorBody("Subscriptions are served over the WebSocket API, not over HTTP", codeBadSubscription), requestFailed
	case Mutation:
		if method == http.MethodGet {
			return errorBody("Mutations are not allowed over GET: use POST", "METHOD_NOT_ALLOWED"), http.StatusMethodNotAllowed
		}
	}
	result, err := op.Execute(ctx, p.Variables, nil)
	if err != nil && ctx.Err() != nil {
		// The request's deadline passed, or its client went away: not a
		// server failure.
		s.log.InfoContext(ctx, "http: request ended before its result", slog.String("error", err.Error()))
		return errorBody("The request took longer than its time limit", "TIMEOUT"), http.StatusGatewayTimeout
	}
	if err != nil {
		return resultOfErrors(s.internalFailure(ctx, fmt.Errorf("gqlambda: http: execute %s: %w", op.Type(), err),
			slog.String("operation_name", p.OperationName))), http.StatusInternalServerError
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(result, &top); err == nil {
		if _, hasData := top["data"]; !hasData {
			return result, requestFailed // variable coercion failed
		}
	}
	return result, http.StatusOK
}

func resultOfErrors(errs Errors) []byte { return resultOfErrorList(encodeErrors(errs)) }

func errorBody(msg, code string) []byte { return resultOfErrorList(errorJSON(msg, code)) }

// internalErrorResponse answers 500 with errs, masked errors, as the client
// receives them (rewritten by Config.FormatError, when set).
func (s *Server) internalErrorResponse(ctx context.Context, mediaType string, errs Errors) httpResponse {
	return httpResponse{status: http.StatusInternalServerError, header: http.Header{"Content-Type": {mediaType + "; charset=utf-8"}},
		body: s.clientResult(ctx, resultOfErrors(errs))}
}

func errorResponse(status int, mediaType, msg string, extra http.Header) httpResponse {
	h := http.Header{"Content-Type": {mediaType + "; charset=utf-8"}}
	for k, v := range extra {
		h[k] = v
	}
	b, _ := json.Marshal(struct {
		Errors []*Error `json:"errors"`
	}{[]*Error{{Message: msg}}})
	return httpResponse{status: status, header: h, body: b}
}

// negotiate picks the response media type from an Accept header: the
// acceptable type of highest quality, application/graphql-response+json on a
// tie, application/json for a missing header or a bare wildcard. It reports
// false when neither type is acceptable.
func negotiate(accept string) (string, bool) {
	if strings.TrimSpace(accept) == "" {
		return MediaTypeJSON, true
	}
	bestType, bestQ, bestRank := "", 0.0, 0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q <= 0 {
			continue
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			continue
		}
		var typ string
		var rank int // prefer explicit types over wildcards at equal quality
		switch mt {
		case MediaTypeGraphQLResponse:
			typ, rank = MediaTypeGraphQLResponse, 3
		case MediaTypeJSON:
			typ, rank = MediaTypeJSON, 2
		case "application/*", "*/*":
			typ, rank = MediaTypeJSON, 1
		default:
			continue
		}
		if q > bestQ || (q == bestQ && rank > bestRank) {
			bestType, bestQ, bestRank = typ, q, rank
		}
	}
	return bestType, bestType != ""
}

// paramsFromQuery decodes a GET request's parameters.
func paramsFromQuery(q url.Values) (graphQLParams, error) {
	var p graphQLParams
	if !q.Has("query") || q.Get("query") == "" {
		return p, badRequest("Missing query: a GET request carries the GraphQL document in the query parameter")
	}
	p.Query = q.Get("query")
	p.OperationName = q.Get("operationName")
	for _, f := range []struct {
		name string
		dst  *map[string]any
	}{{"variables", &p.Variables}, {"extensions", &p.Extensions}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return p, badRequest("The %s parameter must be a JSON object: %v", f.name, err)
		}
		*f.dst = m
	}
	return p, nil
}

// paramsFromBody decodes a POST body: one request object, or with batching
// an array of them.
func paramsFromBody(contentType string, body []byte, batching bool) ([]graphQLParams, bool, error) {
	if contentType == "" {
		return nil, false, &requestError{status: http.StatusUnsupportedMediaType, msg: "Missing Content-Type: send application/json"}
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != MediaTypeJSON {
		return nil, false, &requestError{status: http.StatusUnsupportedMediaType, msg: "Unsupported Content-Type " + strconv.Quote(contentType) + ": send application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, false, &requestError{status: http.StatusUnsupportedMediaType, msg: "Unsupported charset " + strconv.Quote(cs) + ": send utf-8"}
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, badRequest("Missing request body: send a JSON object with a query")
	}
	if body[0] == '[' {
		if !batching {
			return nil, false, badRequest("Batched requests are not accepted: send one JSON object")
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, false, badRequest("The request body is not valid JSON: %v", err)
		}
		if len(raws) == 0 {
			return nil, false, badRequest("Empty batch")
		}
		out := make([]graphQLParams, 0, len(raws))
		for i, raw := range raws {
			p, err := decodeParams(raw)
			if err != nil {
				return nil, false, badRequest("Request %d of the batch: %v", i, err)
			}
			out = append(out, p)
		}
		return out, true, nil
	}
	p, err := decodeParams(body)
	if err != nil {
		return nil, false, err
	}
	return []graphQLParams{p}, false, nil
}

// decodeParams decodes one request object, checking each parameter's type.
func decodeParams(raw []byte) (graphQLParams, error) {
	var p graphQLParams
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return p, badRequest("The request body is not a JSON object: %v", err)
	}
	if fields == nil {
		return p, badRequest("The request body is not a JSON object")
	}
	q, ok := fields["query"]
	if !ok || isNull(q) {
		return p, badRequest("Missing query: the request object needs a query string")
	}
	if err := json.Unmarshal(q, &p.Query); err != nil {
		return p, badRequest("The query parameter must be a string")
	}
	if v, ok := fields["operationName"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &p.OperationName); err != nil {
			return p, badRequest("The operationName parameter must be a string or null")
		}
	}
	for _, f := range []struct {
		name string
		dst  *map[string]any
	}{{"variables", &p.Variables}, {"extensions", &p.Extensions}} {
		v, ok := fields[f.name]
		if !ok || isNull(v) {
			continue
		}
		if len(v) == 0 || v[0] != '{' {
			return p, badRequest("The %s parameter must be a JSON object or null", f.name)
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return p, badRequest("The %s parameter must be a JSON object or null", f.name)
		}
	}
	return p, nil
}

func isNull(raw json.RawMessage) bool {
	return slices.Equal(bytes.TrimSpace(raw), []byte("null"))
}
