// Package apigw sends frames to WebSocket clients through the @connections
// API of Amazon API Gateway WebSocket APIs.
//
// [Client] is the production [gateway.Sender]. Post and Close sign one
// net/http request per call with SigV4 (the signature aws-sdk-go-v2's signer
// makes, computed without its generic work per request, with the
// credentials and region of the SDK client it is built from) and send it,
// without the SDK's per-call middleware stack; Get uses the SDK client. The
// Client owns its retry policy: throttling (429), server errors (5xx),
// transient network errors and attempts over Options.AttemptTimeout are
// retried with full-jitter exponential backoff, bounded in attempts and by
// the context's deadline, while a gone connection (410) or an oversized
// frame (413, or a frame over Options.MaxPayloadBytes, which is never sent)
// fail at once with [gateway.ErrGone] or [gateway.ErrPayloadTooLarge]. Each
// endpoint also has an adaptive limit on in-flight calls that halves on
// throttling and grows back by one per success, and the requests to the
// https endpoints of a region are paced to API Gateway's account throttle
// (Options.Rate and Burst: 10,000 per second, burst 5,000, by default).
// Each failed attempt is reported to the [gateway.PostTrace] of the call's
// context, if any, so that a caller can count throttling and retries.
//
// In a Lambda function:
//
//	sender, err := apigw.NewDefault(ctx, nil)
//	...
//	srv, err := gqlambda.New(gqlambda.Config{Engine: engine, Store: st, Sender: sender})
package apigw

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/internal/backoff"
)

const (
	defaultMaxAttempts    = 8
	defaultBaseDelay      = 25 * time.Millisecond
	defaultMaxDelay       = time.Second
	defaultAttemptTimeout = 5 * time.Second
	// defaultMaxPayload is API Gateway's limit on a WebSocket message: 128
	// KB.
	defaultMaxPayload = 128 << 10
	// defaultMaxInFlight is the initial and highest limit of concurrent
	// calls to one endpoint, and the idle connections per host the default
	// transport keeps.
	defaultMaxInFlight = 1024
	// defaultRate and defaultBurst are API Gateway's default account
	// throttle: 10,000 requests per second with a burst of 5,000, shared by
	// every API Gateway request of an account in a region.
	defaultRate  = 10000
	defaultBurst = 5000

	// service is the SigV4 signing name of the @connections API.
	service = "execute-api"
	// emptyHash is the hex SHA-256 of an empty body.
	emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	userAgent = "gqlambda-apigw"
	// maxErrorBody is how much of an error answer's body is read for its
	// message.
	maxErrorBody = 4 << 10
)

// Options tunes a [Client]. The zero value of every field selects its
// default.
type Options struct {
	// MaxAttempts is the total number of attempts per call when failures
	// are retryable (429, 5xx, network errors, attempt timeouts). Default 8.
	MaxAttempts int
	// BaseDelay is the backoff ceiling before the second attempt; it
	// doubles with every further attempt. Default 25ms.
	BaseDelay time.Duration
	// MaxDelay caps a single backoff. Default 1s.
	MaxDelay time.Duration
	// AttemptTimeout bounds one attempt: sending the request and reading
	// the answer. An attempt that runs out of time is retried like a
	// network error (the frame may then arrive twice, as after any lost
	// answer). The call as a whole is bounded by its context. Default 5s.
	AttemptTimeout time.Duration
	// MaxPayloadBytes is the largest frame Post sends; a larger one fails
	// with [gateway.ErrPayloadTooLarge] without a request. Default 131072,
	// API Gateway's 128 KB message limit.
	MaxPayloadBytes int
	// MaxInFlight is the initial and highest number of concurrent calls to
	// one endpoint; throttling halves the limit and every success raises it
	// by one up to MaxInFlight again. Default 1024, and never more than the
	// MaxConnsPerHost of an *http.Transport that sends the requests (the
	// calls beyond it would only queue inside the transport for one of its
	// connections). A fan-out of gqlambda runs at most this many deliveries
	// at once (gateway.Bounded), and at most Limits.FanOutConcurrency.
	MaxInFlight int
	// Rate is how many requests per second the Client sends at most to the
	// https endpoints of one region, attempts and retries included; Burst
	// is how many it may send at once before Rate paces them. API Gateway
	// throttles every request of an account in a region (its REST, HTTP and
	// WebSocket APIs and their @connections calls) with one bucket of
	// 10,000 per second and a burst of 5,000 by default, so that a fan-out
	// faster than that would be answered 429 and slow everything else of
	// the account down. Defaults: 10,000 and 5,000, the default quota;
	// lower them to leave room for the account's other traffic or for
	// several publishers at once, raise them with a raised quota; a
	// negative Rate turns pacing off. Plain http endpoints (emulators such
	// as the local gateway; API Gateway serves only https) are not paced.
	// Throttling that still happens is handled by the adaptive in-flight
	// limit.
	Rate  int
	Burst int
	// HTTPClient sends the requests. Default: the SDK client's HTTP client;
	// when that is the SDK's default (an aws/transport/http
	// BuildableClient, whose transport settings are kept), a copy of its
	// transport that keeps up to MaxInFlight idle connections per host
	// instead of the SDK's 10, so that a fan-out reuses its connections
	// instead of opening new ones. (The BuildableClient's client timeout, if
	// one was set, is replaced by AttemptTimeout.)
	HTTPClient aws.HTTPClient
	// Logger receives debug records about retries and closes. Default:
	// discard.
	Logger *slog.Logger
}

// ConnectionInfo describes a connection, as returned by [Client.Get].
type ConnectionInfo = gateway.ConnectionInfo

// ResponseError is a failed answer of the @connections API to Post or
// Close.
type ResponseError struct {
	// StatusCode is the HTTP status, such as 403 or 429.
	StatusCode int
	// Code is the error type from the x-amzn-ErrorType header, such as
	// LimitExceededException; empty when the answer had none.
	Code string
	// Message is the message of the JSON body, if any.
	Message string
	// RequestID is the x-amzn-RequestId header.
	RequestID string
}

func (e *ResponseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// Client calls the @connections API of API Gateway WebSocket APIs. The
// endpoint passed to each method is the API's callback URL, such as
// https://abc123.execute-api.eu-west-1.amazonaws.com/prod, a custom domain
// with its base path, or a local emulator's URL.
//
// A Client is safe for concurrent use.
type Client struct {
	base apigatewaymanagementapi.Options
	opts Options
	log  *slog.Logger
	http aws.HTTPClient
	// rt, when set, is the transport of http: requests go to it directly,
	// without http.Client's redirect, cookie and timeout handling, which the
	// @connections API does not need (Options.AttemptTimeout bounds each
	// attempt).
	rt        http.RoundTripper
	creds     aws.CredentialsProvider // nil: requests are not signed
	signer    *signer
	sdkSigner *v4.Signer

	cache     sync.Map // endpoint as given → *target
	mu        sync.Mutex
	endpoints map[string]*target // by URL without trailing slash
	buckets   map[string]*bucket // by region, for the https endpoints
}

// target is one API's callback URL: its signing region and its in-flight
// limiter.
type target struct {
	base   string // the URL without trailing slash
	region string
	lim    *limiter
	pace   *bucket // nil: not paced

	apiOnce sync.Once
	api     *apigatewaymanagementapi.Client // for Get, made on first use
}

var _ gateway.Sender = (*Client)(nil)

// New returns a Client that signs with api's credentials and region (the
// region of an execute-api host name wins) and sends through api's HTTP
// client (see Options.HTTPClient). A nil api, or one without credentials,
// gives unsigned requests. opts may be nil.
func New(api *apigatewaymanagementapi.Client, opts *Options) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = defaultMaxAttempts
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = defaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = defaultMaxDelay
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = defaultAttemptTimeout
	}
	if o.MaxPayloadBytes <= 0 {
		o.MaxPayloadBytes = defaultMaxPayload
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = defaultMaxInFlight
	}
	if o.Rate == 0 {
		o.Rate = defaultRate
	}
	if o.Burst <= 0 {
		o.Burst = defaultBurst
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var base apigatewaymanagementapi.Options
	if api != nil {
		base = api.Options()
	}
	c := &Client{
		base:      base,
		opts:      o,
		log:       log,
		http:      o.HTTPClient,
		signer:    &signer{service: service},
		sdkSigner: v4.NewSigner(),
		endpoints: make(map[string]*target),
		buckets:   make(map[string]*bucket),
	}
	if hc, ok := c.http.(*http.Client); ok && hc.Timeout == 0 && hc.Jar == nil && hc.CheckRedirect == nil {
		// Nothing of http.Client's own is in use: go to its transport.
		c.rt = cmp.Or[http.RoundTripper](hc.Transport, http.DefaultTransport)
	}
	if c.http == nil {
		if tr := transportOf(base.HTTPClient); tr != nil {
			tr.MaxIdleConns = max(tr.MaxIdleConns, o.MaxInFlight)
			tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, o.MaxInFlight)
			c.rt = tr
			c.http = &http.Client{Transport: tr}
		} else {
			c.http = base.HTTPClient
		}
	}
	if tr, ok := c.rt.(*http.Transport); ok && tr.MaxConnsPerHost > 0 {
		c.opts.MaxInFlight = min(c.opts.MaxInFlight, tr.MaxConnsPerHost)
	}
	switch p := base.Credentials; {
	case p == nil, aws.IsCredentialsProvider(p, (*aws.AnonymousCredentials)(nil)):
	case aws.IsCredentialsProvider(p, (*aws.CredentialsCache)(nil)):
		c.creds = p
	default:
		c.creds = aws.NewCredentialsCache(p)
	}
	return c
}

// MaxInFlight is the most calls the Client has in flight to one endpoint
// (Options.MaxInFlight, after its defaults and the transport's cap): it
// makes the Client a gateway.Bounded.
func (c *Client) MaxInFlight() int { return c.opts.MaxInFlight }

// transportOf returns a copy of the transport of the SDK's default HTTP
// client sdk (a BuildableClient; nil gives the SDK's defaults), or nil when
// sdk is another client.
func transportOf(sdk aws.HTTPClient) *http.Transport {
	switch hc := sdk.(type) {
	case nil:
		return awshttp.NewBuildableClient().GetTransport()
	case *awshttp.BuildableClient:
		return hc.GetTransport()
	default:
		return nil
	}
}

// NewDefault returns a Client configured from the default AWS configuration
// (environment, shared configuration files, the Lambda function's role), as
// config.LoadDefaultConfig loads it. opts may be nil.
func NewDefault(ctx context.Context, opts *Options) (*Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("apigw: load the AWS configuration: %w", err)
	}
	return New(apigatewaymanagementapi.NewFromConfig(cfg), opts), nil
}

// Post sends frame to the connection as one message. The error wraps
// [gateway.ErrGone] if the connection no longer exists and
// [gateway.ErrPayloadTooLarge] if the frame is too large.
func (c *Client) Post(ctx context.Context, endpoint, connectionID string, frame []byte) error {
	if len(frame) > c.opts.MaxPayloadBytes {
		return fmt.Errorf("apigw: post to %s: %d bytes, over the %d-byte limit: %w",
			connectionID, len(frame), c.opts.MaxPayloadBytes, gateway.ErrPayloadTooLarge)
	}
	sum := sha256.Sum256(frame)
	hash := hex.EncodeToString(sum[:])
	err := c.do(ctx, endpoint, connectionID, func(ctx context.Context, ep *target) error {
		return c.send(ctx, ep, http.MethodPost, connectionID, frame, hash)
	})
	if err != nil {
		return fmt.Errorf("apigw: post to %s: %w", connectionID, err)
	}
	return nil
}

// Close disconnects the connection. API Gateway cannot send a WebSocket
// close status, so code and reason are only logged at debug level. Closing a
// connection that is already gone succeeds.
func (c *Client) Close(ctx context.Context, endpoint, connectionID string, code int, reason string) error {
	c.log.LogAttrs(ctx, slog.LevelDebug, "apigw: deleting connection; API Gateway does not send close codes",
		slog.String("endpoint", endpoint), slog.String("connection_id", connectionID),
		slog.Int("code", code), slog.String("reason", reason))
	err := c.do(ctx, endpoint, connectionID, func(ctx context.Context, ep *target) error {
		return c.send(ctx, ep, http.MethodDelete, connectionID, nil, emptyHash)
	})
	if err != nil && !errors.Is(err, gateway.ErrGone) {
		return fmt.Errorf("apigw: close %s: %w", connectionID, err)
	}
	return nil
}

// Get describes the connection. The error wraps [gateway.ErrGone] if the
// connection no longer exists.
func (c *Client) Get(ctx context.Context, endpoint, connectionID string) (ConnectionInfo, error) {
	var out *apigatewaymanagementapi.GetConnectionOutput
	err := c.do(ctx, endpoint, connectionID, func(ctx context.Context, ep *target) error {
		var err error
		out, err = c.sdkClient(ep).GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{
			ConnectionId: aws.String(connectionID),
		})
		return err
	})
	if err != nil {
		return ConnectionInfo{}, fmt.Errorf("apigw: get %s: %w", connectionID, err)
	}
	info := ConnectionInfo{
		ConnectedAt:  aws.ToTime(out.ConnectedAt),
		LastActiveAt: aws.ToTime(out.LastActiveAt),
	}
	if id := out.Identity; id != nil {
		info.SourceIP = aws.ToString(id.SourceIp)
		info.UserAgent = aws.ToString(id.UserAgent)
	}
	return info, nil
}

// sdkClient returns the SDK client of ep, for Get.
func (c *Client) sdkClient(ep *target) *apigatewaymanagementapi.Client {
	ep.apiOnce.Do(func() {
		ep.api = apigatewaymanagementapi.New(c.base, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String(ep.base)
			o.Retryer = aws.NopRetryer{}
			o.RetryMaxAttempts = 0
			o.HTTPClient = c.http
			if ep.region != "" {
				o.Region = ep.region
			}
		})
	})
	return ep.api
}

// send makes one signed request to the @connections resource of
// connectionID and reads its answer: nil for a 2xx status, a
// *ResponseError for any other.
func (c *Client) send(ctx context.Context, ep *target, method, connectionID string, body []byte, hash string) error {
	u := ep.base + "/@connections/" + escape(connectionID)
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		req.Header["Content-Type"] = []string{"application/octet-stream"}
	}
	req.Header["User-Agent"] = []string{userAgent}
	if err := c.sign(ctx, req, hash, ep.region, time.Now()); err != nil {
		return err
	}
	var resp *http.Response
	if c.rt != nil {
		resp, err = c.rt.RoundTrip(req)
	} else {
		resp, err = c.http.Do(req)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		_, err := io.Copy(io.Discard, resp.Body) // so that the connection is reused
		return err
	}
	return responseError(resp)
}

// sign signs req with SigV4 for region at t, if the Client has credentials.
func (c *Client) sign(ctx context.Context, req *http.Request, hash, region string, t time.Time) error {
	if c.creds == nil {
		return nil
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("retrieve credentials: %w", err)
	}
	if region == "" {
		return errors.New("no region to sign for: set one in the SDK client's options")
	}
	if !signable(req) {
		return c.sdkSigner.SignHTTP(ctx, creds, req, hash, service, region, t)
	}
	c.signer.sign(req, creds, hash, region, t)
	return nil
}

// responseError reads a failed answer.
func responseError(resp *http.Response) *ResponseError {
	e := &ResponseError{
		StatusCode: resp.StatusCode,
		Code:       errorCode(resp.Header.Get("X-Amzn-ErrorType")),
		RequestID:  resp.Header.Get("X-Amzn-RequestId"),
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	var msg struct {
		Message      string `json:"message"`
		MessageUpper string `json:"Message"`
		Type         string `json:"__type"`
	}
	if len(body) > 0 && json.Unmarshal(body, &msg) == nil {
		e.Message = cmp.Or(msg.Message, msg.MessageUpper)
		if e.Code == "" {
			e.Code = errorCode(msg.Type)
		}
	}
	return e
}

// errorCode returns the error type of an x-amzn-ErrorType header or a
// __type field, without the colon-separated suffix or namespace prefix
// that they may carry.
func errorCode(s string) string {
	s, _, _ = strings.Cut(s, ":")
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// escape escapes a connection id as a path segment the way the SDK does:
// every byte but the unreserved characters of RFC 3986.
func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	return string(appendEscaped(make([]byte, 0, len(s)+2*n), s, false))
}

// appendEscaped appends s with every byte but the unreserved characters of
// RFC 3986 (and '/', when keepSlash) as %XX, upper-case: a path segment as
// the SDK escapes it, and (keepSlash) SigV4's canonical URI as smithy's
// httpbinding.EscapePath(path, false) makes it.
func appendEscaped(b []byte, s string, keepSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		if ch := s[i]; unreserved(ch) || keepSlash && ch == '/' {
			b = append(b, ch)
		} else {
			b = append(b, '%', hexDigits[ch>>4], hexDigits[ch&15])
		}
	}
	return b
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// do runs call against the endpoint, each attempt bounded by
// AttemptTimeout, retrying retryable failures with full-jitter exponential
// backoff. A 410 error wraps gateway.ErrGone and a 413 error wraps
// gateway.ErrPayloadTooLarge.
func (c *Client) do(ctx context.Context, rawURL, connectionID string, call func(context.Context, *target) error) error {
	ep, err := c.endpoint(rawURL)
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; ; attempt++ {
		if err := ep.pace.wait(ctx); err != nil {
			if last != nil {
				return last
			}
			return err
		}
		if err := ep.lim.acquire(ctx); err != nil {
			if last != nil {
				return last
			}
			return err
		}
		actx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
		err := call(actx, ep)
		timedOut := err != nil && ctx.Err() == nil && actx.Err() != nil
		cancel()
		status := statusCode(err)
		throttled := isThrottle(err, status)
		ep.lim.release(err == nil, throttled)
		switch {
		case err == nil:
			return nil
		case status == http.StatusGone || isType[*types.GoneException](err):
			return fmt.Errorf("%w: %w", gateway.ErrGone, err)
		case status == http.StatusRequestEntityTooLarge || isType[*types.PayloadTooLargeException](err):
			return fmt.Errorf("%w: %w", gateway.ErrPayloadTooLarge, err)
		case timedOut:
			err = fmt.Errorf("attempt timed out after %v: %w", c.opts.AttemptTimeout, err)
		case !throttled && !retryable(ctx, err, status):
			return err
		}
		last = err
		retry := attempt+1 < c.opts.MaxAttempts
		var delay time.Duration
		if retry {
			delay = c.backoff(attempt)
			if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
				retry, delay = false, 0
			}
		}
		if pt := gateway.ContextPostTrace(ctx); pt != nil && pt.AttemptFailed != nil {
			pt.AttemptFailed(gateway.AttemptInfo{Attempt: attempt + 1, Status: status, Throttled: throttled, Retry: retry, Delay: delay, Err: err})
		}
		if !retry {
			return err
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "apigw: retrying",
			slog.String("endpoint", rawURL), slog.String("connection_id", connectionID),
			slog.Int("attempt", attempt+1), slog.Int("status", status),
			slog.Duration("delay", delay), slog.Any("error", err))
		if !backoff.Sleep(ctx, delay) {
			return err
		}
	}
}

// endpoint returns the endpoint of rawURL, creating it on first use.
func (c *Client) endpoint(rawURL string) (*target, error) {
	if ep, ok := c.cache.Load(rawURL); ok {
		return ep.(*target), nil
	}
	base := strings.TrimRight(rawURL, "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	ep, ok := c.endpoints[base]
	if !ok {
		u, err := url.Parse(base)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("apigw: invalid endpoint %q", rawURL)
		}
		ep = &target{base: base, region: cmp.Or(regionOf(u.Hostname()), c.base.Region), lim: newLimiter(c.opts.MaxInFlight)}
		if u.Scheme == "https" && c.opts.Rate > 0 {
			ep.pace = c.buckets[ep.region]
			if ep.pace == nil {
				ep.pace = newBucket(float64(c.opts.Rate), float64(c.opts.Burst))
				c.buckets[ep.region] = ep.pace
			}
		}
		c.endpoints[base] = ep
	}
	c.cache.Store(rawURL, ep)
	return ep, nil
}

// regionOf returns the region of an execute-api host name such as
// abc123.execute-api.eu-west-1.amazonaws.com, or "" for other hosts.
func regionOf(host string) string {
	_, rest, ok := strings.Cut(host, ".execute-api.")
	if !ok {
		return ""
	}
	region, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	return region
}

// backoff returns a random delay in [0, min(MaxDelay, BaseDelay*2^attempt)].
func (c *Client) backoff(attempt int) time.Duration {
	return backoff.Full(attempt, c.opts.BaseDelay, c.opts.MaxDelay)
}

// statusCode returns the HTTP status code of the response err came from, or
// 0 if there was none.
func statusCode(err error) int {
	if re, ok := errors.AsType[*ResponseError](err); ok {
		return re.StatusCode
	}
	if re, ok := errors.AsType[*smithyhttp.ResponseError](err); ok {
		return re.HTTPStatusCode()
	}
	return 0
}

// isType reports whether err's tree holds an error of type E.
func isType[E error](err error) bool {
	_, ok := errors.AsType[E](err)
	return ok
}

// isThrottle reports whether err means the endpoint is throttling calls.
func isThrottle(err error, status int) bool {
	if err == nil {
		return false
	}
	if status == http.StatusTooManyRequests || isType[*types.LimitExceededException](err) {
		return true
	}
	code := ""
	if re, ok := errors.AsType[*ResponseError](err); ok {
		code = re.Code
	} else if ae, ok := errors.AsType[smithy.APIError](err); ok {
		code = ae.ErrorCode()
	}
	switch code {
	case "LimitExceededException", "ThrottlingException", "TooManyRequestsException", "Throttling":
		return true
	}
	return false
}

// retryable reports whether the failed call may succeed if repeated: server
// errors and transient network errors, but not the caller's cancellation.
func retryable(ctx context.Context, err error, status int) bool {
	switch {
	case ctx.Err() != nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case status >= 500:
		return true
	case status != 0:
		return false
	}
	return retry.RetryableConnectionError{}.IsErrorRetryable(err).Bool()
}

// bucket paces requests: a token bucket of rate tokens per second holding
// at most burst, from which each request takes one, waiting for it if need
// be. Waiters are served in the order they came.
type bucket struct {
	rate, burst float64

	mu     sync.Mutex
	tokens float64 // negative: reserved by waiters
	last   time.Time
}

func newBucket(rate, burst float64) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

// wait takes a token, waiting until the bucket has one for this caller. It
// fails at once, with an error wrapping context.DeadlineExceeded, when the
// context's deadline comes first, and with the context's error when it ends
// while waiting. A nil bucket does not pace.
func (b *bucket) wait(ctx context.Context) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens--
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if d <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		b.refund()
		return fmt.Errorf("paced to %g requests per second: no turn before the deadline: %w", b.rate, context.DeadlineExceeded)
	}
	if !backoff.Sleep(ctx, d) {
		b.refund()
		return ctx.Err()
	}
	return nil
}

// refund gives back the token of a caller that stopped waiting.
func (b *bucket) refund() {
	b.mu.Lock()
	b.tokens++
	b.mu.Unlock()
}

// limiter bounds the concurrent calls to one endpoint with an adjustable
// limit: additive increase on success, multiplicative decrease on
// throttling.
type limiter struct {
	mu       sync.Mutex
	limit    int
	max      int
	inFlight int
	// wake, when not nil, is closed to wake the waiters once a permit may
	// be free.
	wake chan struct{}
}

// newLimiter returns a limiter whose limit starts at, and never exceeds, n.
func newLimiter(n int) *limiter {
	return &limiter{limit: n, max: n}
}

// acquire takes a permit, waiting while limit calls are in flight.
func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.inFlight < l.limit {
			l.inFlight++
			l.mu.Unlock()
			return nil
		}
		if l.wake == nil {
			l.wake = make(chan struct{})
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release returns a permit, growing the limit by one after a success and
// halving it after throttling.
func (l *limiter) release(ok, throttled bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	switch {
	case throttled:
		l.limit = max(1, l.limit/2)
	case ok:
		l.limit = min(l.max, l.limit+1)
	}
	if l.wake != nil && l.inFlight < l.limit {
		close(l.wake)
		l.wake = nil
	}
}

// current returns the limit and the number of calls in flight.
func (l *limiter) current() (limit, inFlight int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit, l.inFlight
}
