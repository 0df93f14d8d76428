package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/examples/chat/chatauth"
	"github.com/gqlambda/gqlambda/localgateway"
)

// Authentication modes of a local run (LocalOptions.Auth, flag -auth).
const (
	// AuthNone: no authorizer; a connection names itself in
	// connection_init, and that name is the author of its messages.
	AuthNone = ""
	// AuthDev: the local gateway runs the chat's authorizer (the code
	// deployed as examples/chat/authorizer) on every $connect and GraphQL
	// over HTTP request, and DevTokenPath issues a token to anyone who asks,
	// for any name: the whole flow of the deployed chat, without AWS and
	// without any real sign-in.
	AuthDev = "dev"
)

// DevTokenPath is where a local run with AuthDev issues tokens: POST
// {"name": "ann"} answers {"token": "…", "expiresAt": "…"}.
const DevTokenPath = "/auth/dev-token"

// devTokenLifetime is how long a dev token is valid.
const devTokenLifetime = 12 * time.Hour

// localAuth configures the gateway and the HTTP handler of a local run for
// its authentication mode: the authorizer and the dev token endpoint for
// AuthDev, nothing otherwise.
func localAuth(opts LocalOptions, logger *slog.Logger) (*localgateway.Authorizer, map[string]http.Handler, *gqlambda.HTTPOptions, error) {
	switch opts.Auth {
	case AuthNone:
		return nil, nil, nil, nil
	case AuthDev:
	default:
		return nil, nil, nil, fmt.Errorf("chat: auth mode %q: want %q or %q", opts.Auth, AuthNone, AuthDev)
	}
	secret := opts.AuthSecret
	if secret == nil {
		secret = []byte(rand.Text() + rand.Text()) // 52 random characters, for this run only
	}
	if len(secret) < chatauth.MinSecretBytes {
		return nil, nil, nil, chatauth.ErrShortSecret
	}
	logger.Warn("chat: -auth dev: anyone can get a token for any name at " + DevTokenPath + "; for local development only")
	authz := &localgateway.Authorizer{
		Func: chatauth.Authorizer(chatauth.AuthorizerOptions{Secret: chatauth.StaticSecret(secret), Logger: logger}),
		// As deploy/template.yaml configures API Gateway.
		IdentitySource:     []string{"route.request.querystring.token"},
		HTTP:               true,
		HTTPIdentitySource: []string{"$request.header.Authorization"},
	}
	routes := map[string]http.Handler{DevTokenPath: devTokenHandler(secret, time.Now)}
	httpOpts := &gqlambda.HTTPOptions{
		// What API Gateway's HTTP API gives its integration, from the
		// gateway's authorizer.
		OnRequest: func(ctx context.Context, req *gqlambda.HTTPRequest) (context.Context, error) {
			if r, ok := req.Raw.(*http.Request); ok {
				if a, ok := localgateway.AuthorizerContext(r.Context()); ok {
					req.Authorizer = a
				}
			}
			return ctx, nil
		},
	}
	return authz, routes, httpOpts, nil
}

// devTokenHandler issues dev tokens: POST {"name": "ann"} gives a token
// whose sub is "dev:ann" and name "ann".
func devTokenHandler(secret []byte, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST a JSON object {\"name\": \"…\"}", http.StatusMethodNotAllowed)
			return
		}
		var body struct {
			Name string `json:"name"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1024))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			http.Error(w, "the body must be a JSON object {\"name\": \"…\"} of at most 1 KB", http.StatusBadRequest)
			return
		}
		name := strings.TrimSpace(body.Name)
		if name == "" || utf8.RuneCountInString(name) > maxNameLength {
			http.Error(w, fmt.Sprintf("name must be 1 to %d characters", maxNameLength), http.StatusBadRequest)
			return
		}
		at := now()
		token, err := chatauth.Issue(secret, "dev:"+name, name, at, devTokenLifetime)
		if errors.Is(err, chatauth.ErrInvalidToken) {
			http.Error(w, "name: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err != nil {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": token, "expiresAt": at.Add(devTokenLifetime).UTC().Format(time.RFC3339)})
	})
}
