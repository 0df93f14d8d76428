package gqlambda

import (
	"context"
	"encoding/json"
	"strconv"
)

// Identity is who an API Gateway authorizer said the caller is: the Lambda
// authorizer of a WebSocket API's $connect (kept with the connection and
// each of its subscriptions, so that it is there on every later frame and
// during fan-out), or the Lambda or JWT authorizer of a REST or HTTP API
// route serving GraphQL over HTTP. The client cannot choose any of it: API
// Gateway sets it from the authorizer's answer, and the local gateway does
// the same (localgateway.Authorizer).
type Identity struct {
	// Principal is the authorizer's principalId (Lambda authorizers of
	// WebSocket and REST APIs); else the "sub" claim (JWT and Cognito
	// authorizers) or the "sub" key of a Lambda authorizer's context (HTTP
	// APIs pass the context without the principalId).
	Principal string
	// Claims are the rest of what the authorizer returned: a Lambda
	// authorizer's context keys (string, number or boolean values), or a
	// JWT authorizer's claims.
	Claims map[string]any
	// Scopes are a JWT authorizer's scopes; nil otherwise.
	Scopes []string
}

// Claim returns the claim or context key name as text: a string as it is,
// a number or boolean as JSON spells it, "" when absent or of another type.
func (id Identity) Claim(name string) string {
	switch v := id.Claims[name].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return v.String()
	}
	return ""
}

// IdentityOf reads an API Gateway authorizer context, as
// [ConnectRequest.Authorizer] and [HTTPRequest.Authorizer] hold it: a
// WebSocket or REST Lambda authorizer's {"principalId": ..., context
// keys..., "integrationLatency": ...}, an HTTP API Lambda authorizer's
// context, or a JWT authorizer's {"claims": {...}, "scopes": [...]}. It
// reports false for a nil or empty map (no authorizer).
func IdentityOf(authorizer map[string]any) (Identity, bool) {
	if len(authorizer) == 0 {
		return Identity{}, false
	}
	var id Identity
	if claims, ok := claimsOf(authorizer["claims"]); ok {
		id.Claims = claims
		for _, s := range asSlice(authorizer["scopes"]) {
			if s, ok := s.(string); ok {
				id.Scopes = append(id.Scopes, s)
			}
		}
	} else {
		id.Claims = make(map[string]any, len(authorizer))
		for k, v := range authorizer {
			if k != "principalId" && k != "integrationLatency" {
				id.Claims[k] = v
			}
		}
	}
	id.Principal, _ = authorizer["principalId"].(string)
	if id.Principal == "" {
		id.Principal = id.Claim("sub")
	}
	return id, true
}

// claimsOf reads the claims of a JWT authorizer: a JSON object, or the
// map[string]string of aws-lambda-go's HTTP API event.
func claimsOf(v any) (map[string]any, bool) {
	switch c := v.(type) {
	case map[string]any:
		return c, true
	case map[string]string:
		out := make(map[string]any, len(c))
		for k, x := range c {
			out[k] = x
		}
		return out, true
	}
	return nil, false
}

func asSlice(v any) []any {
	switch s := v.(type) {
	case []any:
		return s
	case []string:
		out := make([]any, len(s))
		for i, x := range s {
			out[i] = x
		}
		return out
	}
	return nil
}

// Identity returns the identity the authorizer of the connection's $connect
// established; false without an authorizer (or when the stored context is
// not a JSON object).
func (c Conn) Identity() (Identity, bool) {
	if len(c.Authorizer) == 0 {
		return Identity{}, false
	}
	var m map[string]any
	if err := json.Unmarshal(c.Authorizer, &m); err != nil {
		return Identity{}, false
	}
	return IdentityOf(m)
}

// IdentityFromContext returns the identity an API Gateway authorizer
// established for the caller a hook, resolver, filter or predicate runs
// for: the connection's (on every frame, and during fan-out, where one
// execution serves only subscriptions of equal identities), or the GraphQL
// over HTTP request's. It reports false without an authorizer, and outside
// the server's calls.
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	sc, ok := scopeOf(ctx)
	switch {
	case !ok:
		return Identity{}, false
	case sc.hasConn:
		return sc.conn.Identity()
	case sc.http != nil:
		return IdentityOf(sc.http.Authorizer)
	}
	return Identity{}, false
}
