package legacyws

import (
	"encoding/json"
	"errors"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

// MaxCloseReason is the longest close reason, in bytes, that fits a WebSocket
// close frame (RFC 6455: 125 bytes of payload, 2 of them the code). Every
// reason in a [protocol.Close] from [Server] fits it.
const MaxCloseReason = 123

// Close reasons and the messages of connection_error and error messages.
const (
	reasonTooManyInits  = "Too many initialisation requests"
	reasonForbidden     = "Forbidden"
	reasonInternal      = "Internal server error"
	messageUnauthorized = "Unauthorized"
	messageInvalidType  = "Invalid message type!" // the reference server's words
)

// Server is the server side of the legacy protocol, a [protocol.Server]. Its
// zero value is ready to use. It holds no state, does no I/O, and is safe for
// concurrent use; none of its methods panics, whatever the input.
//
// The protocol lets the server send ka (keep-alive) messages. Server never
// does: the reference client only starts watching for them after the first
// one arrives, and from then on closes the connection when none arrives for
// its timeout (30 s by default), a promise a server on Lambda, which runs only
// when a frame or an event arrives, cannot keep. Without ka the client never
// times the connection out; API Gateway's idle timeout (10 minutes) still
// applies.
type Server struct{}

var _ protocol.Server = Server{}

// Subprotocol returns [Subprotocol].
func (Server) Subprotocol() string { return Subprotocol }

// Receive decodes a client frame with [DecodeClient] and applies the
// protocol's rules for a connection in state s. Following the reference
// server, a frame it cannot use never closes the connection: it is answered
// with a message and otherwise ignored. Receive returns:
//
//   - for a frame that is empty, not valid UTF-8, not JSON, or JSON null:
//     a connection_error whose message is the decode reason (the reference
//     server answers a frame JSON.parse rejects so);
//   - for JSON that is not an object, or an object without a "type", with an
//     unknown "type", or with the type of a server message (connection_error
//     included, which the reference client sends when computing its
//     connection parameters fails): an error message with the message
//     "Invalid message type!", for the frame's "id" when that is a non-empty
//     string (the reference server's answer, word for word);
//   - for an invalid connection_init (a payload that is neither an object nor
//     null): a connection_error whose message is the decode reason, since a
//     client waiting for connection_ack listens for connection_error;
//   - for an invalid start or stop (no usable id, a malformed payload): an
//     error message whose message is the decode reason, for the frame's id
//     when it has one;
//   - for connection_init: Init with its payload; when s is already
//     acknowledged, a connection_error "Too many initialisation requests"
//     followed by Close 4429 instead, since running the connection_init hook
//     again could change who the connection acts for while its operations run
//     (the reference client sends connection_init once per socket);
//   - for start: Start with the id and request when s is acknowledged;
//     otherwise an error message for the id ("Unauthorized") and no close:
//     the reference client sends its operations right after connection_init
//     without waiting for connection_ack, so a start may legitimately be
//     handled before the acknowledgement is stored, and only that operation
//     fails;
//   - for stop: Stop with the id, in any state;
//   - for connection_terminate: Terminate, in any state.
//
// The result is never empty, and a Close is always its last action.
func (Server) Receive(s protocol.State, frame []byte) []protocol.Action {
	m, err := DecodeClient(frame)
	if err != nil {
		return []protocol.Action{protocol.Send{Frame: invalidReply(err)}}
	}
	switch m := m.(type) {
	case ConnectionInit:
		if s.Acknowledged {
			return []protocol.Action{
				protocol.Send{Frame: appendConnectionError(nil, reasonTooManyInits)},
				protocol.Close{Code: int(CloseTooManyInitialisationRequests), Reason: reasonTooManyInits},
			}
		}
		return []protocol.Action{protocol.Init{Payload: m.Payload}}
	case Start:
		if !s.Acknowledged {
			return []protocol.Action{protocol.Send{Frame: appendErrorMessage(nil, m.ID, messageUnauthorized)}}
		}
		return []protocol.Action{protocol.Start{ID: m.ID, Request: m.Payload}}
	case Stop:
		return []protocol.Action{protocol.Stop{ID: m.ID}}
	case ConnectionTerminate:
		return []protocol.Action{protocol.Terminate{}}
	}
	// DecodeClient returns no other type.
	return Server{}.Internal()
}

// invalidReply is the frame answering a client frame DecodeClient rejected
// with err.
func invalidReply(err error) []byte {
	de, ok := errors.AsType[*DecodeError](err)
	switch {
	case !ok: // DecodeClient returns no other error
		return appendConnectionError(nil, messageInvalidType)
	case de.unparsable, de.Type == TypeConnectionInit:
		return appendConnectionError(nil, de.Reason)
	case de.Type == TypeStart, de.Type == TypeStop:
		return appendErrorMessage(nil, de.ID, de.Reason)
	default: // not an object, no type, an unknown or a server message type
		return appendErrorMessage(nil, de.ID, messageInvalidType)
	}
}

// Accept acknowledges the connection: it returns s marked acknowledged and a
// connection_ack carrying ackPayload, which may be nil (no payload), JSON null
// (no payload) or a JSON object (the reference client hands it to its
// "connected" listeners). Any other ackPayload is a server bug: Accept then
// returns s unchanged and the actions of [Server.Internal]. No ka follows the
// acknowledgement (see [Server]).
func (Server) Accept(s protocol.State, ackPayload json.RawMessage) (protocol.State, []protocol.Action) {
	frame, err := ConnectionAck{Payload: ackPayload}.appendTo(nil)
	if err != nil {
		return s, Server{}.Internal()
	}
	s.Acknowledged = true
	return s, []protocol.Action{protocol.Send{Frame: frame}}
}

// Refuse refuses the connection_init: a connection_error with the message
// "Forbidden", then Close 4403 "Forbidden". The reference server answers a
// refusing onConnect the same way, with the message "Prohibited connection!"
// and close code 1011; its client ignores close codes, and 4403 tells logs
// and the local gateway why.
func (Server) Refuse() []protocol.Action {
	return []protocol.Action{
		protocol.Send{Frame: appendConnectionError(nil, reasonForbidden)},
		protocol.Close{Code: int(CloseForbidden), Reason: reasonForbidden},
	}
}

// Pong returns no actions. The legacy protocol has no ping: [Server.Receive]
// never asks for one, and there is nothing to answer.
func (Server) Pong(json.RawMessage) []protocol.Action { return nil }

// Reject ends operation id with an error message carrying errs (see
// [Server.AppendError]); no complete follows it, since the reference client
// forgets the operation on error. id should be the non-empty id of a Start.
func (Server) Reject(id string, errs []json.RawMessage) []protocol.Action {
	return []protocol.Action{protocol.Send{Frame: Server{}.AppendError(nil, id, errs)}}
}

// Duplicate answers a start whose id is in use: an error message for id with
// the GraphQL error "Subscriber for <id> already exists", and no close (the
// legacy protocol closes for nothing of the kind). The reference server
// instead stops the older operation and starts the new one; that replacement
// cannot be made atomic here, so the older operation keeps running and the
// new one fails. The reference client never reuses an id on a connection.
func (Server) Duplicate(id string) []protocol.Action {
	return []protocol.Action{protocol.Send{Frame: appendErrorMessage(nil, id, "Subscriber for "+id+" already exists")}}
}

// Internal ends the connection after a server failure: a connection_error
// with the message "Internal server error", then Close 4500 "Internal server
// error" (the reference server closes with 1011 after a connection_error when
// its socket fails). Neither carries details of the failure.
func (Server) Internal() []protocol.Action {
	return []protocol.Action{
		protocol.Send{Frame: appendConnectionError(nil, reasonInternal)},
		protocol.Close{Code: int(CloseInternalServerError), Reason: reasonInternal},
	}
}

// AppendNext appends to dst the data message delivering result for operation
// id: the bytes [Encode] gives for Data{ID: id, Payload: result} when result
// is compact. result must be an encoded execution result (a JSON object) and
// is appended as is, unchecked; an empty result is written as {}. id is
// escaped as [Encode] escapes it. AppendNext does not allocate when dst has
// room for the frame.
func (Server) AppendNext(dst []byte, id string, result []byte) []byte {
	return wire.AppendResultMessage(dst, TypeData, id, result)
}

// AppendComplete appends to dst the complete message ending operation id:
// the bytes [Encode] gives for Complete{ID: id}. It does not allocate when dst
// has room for the frame.
func (Server) AppendComplete(dst []byte, id string) []byte {
	return wire.AppendIDMessage(dst, TypeComplete, id)
}

// AppendError appends to dst the error message ending operation id with errs:
//
//	{"type":"error","id":<id>,"payload":{"message":<message of errs[0]>,"errors":[<errs>...]}}
//
// the bytes [Encode] gives for that message when every element is compact
// (no "id" when id is empty). The payload is an object whose "message" is the
// first error's, which is what the reference server sends (one error as an
// object) and what clients that expect an object read, and whose "errors"
// holds every error: the reference client's formatErrors prefers "errors"
// to "message", so none is lost ([Error.Errors] reads the payload back as
// errs).
//
// Each element must be an encoded GraphQL error (a JSON object with a string
// "message") and is appended as is, unchecked; an empty element, or an empty
// errs, is written as {"message":"Unknown error"}, and the payload's
// "message" is "Unknown error" when the first error has no string message.
// AppendError does not allocate when dst has room for the frame (unless the
// first error spells its "message" key with escapes).
func (Server) AppendError(dst []byte, id string, errs []json.RawMessage) []byte {
	dst = appendErrorHead(dst, id)
	dst = append(dst, `{"message":`...)
	dst = appendFirstMessage(dst, errs)
	dst = append(dst, `,"errors":`...)
	dst = wire.AppendErrorList(dst, errs)
	return append(dst, "}}"...)
}

// appendFirstMessage appends the "message" of errs[0] when it is a JSON
// string, otherwise "Unknown error" as a JSON string.
func appendFirstMessage(dst []byte, errs []json.RawMessage) []byte {
	if len(errs) > 0 && wire.KindOf(errs[0]) == wire.KindObject {
		names := [1]string{"message"}
		var vals [1][]byte
		wire.ScanObject(errs[0], names[:], vals[:])
		if v := vals[0]; len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			return append(dst, v...)
		}
	}
	return wire.AppendString(dst, wire.MessageUnknownError)
}

// appendErrorMessage appends an error message for operation id (none when id
// is empty) with one GraphQL error whose message is msg, shaped as
// [Server.AppendError] shapes it.
func appendErrorMessage(dst []byte, id, msg string) []byte {
	dst = appendErrorHead(dst, id)
	dst = append(dst, `{"message":`...)
	dst = wire.AppendString(dst, msg)
	dst = append(dst, `,"errors":[`...)
	dst = wire.AppendGraphQLError(dst, msg)
	return append(dst, "]}}"...)
}

// appendConnectionError appends a connection_error message whose payload is
// {"message":msg}, as the reference server sends it.
func appendConnectionError(dst []byte, msg string) []byte {
	dst = wire.AppendType(dst, TypeConnectionError)
	dst = append(dst, `,"payload":`...)
	dst = wire.AppendGraphQLError(dst, msg)
	return append(dst, '}')
}

var _ protocol.AckRacer = Server{}

// MayPrecedeAck reports whether frame is a start message: the client sends
// its queued starts right after connection_init, without waiting for
// connection_ack, so a start can reach the server while the connection_init
// before it is still being handled.
func (Server) MayPrecedeAck(frame []byte) bool {
	m, err := DecodeClient(frame)
	if err != nil {
		return false
	}
	_, ok := m.(Start)
	return ok
}
