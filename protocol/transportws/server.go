package transportws

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

// MaxCloseReason is the longest close reason, in bytes, that fits a WebSocket
// close frame (RFC 6455: 125 bytes of payload, 2 of them the code). Every
// reason in a [protocol.Close] from [Server] fits it.
const MaxCloseReason = 123

// Close reasons.
const (
	reasonInvalid        = "Invalid message received"
	reasonTooManyInits   = "Too many initialisation requests"
	reasonUnauthorized   = "Unauthorized"
	reasonForbidden      = "Forbidden"
	reasonInternal       = "Internal server error"
	reasonDuplicateShort = "Subscriber already exists"
)

// Server is the server side of graphql-transport-ws, a [protocol.Server]. Its
// zero value is ready to use. It holds no state, does no I/O, and is safe for
// concurrent use; none of its methods panics, whatever the input.
type Server struct{}

var _ protocol.Server = Server{}

// Subprotocol returns [Subprotocol].
func (Server) Subprotocol() string { return Subprotocol }

// Receive decodes a client frame with [DecodeClient] and applies the
// protocol's rules for a connection in state s. It returns:
//
//   - for a frame that is not a valid client message (not JSON, not an
//     object, an unknown type, a server message such as next, ...):
//     Close 4400 with "Invalid message received: " and the decode reason,
//     cut to [MaxCloseReason] bytes;
//   - for connection_init: Init with its payload, or Close 4429 "Too many
//     initialisation requests" when s is already acknowledged;
//   - for ping: Ping with its payload; for pong: Pong with its payload;
//   - for subscribe: Start with the id and request when s is acknowledged;
//     otherwise an error message for the id ("Unauthorized") followed by
//     Close 4401 "Unauthorized", since on API Gateway the close code does not
//     reach the client;
//   - for complete: Stop with the id, in any state.
//
// The result is never empty, and a Close is always its last action.
func (Server) Receive(s protocol.State, frame []byte) []protocol.Action {
	m, err := DecodeClient(frame)
	if err != nil {
		return []protocol.Action{protocol.Close{Code: int(CloseBadRequest), Reason: invalidReason(err)}}
	}
	switch m := m.(type) {
	case ConnectionInit:
		if s.Acknowledged {
			return []protocol.Action{protocol.Close{Code: int(CloseTooManyInitialisationRequests), Reason: reasonTooManyInits}}
		}
		return []protocol.Action{protocol.Init{Payload: m.Payload}}
	case Ping:
		return []protocol.Action{protocol.Ping{Payload: m.Payload}}
	case Pong:
		return []protocol.Action{protocol.Pong{Payload: m.Payload}}
	case Subscribe:
		if !s.Acknowledged {
			return []protocol.Action{
				protocol.Send{Frame: appendErrorMessage(nil, m.ID, reasonUnauthorized)},
				protocol.Close{Code: int(CloseUnauthorized), Reason: reasonUnauthorized},
			}
		}
		return []protocol.Action{protocol.Start{ID: m.ID, Request: m.Payload}}
	case Complete:
		return []protocol.Action{protocol.Stop{ID: m.ID}}
	}
	// DecodeClient returns no other type.
	return []protocol.Action{protocol.Close{Code: int(CloseInternalServerError), Reason: reasonInternal}}
}

// Accept acknowledges the connection: it returns s marked acknowledged and a
// connection_ack carrying ackPayload, which may be nil (no payload), JSON null
// (no payload) or a JSON object. Any other ackPayload is a server bug: Accept
// then returns s unchanged and the actions of [Server.Internal].
func (Server) Accept(s protocol.State, ackPayload json.RawMessage) (protocol.State, []protocol.Action) {
	frame, err := ConnectionAck{Payload: ackPayload}.appendTo(nil)
	if err != nil {
		return s, Server{}.Internal()
	}
	s.Acknowledged = true
	return s, []protocol.Action{protocol.Send{Frame: frame}}
}

// Refuse refuses the connection_init: Close 4403 "Forbidden". The protocol has
// no message for a refusal, so on API Gateway the client only sees the
// connection close.
func (Server) Refuse() []protocol.Action {
	return []protocol.Action{protocol.Close{Code: int(CloseForbidden), Reason: reasonForbidden}}
}

// Pong answers a ping with a pong carrying payload, which may be nil (no
// payload), JSON null (no payload) or a JSON object, usually the ping's own.
// Any other payload is a server bug: Pong then returns the actions of
// [Server.Internal].
func (Server) Pong(payload json.RawMessage) []protocol.Action {
	frame, err := Pong{Payload: payload}.appendTo(nil)
	if err != nil {
		return Server{}.Internal()
	}
	return []protocol.Action{protocol.Send{Frame: frame}}
}

// Reject ends operation id with an error message carrying errs (see
// [Server.AppendError]); no complete follows it. id should be the non-empty id
// of a Start.
func (Server) Reject(id string, errs []json.RawMessage) []protocol.Action {
	return []protocol.Action{protocol.Send{Frame: Server{}.AppendError(nil, id, errs)}}
}

// Duplicate answers a subscribe whose id is in use: an error message for id
// with the GraphQL error "Subscriber for <id> already exists", then Close 4409
// with the same reason, or "Subscriber already exists" when the long one would
// not fit [MaxCloseReason] bytes.
func (Server) Duplicate(id string) []protocol.Action {
	msg := "Subscriber for " + id + " already exists"
	reason := msg
	if len(reason) > MaxCloseReason || !utf8.ValidString(reason) {
		reason = reasonDuplicateShort
	}
	return []protocol.Action{
		protocol.Send{Frame: appendErrorMessage(nil, id, msg)},
		protocol.Close{Code: int(CloseSubscriberAlreadyExists), Reason: reason},
	}
}

// Internal ends the connection after a server failure: Close 4500 "Internal
// server error". The reason never carries details of the failure.
func (Server) Internal() []protocol.Action {
	return []protocol.Action{protocol.Close{Code: int(CloseInternalServerError), Reason: reasonInternal}}
}

// AppendNext appends to dst the next message delivering result for operation
// id: the bytes [Encode] gives for Next{ID: id, Payload: result} when result
// is compact. result must be an encoded execution result (a JSON object) and
// is appended as is, unchecked; an empty result is written as {}. id is
// escaped as [Encode] escapes it. AppendNext does not allocate when dst has
// room for the frame.
func (Server) AppendNext(dst []byte, id string, result []byte) []byte {
	return wire.AppendResultMessage(dst, TypeNext, id, result)
}

// AppendComplete appends to dst the complete message ending operation id:
// the bytes [Encode] gives for Complete{ID: id}. It does not allocate when dst
// has room for the frame.
func (Server) AppendComplete(dst []byte, id string) []byte {
	return wire.AppendIDMessage(dst, TypeComplete, id)
}

// AppendError appends to dst the error message ending operation id with errs:
// the bytes [Encode] gives for Error{ID: id, Payload: errs} when every element
// is compact. Each element must be an encoded GraphQL error (a JSON object
// with "message") and is appended as is, unchecked; an empty element, or an
// empty errs (the protocol requires at least one error), is written as
// {"message":"Unknown error"}. AppendError does not allocate when dst has
// room for the frame.
func (Server) AppendError(dst []byte, id string, errs []json.RawMessage) []byte {
	dst = wire.AppendHead(dst, TypeError, id)
	dst = append(dst, `,"payload":`...)
	dst = wire.AppendErrorList(dst, errs)
	return append(dst, '}')
}

// appendErrorMessage appends an error message for operation id with one
// GraphQL error whose message is msg.
func appendErrorMessage(dst []byte, id, msg string) []byte {
	dst = wire.AppendHead(dst, TypeError, id)
	dst = append(dst, `,"payload":[`...)
	dst = wire.AppendGraphQLError(dst, msg)
	return append(dst, "]}"...)
}

// invalidReason is the close reason for a frame DecodeClient rejected with
// err.
func invalidReason(err error) string {
	de, ok := errors.AsType[*DecodeError](err)
	if !ok || de.Reason == "" {
		return reasonInvalid
	}
	return limitReason(reasonInvalid + ": " + de.Reason)
}

// limitReason cuts s to at most MaxCloseReason bytes at a UTF-8 boundary and
// makes it valid UTF-8.
func limitReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxCloseReason {
		return s
	}
	cut := MaxCloseReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
