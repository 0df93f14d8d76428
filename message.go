package gqlambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
	"github.com/gqlambda/gqlambda/protocol/plainws"
	"github.com/gqlambda/gqlambda/protocol/transportws"
	"github.com/gqlambda/gqlambda/store"
)

// This file is the message loop: a $default frame is decoded by the
// connection's protocol into actions, which the server carries out in order
// (connection_init, ping and pong here; subscribe and complete in
// operation.go).

// session is one $default frame being handled.
type session struct {
	conn store.Connection
	// cached reports that conn came from the process's cache of
	// connection records (conncache.go), not from the store.
	cached bool
	proto  protocol.Server
	frame  []byte
	log    *slog.Logger
}

// message handles a $default frame of connection id, whose @connections
// endpoint is endpoint.
func (s *Server) message(ctx context.Context, id, endpoint string, body []byte) {
	if !s.admitFrame(ctx, id, endpoint, body) {
		return
	}
	log := s.log.With(slog.String("connection_id", id))

	conn, cached, err := s.connection(ctx, id, body)
	if err != nil && !errors.Is(err, store.ErrConnectionNotFound) {
		// The store failed (or did not answer in time): the connection is
		// most likely healthy, so it stays open, and the frame gets the
		// answer to a failure its protocol allows.
		errs := s.internalFailure(ctx, fmt.Errorf("gqlambda: $default %s: read connection: %w", id, err),
			slog.String("connection_id", id))
		s.answerWithoutRecord(ctx, id, endpoint, body, errs, true)
		return
	}
	if err != nil {
		s.unknownConnection(ctx, log, id, endpoint)
		return
	}

	s.recordActivity(ctx, conn)
	ss := &session{conn: conn, cached: cached, log: log}
	ss.proto = s.protocols[conn.Protocol]
	if ss.proto == nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: connection %s uses unknown subprotocol %q", conn.ID, conn.Protocol),
			slog.String("connection_id", conn.ID))
		s.close(ctx, ss, 1011, "Internal Error")
		return
	}
	if len(body) > s.limits.MaxIncomingBytes {
		log.InfoContext(ctx, "message too big: closing", slog.Int("bytes", len(body)))
		s.close(ctx, ss, 1009, "Message Too Big")
		return
	}
	ss.frame = body
	if racer, ok := ss.proto.(protocol.AckRacer); ok && !conn.Acknowledged && racer.MayPrecedeAck(body) {
		ss.conn.Acknowledged = s.awaitAck(ctx, conn.ID)
	}
	actions := ss.proto.Receive(protocol.State{Acknowledged: ss.conn.Acknowledged}, body)
	if s.tel.Tracing() {
		describeFrame(ctx, actions)
	}
	s.run(ctx, ss, actions)
}

// connection returns the record of connection id for frame body: the
// cached one when it can be trusted for that frame (conncache.go), else the
// store's, which is then cached. cached reports the first.
func (s *Server) connection(ctx context.Context, id string, body []byte) (conn store.Connection, cached bool, err error) {
	now := s.now()
	if c, ok := s.conns.get(id, now); ok && (c.Acknowledged || initializes(s.protocols[c.Protocol], body)) {
		return c, true, nil
	}
	conn, err = s.store.GetConnection(ctx, id)
	if err == nil {
		s.conns.put(conn, now)
	}
	return conn, false, err
}

// initializes reports whether frame is a connection_init of protocol p,
// the one frame whose answer an unacknowledged record decides without
// consulting the store (a stale record only makes the store's conditional
// acknowledgement refuse it).
func initializes(p protocol.Server, frame []byte) bool {
	if p == nil {
		return false
	}
	actions := p.Receive(protocol.State{}, frame)
	if len(actions) == 0 {
		return false
	}
	_, ok := actions[0].(protocol.Init)
	return ok
}

// unknownConnection answers a frame of a connection without a record.
func (s *Server) unknownConnection(ctx context.Context, log *slog.Logger, id, endpoint string) {
	// Without the connection's state the frame cannot be understood: its
	// record expired, or was deleted after a 410. Closing with 1013 (Try
	// Again Later) makes clients reconnect.
	log.InfoContext(ctx, "frame for an unknown connection: closing it")
	if err := s.sender.Close(ctx, endpoint, id, unknownConnectionCode, unknownConnectionReason); err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: close unknown connection %s: %w", id, err),
			slog.String("connection_id", id))
	}
	// A lost $disconnect may have left subscriptions behind.
	s.cleanup(ctx, id, DisconnectInfo{Cause: ServerClosed, Code: unknownConnectionCode, Reason: unknownConnectionReason})
}

// awaitAck waits up to Limits.AckWait for the connection to be acknowledged
// by a connection_init handled concurrently, and reports whether it was. It
// polls the store with growing intervals and looks once more when the wait
// is over.
func (s *Server) awaitAck(ctx context.Context, id string) bool {
	expired := time.NewTimer(s.limits.AckWait)
	defer expired.Stop()
	wait := 10 * time.Millisecond
	for {
		poll := time.NewTimer(wait)
		last := false
		select {
		case <-ctx.Done():
			poll.Stop()
			return false
		case <-expired.C:
			poll.Stop()
			last = true
		case <-poll.C:
		}
		conn, err := s.store.GetConnection(ctx, id)
		if err != nil {
			return false
		}
		if conn.Acknowledged || last {
			return conn.Acknowledged
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// run carries out actions in order. Outcomes of actions (a hook's decision,
// an operation's result) are further actions, run before the remaining ones.
// A close or a gone client ends the run.
func (s *Server) run(ctx context.Context, ss *session, actions []protocol.Action) {
	for len(actions) > 0 {
		a := actions[0]
		actions = actions[1:]
		var next []protocol.Action
		switch a := a.(type) {
		case protocol.Send:
			if len(a.Frame) == 0 {
				continue // a message the protocol does not have
			}
			if !s.send(ctx, ss, a.Frame) {
				return
			}
		case protocol.Close:
			s.close(ctx, ss, a.Code, a.Reason)
			return
		case protocol.Terminate:
			s.close(ctx, ss, 1000, "Normal Closure")
			return
		case protocol.Init:
			next = s.initialize(ctx, ss, a.Payload)
		case protocol.Ping:
			next = s.ping(ctx, ss, a.Payload)
		case protocol.Pong:
			next = s.pong(ctx, ss, a.Payload)
		case protocol.Start:
			next = s.start(ctx, ss, a.ID, a.Request)
		case protocol.Stop:
			s.stop(ctx, ss, a.ID)
		}
		if len(next) > 0 {
			actions = append(next, actions...)
		}
	}
}

// send posts a frame to the session's client. It reports false when the
// client is gone (its state is then deleted).
func (s *Server) send(ctx context.Context, ss *session, frame []byte) bool {
	err := s.sender.Post(ctx, ss.conn.Endpoint, ss.conn.ID, frame)
	switch {
	case err == nil:
		return true
	case errors.Is(err, gateway.ErrGone):
		ss.log.InfoContext(ctx, "client gone (410): deleting its state")
		s.cleanup(ctx, ss.conn.ID, DisconnectInfo{Cause: Gone})
		return false
	default:
		s.reportError(ctx, fmt.Errorf("gqlambda: post to connection %s: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		return true
	}
}

// close closes the session's connection and deletes its state at once
// rather than waiting for a $disconnect that may never come.
func (s *Server) close(ctx context.Context, ss *session, code int, reason string) {
	ss.log.InfoContext(ctx, "closing connection", slog.Int("code", code), slog.String("reason", reason))
	if err := s.sender.Close(ctx, ss.conn.Endpoint, ss.conn.ID, code, reason); err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: close connection %s with %d: %w", ss.conn.ID, code, err),
			slog.String("connection_id", ss.conn.ID))
	}
	s.cleanup(ctx, ss.conn.ID, DisconnectInfo{Cause: ServerClosed, Code: code, Reason: reason})
}

// initialize handles connection_init: OnConnectionInit decides, the store
// makes sure only one initialisation wins.
func (s *Server) initialize(ctx context.Context, ss *session, payload json.RawMessage) []protocol.Action {
	var res InitResult
	c := connOf(ss.conn)
	if s.hooks.OnConnectionInit != nil {
		var err error
		res, err = s.hooks.OnConnectionInit(withScope(ctx, scope{server: s, conn: c, hasConn: true}), c, payload)
		if err != nil {
			ss.log.InfoContext(ctx, "connection_init refused", slog.String("error", err.Error()))
			return ss.proto.Refuse()
		}
	}
	kept, err := encodeValue(res.Context)
	if err == nil && len(kept) > s.limits.MaxContextBytes {
		err = fmt.Errorf("context is %d bytes, over Limits.MaxContextBytes (%d)", len(kept), s.limits.MaxContextBytes)
	}
	if err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: connection %s: OnConnectionInit returned an unusable context: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		return ss.proto.Refuse()
	}
	ack, err := encodeValue(res.Ack)
	if err == nil && len(ack) > 0 && ack[0] != '{' {
		err = errors.New("the connection_ack payload must be an object")
	}
	if err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: connection %s: OnConnectionInit returned an unusable ack payload: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		ack = nil
	}

	switch err := s.store.AcknowledgeConnection(ctx, ss.conn.ID, kept); {
	case errors.Is(err, store.ErrAlreadyAcknowledged):
		// Another connection_init of this connection won the race: answer
		// this one as the protocol answers a repeated initialisation.
		return ss.proto.Receive(protocol.State{Acknowledged: true}, ss.frame)
	case errors.Is(err, store.ErrConnectionNotFound):
		s.vanished(ctx, ss, "connection_init")
		return nil
	case err != nil:
		s.reportError(ctx, fmt.Errorf("gqlambda: acknowledge connection %s: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		return ss.proto.Internal()
	}
	ss.conn.Acknowledged = true
	ss.conn.Context = kept
	s.conns.put(ss.conn, s.now())
	_, actions := ss.proto.Accept(protocol.State{Acknowledged: false}, ack)
	return actions
}

// ping answers a client ping, after OnPing.
func (s *Server) ping(ctx context.Context, ss *session, payload json.RawMessage) []protocol.Action {
	pong := payload
	if s.hooks.OnPing != nil {
		c := connOf(ss.conn)
		p, err := s.hooks.OnPing(withScope(ctx, scope{server: s, conn: c, hasConn: true}), c, payload)
		if err != nil {
			s.reportError(ctx, fmt.Errorf("gqlambda: OnPing of connection %s: %w", ss.conn.ID, err),
				slog.String("connection_id", ss.conn.ID))
			return ss.proto.Internal()
		}
		if p != nil {
			pong = p
		}
	}
	return ss.proto.Pong(pong)
}

// pong runs OnPong.
func (s *Server) pong(ctx context.Context, ss *session, payload json.RawMessage) []protocol.Action {
	if s.hooks.OnPong == nil {
		return nil
	}
	c := connOf(ss.conn)
	if err := s.hooks.OnPong(withScope(ctx, scope{server: s, conn: c, hasConn: true}), c, payload); err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: OnPong of connection %s: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		return ss.proto.Internal()
	}
	return nil
}

// answerWithoutRecord answers a frame of connection id that is not handled
// (the store failed, or the frame is over the connection's rate), without
// the connection's record (and so without its protocol): the frame's own
// shape tells the protocol (their message types differ). An operation gets
// errs for its id, a ping its pong when pong is set; other frames get
// nothing. The connection stays open either way.
func (s *Server) answerWithoutRecord(ctx context.Context, id, endpoint string, body []byte, errs Errors, pong bool) {
	for _, name := range [...]string{transportws.Subprotocol, legacyws.Subprotocol, plainws.Name} {
		proto := s.protocols[name]
		if proto == nil {
			continue
		}
		var reply []protocol.Action
		switch a := first(proto.Receive(protocol.State{Acknowledged: true}, body)).(type) {
		case protocol.Start:
			reply = proto.Reject(a.ID, s.clientErrors(ctx, errs))
		case protocol.Ping:
			if !pong {
				return
			}
			reply = proto.Pong(a.Payload)
		default:
			continue
		}
		for _, r := range reply {
			if send, ok := r.(protocol.Send); ok {
				if err := s.sender.Post(ctx, endpoint, id, send.Frame); err != nil && !errors.Is(err, gateway.ErrGone) {
					s.reportError(ctx, fmt.Errorf("gqlambda: post to connection %s: %w", id, err), slog.String("connection_id", id))
				}
			}
		}
		return
	}
}

// first is the first of actions, or nil.
func first(actions []protocol.Action) protocol.Action {
	if len(actions) == 0 {
		return nil
	}
	return actions[0]
}

// vanished handles a store write refused because the session's connection
// is gone: deleted by a $disconnect or a close racing the frame, or, when
// the record came from the cache, earlier by another process. The latter is
// answered as a frame of an unknown connection is.
func (s *Server) vanished(ctx context.Context, ss *session, during string) {
	s.conns.drop(ss.conn.ID)
	if ss.cached {
		s.unknownConnection(ctx, ss.log, ss.conn.ID, ss.conn.Endpoint)
		return
	}
	ss.log.InfoContext(ctx, "connection vanished during "+during)
}
