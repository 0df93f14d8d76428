package gqlgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gqlambda/gqlambda"
)

// ErrOutsideServer is returned by [Subscribe] when it runs anywhere but in a
// subscription run by this package's Engine, such as under gqlgen's own
// HTTP or WebSocket handlers.
var ErrOutsideServer = errors.New("gqlgen: Subscribe ran outside a subscription of a gqlambda server")

// phaseKey marks the context of a subscription run by the Engine.
type phaseKey struct{}

// phase is what a subscription run shares with [Subscribe]: in the subscribe
// phase it receives the declaration, in the event phase it holds the event.
type phase struct {
	event bool // the event phase; else the subscribe phase
	root  any  // the event's payload

	mu       sync.Mutex
	decl     gqlambda.Declaration
	declared bool // subscribe phase: decl is set
	taken    bool // event phase: the payload went out on a channel
}

func (p *phase) declare(decl gqlambda.Declaration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decl, p.declared = decl, true
}

func (p *phase) declaration() (gqlambda.Declaration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.decl, p.declared
}

func (p *phase) take() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.taken = true
}

func (p *phase) done() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.taken
}

// Subscribe declares what the subscription field whose resolver calls it
// listens to (opts: its topics, filter and hooks) and returns the channel
// the resolver returns. T is the element type of the resolver's channel,
// such as *model.Message for a field of type Message.
//
// When a client subscribes, Subscribe records opts with the field's name and
// its arguments as gqlgen coerced them (graphql.GetFieldContext(ctx).Args:
// Go values such as string, int or *string for a nullable argument), and
// returns a closed channel. For each event, it decodes the event's payload
// into T (a JSON round trip, unless the payload already is a T) and returns
// a channel holding that one value. Either way the channel is complete when
// Subscribe returns: a resolver whose field type differs from the payload's
// may drain it at once and return a channel of its own carrying the
// converted value.
//
// A payload that does not decode into T fails the event with a GraphQL error
// on the field. Outside a subscription run by the Engine, Subscribe returns
// [ErrOutsideServer].
func Subscribe[T any](ctx context.Context, opts gqlambda.SubscribeOptions) (<-chan T, error) {
	p, ok := ctx.Value(phaseKey{}).(*phase)
	if !ok {
		return nil, ErrOutsideServer
	}
	if !p.event {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil {
			return nil, ErrOutsideServer
		}
		p.declare(gqlambda.Declaration{Field: fc.Field.Name, Args: fc.Args, Options: opts})
		ch := make(chan T)
		close(ch)
		return ch, nil
	}
	v, err := decodePayload[T](p.root)
	if err != nil {
		return nil, err
	}
	ch := make(chan T, 1)
	ch <- v
	close(ch)
	p.take()
	return ch, nil
}

// decodePayload converts an event's payload, a JSON-decoded value or a
// json.RawMessage, into T.
func decodePayload[T any](root any) (T, error) {
	if v, ok := root.(T); ok {
		return v, nil
	}
	var v T
	raw, ok := root.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(root); err != nil {
			return v, fmt.Errorf("gqlgen: encode the event payload: %w", err)
		}
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("gqlgen: decode the event payload into %T: %w", v, err)
	}
	return v, nil
}
