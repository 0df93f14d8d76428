package apigw_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
)

func sdkClient() *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.NewFromConfig(awsConfig())
}

func awsConfig() aws.Config {
	return aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	}
}

// response is one canned answer of a fakeAPI.
type response struct {
	status    int
	errorType string // X-Amzn-ErrorType, such as GoneException
	body      string
}

// request is what a fakeAPI received.
type request struct {
	method, path, rawPath, host string
	auth, date                  string
	body                        []byte
}

// fakeAPI is an @connections endpoint that answers the nth request with
// responses[n], repeating the last response once they run out.
type fakeAPI struct {
	*httptest.Server
	responses []response

	mu       sync.Mutex
	requests []request
}

func newFakeAPI(t *testing.T, responses ...response) *fakeAPI {
	t.Helper()
	f := &fakeAPI{responses: responses}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, request{
		method:  r.Method,
		path:    r.URL.Path,
		rawPath: r.URL.EscapedPath(),
		host:    r.Host,
		auth:    r.Header.Get("Authorization"),
		date:    r.Header.Get("X-Amz-Date"),
		body:    body,
	})
	f.mu.Unlock()

	resp := response{status: http.StatusOK}
	if len(f.responses) > 0 {
		resp = f.responses[min(n, len(f.responses)-1)]
	}
	if resp.errorType != "" {
		w.Header().Set("X-Amzn-ErrorType", resp.errorType)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	io.WriteString(w, resp.body)
}

func (f *fakeAPI) received() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// fastOptions keeps backoffs short so that retry tests run quickly.
func fastOptions() *apigw.Options {
	return &apigw.Options{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
}

func checkSigned(t *testing.T, r request) {
	t.Helper()
	if !strings.HasPrefix(r.auth, "AWS4-HMAC-SHA256 Credential=AKID/") ||
		!strings.Contains(r.auth, "/eu-west-1/execute-api/aws4_request") {
		t.Errorf("Authorization = %q, want a SigV4 signature for execute-api in eu-west-1", r.auth)
	}
	if !strings.Contains(r.auth, "SignedHeaders=") || !strings.Contains(r.auth, "x-amz-date") {
		t.Errorf("Authorization = %q, want x-amz-date among the signed headers", r.auth)
	}
	if r.date == "" {
		t.Error("X-Amz-Date missing")
	}
}

func TestPostRequest(t *testing.T) {
	tests := []struct {
		name     string
		basePath string // appended to the server URL
		wantPath string // prefix of the request path
		id       string
		rawID    string // id as escaped on the wire
		frame    []byte
	}{
		{
			name: "stage-less emulator", id: "L0SM9cOFvHcCIhw=", rawID: "L0SM9cOFvHcCIhw%3D",
			frame: []byte(`{"type":"next","id":"1","payload":{"data":{"n":1}}}`),
		},
		{
			name: "stage path", basePath: "/prod", wantPath: "/prod", id: "abc", rawID: "abc",
			frame: []byte(`{"type":"pong"}`),
		},
		{
			name: "custom domain base path with trailing slash", basePath: "/graphql/", wantPath: "/graphql",
			id: "abc", rawID: "abc", frame: []byte("x"),
		},
		{
			name: "id needing escaping", id: "a/b=c+d", rawID: "a%2Fb%3Dc%2Bd",
			frame: []byte{0, 1, 2, 0xff, '\n'},
		},
		{
			name: "id with space and percent", id: "a b%c", rawID: "a%20b%25c",
			frame: []byte("{}"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			c := apigw.New(sdkClient(), fastOptions())
			if err := c.Post(t.Context(), api.URL+tt.basePath, tt.id, tt.frame); err != nil {
				t.Fatal(err)
			}
			reqs := api.received()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodPost {
				t.Errorf("method = %s, want POST", r.method)
			}
			if want := tt.wantPath + "/@connections/" + tt.id; r.path != want {
				t.Errorf("path = %q, want %q", r.path, want)
			}
			if want := tt.wantPath + "/@connections/" + tt.rawID; r.rawPath != want {
				t.Errorf("escaped path = %q, want %q", r.rawPath, want)
			}
			if !bytes.Equal(r.body, tt.frame) {
				t.Errorf("body = %q, want %q", r.body, tt.frame)
			}
			checkSigned(t, r)
		})
	}
}

func TestStatuses(t *testing.T) {
	const maxAttempts = 5
	ok := response{status: http.StatusOK}
	tests := []struct {
		name      string
		op        string // post, close or get
		responses []response
		wantErr   error // nil, a sentinel, or errAny
		wantCalls int
		wantLimit int // in-flight limit afterwards, 0 for unchanged
	}{
		{name: "post ok", op: "post", responses: []response{ok}, wantCalls: 1},
		{
			name: "post gone", op: "post", wantErr: gateway.ErrGone, wantCalls: 1,
			responses: []response{{status: 410, errorType: "GoneException", body: `{"message":"gone"}`}},
		},
		{
			name: "post gone without error type", op: "post", wantErr: gateway.ErrGone, wantCalls: 1,
			responses: []response{{status: 410}},
		},
		{
			name: "post payload too large", op: "post", wantErr: gateway.ErrPayloadTooLarge, wantCalls: 1,
			responses: []response{{status: 413, errorType: "PayloadTooLargeException", body: `{"message":"too large"}`}},
		},
		{
			name: "post forbidden is not retried", op: "post", wantErr: errAny, wantCalls: 1,
			responses: []response{{status: 403, errorType: "ForbiddenException", body: `{"message":"Forbidden"}`}, ok},
		},
		{
			name: "post bad request is not retried", op: "post", wantErr: errAny, wantCalls: 1,
			responses: []response{{status: 400, body: `{"message":"Invalid connectionId"}`}, ok},
		},
		{
			name: "post throttled then ok", op: "post", wantCalls: 2, wantLimit: apigw.MaxInFlight/2 + 1,
			responses: []response{{status: 429, errorType: "LimitExceededException", body: `{"message":"slow down"}`}, ok},
		},
		{
			name: "post throttled without error type then ok", op: "post", wantCalls: 2, wantLimit: apigw.MaxInFlight/2 + 1,
			responses: []response{{status: 429}, ok},
		},
		{
			name: "post server errors then ok", op: "post", wantCalls: 4,
			responses: []response{{status: 500}, {status: 502}, {status: 500, body: `{"message":"internal"}`}, ok},
		},
		{
			name: "post always unavailable", op: "post", wantErr: errAny, wantCalls: maxAttempts,
			responses: []response{{status: 503}},
		},
		{
			name: "post always throttled", op: "post", wantErr: errAny, wantCalls: maxAttempts,
			wantLimit: apigw.MaxInFlight >> maxAttempts,
			responses: []response{{status: 429, errorType: "LimitExceededException"}},
		},
		{name: "close ok", op: "close", responses: []response{{status: 204}}, wantCalls: 1},
		{
			name: "close gone is success", op: "close", wantCalls: 1,
			responses: []response{{status: 410, errorType: "GoneException", body: `{"message":"gone"}`}},
		},
		{
			name: "close forbidden", op: "close", wantErr: errAny, wantCalls: 1,
			responses: []response{{status: 403, errorType: "ForbiddenException"}},
		},
		{
			name: "close server error then ok", op: "close", wantCalls: 2,
			responses: []response{{status: 500}, {status: 204}},
		},
		{
			name: "get gone", op: "get", wantErr: gateway.ErrGone, wantCalls: 1,
			responses: []response{{status: 410, errorType: "GoneException", body: `{"message":"gone"}`}},
		},
		{
			name: "get server error then ok", op: "get", wantCalls: 2,
			responses: []response{{status: 503}, {status: 200, body: `{"connectedAt":"2026-12-01T10:00:00Z"}`}},
		},
	}
	wantMethod := map[string]string{"post": http.MethodPost, "close": http.MethodDelete, "get": http.MethodGet}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.responses...)
			c := apigw.New(sdkClient(), fastOptions())
			var err error
			switch tt.op {
			case "post":
				err = c.Post(t.Context(), api.URL, "conn-1", []byte("frame"))
			case "close":
				err = c.Close(t.Context(), api.URL, "conn-1", 4400, "bye")
			case "get":
				_, err = c.Get(t.Context(), api.URL, "conn-1")
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error = %v, want nil", err)
			case tt.wantErr != nil && err == nil:
				t.Fatal("error = nil, want one")
			case tt.wantErr == errAny && err != nil:
				if errors.Is(err, gateway.ErrGone) || errors.Is(err, gateway.ErrPayloadTooLarge) {
					t.Errorf("error = %v, wrongly wraps a sentinel", err)
				}
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error = %v, want one wrapping %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "conn-1") {
				t.Errorf("error = %q, want it to name the connection", err)
			}
			reqs := api.received()
			if len(reqs) != tt.wantCalls {
				t.Errorf("got %d requests, want %d", len(reqs), tt.wantCalls)
			}
			for _, r := range reqs {
				if r.method != wantMethod[tt.op] || r.path != "/@connections/conn-1" {
					t.Errorf("request = %s %s, want %s /@connections/conn-1", r.method, r.path, wantMethod[tt.op])
				}
				checkSigned(t, r) // every attempt is signed again
			}
			if tt.wantLimit != 0 {
				if got := apigw.Limit(c, api.URL); got != tt.wantLimit {
					t.Errorf("in-flight limit = %d, want %d", got, tt.wantLimit)
				}
			}
		})
	}
}

// errAny stands for any error that wraps neither sentinel.
var errAny = errors.New("any error")

func TestGet(t *testing.T) {
	api := newFakeAPI(t, response{status: 200, body: `{
		"connectedAt": "2026-12-01T10:00:00Z",
		"identity": {"sourceIp": "1.2.3.4", "userAgent": "ua"},
		"lastActiveAt": "2026-12-01T10:05:30.5Z"
	}`})
	c := apigw.New(sdkClient(), nil)
	got, err := c.Get(t.Context(), api.URL+"/prod", "a/b")
	if err != nil {
		t.Fatal(err)
	}
	want := apigw.ConnectionInfo{
		ConnectedAt:  time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		LastActiveAt: time.Date(2026, 12, 1, 10, 5, 30, 5e8, time.UTC),
		SourceIP:     "1.2.3.4",
		UserAgent:    "ua",
	}
	if !got.ConnectedAt.Equal(want.ConnectedAt) || !got.LastActiveAt.Equal(want.LastActiveAt) ||
		got.SourceIP != want.SourceIP || got.UserAgent != want.UserAgent {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	reqs := api.received()
	if len(reqs) != 1 || reqs[0].method != http.MethodGet || reqs[0].rawPath != "/prod/@connections/a%2Fb" {
		t.Fatalf("requests = %+v, want one GET /prod/@connections/a%%2Fb", reqs)
	}
	checkSigned(t, reqs[0])
}

func TestDeadlineShorterThanBackoff(t *testing.T) {
	// Backoffs of up to 30 s against a 300 ms deadline: a client that slept
	// past the deadline would take seconds. It must give up at once with the
	// last failure (the 503, or the deadline if an attempt was still running
	// when it passed: on a loaded machine one attempt can take that long).
	api := newFakeAPI(t, response{status: 503})
	c := apigw.New(sdkClient(), &apigw.Options{MaxAttempts: 8, BaseDelay: 30 * time.Second, MaxDelay: 30 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Post(ctx, api.URL, "conn-1", []byte("x"))
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("error = nil, want the last 503")
	}
	if !strings.Contains(err.Error(), "503") && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want the last 503 or the deadline", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("Post took %v, want it to give up at the 300 ms deadline instead of sleeping", elapsed)
	}
	if n := len(api.received()); n < 1 || n >= 8 {
		t.Errorf("got %d attempts, want between 1 and 7", n)
	}
}

func TestCanceledContext(t *testing.T) {
	api := newFakeAPI(t)
	c := apigw.New(sdkClient(), fastOptions())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Post(ctx, api.URL, "conn-1", []byte("x"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want one wrapping %v", err, context.Canceled)
	}
	if n := len(api.received()); n != 0 {
		t.Errorf("got %d requests, want 0", n)
	}
}

// httpClientFunc adapts a function to aws.HTTPClient.
type httpClientFunc func(*http.Request) (*http.Response, error)

func (f httpClientFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func TestNetworkErrorsAreRetried(t *testing.T) {
	api := newFakeAPI(t)
	var mu sync.Mutex
	calls := 0
	opts := fastOptions()
	opts.HTTPClient = httpClientFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= 2 {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		}
		return api.Client().Do(r)
	})
	c := apigw.New(sdkClient(), opts)
	if err := c.Post(t.Context(), api.URL, "conn-1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if calls != 3 || len(api.received()) != 1 {
		t.Errorf("got %d attempts and %d requests, want 3 and 1", calls, len(api.received()))
	}
}

func TestRegionFromExecuteAPIHost(t *testing.T) {
	var (
		mu  sync.Mutex
		got request
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = request{method: r.Method, path: r.URL.Path, host: r.Host, auth: r.Header.Get("Authorization")}
	}))
	defer srv.Close()
	// Send requests for any host to the test server.
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}
	defer transport.CloseIdleConnections()
	c := apigw.New(sdkClient(), &apigw.Options{HTTPClient: &http.Client{Transport: transport}})
	endpoint := "https://abc123.execute-api.us-east-2.amazonaws.com/prod"
	if err := c.Post(t.Context(), endpoint, "conn-1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.host != "abc123.execute-api.us-east-2.amazonaws.com" || got.path != "/prod/@connections/conn-1" {
		t.Errorf("request = %s %s%s, want the API's host and stage", got.method, got.host, got.path)
	}
	if !strings.Contains(got.auth, "/us-east-2/execute-api/aws4_request") {
		t.Errorf("Authorization = %q, want it signed for the API's region", got.auth)
	}
}

func TestEndpointsAreCachedAndConcurrent(t *testing.T) {
	a, b := newFakeAPI(t), newFakeAPI(t)
	c := apigw.New(sdkClient(), fastOptions())
	const posts = 40
	var wg sync.WaitGroup
	for i := range posts {
		wg.Go(func() {
			endpoint := a.URL
			if i%2 == 1 {
				endpoint = b.URL + "/"
			}
			if err := c.Post(t.Context(), endpoint, fmt.Sprint("conn-", i), []byte("x")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if na, nb := len(a.received()), len(b.received()); na != posts/2 || nb != posts/2 {
		t.Errorf("servers received %d and %d posts, want %d each", na, nb, posts/2)
	}
	if n := apigw.EndpointCount(c); n != 2 {
		t.Errorf("%d endpoint clients, want 2", n)
	}
}

func TestInvalidEndpoint(t *testing.T) {
	c := apigw.New(sdkClient(), nil)
	for _, endpoint := range []string{"", "abc123.execute-api.eu-west-1.amazonaws.com", "ftp://x", "http://%zz"} {
		if err := c.Post(t.Context(), endpoint, "conn-1", []byte("x")); err == nil {
			t.Errorf("Post to %q succeeded, want an error", endpoint)
		}
	}
	if n := apigw.EndpointCount(c); n != 0 {
		t.Errorf("%d endpoint clients, want 0", n)
	}
}
