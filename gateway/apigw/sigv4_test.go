package apigw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// signBoth signs two copies of one request, with sign and with
// aws-sdk-go-v2's v4.Signer, and returns the headers each set.
func signBoth(t testing.TB, method, base, id string, body []byte, header http.Header, creds aws.Credentials, region string, at time.Time) (ours, sdk http.Header) {
	t.Helper()
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	build := func() *http.Request {
		var rd *bytes.Reader
		if len(body) > 0 {
			rd = bytes.NewReader(body)
		}
		var req *http.Request
		var err error
		if rd != nil {
			req, err = http.NewRequest(method, base+"/@connections/"+escape(id), rd)
		} else {
			req, err = http.NewRequest(method, base+"/@connections/"+escape(id), nil)
		}
		if err != nil {
			t.Skip(err)
		}
		for k, vs := range header {
			req.Header[k] = append([]string(nil), vs...)
		}
		return req
	}
	a, b := build(), build()
	if !signable(a) {
		t.Skip("not a request sign handles")
	}
	s := &signer{service: service}
	s.sign(a, creds, hash, region, at)
	// Twice, so that the cached key is used too.
	a2 := build()
	s.sign(a2, creds, hash, region, at)
	if a.Header.Get("Authorization") != a2.Header.Get("Authorization") {
		t.Fatalf("the second signature with a cached key differs:\n%s\n%s", a.Header.Get("Authorization"), a2.Header.Get("Authorization"))
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, b, hash, service, region, at); err != nil {
		t.Fatal(err)
	}
	return a.Header, b.Header
}

func compareSignatures(t testing.TB, ours, sdk http.Header) {
	t.Helper()
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if o, s := ours.Values(h), sdk.Values(h); len(o) != len(s) || len(o) > 0 && o[0] != s[0] {
			t.Errorf("%s:\n ours %q\n sdk  %q", h, o, s)
		}
	}
}

// TestSignMatchesSDK: the Client's signer makes the signature of
// aws-sdk-go-v2's v4.Signer for the requests the Client sends, and for
// headers and ids it never sends.
func TestSignMatchesSDK(t *testing.T) {
	at := time.Date(2026, 12, 6, 21, 30, 0, 0, time.UTC)
	key := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	session := key
	session.SessionToken = "FwoGZXIvYXdzEBYaD session token"
	post := http.Header{"Content-Type": {"application/octet-stream"}, "User-Agent": {userAgent}}
	tests := []struct {
		name, method, base, id string
		body                   []byte
		header                 http.Header
		creds                  aws.Credentials
	}{
		{"post", "POST", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod", "Lh2pYcFyjoECF0Q=", []byte(`{"type":"next","id":"1"}`), post, key},
		{"post with a session token", "POST", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod", "Lh2pYcFyjoECF0Q=", []byte(`{}`), post, session},
		{"delete", "DELETE", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod", "Lh2pYcFyjoECF0Q=", nil, http.Header{"User-Agent": {userAgent}}, key},
		{"get", "GET", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod", "Lh2pYcFyjoECF0Q=", nil, nil, session},
		{"custom domain with a path and a port", "POST", "http://localhost:8080/a%20b/stage", "id with spaces/and+plus@", []byte("x"), post, key},
		{"no stage", "POST", "https://example.com", "é ü", []byte("x"), post, key},
		{"extra headers, spaces, several values", "POST", "https://example.com/s", "x", []byte("x"),
			http.Header{"Content-Type": {"  text/plain;   charset=utf-8 "}, "X-Custom": {"a", " b  c\t"}, "X-Amzn-Trace-Id": {"Root=1"}, "Traceparent": {"00-abc-def-01"}}, session},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, sdk := signBoth(t, tt.method, tt.base, tt.id, tt.body, tt.header, tt.creds, "eu-west-1", at)
			compareSignatures(t, ours, sdk)
		})
	}
	t.Run("a new day derives a new key", func(t *testing.T) {
		s := &signer{service: service}
		sign := func(at time.Time) string {
			req, _ := http.NewRequest("DELETE", "https://example.com/s/@connections/x", nil)
			s.sign(req, key, hex.EncodeToString(sha256.New().Sum(nil)), "us-east-1", at)
			b, _ := http.NewRequest("DELETE", "https://example.com/s/@connections/x", nil)
			if err := v4.NewSigner().SignHTTP(context.Background(), key, b, hex.EncodeToString(sha256.New().Sum(nil)), service, "us-east-1", at); err != nil {
				t.Fatal(err)
			}
			if req.Header.Get("Authorization") != b.Header.Get("Authorization") {
				t.Errorf("at %v:\n ours %s\n sdk  %s", at, req.Header.Get("Authorization"), b.Header.Get("Authorization"))
			}
			return req.Header.Get("Authorization")
		}
		if sign(at) == sign(at.Add(24*time.Hour)) {
			t.Error("the same signature on two days")
		}
	})
}

// TestSignerReused: one signer, as a Client keeps it, signs a sequence of
// requests whose second, day, credentials and region change and come back,
// concurrently; each signature is the SDK's. This goes through the cached
// X-Amz-Date, the cached key and its pooled HMACs in every order.
func TestSignerReused(t *testing.T) {
	s := &signer{service: service}
	base := time.Date(2026, 12, 6, 23, 59, 58, 0, time.UTC)
	keyA := aws.Credentials{AccessKeyID: "AKIDA", SecretAccessKey: "secretA"}
	keyB := aws.Credentials{AccessKeyID: "AKIDB", SecretAccessKey: "secretB", SessionToken: "tok"}
	type step struct {
		at     time.Time
		creds  aws.Credentials
		region string
	}
	steps := []step{
		{base, keyA, "eu-west-1"},
		{base.Add(400 * time.Millisecond), keyA, "eu-west-1"},                           // same second
		{base.Add(time.Second), keyA, "eu-west-1"},                                      // next second
		{base.Add(time.Second), keyB, "eu-west-1"},                                      // other credentials
		{base.Add(time.Second), keyB, "us-east-1"},                                      // other region
		{base.Add(2 * time.Second), keyA, "eu-west-1"},                                  // next day
		{base, keyA, "eu-west-1"},                                                       // back to the first
		{base.Add(time.Minute), keyA, "eu-west-1"},                                      // the same second of another minute
		{base.Add(time.Minute).In(time.FixedZone("UTC-5", -5*3600)), keyA, "eu-west-1"}, // the same instant elsewhere
		{base.Add(time.Minute + 1).In(time.FixedZone("UTC+9", 9*3600)), keyB, "us-east-1"},
	}
	body := []byte(`{"type":"next","id":"1"}`)
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	sign := func(st step) {
		req, _ := http.NewRequest("POST", "https://abc.execute-api.eu-west-1.amazonaws.com/prod/@connections/Lh2pYcFyjoECF0Q%3D", bytes.NewReader(body))
		ref, _ := http.NewRequest("POST", "https://abc.execute-api.eu-west-1.amazonaws.com/prod/@connections/Lh2pYcFyjoECF0Q%3D", bytes.NewReader(body))
		s.sign(req, st.creds, hash, st.region, st.at)
		if err := v4.NewSigner().SignHTTP(context.Background(), st.creds, ref, hash, service, st.region, st.at); err != nil {
			t.Error(err)
			return
		}
		compareSignatures(t, req.Header, ref.Header)
	}
	for range 3 {
		for _, st := range steps {
			sign(st)
		}
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() { sign(steps[i%len(steps)]) })
	}
	wg.Wait()
}

// TestSigningKeyPerRegion: a signer posting for two regions in turn keeps
// a key for each, instead of deriving one (and a new pool of HMACs) on
// every post; a new day or secret derives again.
func TestSigningKeyPerRegion(t *testing.T) {
	s := &signer{service: service}
	eu := s.signingKey("secret", "20261206", "eu-west-1")
	us := s.signingKey("secret", "20261206", "us-east-1")
	if eu == us {
		t.Fatal("one key for two regions")
	}
	for range 3 {
		if s.signingKey("secret", "20261206", "eu-west-1") != eu || s.signingKey("secret", "20261206", "us-east-1") != us {
			t.Fatal("a key derived again for a region whose secret and date did not change")
		}
	}
	if k := s.signingKey("secret", "20261207", "eu-west-1"); k == eu || k.date != "20261207" {
		t.Error("a new day kept the old key")
	}
	if k := s.signingKey("other", "20261207", "eu-west-1"); k.secret != "other" {
		t.Error("a new secret kept the old key")
	}
	if s.signingKey("secret", "20261206", "us-east-1") != us {
		t.Error("another region's change replaced this region's key")
	}
}

// TestAppendEscapedPath: the canonical URI's escaping (appendEscaped,
// keeping slashes) is smithy's httpbinding.EscapePath(path, false) for
// every byte.
func TestAppendEscapedPath(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	for _, p := range []string{"", "/", "/prod/@connections/Lh2pYcFyjoECF0Q%3D", "a b/c+d=e~f_g.h-i", string(all)} {
		if got, want := string(appendEscaped(nil, p, true)), httpbinding.EscapePath(p, false); got != want {
			t.Errorf("appendEscaped(%q, keepSlash):\n got %s\nwant %s", p, got, want)
		}
	}
}

// FuzzSignMatchesSDK compares the two signers on any connection id, body,
// header value, region and credentials.
func FuzzSignMatchesSDK(f *testing.F) {
	f.Add("POST", "Lh2pYcFyjoECF0Q=", []byte(`{"type":"next"}`), "application/octet-stream", "eu-west-1", "AKID", "secret", "", int64(1796592600))
	f.Add("DELETE", "a b/c", []byte(nil), "", "us-east-1", "AKID", "s", "token", int64(0))
	f.Add("GET", "%41", []byte("x"), "  a  b ", "ap-southeast-2", "K", "S", "T", int64(4102444800))
	f.Fuzz(func(t *testing.T, method, id string, body []byte, contentType, region, akid, secret, token string, unix int64) {
		switch method {
		case "POST", "GET", "DELETE":
		default:
			t.Skip()
		}
		if unix < 0 || unix > 4102444800 || id == "" {
			t.Skip()
		}
		header := http.Header{"User-Agent": {userAgent}}
		if contentType != "" {
			if !validHeaderValue(contentType) {
				t.Skip()
			}
			header["Content-Type"] = []string{contentType}
		}
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token}
		if !validHeaderValue(token) {
			t.Skip()
		}
		ours, sdk := signBoth(t, method, "https://abc.execute-api.eu-west-1.amazonaws.com/prod", id, body, header, creds, region, time.Unix(unix, 0))
		compareSignatures(t, ours, sdk)
	})
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
