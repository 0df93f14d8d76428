package chatauth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	now    = time.Unix(1_800_000_000, 0)
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signed signs header and payload (JSON) with secret.
func signed(secret []byte, header, payload string) string {
	s := b64(header) + "." + b64(payload)
	return s + "." + base64.RawURLEncoding.EncodeToString(sign(secret, s))
}

func TestIssueVerify(t *testing.T) {
	tok, err := Issue(secret, "u-1", "Ann", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(secret, tok, now.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "u-1" || c.Name != "Ann" || c.Issuer != Issuer || c.Expires != now.Add(time.Hour).Unix() {
		t.Errorf("claims %+v", c)
	}
	for _, tc := range []struct {
		name            string
		subject, handle string
		lifetime        time.Duration
		secret          []byte
	}{
		{"short secret", "u", "n", time.Hour, []byte("short")},
		{"no subject", "", "n", time.Hour, secret},
		{"long name", "u", strings.Repeat("é", MaxNameLength+1), time.Hour, secret},
		{"lifetime over the limit", "u", "n", MaxLifetime + time.Second, secret},
		{"no lifetime", "u", "n", 0, secret},
	} {
		if _, err := Issue(tc.secret, tc.subject, tc.handle, now, tc.lifetime); err == nil {
			t.Errorf("Issue with %s: want an error", tc.name)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	good := `{"iss":"gqlambda-chat","sub":"u","name":"n","iat":1800000000,"exp":1800003600}`
	hs256 := `{"alg":"HS256","typ":"JWT"}`
	valid := signed(secret, hs256, good)
	parts := strings.Split(valid, ".")
	for _, tc := range []struct{ name, token string }{
		{"empty", ""},
		{"two parts", parts[0] + "." + parts[1]},
		{"four parts", valid + ".x"},
		{"alg none, unsigned", b64(`{"alg":"none"}`) + "." + parts[1] + "."},
		{"alg none, signed", signed(secret, `{"alg":"none"}`, good)},
		{"HS512 header", signed(secret, `{"alg":"HS512"}`, good)},
		{"RS256 header", signed(secret, `{"alg":"RS256","typ":"JWT"}`, good)},
		{"another typ", signed(secret, `{"alg":"HS256","typ":"JWE"}`, good)},
		{"header not JSON", signed(secret, `alg`, good)},
		{"header not base64url", "a*b." + parts[1] + "." + parts[2]},
		{"another secret", signed([]byte("ffffffffffffffffffffffffffffffff"), hs256, good)},
		{"signature altered", parts[0] + "." + parts[1] + "." + strings.ToUpper(parts[2][:4]) + parts[2][4:]},
		{"payload altered", parts[0] + "." + b64(strings.Replace(good, `"u"`, `"admin"`, 1)) + "." + parts[2]},
		{"signature padded", valid + "="},
		{"payload not JSON", signed(secret, hs256, `not json`)},
		{"claim of another type", signed(secret, hs256, `{"iss":"gqlambda-chat","sub":1,"iat":1800000000,"exp":1800003600}`)},
		{"another issuer", signed(secret, hs256, `{"iss":"evil","sub":"u","iat":1800000000,"exp":1800003600}`)},
		{"no subject", signed(secret, hs256, `{"iss":"gqlambda-chat","sub":"","iat":1800000000,"exp":1800003600}`)},
		{"no exp", signed(secret, hs256, `{"iss":"gqlambda-chat","sub":"u","iat":1800000000}`)},
		{"expired", signed(secret, hs256, `{"iss":"gqlambda-chat","sub":"u","iat":1799990000,"exp":1799996000}`)},
		{"issued in the future", signed(secret, hs256, `{"iss":"gqlambda-chat","sub":"u","iat":1800000600,"exp":1800003600}`)},
		{"lives too long", signed(secret, hs256, `{"iss":"gqlambda-chat","sub":"u","iat":1800000000,"exp":1900000000}`)},
		{"long name", signed(secret, hs256, `{"iss":"gqlambda-chat","sub":"u","name":"`+strings.Repeat("x", 41)+`","iat":1800000000,"exp":1800003600}`)},
		{"too long", valid + strings.Repeat("A", MaxTokenBytes)},
	} {
		if _, err := Verify(secret, tc.token, now.Add(time.Minute)); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify = %v, want ErrInvalidToken", tc.name, err)
		}
	}
	if _, err := Verify(secret, valid, now.Add(time.Minute)); err != nil {
		t.Errorf("the valid token of the table: %v", err)
	}
	if _, err := Verify(secret, signed(secret, `{"alg":"HS256"}`, good), now); err != nil {
		t.Errorf("a token without typ: %v", err)
	}
	if _, err := Verify([]byte("short"), valid, now); !errors.Is(err, ErrShortSecret) {
		t.Errorf("Verify with a short secret: %v, want ErrShortSecret", err)
	}
}

// FuzzVerify: whatever the token, Verify answers without panicking, with
// ErrInvalidToken or with claims that pass the checks; and no token but one
// signed with the secret is accepted.
func FuzzVerify(f *testing.F) {
	tok, _ := Issue(secret, "u", "n", now, time.Hour)
	f.Add(tok)
	f.Add(signed(secret, `{"alg":"none"}`, `{}`))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Verify(secret, token, now)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%q) = %v, want ErrInvalidToken", token, err)
			}
			return
		}
		if err := c.check(now); err != nil {
			t.Fatalf("Verify accepted claims that fail the checks: %+v: %v", c, err)
		}
		h, rest, _ := strings.Cut(token, ".")
		p, _, _ := strings.Cut(rest, ".")
		if !strings.HasSuffix(token, "."+base64.RawURLEncoding.EncodeToString(sign(secret, h+"."+p))) {
			t.Fatalf("Verify accepted %q, whose signature is not the secret's", token)
		}
	})
}

func TestAuthorizer(t *testing.T) {
	authorize := Authorizer(AuthorizerOptions{Secret: StaticSecret(secret), Now: func() time.Time { return now }})
	tok, err := Issue(secret, "u-1", "Ann", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/$connect"
	for _, tc := range []struct {
		name string
		req  events.APIGatewayCustomAuthorizerRequestTypeRequest
	}{
		{"query string", events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: arn, QueryStringParameters: map[string]string{"token": tok}}},
		{"Authorization header", events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: arn, Headers: map[string]string{"Authorization": "Bearer " + tok}}},
		{"lower-case header and scheme (HTTP APIs)", events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: arn, Headers: map[string]string{"authorization": "bearer " + tok}}},
	} {
		resp, err := authorize(t.Context(), tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.PrincipalID != "u-1" || resp.Context["name"] != "Ann" || resp.Context["sub"] != "u-1" {
			t.Errorf("%s: %+v", tc.name, resp)
		}
		st := resp.PolicyDocument.Statement
		if len(st) != 1 || st[0].Effect != "Allow" || st[0].Resource[0] != "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*" ||
			st[0].Action[0] != "execute-api:Invoke" {
			t.Errorf("%s: policy %+v", tc.name, resp.PolicyDocument)
		}
	}
	expired, _ := Issue(secret, "u-1", "Ann", now.Add(-2*time.Hour), time.Hour)
	for _, req := range []events.APIGatewayCustomAuthorizerRequestTypeRequest{
		{MethodArn: arn},
		{MethodArn: arn, QueryStringParameters: map[string]string{"token": "garbage"}},
		{MethodArn: arn, QueryStringParameters: map[string]string{"token": expired}},
		{MethodArn: arn, Headers: map[string]string{"Authorization": "Basic " + tok}},
	} {
		if _, err := authorize(t.Context(), req); err == nil || err.Error() != "Unauthorized" {
			t.Errorf("%+v: %v, want exactly Unauthorized", req, err)
		}
	}
	broken := Authorizer(AuthorizerOptions{Secret: func(context.Context) ([]byte, error) { return nil, errors.New("no access") }})
	if _, err := broken(t.Context(), events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: arn, QueryStringParameters: map[string]string{"token": tok}}); err == nil || err.Error() == "Unauthorized" {
		t.Errorf("unreadable secret: %v, want an error other than Unauthorized (500)", err)
	}
}

// fakeSecrets is Secrets Manager's GetSecretValue in memory.
type fakeSecrets struct {
	value atomic.Pointer[string]
	fail  atomic.Bool
	calls atomic.Int32
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	if aws.ToString(in.SecretId) != "arn:secret" {
		return nil, errors.New("ResourceNotFoundException")
	}
	if f.fail.Load() {
		return nil, errors.New("throttled")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: f.value.Load()}, nil
}

func TestSecretsManagerSecret(t *testing.T) {
	f := &fakeSecrets{}
	v := string(secret)
	f.value.Store(&v)
	get := SecretsManagerSecret(f, "arn:secret", time.Hour)
	for range 3 {
		got, err := get(t.Context())
		if err != nil || string(got) != v {
			t.Fatalf("secret %q, %v", got, err)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d calls for three reads within the refresh interval, want 1", n)
	}
	// Refreshed every time: a failure keeps the last secret.
	always := SecretsManagerSecret(f, "arn:secret", time.Nanosecond)
	if _, err := always(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.fail.Store(true)
	if got, err := always(t.Context()); err != nil || string(got) != v {
		t.Errorf("while Secrets Manager fails: %q, %v; want the last secret", got, err)
	}
	f.fail.Store(false)
	short := "short"
	f.value.Store(&short)
	if _, err := SecretsManagerSecret(f, "arn:secret", 0)(t.Context()); !errors.Is(err, ErrShortSecret) {
		t.Errorf("a short secret: %v, want ErrShortSecret", err)
	}
	if _, err := SecretsManagerSecret(f, "other", 0)(t.Context()); err == nil {
		t.Error("a missing secret: want an error")
	}
}
