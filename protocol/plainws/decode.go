package plainws

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

// DecodeError reports a frame that is not a valid message of the direction
// being decoded. [DecodeClient] and [DecodeServer] return it (as an error; use
// errors.As). It is a plain value, safe for concurrent reading.
type DecodeError struct {
	// Reason says what is wrong, in one line, such as `request has no
	// "query"`.
	Reason string
	// Err is the encoding/json error behind Reason, if any.
	Err error
}

// Error returns "plainws: invalid message: " followed by the reason.
func (e *DecodeError) Error() string { return "plainws: invalid message: " + e.Reason }

// Unwrap returns the encoding/json error behind the reason, or nil.
func (e *DecodeError) Unwrap() error { return e.Err }

func newDecodeError(p *wire.Invalid) *DecodeError {
	return &DecodeError{Reason: p.Reason, Err: p.Err}
}

// DecodeClient decodes one frame a client sent: a [Request], the GraphQL
// request as it would be POSTed over HTTP. The frame must be valid UTF-8 and
// hold one JSON object whose "query" is a string, whose "operationName" is a
// string or null, and whose "variables" and "extensions" are objects or null,
// each when present; other members are ignored, except "type": a frame with
// a "type" is a message of a subprotocol (graphql-transport-ws or the legacy
// graphql-ws) from a client that did not offer it, and is invalid.
//
// Variables and extensions come back as encoding/json decodes them (a null
// as nil), so that [Encode] reproduces the request canonically. Any other
// frame yields a [*DecodeError]; no input makes DecodeClient panic.
// DecodeClient is safe for concurrent use.
func DecodeClient(data []byte) (Request, error) {
	f, p := wire.ParseFrame(data)
	if p != nil {
		return Request{}, newDecodeError(p)
	}
	if f.Type != nil {
		return Request{}, &DecodeError{Reason: `message has a "type": it belongs to a subprotocol (graphql-transport-ws or graphql-ws), which the client must offer when it connects`}
	}
	req, p := wire.DecodeRequest("request", data)
	if p != nil {
		p.Reason = strings.Replace(p.Reason, `"request" payload`, "request", 1)
		return Request{}, newDecodeError(p)
	}
	return Request{Request: req}, nil
}

// DecodeServer decodes one frame a server sent: [Errors] for an object whose
// only member is "errors" (a non-empty array of objects, each with a string
// "message"), [Result] for any other object. It is for clients, tests and
// the local gateway. Any other frame yields a nil message and a
// [*DecodeError]; no input makes DecodeServer panic. DecodeServer is safe for
// concurrent use.
func DecodeServer(data []byte) (ServerMessage, error) {
	if _, p := wire.ParseFrame(data); p != nil {
		return nil, newDecodeError(p)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, &DecodeError{Reason: "message cannot be decoded: " + err.Error(), Err: err}
	}
	raw, hasErrors := members["errors"]
	if !hasErrors || len(members) > 1 {
		return Result{Payload: wire.Compact(data)}, nil
	}
	if k := wire.KindOf(raw); k != wire.KindArray {
		return nil, &DecodeError{Reason: `message "errors" must be an array, got ` + k.String()}
	}
	var errs []json.RawMessage
	for i, e := range wire.Elements(raw) {
		if k := wire.KindOf(e); k != wire.KindObject {
			return nil, &DecodeError{Reason: `message "errors" must hold objects, got ` + k.String() + " at " + strconv.Itoa(i)}
		}
		var f [1][]byte
		wire.ScanObject(e, []string{"message"}, f[:])
		if wire.KindOf(f[0]) != wire.KindString {
			return nil, &DecodeError{Reason: `message "errors" element ` + strconv.Itoa(i) + ` has no string "message"`}
		}
		errs = append(errs, wire.Compact(e))
	}
	if len(errs) == 0 {
		return nil, &DecodeError{Reason: `message "errors" must not be empty`}
	}
	return Errors{Errors: errs}, nil
}
