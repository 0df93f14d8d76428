package gqlambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/internal/telemetry"
	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/store"
)

// Error codes in the extensions of errors the server itself reports.
const (
	codeTooLarge        = "MESSAGE_TOO_LARGE"
	codeBadSubscription = "BAD_SUBSCRIPTION"
)

// This file is the part of the message loop that starts and stops
// operations: subscribe (start) and complete (stop).

// start handles a client's request to start operation id: queries and
// mutations run at once, subscriptions run their subscribe phase and are
// stored.
func (s *Server) start(ctx context.Context, ss *session, id string, req protocol.Request) []protocol.Action {
	c := connOf(ss.conn)
	ctx = withScope(ctx, scope{server: s, conn: c, hasConn: true, operationID: id})
	ctx, err := s.buildContext(ctx, ContextRequest{Conn: c})
	if err != nil {
		ss.log.InfoContext(ctx, "operation refused by Config.Context", slog.String("subscription_id", id), slog.String("error", err.Error()))
		return s.reject(ctx, ss, id, err)
	}

	op, err := s.prepare(ctx, req.Query, req.OperationName)
	if err != nil {
		return s.reject(ctx, ss, id, err)
	}
	if s.hooks.OnSubscribe != nil {
		sr := SubscribeRequest{Conn: c, ID: id, Type: op.Type(), Request: req}
		if err := s.hooks.OnSubscribe(ctx, sr); err != nil {
			ss.log.InfoContext(ctx, "operation rejected by OnSubscribe", slog.String("subscription_id", id), slog.String("error", err.Error()))
			return s.reject(ctx, ss, id, err)
		}
	}
	if op.Type() == Subscription {
		return s.subscribe(ctx, ss, id, req, op)
	}
	return s.execute(ctx, ss, id, req, op)
}

// reject answers operation id with err as GraphQL errors, unless id is
// already the id of one of the connection's subscriptions: the protocol then
// wants the duplicate's answer (graphql-transport-ws closes with 4409)
// whatever is wrong with the new operation. Only this error path reads the
// store for it; a valid subscription's id is checked by CreateSubscription's
// condition, and a query's by execute.
func (s *Server) reject(ctx context.Context, ss *session, id string, err error) []protocol.Action {
	switch _, gerr := s.store.GetSubscription(ctx, ss.conn.ID, id); {
	case gerr == nil:
		return ss.proto.Duplicate(id)
	case !errors.Is(gerr, store.ErrSubscriptionNotFound):
		s.reportError(ctx, fmt.Errorf("gqlambda: connection %s operation %s: read subscription: %w", ss.conn.ID, id, gerr),
			slog.String("connection_id", ss.conn.ID), slog.String("subscription_id", id))
	}
	return ss.proto.Reject(id, s.clientErrors(ctx, s.errorsFor(ctx, err)))
}

// execute runs a query or mutation sent over the socket and answers it with
// next and complete.
func (s *Server) execute(ctx context.Context, ss *session, id string, req protocol.Request, op Operation) []protocol.Action {
	// An operation id must not collide with an active subscription's.
	switch _, err := s.store.GetSubscription(ctx, ss.conn.ID, id); {
	case err == nil:
		return ss.proto.Duplicate(id)
	case !errors.Is(err, store.ErrSubscriptionNotFound):
		return ss.proto.Reject(id, s.clientErrors(ctx, s.internalFailure(ctx,
			fmt.Errorf("gqlambda: connection %s operation %s: read subscription: %w", ss.conn.ID, id, err),
			slog.String("connection_id", ss.conn.ID), slog.String("subscription_id", id))))
	}
	result, err := op.Execute(ctx, req.Variables, nil)
	if err != nil {
		return ss.proto.Reject(id, s.clientErrors(ctx, s.internalFailure(ctx,
			fmt.Errorf("gqlambda: connection %s operation %s: execute %s: %w", ss.conn.ID, id, op.Type(), err),
			slog.String("connection_id", ss.conn.ID), slog.String("subscription_id", id))))
	}
	next := ss.proto.AppendNext(nil, id, s.clientResult(ctx, result))
	if len(next) > s.limits.MaxOutgoingBytes {
		return ss.proto.Reject(id, s.tooLargeError(ctx, len(next)))
	}
	return []protocol.Action{protocol.Send{Frame: next}, protocol.Send{Frame: ss.proto.AppendComplete(nil, id)}}
}

func (s *Server) tooLargeError(ctx context.Context, n int) []json.RawMessage {
	return s.clientErrors(ctx, errorList(fmt.Sprintf("The result is %d bytes, over the %d-byte message limit", n, s.limits.MaxOutgoingBytes), codeTooLarge))
}

// subscribe runs a subscription's subscribe phase and stores it.
func (s *Server) subscribe(ctx context.Context, ss *session, id string, req protocol.Request, op Operation) []protocol.Action {
	log := ss.log.With(slog.String("subscription_id", id))
	decl, err := op.Subscribe(ctx, req.Variables)
	if err != nil {
		return s.reject(ctx, ss, id, err)
	}
	topics, err := declaredTopics(ctx, decl)
	if err != nil {
		return s.reject(ctx, ss, id, err)
	}
	if decl.Options.OnSubscribe != nil {
		if err := decl.Options.OnSubscribe(ctx, decl.Args); err != nil {
			log.InfoContext(ctx, "subscription rejected by its field's OnSubscribe", slog.String("error", err.Error()))
			return s.reject(ctx, ss, id, err)
		}
	}
	f, err := declaredFilter(ctx, decl)
	if err != nil {
		return s.reject(ctx, ss, id, err)
	}
	vars, err := encodeValue(req.Variables)
	if err != nil {
		return s.reject(ctx, ss, id, &Error{Message: "Variables cannot be encoded: " + err.Error(), Extensions: map[string]any{"code": codeBadSubscription}})
	}

	sub := store.Subscription{
		ConnectionID:  ss.conn.ID,
		ID:            id,
		Topics:        topics,
		Filter:        f,
		Query:         req.Query,
		OperationName: req.OperationName,
		Variables:     vars,
		Context:       ss.conn.Context,
		Data:          ss.conn.Data,
		Authorizer:    ss.conn.Authorizer,
		Endpoint:      ss.conn.Endpoint,
		Protocol:      ss.conn.Protocol,
		CompleteHook:  decl.Options.OnComplete != nil,
		Predicate:     decl.Options.Predicate != nil,
		CreatedAt:     s.now(),
		ExpiresAt:     ss.conn.ExpiresAt,
	}
	if n := subscriptionSize(sub); n > s.limits.MaxSubscriptionBytes {
		return s.reject(ctx, ss, id, &Error{Message: fmt.Sprintf("The subscription is %d bytes, over the %d-byte limit", n, s.limits.MaxSubscriptionBytes), Extensions: map[string]any{"code": codeTooLarge}})
	}
	switch err := s.createSubscription(ctx, sub); {
	case errors.Is(err, store.ErrSubscriptionExists):
		return ss.proto.Duplicate(id)
	case errors.Is(err, store.ErrSubscriptionLimit):
		return s.refuseSubscription(ctx, ss, id)
	case errors.Is(err, store.ErrConnectionNotFound):
		s.vanished(ctx, ss, "subscribe")
		return nil
	case err != nil:
		return ss.proto.Reject(id, s.clientErrors(ctx, s.internalFailure(ctx,
			fmt.Errorf("gqlambda: connection %s subscription %s: store: %w", ss.conn.ID, id, err),
			slog.String("connection_id", ss.conn.ID), slog.String("subscription_id", id))))
	}
	log.DebugContext(ctx, "subscribed", slog.Any("topics", topics))
	s.tel.Count(ctx, telemetry.SubscriptionsStarted, 1)
	if s.tel.Tracing() {
		telemetry.FrameFrom(ctx).SetAttributes(telemetry.AttrTopics.StringSlice(topics))
	}

	if decl.Options.OnAfterSubscribe != nil {
		initial, err := decl.Options.OnAfterSubscribe(ctx, decl.Args)
		if err != nil {
			s.reportError(ctx, fmt.Errorf("gqlambda: connection %s subscription %s: OnAfterSubscribe: %w", ss.conn.ID, id, err),
				slog.String("connection_id", ss.conn.ID), slog.String("subscription_id", id))
		}
		if initial != nil {
			s.deliverInitial(ctx, sub, initial)
		}
	}
	return nil
}

// declaredTopics collects the topics a subscription field declared.
func declaredTopics(ctx context.Context, decl Declaration) ([]string, error) {
	topics := slices.Clone(decl.Options.Topics)
	if decl.Options.TopicsFunc != nil {
		more, err := decl.Options.TopicsFunc(ctx, decl.Args)
		if err != nil {
			return nil, err
		}
		topics = append(topics, more...)
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	if len(topics) == 0 {
		return nil, &Error{Message: fmt.Sprintf("Subscription field %q declares no topic", decl.Field), Extensions: map[string]any{"code": codeBadSubscription}}
	}
	if topics[0] == "" {
		return nil, &Error{Message: fmt.Sprintf("Subscription field %q declares an empty topic", decl.Field), Extensions: map[string]any{"code": codeBadSubscription}}
	}
	return topics, nil
}

// declaredFilter computes, validates and normalises a subscription's filter.
func declaredFilter(ctx context.Context, decl Declaration) (filter.Filter, error) {
	f := decl.Options.Filter
	if decl.Options.FilterFunc != nil {
		var err error
		if f, err = decl.Options.FilterFunc(ctx, decl.Args); err != nil {
			return filter.Filter{}, err
		}
	}
	if err := f.Validate(); err != nil {
		return filter.Filter{}, &Error{Message: fmt.Sprintf("Subscription field %q has an invalid filter: %v", decl.Field, err), Extensions: map[string]any{"code": codeBadSubscription}}
	}
	return f.Normalize(), nil
}

// subscriptionSize estimates the stored size of a subscription.
func subscriptionSize(sub store.Subscription) int {
	n := len(sub.Query) + len(sub.OperationName) + len(sub.Variables) + len(sub.Context) + len(sub.Data) + len(sub.Authorizer) + len(sub.Endpoint) + len(sub.ID) + len(sub.ConnectionID)
	for _, t := range sub.Topics {
		n += len(t)
	}
	if len(sub.Filter.Groups) > 0 {
		if b, err := json.Marshal(sub.Filter); err == nil {
			n += len(b)
		}
	}
	return n
}

// stop handles a client's complete of operation id.
func (s *Server) stop(ctx context.Context, ss *session, id string) {
	sub, err := s.store.DeleteSubscription(ctx, ss.conn.ID, id)
	switch {
	case errors.Is(err, store.ErrSubscriptionNotFound):
		// Unknown or already completed: the protocol tells both sides to
		// ignore it.
		return
	case err != nil:
		s.reportError(ctx, fmt.Errorf("gqlambda: connection %s subscription %s: delete: %w", ss.conn.ID, id, err),
			slog.String("connection_id", ss.conn.ID), slog.String("subscription_id", id))
		return
	}
	s.completed(ctx, sub, CompletedByClient)
}
