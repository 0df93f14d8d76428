package localgateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credentials are the AWS access keys the @connections API accepts: see
// Options.Credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// maxClockSkew is how far a request's X-Amz-Date may be from the gateway's
// clock, as AWS allows.
const maxClockSkew = 15 * time.Minute

// sigv4Prefix starts the Authorization header of a SigV4-signed request.
const sigv4Prefix = "AWS4-HMAC-SHA256 "

// The messages of AWS's refusals, which the SDKs show.
const (
	msgForged     = "The request signature we calculated does not match the signature you provided."
	msgUnknownKey = "The security token included in the request is invalid."
	msgUnsigned   = "Missing Authentication Token"
)

// verify checks the SigV4 signature of a request to the @connections API,
// whose body is body, against the gateway's credentials: it signs the same
// request (method, host, path, query, the headers the client signed, the
// body's hash) with the credentials, at the request's X-Amz-Date, for the
// region and service of its credential scope, with aws-sdk-go-v2's signer,
// and compares the signatures. Without credentials (development mode) any
// Authorization header or presigned query is accepted. It returns the
// AWS error type and message of a refusal, or two empty strings.
func (g *Gateway) verify(r *http.Request, body []byte) (typ, msg string) {
	auth := r.Header.Get("Authorization")
	if g.creds == nil {
		if auth == "" && r.URL.Query().Get("X-Amz-Signature") == "" {
			return "ForbiddenException", msgUnsigned
		}
		return "", ""
	}
	if !strings.HasPrefix(auth, sigv4Prefix) {
		// Presigned queries are not verified: refuse them too.
		return "ForbiddenException", msgUnsigned
	}
	fields := map[string]string{}
	for f := range strings.SplitSeq(strings.TrimPrefix(auth, sigv4Prefix), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/") // key/date/region/service/aws4_request
	signed := fields["SignedHeaders"]
	if len(scope) != 5 || scope[4] != "aws4_request" || signed == "" || fields["Signature"] == "" {
		return "IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and Signature."
	}
	if subtle.ConstantTimeCompare([]byte(scope[0]), []byte(g.creds.AccessKeyID)) != 1 {
		return "UnrecognizedClientException", msgUnknownKey
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "IncompleteSignatureException", "Missing or invalid X-Amz-Date."
	}
	if skew := time.Since(at); skew > maxClockSkew || skew < -maxClockSkew {
		return "InvalidSignatureException", "Signature expired: the request's X-Amz-Date is too far from the server's time."
	}

	// The request as the client signed it: the headers it named, the body
	// that arrived.
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	again, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), nil)
	if err != nil {
		return "InvalidSignatureException", msgForged
	}
	again.URL = u
	again.Host = r.Host
	for name := range strings.SplitSeq(signed, ";") {
		switch name {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: g.creds.AccessKeyID, SecretAccessKey: g.creds.SecretAccessKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), scope[3], scope[2], at); err != nil {
		return "InvalidSignatureException", msgForged
	}
	want := ""
	for f := range strings.SplitSeq(strings.TrimPrefix(again.Header.Get("Authorization"), sigv4Prefix), ",") {
		if k, v, _ := strings.Cut(strings.TrimSpace(f), "="); k == "Signature" {
			want = v
		}
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(fields["Signature"])) != 1 {
		return "InvalidSignatureException", msgForged
	}
	return "", ""
}
