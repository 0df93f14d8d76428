package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda"
)

// maxNameLength bounds the name a client gives in connection_init.
const maxNameLength = 40

// Session is what the chat keeps of a connection's connection_init payload.
type Session struct {
	Name string `json:"name,omitempty"`
}

// Hooks accepts a connection_init whose optional payload names the user
// ({"name": "ann"}) and keeps the name as the connection's context, the
// default author of its messages.
func Hooks() gqlambda.Hooks {
	return gqlambda.Hooks{
		OnConnectionInit: func(ctx context.Context, conn gqlambda.Conn, payload json.RawMessage) (gqlambda.InitResult, error) {
			var p struct {
				Name any `json:"name"`
			}
			if len(payload) > 0 {
				if err := json.Unmarshal(payload, &p); err != nil {
					return gqlambda.InitResult{}, fmt.Errorf("connection_init payload: %w", err)
				}
			}
			var s Session
			switch name := p.Name.(type) {
			case nil:
			case string:
				if utf8.RuneCountInString(name) > maxNameLength {
					return gqlambda.InitResult{}, fmt.Errorf("name longer than %d characters", maxNameLength)
				}
				s.Name = name
			default:
				return gqlambda.InitResult{}, errors.New("name must be a string")
			}
			return gqlambda.InitResult{Context: s}, nil
		},
	}
}

// SessionOf returns the session of the connection a resolver runs for; the
// zero session over HTTP.
func SessionOf(ctx context.Context) Session {
	var s Session
	if conn, ok := gqlambda.ConnFromContext(ctx); ok {
		_ = conn.DecodeContext(&s)
	}
	return s
}

// AuthorOf returns the author of a message its caller sends: the name in
// the identity the authorizer established (the token's name claim, else its
// sub), which the client cannot choose. Without an authorizer (a local run
// without -auth), it is the name the connection gave in connection_init,
// and "" over HTTP.
func AuthorOf(ctx context.Context) string {
	if id, ok := gqlambda.IdentityFromContext(ctx); ok {
		if name := id.Claim("name"); name != "" {
			return name
		}
		return id.Principal
	}
	return SessionOf(ctx).Name
}

// Publish publishes payload to topic through the server that runs the
// resolver, and fails if the server cannot be found, the publish fails, or
// a delivery failed for good.
func Publish(ctx context.Context, topic string, payload any) error {
	srv, ok := gqlambda.ServerFromContext(ctx)
	if !ok {
		return fmt.Errorf("publish to %s: no server in the resolver's context", topic)
	}
	res, err := srv.Publish(ctx, topic, payload)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	if res.Failed > 0 {
		return fmt.Errorf("publish to %s: %d deliveries failed", topic, res.Failed)
	}
	return nil
}
