package localgateway

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: whatever Authorization header, date and body a caller sends
// without the keys, the SigV4 check refuses the request, and never panics.
func FuzzVerify(f *testing.F) {
	now := time.Now().UTC().Format("20060102T150405Z")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDGATEWAY/20261206/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", now, "{}")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDGATEWAY/x/y/z/aws4_request, SignedHeaders=content-length;host;x-amz-date;x-amz-security-token, Signature=", now, "")
	f.Add("AWS4-HMAC-SHA256 ,,,=,Credential=/////", "20261206T000000Z", "x")
	f.Add("", "", "")
	g := &Gateway{creds: &Credentials{AccessKeyID: "AKIDGATEWAY", SecretAccessKey: "gateway-secret"}}
	f.Fuzz(func(t *testing.T, auth, date, body string) {
		r := httptest.NewRequest("POST", "http://127.0.0.1:4000/local/@connections/abc%3D", strings.NewReader(body))
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Date", date)
		if typ, msg := g.verify(r, []byte(body)); typ == "" || msg == "" {
			t.Fatalf("a request signed without the keys was accepted: Authorization %q", auth)
		}
	})
}
