package chatauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// ErrUnauthorized is the error the authorizer fails with to refuse a
// request: API Gateway answers 401 to an authorizer that fails with exactly
// this message.
var ErrUnauthorized = errors.New("Unauthorized")

// SecretFunc returns the secret tokens are signed with.
type SecretFunc func(ctx context.Context) ([]byte, error)

// StaticSecret returns secret.
func StaticSecret(secret []byte) SecretFunc {
	return func(context.Context) ([]byte, error) { return secret, nil }
}

// AuthorizerOptions configure [Authorizer].
type AuthorizerOptions struct {
	// Secret gives the signing secret. Required.
	Secret SecretFunc
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives one line per refusal (why, never the token); default:
	// discard.
	Logger *slog.Logger
}

// Authorizer returns the chat's Lambda REQUEST authorizer: the handler of
// examples/chat/authorizer on AWS (for the WebSocket API's $connect, and
// for the HTTP API with payload format 1.0), and the local gateway's
// authorizer in the chat's -auth dev mode. It reads the token from the
// query string parameter "token" (WebSocket clients cannot set headers) or
// the Authorization header ("Bearer <token>"), verifies it, and allows
// execute-api:Invoke on every route of the stage, with principalId the
// token's sub and context {"sub", "name"}: what gqlambda.IdentityFromContext
// returns to the chat's resolvers. A missing or invalid token fails with
// [ErrUnauthorized] (401); a secret that cannot be read is another error
// (500).
func Authorizer(opts AuthorizerOptions) func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		token := tokenOf(req)
		if token == "" {
			log.InfoContext(ctx, "refused: no token", slog.String("method_arn", req.MethodArn))
			return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
		}
		secret, err := opts.Secret(ctx)
		if err != nil {
			return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("chatauth: read the signing secret: %w", err)
		}
		claims, err := Verify(secret, token, now())
		if err != nil {
			log.InfoContext(ctx, "refused", slog.String("method_arn", req.MethodArn), slog.String("reason", err.Error()))
			return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
		}
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID: claims.Subject,
			PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
				Version: "2012-10-17",
				Statement: []events.IAMPolicyStatement{{
					Action:   []string{"execute-api:Invoke"},
					Effect:   "Allow",
					Resource: []string{stageWildcard(req.MethodArn)},
				}},
			},
			// Only strings, numbers and booleans are allowed here.
			Context: map[string]any{"sub": claims.Subject, "name": claims.Name},
		}, nil
	}
}

// tokenOf returns the token of a request: the "token" query parameter, else
// the bearer token of the Authorization header (whatever the header name's
// case: HTTP APIs pass header names in lower case).
func tokenOf(req events.APIGatewayCustomAuthorizerRequestTypeRequest) string {
	if t := req.QueryStringParameters["token"]; t != "" {
		return t
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, "Authorization") {
			scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
			if ok && strings.EqualFold(scheme, "Bearer") {
				return strings.TrimSpace(token)
			}
		}
	}
	return ""
}

// stageWildcard turns a method ARN (arn:aws:execute-api:region:account:
// api/stage/$connect, or .../stage/POST/graphql) into the ARN of every
// route of its stage (.../stage/*), so that an allowed token is allowed on
// every route: API Gateway may cache the policy for the token.
func stageWildcard(methodARN string) string {
	prefix, path, ok := strings.Cut(methodARN, "/")
	if !ok {
		return methodARN
	}
	stage, _, _ := strings.Cut(path, "/")
	return prefix + "/" + stage + "/*"
}
