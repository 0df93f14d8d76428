package localgateway_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/localgateway"
)

// signedClient is apigw.Client, as on AWS, signing with key and secret.
func signedClient(key, secret string) *apigw.Client {
	return apigw.New(apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
	}), &apigw.Options{MaxAttempts: 1})
}

// capture records the requests a client sends, and sends them on.
type capture struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Clone(context.Background()))
	c.body = append(c.body, b)
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestConnectionsSigV4: with Options.Credentials, the @connections API
// accepts only requests signed with them: apigw.Client with the keys posts,
// reads and closes; a wrong secret, an unknown key, no signature, a signed
// request replayed with another body (a forged next) and a DELETE signed
// by nobody are refused with 403 and change nothing.
func TestConnectionsSigV4(t *testing.T) {
	rec := &recorder{}
	_, srv := start(t, rec, localgateway.Options{Credentials: &localgateway.Credentials{AccessKeyID: "AKIDGATEWAY", SecretAccessKey: "gateway-secret"}})
	c := dial(t, wsURL(srv, "/graphql"), "one", nil)
	id := rec.connectionID(t, "one")
	endpoint := srv.URL + "/local"
	ctx := t.Context()

	refused := func(name string, err error, wantType string) {
		t.Helper()
		re, ok := err.(interface{ Error() string })
		if !ok || err == nil || !strings.Contains(re.Error(), "403") || !strings.Contains(re.Error(), wantType) {
			t.Errorf("%s: %v, want 403 %s", name, err, wantType)
		}
	}
	refused("wrong secret", signedClient("AKIDGATEWAY", "guess").Post(ctx, endpoint, id, []byte(`{"type":"next","id":"1","payload":{"data":{"forged":true}}}`)), "InvalidSignatureException")
	refused("unknown key", signedClient("AKIDOTHER", "gateway-secret").Post(ctx, endpoint, id, []byte(`{"type":"next"}`)), "UnrecognizedClientException")

	// A signed request, captured and replayed with another body.
	cap := &capture{}
	good := apigw.New(apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDGATEWAY", "gateway-secret", ""),
		HTTPClient:  &http.Client{Transport: cap},
	}), &apigw.Options{MaxAttempts: 1, HTTPClient: &http.Client{Transport: cap}})
	if err := good.Post(ctx, endpoint, id, []byte(`{"type":"next","id":"1","payload":{"data":{"real":true}}}`)); err != nil {
		t.Fatalf("signed post: %v", err)
	}
	if got := readText(t, c); !strings.Contains(got, "real") {
		t.Fatalf("client got %q", got)
	}
	cap.mu.Lock()
	orig := cap.reqs[0]
	cap.mu.Unlock()
	forged, _ := http.NewRequestWithContext(ctx, http.MethodPost, orig.URL.String(), strings.NewReader(`{"type":"next","id":"1","payload":{"data":{"forged":true}}}`))
	for _, h := range []string{"Authorization", "X-Amz-Date", "Content-Type"} {
		forged.Header.Set(h, orig.Header.Get(h))
	}
	if resp, err := http.DefaultClient.Do(forged); err != nil || resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-Errortype") != "InvalidSignatureException" {
		t.Errorf("replayed signature with another body: %v %v, want 403 InvalidSignatureException", resp, err)
	}

	// DELETE without the keys.
	del, _ := http.NewRequestWithContext(ctx, http.MethodDelete, endpoint+"/@connections/"+strings.ReplaceAll(id, "=", "%3D"), nil)
	del.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDGATEWAY/20261206/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	del.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	if resp, err := http.DefaultClient.Do(del); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("DELETE with a forged signature: %v %v, want 403", resp, err)
	}
	unsigned, _ := http.NewRequestWithContext(ctx, http.MethodDelete, endpoint+"/@connections/"+strings.ReplaceAll(id, "=", "%3D"), nil)
	unsigned.Header.Set("Authorization", "anything")
	if resp, err := http.DefaultClient.Do(unsigned); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("DELETE with a made-up Authorization: %v %v, want 403", resp, err)
	}

	// Nothing forged arrived, and the connection is still open: the next
	// message is the one the keys sign.
	if err := signedClient("AKIDGATEWAY", "gateway-secret").Post(ctx, endpoint, id, []byte("after")); err != nil {
		t.Fatalf("signed post: %v", err)
	}
	if got := readText(t, c); got != "after" {
		t.Errorf("client got %q, want only what the keys signed", got)
	}
	if _, err := signedClient("AKIDGATEWAY", "gateway-secret").Get(ctx, endpoint, id); err != nil {
		t.Errorf("signed get: %v", err)
	}
	if err := signedClient("AKIDGATEWAY", "gateway-secret").Close(ctx, endpoint, id, 1000, ""); err != nil {
		t.Errorf("signed delete: %v", err)
	}
	if ce := readClose(t, c); ce.Code != websocket.StatusNoStatusRcvd {
		t.Errorf("close %v after the signed delete", ce)
	}
}

// TestDevelopmentModeIsAnnounced: a gateway without Credentials says at
// WARN that its @connections API accepts any signature.
func TestDevelopmentModeIsAnnounced(t *testing.T) {
	var logs bytes.Buffer
	_, err := localgateway.New(localgateway.Options{Handler: (&recorder{}).handle, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "accepts any signature") {
		t.Errorf("logs %q, want a WARN about the development mode", out)
	}
	logs.Reset()
	if _, err := localgateway.New(localgateway.Options{Handler: (&recorder{}).handle, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Credentials: &localgateway.Credentials{AccessKeyID: "a", SecretAccessKey: "b"}}); err != nil {
		t.Fatal(err)
	}
	if logs.Len() > 0 {
		t.Errorf("logs %q with credentials, want none", logs.String())
	}
}
