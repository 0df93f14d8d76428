// Package servertest is the schema of the server suite (the root package's
// matrix tests), with the same behaviour on every engine: GraphQLGo builds it
// for graphql-go and gqlgenschema holds it generated for gqlgen. Both take
// their topics, subscribe options and resolvers from one [Env], so a
// behaviour differs between engines only where the engines do.
package servertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/filter"
)

// Env is what one test's schema shares: a prefix that keeps its topics apart
// from other tests on a shared store, and a log of the hooks the schema's
// fields run. It is safe for concurrent use.
type Env struct {
	// Prefix starts every topic of the schema.
	Prefix string

	ids         atomic.Int64
	resolutions atomic.Int64
	mu          sync.Mutex
	log         []string
}

// Seen resolves Message.seen: it counts the resolution and returns 1.
func (e *Env) Seen(context.Context) (int, error) {
	e.resolutions.Add(1)
	return 1, nil
}

// Resolutions is how many times Message.seen was resolved.
func (e *Env) Resolutions() int { return int(e.resolutions.Load()) }

// RoomTopic is the topic of one room of Subscription.rooms.
func (e *Env) RoomTopic(room string) string { return e.Prefix + "room:" + room }

// Filtered declares Subscription.filtered: the messages topic, with the
// filter of its where argument (AppSync's JSON form).
func (e *Env) Filtered() gqlambda.SubscribeOptions {
	return gqlambda.SubscribeOptions{
		Topics: []string{e.MessagesTopic()},
		FilterFunc: func(ctx context.Context, args map[string]any) (filter.Filter, error) {
			where, _ := stringArg(args["where"])
			return filter.Parse([]byte(where))
		},
	}
}

// Rooms declares Subscription.rooms: one topic per room of its argument.
func (e *Env) Rooms() gqlambda.SubscribeOptions {
	return gqlambda.SubscribeOptions{
		TopicsFunc: func(ctx context.Context, args map[string]any) ([]string, error) {
			var topics []string
			switch rooms := args["rooms"].(type) {
			case []any: // graphql-go
				for _, r := range rooms {
					s, _ := r.(string)
					topics = append(topics, e.RoomTopic(s))
				}
			case []string: // gqlgen
				for _, r := range rooms {
					topics = append(topics, e.RoomTopic(r))
				}
			default:
				return nil, fmt.Errorf("rooms: unexpected argument %T", rooms)
			}
			return topics, nil
		},
	}
}

// MessagesTopic is the topic of Subscription.messages and Mutation.send.
func (e *Env) MessagesTopic() string { return e.Prefix + "MESSAGES" }

// BigTopic is the topic of Subscription.big.
func (e *Env) BigTopic() string { return e.Prefix + "BIG" }

// Record adds a line to the log.
func (e *Env) Record(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
}

// Log returns the lines recorded so far.
func (e *Env) Log() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// Hello resolves Query.hello.
func (e *Env) Hello(context.Context) (string, error) { return "world", nil }

// ContextKey is the key under which a test's Config.Context puts a string
// that Query.contextValue and Message.via return.
type ContextKey struct{}

func contextValue(ctx context.Context) string {
	v, _ := ctx.Value(ContextKey{}).(string)
	return v
}

// ConnData resolves Query.connData: the connection's data, as JSON text.
func (e *Env) ConnData(ctx context.Context) (string, error) {
	c, ok := gqlambda.ConnFromContext(ctx)
	if !ok {
		return "", errors.New("no connection")
	}
	return string(c.Data), nil
}

// ContextValue resolves Query.contextValue.
func (e *Env) ContextValue(ctx context.Context) (string, error) { return contextValue(ctx), nil }

// Secret is what Query.fail's error (and Message.via's for the text "boom")
// reveals: what an error formatter hides.
const Secret = "hunter2"

// Fail resolves Query.fail: an error naming Secret.
func (e *Env) Fail(context.Context) (*string, error) {
	return nil, errors.New("database password " + Secret + " rejected")
}

// Via resolves Message.via: the context's value, or an error naming Secret
// when the message's text is "boom".
func (e *Env) Via(ctx context.Context, text string) (string, error) {
	if text == "boom" {
		return "", errors.New("database password " + Secret + " rejected")
	}
	return contextValue(ctx), nil
}

// Matching declares Subscription.matching: the messages topic, and a
// predicate that admits a message whose text contains the contains argument,
// unless the connection's data (what OnConnect kept) says {"muted": true}.
func (e *Env) Matching() gqlambda.SubscribeOptions {
	return gqlambda.SubscribeOptions{
		Topics: []string{e.MessagesTopic()},
		Predicate: func(ctx context.Context, payload any, args map[string]any) (bool, error) {
			c, ok := gqlambda.ConnFromContext(ctx)
			if !ok {
				return false, errors.New("no connection")
			}
			var data struct {
				Muted bool `json:"muted"`
			}
			if err := c.DecodeData(&data); err != nil {
				return false, err
			}
			m, _ := payload.(map[string]any)
			text, _ := m["text"].(string)
			contains, _ := stringArg(args["contains"])
			return !data.Muted && strings.Contains(text, contains), nil
		},
	}
}

// Whoami resolves Query.whoami: the "user" of the context OnConnectionInit
// kept, "@", and the connection id.
func (e *Env) Whoami(ctx context.Context) (string, error) {
	c, ok := gqlambda.ConnFromContext(ctx)
	if !ok {
		return "", errors.New("no connection")
	}
	var kept struct {
		User string `json:"user"`
	}
	if err := c.DecodeContext(&kept); err != nil {
		return "", err
	}
	return kept.User + "@" + c.ID, nil
}

// Message is the payload of the messages topic.
type Message struct {
	ID   string `json:"id"`
	Room string `json:"room"`
	Text string `json:"text"`
}

// Send resolves Mutation.send: it publishes the message through the server
// that runs the resolver.
func (e *Env) Send(ctx context.Context, room, text string) (Message, error) {
	m := Message{ID: fmt.Sprint(e.ids.Add(1)), Room: room, Text: text}
	srv, ok := gqlambda.ServerFromContext(ctx)
	if !ok {
		return Message{}, errors.New("no server in the context")
	}
	if _, err := srv.Publish(ctx, e.MessagesTopic(), m); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Messages declares Subscription.messages: the messages topic, filtered on
// the room argument when it is given; its OnComplete is recorded as
// "messages.OnComplete <operation id>".
func (e *Env) Messages() gqlambda.SubscribeOptions {
	return gqlambda.SubscribeOptions{
		Topics: []string{e.MessagesTopic()},
		FilterFunc: func(ctx context.Context, args map[string]any) (filter.Filter, error) {
			if room, ok := stringArg(args["room"]); ok {
				return filter.All(filter.Where("room", filter.Eq, room)), nil
			}
			return filter.Filter{}, nil
		},
		OnComplete: func(ctx context.Context, args map[string]any) error {
			id, _ := gqlambda.OperationIDFromContext(ctx)
			e.Record("messages.OnComplete %s", id)
			return nil
		},
	}
}

// Big declares Subscription.big: the big topic, whose events are strings.
func (e *Env) Big() gqlambda.SubscribeOptions {
	return gqlambda.SubscribeOptions{Topics: []string{e.BigTopic()}}
}

// GreetedTopic is the topic of Subscription.greeted.
func (e *Env) GreetedTopic() string { return e.Prefix + "GREETED" }

// Welcome is the message Subscription.greeted's OnAfterSubscribe delivers.
var Welcome = Message{ID: "0", Room: "lobby", Text: "welcome"}

// Greeted declares Subscription.greeted: the greeted topic, and an
// OnAfterSubscribe that delivers [Welcome] to the new subscription alone.
func (e *Env) Greeted() gqlambda.SubscribeOptions {
	return gqlambda.SubscribeOptions{
		Topics:           []string{e.GreetedTopic()},
		OnAfterSubscribe: func(context.Context, map[string]any) (any, error) { return Welcome, nil },
	}
}

// ErrRefused is what Subscription.refused's OnSubscribe returns.
var ErrRefused = &gqlambda.Error{Message: "not allowed", Extensions: map[string]any{"code": "FORBIDDEN"}}

// Refused declares Subscription.refused, which its OnSubscribe refuses.
func (e *Env) Refused() gqlambda.SubscribeOptions {
	return gqlambda.SubscribeOptions{
		Topics:      []string{e.Prefix + "REFUSED"},
		OnSubscribe: func(context.Context, map[string]any) error { return ErrRefused },
	}
}

// stringArg reads an optional String argument as engines coerce it: a string
// (graphql-go) or a *string (gqlgen).
func stringArg(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case *string:
		if v != nil {
			return *v, true
		}
	}
	return "", false
}
