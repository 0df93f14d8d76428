package apigw_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/gateway/apigw"
)

// okTransport answers every request with an empty 200 without a network:
// what remains is the client's own work per post (request building,
// signing, response handling).
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          http.NoBody,
		ContentLength: 0,
		Request:       r,
	}, nil
}

var benchFrame = []byte(`{"id":"1","type":"next","payload":{"data":{"messageBroadcast":"hello m0123456789"}}}`)

// BenchmarkPost measures one Post: "client" with a transport that answers
// in process (the Client's own CPU and allocations per post), "loopback…"
// through net/http to an httptest server (the server's work included),
// with the default HTTP client and with an http.Client of the caller's.
// Run with
//
//	go test -run '^$' -bench Post -benchmem ./gateway/apigw/
func BenchmarkPost(b *testing.B) {
	b.Run("client", func(b *testing.B) {
		// No pacing: Rate -1, so that the loop measures the Client itself.
		c := apigw.New(sdkClient(), &apigw.Options{HTTPClient: &http.Client{Transport: okTransport{}}, Rate: -1})
		ctx := b.Context()
		endpoint := "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Post(ctx, endpoint, "L0SM9cOFvHcCIhw=", benchFrame); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name string
		opts func(srv *httptest.Server) *apigw.Options
	}{
		// The default HTTP client: the SDK's transport, called directly.
		{"loopback", func(*httptest.Server) *apigw.Options { return nil }},
		// An http.Client of the caller's, called through Do.
		{"loopback-http.Client", func(srv *httptest.Server) *apigw.Options {
			return &apigw.Options{HTTPClient: srv.Client()}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if !strings.Contains(r.URL.Path, "/@connections/") {
					w.WriteHeader(http.StatusNotFound)
				}
			}))
			defer srv.Close()
			c := apigw.New(sdkClient(), tc.opts(srv))
			ctx := b.Context()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Post(ctx, srv.URL+"/prod", "L0SM9cOFvHcCIhw=", benchFrame); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
