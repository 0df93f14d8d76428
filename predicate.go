package gqlambda

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gqlambda/gqlambda/store"
)

// This file is the per-event predicate of a subscription field
// (SubscribeOptions.Predicate), which fan-out runs after the stored filter.

// admits reports whether sub receives the event: true when its field
// declared no predicate, else the predicate's answer. The predicate comes
// from the field's subscribe phase, run again with the stored document and
// variables. A subscription the predicate refuses, or whose predicate
// fails (reported to Hooks.OnError), counts as filtered out.
func (f *fanout) admits(ctx context.Context, sub store.Subscription) bool {
	if !sub.Predicate {
		return true
	}
	s := f.s
	ok, err := s.runPredicate(ctx, sub, f.pub.value)
	if err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: topic %q connection %s subscription %s: predicate: %w", f.pub.topic, sub.ConnectionID, sub.ID, err),
			slog.String("topic", f.pub.topic), slog.String("connection_id", sub.ConnectionID), slog.String("subscription_id", sub.ID))
	}
	if !ok {
		f.rejected.Add(1)
	}
	return ok
}

// runPredicate runs the predicate of sub's field on payload. A field that
// no longer declares one admits every event.
func (s *Server) runPredicate(ctx context.Context, sub store.Subscription, payload any) (bool, error) {
	c := subscriptionConn(sub)
	ctx = withScope(ctx, scope{server: s, conn: c, hasConn: true, operationID: sub.ID})
	ctx, err := s.buildContext(ctx, ContextRequest{Conn: c, Event: payload})
	if err != nil {
		return false, fmt.Errorf("Config.Context: %w", err)
	}
	op, err := s.engine.Prepare(ctx, sub.Query, sub.OperationName)
	if err != nil {
		return false, fmt.Errorf("prepare stored document: %w", err)
	}
	vars, err := decodeVariables(sub.Variables)
	if err != nil {
		return false, err
	}
	decl, err := op.Subscribe(ctx, vars)
	if err != nil {
		return false, fmt.Errorf("subscribe phase: %w", err)
	}
	if decl.Options.Predicate == nil {
		return true, nil
	}
	return decl.Options.Predicate(ctx, payload, decl.Args)
}
