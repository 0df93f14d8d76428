package plainws

import (
	"encoding/json"
	"errors"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

// CloseInternalError is the WebSocket close code of [Server.Internal] (1011,
// Internal Error): the dialect has no close codes of its own.
const CloseInternalError = 1011

// Close reasons.
const (
	reasonInternal  = "Internal server error"
	reasonForbidden = "Forbidden"
	messageInvalid  = "Invalid message received"
)

// Server is the server side of the plain dialect, a [protocol.Server]. Its
// zero value is ready to use. It holds no state, does no I/O, and is safe for
// concurrent use; none of its methods panics, whatever the input.
type Server struct{}

var _ protocol.Server = Server{}

// Subprotocol returns [Name]: the dialect has no subprotocol, and the server
// never echoes one for it.
func (Server) Subprotocol() string { return Name }

// Receive decodes a client frame with [DecodeClient], in any state (the
// dialect has no connection_init). It returns a Start of the request, with
// the id [OperationID] gives it, or, for an invalid frame, a Send of an
// errors message ("Invalid message received: " and the reason): the
// connection stays open. The result is never empty.
func (Server) Receive(_ protocol.State, frame []byte) []protocol.Action {
	m, err := DecodeClient(frame)
	if err != nil {
		reason := messageInvalid
		if de, ok := errors.AsType[*DecodeError](err); ok {
			reason += ": " + de.Reason
		}
		return []protocol.Action{protocol.Send{Frame: appendErrors(nil, reason)}}
	}
	return []protocol.Action{protocol.Start{ID: OperationID(m.Request), Request: m.Request}}
}

// Accept marks s acknowledged and sends nothing: the dialect has no
// acknowledgement (and no connection_init that would ask for one).
func (Server) Accept(s protocol.State, _ json.RawMessage) (protocol.State, []protocol.Action) {
	s.Acknowledged = true
	return s, nil
}

// Refuse closes the connection with 1008 (Policy Violation) "Forbidden".
func (Server) Refuse() []protocol.Action {
	return []protocol.Action{protocol.Close{Code: 1008, Reason: reasonForbidden}}
}

// Pong does nothing: the dialect has no ping.
func (Server) Pong(json.RawMessage) []protocol.Action { return nil }

// Reject answers a request that failed before it ran with an errors message
// carrying errs (see [Server.AppendError]).
func (Server) Reject(id string, errs []json.RawMessage) []protocol.Action {
	return []protocol.Action{protocol.Send{Frame: Server{}.AppendError(nil, id, errs)}}
}

// Duplicate does nothing: the request is a subscription the connection
// already has (equal requests have equal ids), which stays as it is.
func (Server) Duplicate(string) []protocol.Action { return nil }

// Internal closes the connection with [CloseInternalError] "Internal server
// error".
func (Server) Internal() []protocol.Action {
	return []protocol.Action{protocol.Close{Code: CloseInternalError, Reason: reasonInternal}}
}

// AppendNext appends result, an encoded execution result, as is: the
// dialect's result message is the result itself. An empty result is written
// as {}. It does not allocate when dst has room.
func (Server) AppendNext(dst []byte, _ string, result []byte) []byte {
	if len(result) == 0 {
		return append(dst, "{}"...)
	}
	if v, ok := singleRootValue(result); ok {
		dst = append(dst, `{"data":`...)
		dst = append(dst, v...)
		return append(dst, '}')
	}
	return append(dst, result...)
}

// singleRootValue returns the value of the one root field of a result that
// is {"data": {"<field>": <value>}} and nothing else: what the sample's
// response handler sends as {"data": <value>}.
func singleRootValue(result []byte) (json.RawMessage, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(result, &top) != nil || len(top) != 1 {
		return nil, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(top["data"], &fields) != nil || len(fields) != 1 {
		return nil, false
	}
	for _, v := range fields {
		return v, true
	}
	return nil, false
}

// AppendComplete appends nothing: the dialect has no message for the end of
// an operation, and the server posts no empty frame.
func (Server) AppendComplete(dst []byte, _ string) []byte { return dst }

// AppendError appends the errors message {"errors": errs}. Each element must
// be an encoded GraphQL error and is appended as is; an empty element, or an
// empty errs, is written as {"message":"Unknown error"}. It does not
// allocate when dst has room.
func (Server) AppendError(dst []byte, _ string, errs []json.RawMessage) []byte {
	dst = append(dst, `{"errors":`...)
	dst = wire.AppendErrorList(dst, errs)
	return append(dst, '}')
}

// appendErrors appends an errors message with one error whose message is
// msg.
func appendErrors(dst []byte, msg string) []byte {
	dst = append(dst, `{"errors":[`...)
	dst = wire.AppendGraphQLError(dst, msg)
	return append(dst, "]}"...)
}
