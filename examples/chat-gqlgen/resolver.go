package main

import (
	"time"

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
