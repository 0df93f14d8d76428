package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/examples/chat/app"
)

// Resolver resolves the chat schema (schema.resolvers.go) on a message
// store.
type Resolver struct {
	messages app.Messages
	now      func() time.Time
}

// broadcast is the payload broadcastMessage publishes to app.TopicBroadcast.
type broadcast struct {
	Message string `json:"message"`
}

// publish publishes through the server that runs the resolver.
func publish(ctx context.Context, topic string, payload any) error {
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

// convert returns the values of events, a channel of gqlgen.Subscribe, passed
// through f. Subscribe's channel is complete when it returns (at most one
// value, then closed), so this needs no goroutine.
func convert[T, R any](events <-chan T, f func(T) R) <-chan R {
	out := make(chan R, len(events))
	for v := range events {
		out <- f(v)
	}
	close(out)
	return out
}
