// Package chatauth is the authentication of the chat example: HS256 JSON
// Web Tokens signed with a shared secret, and the Lambda REQUEST authorizer
// that verifies them, on API Gateway (examples/chat/authorizer) and on the
// local gateway (the chat's -auth dev mode, which also issues tokens).
//
// A token is the compact JWS of a JSON object with iss "gqlambda-chat", sub
// (the user's stable id, at most 128 bytes), name (what the chat shows as
// the author, at most 40 characters), iat and exp (Unix seconds; at most
// MaxLifetime apart). Only HS256 is accepted: "none" and every other
// algorithm are refused, whatever the header says.
package chatauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Issuer is the iss claim of the chat's tokens.
const Issuer = "gqlambda-chat"

// Limits of a token.
const (
	// MaxTokenBytes bounds a token: longer ones are refused unread.
	MaxTokenBytes = 2048
	// MaxLifetime bounds exp - iat.
	MaxLifetime = 24 * time.Hour
	// MaxSubjectBytes bounds sub.
	MaxSubjectBytes = 128
	// MaxNameLength bounds name, in characters.
	MaxNameLength = 40
	// MinSecretBytes is the shortest secret accepted: HS256 wants a key of
	// at least the hash's 32 bytes.
	MinSecretBytes = 32
	// leeway is the clock skew tolerated on iat and exp.
	leeway = time.Minute
)

// ErrInvalidToken is wrapped by every refusal of [Verify].
var ErrInvalidToken = errors.New("chatauth: invalid token")

// ErrShortSecret: a secret under MinSecretBytes.
var ErrShortSecret = fmt.Errorf("chatauth: the secret must be at least %d bytes", MinSecretBytes)

// Claims are what a token says about its holder.
type Claims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Name     string `json:"name,omitempty"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
}

// header is the only JOSE header the chat writes and accepts.
var header = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Issue signs a token for subject and name, valid for lifetime (at most
// MaxLifetime) from now.
func Issue(secret []byte, subject, name string, now time.Time, lifetime time.Duration) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", ErrShortSecret
	}
	c := Claims{Issuer: Issuer, Subject: subject, Name: name, IssuedAt: now.Unix(), Expires: now.Add(lifetime).Unix()}
	if err := c.check(now); err != nil {
		return "", err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signing + "." + base64.RawURLEncoding.EncodeToString(sign(secret, signing)), nil
}

func sign(secret []byte, signing string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return m.Sum(nil)
}

// Verify checks a token's signature and claims at now and returns its
// claims. Every refusal wraps ErrInvalidToken and says why (never with the
// token in it).
func Verify(secret []byte, token string, now time.Time) (Claims, error) {
	fail := func(format string, args ...any) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
	}
	if len(secret) < MinSecretBytes {
		return Claims{}, ErrShortSecret
	}
	if len(token) > MaxTokenBytes {
		return fail("%d bytes, over %d", len(token), MaxTokenBytes)
	}
	h, rest, ok := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") {
		return fail("not three dot-separated parts")
	}
	// The header is compared whole after decoding: only HS256 is accepted,
	// so that "alg":"none" or a public key used as an HMAC secret cannot
	// get through.
	hb, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return fail("header is not base64url")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return fail("header is not a JSON object")
	}
	if hdr.Alg != "HS256" || (hdr.Typ != "" && hdr.Typ != "JWT") {
		return fail("algorithm %.20q, want HS256", hdr.Alg)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return fail("signature is not base64url")
	}
	if !hmac.Equal(got, sign(secret, h+"."+payload)) {
		return fail("bad signature")
	}
	pb, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return fail("payload is not base64url")
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return fail("payload is not a JSON object of the expected claims")
	}
	if err := c.check(now); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// check validates the claims at now.
func (c Claims) check(now time.Time) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
	}
	switch {
	case c.Issuer != Issuer:
		return fail("issuer %.40q, want %q", c.Issuer, Issuer)
	case c.Subject == "" || len(c.Subject) > MaxSubjectBytes || !utf8.ValidString(c.Subject):
		return fail("sub must be 1 to %d bytes of UTF-8", MaxSubjectBytes)
	case utf8.RuneCountInString(c.Name) > MaxNameLength || !utf8.ValidString(c.Name):
		return fail("name longer than %d characters", MaxNameLength)
	case c.Expires <= c.IssuedAt || time.Duration(c.Expires-c.IssuedAt)*time.Second > MaxLifetime:
		return fail("exp must be after iat, by at most %v", MaxLifetime)
	case now.Add(leeway).Unix() < c.IssuedAt:
		return fail("issued in the future")
	case now.Add(-leeway).Unix() >= c.Expires:
		return fail("expired")
	}
	return nil
}
