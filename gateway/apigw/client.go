// Package apigw sends frames to WebSocket clients through the @connections
// API of Amazon API Gateway WebSocket APIs, with aws-sdk-go-v2.
//
// [Client] is the production [gateway.Sender]. It keeps one SDK client per
// API endpoint, signs every request with SigV4, and owns its retry policy:
// throttling (429), server errors (5xx) and transient network errors are
// retried with full-jitter exponential backoff, while a gone connection
// (410) or an oversized frame (413) fail at once with [gateway.ErrGone] or
// [gateway.ErrPayloadTooLarge]. Each endpoint also has an adaptive limit on
// in-flight calls that halves on throttling and grows back by one per
// success.
//
// In a Lambda function:
//
//	sender, err := apigw.NewDefault(ctx, nil)
//	...
//	srv, err := gqlambda.New(gqlambda.Config{Engine: engine, Store: st, Sender: sender})
package apigw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gqlambda/gqlambda/gateway"
)

const (
	defaultMaxAttempts = 8
	defaultBaseDelay   = 25 * time.Millisecond
	defaultMaxDelay    = time.Second

	// maxInFlight is the initial and highest limit of concurrent calls to
	// one endpoint.
	maxInFlight = 1024
)

// Options tunes a [Client]. The zero value of every field selects its
// default.
type Options struct {
	// MaxAttempts is the total number of attempts per call when failures
	// are retryable (429, 5xx, network errors). Default 8.
	MaxAttempts int
	// BaseDelay is the backoff ceiling before the second attempt; it
	// doubles with every further attempt. Default 25ms.
	BaseDelay time.Duration
	// MaxDelay caps a single backoff. Default 1s.
	MaxDelay time.Duration
	// HTTPClient sends the requests. Default: the SDK client's.
	HTTPClient aws.HTTPClient
	// Logger receives debug records about retries and closes. Default:
	// discard.
	Logger *slog.Logger
}

// ConnectionInfo describes a connection, as returned by [Client.Get].
type ConnectionInfo struct {
	// ConnectedAt is when the connection was established.
	ConnectedAt time.Time
	// LastActiveAt is when the connection last sent or received a message.
	LastActiveAt time.Time
	// SourceIP is the IP address of the client.
	SourceIP string
	// UserAgent is the User-Agent of the client.
	UserAgent string
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

	mu        sync.Mutex
	endpoints map[string]*endpoint
}

// endpoint is the SDK client and the in-flight limiter of one endpoint URL.
type endpoint struct {
	api *apigatewaymanagementapi.Client
	lim *limiter
}

var _ gateway.Sender = (*Client)(nil)

// New returns a Client that calls every endpoint with api's configuration:
// its credentials, region, HTTP client and middleware. Only the endpoint
// (per call), the region (from an execute-api host name) and the retries
// (the Client's own) are overridden. A nil api gives the SDK's defaults and
// no credentials. opts may be nil.
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
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var base apigatewaymanagementapi.Options
	if api != nil {
		base = api.Options()
	}
	return &Client{base: base, opts: o, log: log, endpoints: make(map[string]*endpoint)}
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
// [gateway.ErrGone] if the connection no longer exists and [gateway.ErrPayloadTooLarge] if
// the frame is too large.
func (c *Client) Post(ctx context.Context, endpoint, connectionID string, frame []byte) error {
	err := c.do(ctx, endpoint, connectionID, func(ctx context.Context, api *apigatewaymanagementapi.Client) error {
		_, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(connectionID),
			Data:         frame,
		})
		return err
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
	err := c.do(ctx, endpoint, connectionID, func(ctx context.Context, api *apigatewaymanagementapi.Client) error {
		_, err := api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{
			ConnectionId: aws.String(connectionID),
		})
		return err
	})
	if err != nil && !errors.Is(err, gateway.ErrGone) {
		return fmt.Errorf("apigw: close %s: %w", connectionID, err)
	}
	return nil
}

// Get describes the connection. The error wraps [gateway.ErrGone] if the connection
// no longer exists.
func (c *Client) Get(ctx context.Context, endpoint, connectionID string) (ConnectionInfo, error) {
	var out *apigatewaymanagementapi.GetConnectionOutput
	err := c.do(ctx, endpoint, connectionID, func(ctx context.Context, api *apigatewaymanagementapi.Client) error {
		var err error
		out, err = api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{
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

// do runs call against the endpoint's SDK client, retrying retryable
// failures with full-jitter exponential backoff. A 410 error wraps gateway.ErrGone
// and a 413 error wraps gateway.ErrPayloadTooLarge.
func (c *Client) do(ctx context.Context, rawURL, connectionID string, call func(context.Context, *apigatewaymanagementapi.Client) error) error {
	ep, err := c.endpoint(rawURL)
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; ; attempt++ {
		if err := ep.lim.acquire(ctx); err != nil {
			if last != nil {
				return last
			}
			return err
		}
		err := call(ctx, ep.api)
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
		case !throttled && !retryable(ctx, err, status):
			return err
		}
		last = err
		if attempt+1 >= c.opts.MaxAttempts {
			return err
		}
		delay := c.backoff(attempt)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
			return err
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "apigw: retrying",
			slog.String("endpoint", rawURL), slog.String("connection_id", connectionID),
			slog.Int("attempt", attempt+1), slog.Int("status", status),
			slog.Duration("delay", delay), slog.Any("error", err))
		if !sleep(ctx, delay) {
			return err
		}
	}
}

// endpoint returns the cached SDK client and limiter for rawURL, creating
// them on first use.
func (c *Client) endpoint(rawURL string) (*endpoint, error) {
	rawURL = strings.TrimRight(rawURL, "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	if ep, ok := c.endpoints[rawURL]; ok {
		return ep, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("apigw: invalid endpoint %q", rawURL)
	}
	api := apigatewaymanagementapi.New(c.base, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(rawURL)
		o.Retryer = aws.NopRetryer{}
		o.RetryMaxAttempts = 0
		if c.opts.HTTPClient != nil {
			o.HTTPClient = c.opts.HTTPClient
		}
		if region := regionOf(u.Hostname()); region != "" {
			o.Region = region
		}
	})
	ep := &endpoint{api: api, lim: newLimiter(maxInFlight)}
	c.endpoints[rawURL] = ep
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
	ceil := c.opts.MaxDelay
	if attempt < 63 && c.opts.BaseDelay <= ceil>>attempt {
		ceil = c.opts.BaseDelay << attempt
	}
	return rand.N(ceil + 1)
}

// sleep waits for d and reports whether it did before ctx was done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// statusCode returns the HTTP status code of the response err came from, or
// 0 if there was none.
func statusCode(err error) int {
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
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		switch ae.ErrorCode() {
		case "ThrottlingException", "TooManyRequestsException", "Throttling":
			return true
		}
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
