package localgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// AuthorizerFunc is a Lambda REQUEST authorizer: the function API Gateway
// invokes before $connect (and before each request of an HTTP API route
// with a Lambda authorizer of payload format 1.0), with the same signature
// as the Lambda handler deployed as the authorizer on AWS, so the same code
// runs locally and there.
//
// It allows a request with a policy that allows execute-api:Invoke on the
// request's MethodArn, and gives the principalId and context that API
// Gateway then passes on (requestContext.authorizer). It refuses with 401
// by returning an error whose message is "Unauthorized" (such as
// [ErrUnauthorized]), with 403 by a policy that denies (or does not allow);
// any other error, a panic, or a context value that is not a string, number
// or boolean answers 500, as API Gateway does.
type AuthorizerFunc func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// ErrUnauthorized is the error an [AuthorizerFunc] returns to refuse a
// request with 401, as a Lambda authorizer does by failing with the message
// "Unauthorized".
var ErrUnauthorized = errors.New("Unauthorized")

// Authorizer configures the REQUEST authorizer of the gateway.
type Authorizer struct {
	// Func decides. Required.
	Func AuthorizerFunc

	// IdentitySource lists what a $connect must carry, in API Gateway's
	// syntax for WebSocket APIs: "route.request.querystring.NAME" or
	// "route.request.header.NAME". A handshake that lacks one (or has it
	// empty) is refused with 401 without calling Func, as API Gateway does.
	// Empty: Func decides every handshake.
	IdentitySource []string

	// HTTP, when set, also authorizes the requests that Options.HTTP
	// serves (GraphQL over HTTP), as an HTTP API route with this Lambda
	// authorizer: a refused request gets API Gateway's 401 or 403 JSON
	// answer, and an allowed one reaches Options.HTTP with the authorizer's
	// context in its context ([AuthorizerContext]).
	HTTP bool

	// HTTPIdentitySource is IdentitySource for HTTP requests, in the syntax
	// of HTTP APIs: "$request.header.NAME" or "$request.querystring.NAME".
	HTTPIdentitySource []string
}

// maxAuthorizerBytes is API Gateway's limit on an authorizer's answer.
const maxAuthorizerBytes = 8 << 10

// Region and account of the method ARNs the gateway gives the authorizer:
// arn:aws:execute-api:local:000000000000:{apiId}/{stage}/$connect.
const (
	arnRegion  = "local"
	arnAccount = "000000000000"
)

// authorizerKey is the context key of an allowed HTTP request's
// authorizer context.
type authorizerKey struct{}

// AuthorizerContext returns the authorizer context of an HTTP request the
// gateway's authorizer allowed (principalId and the context keys), as an
// HTTP API passes it to its integration (requestContext.authorizer.lambda):
// what gqlambda's HTTPRequest.Authorizer holds on AWS. It reports false
// when the request was not authorized by the gateway.
func AuthorizerContext(ctx context.Context) (map[string]any, bool) {
	m, ok := ctx.Value(authorizerKey{}).(map[string]any)
	return m, ok
}

// authorizeConnect runs the authorizer for a handshake and keeps its
// context on c; on refusal it answers the handshake and returns false.
func (g *Gateway) authorizeConnect(w http.ResponseWriter, r *http.Request, ev *events.APIGatewayWebsocketProxyRequest, c *conn, log *slog.Logger) bool {
	a := g.authorizer
	if a == nil {
		return true
	}
	if !hasIdentity(r, a.IdentitySource, "route.request.") {
		log.InfoContext(g.ctx, "localgateway: connection refused: identity source missing", slog.Any("identity_source", a.IdentitySource))
		writeAPIError(w, http.StatusUnauthorized, "Unauthorized")
		return false
	}
	req := events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:                            "REQUEST",
		MethodArn:                       g.methodARN("$connect"),
		Headers:                         ev.Headers,
		MultiValueHeaders:               ev.MultiValueHeaders,
		QueryStringParameters:           ev.QueryStringParameters,
		MultiValueQueryStringParameters: ev.MultiValueQueryStringParameters,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			AccountID: arnAccount,
			Stage:     g.stage,
			RequestID: ev.RequestContext.RequestID,
			APIID:     g.apiID,
			Identity:  events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: c.sourceIP},
		},
	}
	authz, status := g.runAuthorizer(req, log)
	if status != http.StatusOK {
		writeAPIError(w, status, http.StatusText(status))
		return false
	}
	c.authorizer = authz
	ev.RequestContext.Authorizer = authz // as requestContext sets it on every later event
	return true
}

// authorizeHTTP wraps next with the authorizer, as an HTTP API route.
func (g *Gateway) authorizeHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := g.authorizer
		if !hasIdentity(r, a.HTTPIdentitySource, "$request.") {
			writeAPIError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		headers := make(map[string]string, len(r.Header))
		multi := make(map[string][]string, len(r.Header))
		for k, vs := range r.Header {
			headers[strings.ToLower(k)] = strings.Join(vs, ",")
			multi[strings.ToLower(k)] = vs
		}
		req := events.APIGatewayCustomAuthorizerRequestTypeRequest{
			Type:              "REQUEST",
			MethodArn:         g.methodARN(r.Method + r.URL.Path),
			Resource:          r.URL.Path,
			Path:              r.URL.Path,
			HTTPMethod:        r.Method,
			Headers:           headers,
			MultiValueHeaders: multi,
			RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
				Path: r.URL.Path, AccountID: arnAccount, Stage: g.stage, RequestID: newID(),
				ResourcePath: r.URL.Path, HTTPMethod: r.Method, APIID: g.apiID,
				Identity: events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: remoteIP(r)},
			},
		}
		if q := r.URL.Query(); len(q) > 0 {
			req.QueryStringParameters = make(map[string]string, len(q))
			req.MultiValueQueryStringParameters = q
			for k, vs := range q {
				req.QueryStringParameters[k] = strings.Join(vs, ",")
			}
		}
		authz, status := g.runAuthorizer(req, g.log)
		if status != http.StatusOK {
			writeAPIError(w, status, http.StatusText(status))
			return
		}
		delete(authz, "integrationLatency") // an HTTP API passes the context alone
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authorizerKey{}, authz)))
	})
}

// methodARN is the ARN of a route of this API: "$connect", or
// "POST/graphql".
func (g *Gateway) methodARN(route string) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s", arnRegion, arnAccount, g.apiID, g.stage, route)
}

// runAuthorizer calls the authorizer and returns, when it allows, the
// authorizer context API Gateway passes on ({"principalId", context keys,
// "integrationLatency"}) and 200; otherwise the status of the refusal.
func (g *Gateway) runAuthorizer(req events.APIGatewayCustomAuthorizerRequestTypeRequest, log *slog.Logger) (map[string]any, int) {
	start := time.Now()
	resp, err := g.callAuthorizer(req)
	latency := time.Since(start)
	switch {
	case err != nil && err.Error() == ErrUnauthorized.Error():
		log.InfoContext(g.ctx, "localgateway: authorizer refused: unauthorized")
		return nil, http.StatusUnauthorized
	case err != nil:
		log.ErrorContext(g.ctx, "localgateway: authorizer failed", slog.Any("error", err))
		return nil, http.StatusInternalServerError
	}
	if b, err := json.Marshal(resp); err != nil || len(b) > maxAuthorizerBytes {
		log.ErrorContext(g.ctx, "localgateway: authorizer answer unusable (over 8 KB, or not JSON)", slog.Int("bytes", len(b)))
		return nil, http.StatusInternalServerError
	}
	out := make(map[string]any, len(resp.Context)+2)
	for k, v := range resp.Context {
		switch v.(type) {
		case string, bool, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
			out[k] = v
		default:
			log.ErrorContext(g.ctx, "localgateway: authorizer context value is not a string, number or boolean", slog.String("key", k))
			return nil, http.StatusInternalServerError
		}
	}
	if resp.PrincipalID == "" {
		log.ErrorContext(g.ctx, "localgateway: authorizer answered without principalId")
		return nil, http.StatusInternalServerError
	}
	if !allows(resp.PolicyDocument, req.MethodArn) {
		log.InfoContext(g.ctx, "localgateway: authorizer refused: policy does not allow", slog.String("principal", resp.PrincipalID))
		return nil, http.StatusForbidden
	}
	out["principalId"] = resp.PrincipalID
	out["integrationLatency"] = latency.Milliseconds()
	return out, http.StatusOK
}

// callAuthorizer calls the authorizer, turning a panic into an error.
func (g *Gateway) callAuthorizer(req events.APIGatewayCustomAuthorizerRequestTypeRequest) (resp events.APIGatewayCustomAuthorizerResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("localgateway: authorizer panicked: %v", p)
		}
	}()
	ctx, cancel := context.WithTimeout(g.ctx, authorizerTimeout)
	defer cancel()
	return g.authorizer.Func(ctx, req)
}

// authorizerTimeout bounds an authorizer call, as Lambda's timeout does.
const authorizerTimeout = 10 * time.Second

// allows reports whether the policy allows execute-api:Invoke on arn: an
// Allow statement matches, and no Deny statement does.
func allows(p events.APIGatewayCustomAuthorizerPolicy, arn string) bool {
	allowed := false
	for _, s := range p.Statement {
		actions := make([]string, len(s.Action))
		for i, a := range s.Action {
			actions[i] = strings.ToLower(a) // actions compare without case
		}
		if !matchesAny(actions, "execute-api:invoke") || !matchesAny(s.Resource, arn) {
			continue
		}
		switch strings.ToLower(s.Effect) {
		case "deny":
			return false
		case "allow":
			allowed = true
		}
	}
	return allowed
}

// matchesAny reports whether one of IAM's patterns (with * and ?) matches
// s.
func matchesAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if p == "*" || iamMatch(p, s) {
			return true
		}
	}
	return false
}

// iamMatch matches s against an IAM pattern, where * is any run of
// characters (slashes included, unlike path.Match's) and ? any one
// character: the greedy algorithm that backtracks to the last star only,
// in O(len(pattern)·len(s)).
func iamMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// hasIdentity reports whether r carries every identity source, each
// "<prefix>header.NAME" or "<prefix>querystring.NAME".
func hasIdentity(r *http.Request, sources []string, prefix string) bool {
	for _, src := range sources {
		rest, ok := strings.CutPrefix(src, prefix)
		if !ok {
			return false
		}
		kind, name, _ := strings.Cut(rest, ".")
		var v string
		switch kind {
		case "header":
			v = r.Header.Get(name)
		case "querystring":
			v = r.URL.Query().Get(name)
		default:
			return false
		}
		if v == "" {
			return false
		}
	}
	return true
}

// validIdentitySources checks the syntax of identity sources.
func validIdentitySources(sources []string, prefix string) error {
	for _, src := range sources {
		rest, ok := strings.CutPrefix(src, prefix)
		kind, name, _ := strings.Cut(rest, ".")
		if !ok || (kind != "header" && kind != "querystring") || name == "" {
			return fmt.Errorf("localgateway: identity source %q: want %sheader.NAME or %squerystring.NAME", src, prefix, prefix)
		}
	}
	return nil
}

// writeAPIError answers as API Gateway does when it refuses a request
// itself: {"message":"Unauthorized"}.
func writeAPIError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": message})
	_, _ = w.Write(b)
}
