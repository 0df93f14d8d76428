package apigw_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
)

// wireRequest is a request as a server received it, every header included.
type wireRequest struct {
	method, host, rawPath string
	header                http.Header
	body                  []byte
}

// capture returns a server that records every request and answers 200,
// and a function returning what it recorded.
func capture(t *testing.T) (*httptest.Server, func() []wireRequest) {
	t.Helper()
	var mu sync.Mutex
	var got []wireRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, wireRequest{method: r.Method, host: r.Host, rawPath: r.URL.EscapedPath(), header: r.Header.Clone(), body: body})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, func() []wireRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]wireRequest(nil), got...)
	}
}

// resign rebuilds r without its signature and signs it again with c, at
// the time of its X-Amz-Date, and returns the Authorization header it gets.
func resign(t *testing.T, c *apigw.Client, r wireRequest, region string) string {
	t.Helper()
	var body io.Reader
	if len(r.body) > 0 {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, "http://"+r.host+r.rawPath, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.header {
		switch k {
		case "Authorization", "User-Agent", "Accept-Encoding", "Content-Length", "X-Amz-Security-Token":
			// Not signed, set by the transport, or set again by the signer.
		default:
			req.Header[k] = vs
		}
	}
	at, err := time.Parse("20060102T150405Z", r.header.Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("X-Amz-Date %q: %v", r.header.Get("X-Amz-Date"), err)
	}
	sum := sha256.Sum256(r.body)
	if err := apigw.Sign(c, req, hex.EncodeToString(sum[:]), region, at); err != nil {
		t.Fatal(err)
	}
	if tok := r.header.Get("X-Amz-Security-Token"); tok != req.Header.Get("X-Amz-Security-Token") {
		t.Errorf("X-Amz-Security-Token = %q, want %q", req.Header.Get("X-Amz-Security-Token"), tok)
	}
	return req.Header.Get("Authorization")
}

// TestSignatureMatchesSDK signs the very requests aws-sdk-go-v2's client
// sends (its PostToConnection and DeleteConnection through its middleware
// stack) with the Client's signer and compares the signatures.
func TestSignatureMatchesSDK(t *testing.T) {
	tests := []struct {
		name, basePath, id, token string
		frame                     []byte
		del                       bool
	}{
		{name: "post", basePath: "/prod", id: "L0SM9cOFvHcCIhw=", frame: []byte(`{"type":"next","id":"1","payload":{"data":{"n":1}}}`)},
		{name: "post without stage", id: "abc", frame: []byte("x")},
		{name: "post with session token", basePath: "/prod", id: "abc", token: "SESSION", frame: []byte("{}")},
		{name: "post with escaped id", basePath: "/graphql/v1", id: "a/b=c+d e%f~", frame: []byte{0, 1, 2, 0xff}},
		{name: "delete", basePath: "/prod", id: "L0SM9cOFvHcCIhw=", del: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, received := capture(t)
			cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", tt.token)}
			api := apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
				o.BaseEndpoint = aws.String(srv.URL + tt.basePath)
			})
			var err error
			if tt.del {
				_, err = api.DeleteConnection(t.Context(), &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(tt.id)})
			} else {
				_, err = api.PostToConnection(t.Context(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(tt.id), Data: tt.frame})
			}
			if err != nil {
				t.Fatal(err)
			}
			reqs := received()
			if len(reqs) != 1 {
				t.Fatalf("the SDK sent %d requests, want 1", len(reqs))
			}
			want := reqs[0].header.Get("Authorization")
			if got := resign(t, apigw.New(api, nil), reqs[0], "eu-west-1"); got != want {
				t.Errorf("Authorization\n got %s\nwant %s (the SDK's)", got, want)
			}
		})
	}
}

// TestRequestsAsSigned checks that the Client's requests reach the server
// as they were signed (path escaping, headers, body), with the SDK
// client's credentials.
func TestRequestsAsSigned(t *testing.T) {
	tests := []struct {
		name, id, token string
		frame           []byte
		del             bool
	}{
		{name: "post", id: "L0SM9cOFvHcCIhw=", frame: []byte(`{"type":"pong"}`)},
		{name: "post with escaped id and session token", id: "a/b=c+d e%f~", token: "SESSION", frame: []byte{0, 1, 2, 0xff}},
		{name: "delete", id: "L0SM9cOFvHcCIhw=", del: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, received := capture(t)
			cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", tt.token)}
			c := apigw.New(apigatewaymanagementapi.NewFromConfig(cfg), fastOptions())
			var err error
			if tt.del {
				err = c.Close(t.Context(), srv.URL+"/prod", tt.id, 1000, "")
			} else {
				err = c.Post(t.Context(), srv.URL+"/prod", tt.id, tt.frame)
			}
			if err != nil {
				t.Fatal(err)
			}
			reqs := received()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			auth := r.header.Get("Authorization")
			if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/") || !strings.Contains(auth, "/eu-west-1/execute-api/aws4_request") {
				t.Errorf("Authorization = %q, want a SigV4 signature for execute-api in eu-west-1", auth)
			}
			if got := resign(t, c, r, "eu-west-1"); got != auth {
				t.Errorf("the request was changed after signing: Authorization\n got %s\nwant %s", auth, got)
			}
			if !bytes.Equal(r.body, tt.frame) {
				t.Errorf("body = %q, want %q", r.body, tt.frame)
			}
		})
	}
}

func TestUnsignedWithoutCredentials(t *testing.T) {
	for name, api := range map[string]*apigatewaymanagementapi.Client{
		"nil client":            nil,
		"anonymous credentials": apigatewaymanagementapi.New(apigatewaymanagementapi.Options{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}}),
	} {
		t.Run(name, func(t *testing.T) {
			srv, received := capture(t)
			if err := apigw.New(api, fastOptions()).Post(t.Context(), srv.URL, "c1", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if reqs := received(); len(reqs) != 1 || reqs[0].header.Get("Authorization") != "" {
				t.Errorf("requests = %+v, want one without Authorization", reqs)
			}
		})
	}
}

func TestPayloadLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit int // 0: the default
		size  int
		want  error
	}{
		{name: "default limit", size: 128 << 10},
		{name: "over the default limit", size: 128<<10 + 1, want: gateway.ErrPayloadTooLarge},
		{name: "configured limit", limit: 10, size: 10},
		{name: "over the configured limit", limit: 10, size: 11, want: gateway.ErrPayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			opts := fastOptions()
			opts.MaxPayloadBytes = tt.limit
			err := apigw.New(sdkClient(), opts).Post(t.Context(), api.URL, "c1", bytes.Repeat([]byte("x"), tt.size))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			want := 1
			if tt.want != nil {
				want = 0
			}
			if n := len(api.received()); n != want {
				t.Errorf("got %d requests, want %d", n, want)
			}
		})
	}
}

func TestResponseError(t *testing.T) {
	tests := []struct {
		name string
		resp response
		want apigw.ResponseError
	}{
		{
			name: "type in header",
			resp: response{status: 403, errorType: "ForbiddenException", body: `{"message":"Forbidden"}`},
			want: apigw.ResponseError{StatusCode: 403, Code: "ForbiddenException", Message: "Forbidden"},
		},
		{
			name: "type with suffix",
			resp: response{status: 400, errorType: "BadRequestException:http://internal.amazon.com/coral/", body: `{"Message":"Invalid connectionId"}`},
			want: apigw.ResponseError{StatusCode: 400, Code: "BadRequestException", Message: "Invalid connectionId"},
		},
		{
			name: "type in body",
			resp: response{status: 400, body: `{"__type":"com.amazon#BadRequestException","message":"bad"}`},
			want: apigw.ResponseError{StatusCode: 400, Code: "BadRequestException", Message: "bad"},
		},
		{
			name: "no body",
			resp: response{status: 404},
			want: apigw.ResponseError{StatusCode: 404},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.resp)
			err := apigw.New(sdkClient(), fastOptions()).Post(t.Context(), api.URL, "c1", []byte("x"))
			re, ok := errors.AsType[*apigw.ResponseError](err)
			if !ok {
				t.Fatalf("error = %v, want a *ResponseError", err)
			}
			if *re != tt.want {
				t.Errorf("ResponseError = %+v, want %+v", *re, tt.want)
			}
		})
	}
}

// attemptClient answers a request after the delays of its attempt: forever
// (until the request's context ends) for the attempts listed in hang, at
// once with 200 otherwise.
type attemptClient struct {
	hang map[int]bool

	mu    sync.Mutex
	calls int
}

func (a *attemptClient) Do(r *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.calls++
	n := a.calls
	a.mu.Unlock()
	if a.hang[n] {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

func TestAttemptTimeout(t *testing.T) {
	tests := []struct {
		name      string
		hang      map[int]bool
		attempts  int
		deadline  time.Duration // of the call's context; 0: none
		wantErr   error         // nil, or what the error must wrap
		wantCalls int
	}{
		{name: "a hung attempt is retried", hang: map[int]bool{1: true}, attempts: 3, wantCalls: 2},
		{name: "every attempt hangs", hang: map[int]bool{1: true, 2: true, 3: true}, attempts: 3, wantErr: context.DeadlineExceeded, wantCalls: 3},
		{name: "the call's deadline comes first", hang: map[int]bool{1: true}, attempts: 3, deadline: 500 * time.Millisecond, wantErr: context.DeadlineExceeded, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hc := &attemptClient{hang: tt.hang}
				c := apigw.New(sdkClient(), &apigw.Options{
					MaxAttempts: tt.attempts, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond,
					AttemptTimeout: time.Second, HTTPClient: hc,
				})
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				start := time.Now()
				err := c.Post(ctx, "https://abc123.execute-api.eu-west-1.amazonaws.com/prod", "c1", []byte("x"))
				if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if hc.calls != tt.wantCalls {
					t.Errorf("%d attempts, want %d", hc.calls, tt.wantCalls)
				}
				if limit := time.Duration(tt.attempts) * (time.Second + time.Millisecond); time.Since(start) > limit {
					t.Errorf("Post took %v, want at most %v", time.Since(start), limit)
				}
			})
		})
	}
}

func TestDefaultHTTPClientKeepsConnections(t *testing.T) {
	tests := []struct {
		name string
		api  *apigatewaymanagementapi.Client
		opts *apigw.Options
		want int
	}{
		{name: "nil client", want: 1024},
		{name: "SDK default client", api: sdkClient(), want: 1024},
		{name: "SDK default client, MaxInFlight", api: sdkClient(), opts: &apigw.Options{MaxInFlight: 300}, want: 300},
		{name: "own transport is kept", api: sdkClient(), opts: &apigw.Options{HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 7}}}, want: 7},
		{name: "own HTTP client", api: sdkClient(), opts: &apigw.Options{HTTPClient: httpClientFunc(http.DefaultClient.Do)}, want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apigw.IdleConnsPerHost(apigw.New(tt.api, tt.opts)); got != tt.want {
				t.Errorf("idle connections per host = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestMaxInFlightCappedByTransport: the Client has no more calls in flight
// than its transport has connections per host (the others would only queue
// inside the transport), and says so as a gateway.Bounded.
func TestMaxInFlightCappedByTransport(t *testing.T) {
	tests := []struct {
		name string
		opts *apigw.Options
		want int
	}{
		{name: "defaults", want: 1024},
		{name: "MaxInFlight", opts: &apigw.Options{MaxInFlight: 300}, want: 300},
		{name: "transport with 50 connections per host", opts: &apigw.Options{HTTPClient: &http.Client{Transport: &http.Transport{MaxConnsPerHost: 50}}}, want: 50},
		{name: "MaxInFlight below the transport's cap", opts: &apigw.Options{MaxInFlight: 20, HTTPClient: &http.Client{Transport: &http.Transport{MaxConnsPerHost: 50}}}, want: 20},
		{name: "transport without a cap", opts: &apigw.Options{HTTPClient: &http.Client{Transport: &http.Transport{}}}, want: 1024},
		{name: "own HTTP client", opts: &apigw.Options{HTTPClient: httpClientFunc(http.DefaultClient.Do)}, want: 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b gateway.Bounded = apigw.New(sdkClient(), tt.opts)
			if got := b.MaxInFlight(); got != tt.want {
				t.Errorf("MaxInFlight() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPacing(t *testing.T) {
	tests := []struct {
		name        string
		endpoints   []string // posted to in turn
		rate, burst int
		posts       int
		deadline    time.Duration // of each post's context; 0: none
		want        time.Duration // until every post is sent
		wantFailed  int
	}{
		{
			name:      "burst, then the rate",
			endpoints: []string{"https://abc.execute-api.eu-west-1.amazonaws.com/prod"},
			rate:      100, burst: 10, posts: 30,
			want: 200 * time.Millisecond,
		},
		{
			name:      "default: API Gateway's throttle",
			endpoints: []string{"https://abc.execute-api.eu-west-1.amazonaws.com/prod"},
			posts:     5600,
			want:      60 * time.Millisecond, // 5,000 at once, 600 more at 10,000 a second
		},
		{
			name: "one bucket per region",
			endpoints: []string{
				"https://abc.execute-api.eu-west-1.amazonaws.com/prod", "https://def.execute-api.eu-west-1.amazonaws.com/dev",
				"https://abc.execute-api.us-east-1.amazonaws.com/prod",
			},
			rate: 100, burst: 10, posts: 30,
			want: 100 * time.Millisecond, // eu-west-1: 20 posts, 10 over the burst
		},
		{
			name:      "plain http is not paced",
			endpoints: []string{"http://127.0.0.1:3001/local"},
			rate:      100, burst: 10, posts: 30,
		},
		{
			name:      "pacing off",
			endpoints: []string{"https://abc.execute-api.eu-west-1.amazonaws.com/prod"},
			rate:      -1, posts: 30,
		},
		{
			name:      "no turn before the deadline",
			endpoints: []string{"https://abc.execute-api.eu-west-1.amazonaws.com/prod"},
			rate:      100, burst: 10, posts: 30, deadline: 105 * time.Millisecond,
			want: 100 * time.Millisecond, wantFailed: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hc := &attemptClient{}
				c := apigw.New(sdkClient(), &apigw.Options{Rate: tt.rate, Burst: tt.burst, HTTPClient: hc, MaxAttempts: 1})
				start := time.Now()
				var wg sync.WaitGroup
				var mu sync.Mutex
				var last time.Time
				failed := 0
				for i := range tt.posts {
					wg.Go(func() {
						ctx := t.Context()
						if tt.deadline > 0 {
							var cancel context.CancelFunc
							ctx, cancel = context.WithTimeout(ctx, tt.deadline)
							defer cancel()
						}
						err := c.Post(ctx, tt.endpoints[i%len(tt.endpoints)], "c1", []byte("x"))
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							if !errors.Is(err, context.DeadlineExceeded) {
								t.Errorf("post %d: %v", i, err)
							}
							failed++
							return
						}
						if now := time.Now(); now.After(last) {
							last = now
						}
					})
				}
				wg.Wait()
				if last.IsZero() {
					last = start
				}
				if got := last.Sub(start); got < tt.want-time.Millisecond || got > tt.want+time.Millisecond {
					t.Errorf("the posts were sent within %v, want %v", got, tt.want)
				}
				if failed != tt.wantFailed {
					t.Errorf("%d posts failed, want %d", failed, tt.wantFailed)
				}
				if hc.calls != tt.posts-tt.wantFailed {
					t.Errorf("%d requests, want %d", hc.calls, tt.posts-tt.wantFailed)
				}
			})
		})
	}
}
