package plainws

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

// Name identifies the dialect where a subprotocol name would: it is what
// protocol.Server's Subprotocol returns and what the server stores as a
// connection's protocol. No client offers it: the server picks the dialect
// for connections that offer no subprotocol.
const Name = "plain"

// Message is a message of the dialect: a [ClientMessage] or a
// [ServerMessage].
type Message interface {
	isMessage()
}

// ClientMessage is a message a client sends: [Request]. The interface is
// sealed.
type ClientMessage interface {
	Message
	isClient()
}

// ServerMessage is a message a server sends: [Result] or [Errors]. The
// interface is sealed.
type ServerMessage interface {
	Message
	isServer()
}

// Request starts an operation: a GraphQL request, as over HTTP.
type Request struct {
	Request protocol.Request
}

// Result delivers an execution result ({"data": ..., "errors": ...}) of a
// query, a mutation, or a subscription's event.
type Result struct {
	// Payload is the result, a JSON object, compacted.
	Payload json.RawMessage
}

// Errors reports GraphQL errors of a request that failed before it ran
// ({"errors": [...]}, nothing else).
type Errors struct {
	// Errors are GraphQL errors, each a JSON object with "message",
	// compacted; at least one.
	Errors []json.RawMessage
}

func (Request) isMessage() {}
func (Result) isMessage()  {}
func (Errors) isMessage()  {}
func (Request) isClient()  {}
func (Result) isServer()   {}
func (Errors) isServer()   {}

// OperationID returns the id under which the server keeps the operation of
// req: "plain:" and a 128-bit FNV-1a hash of the request's canonical
// encoding. Equal requests have equal ids, so a subscription sent twice on
// one connection is one subscription.
func OperationID(req protocol.Request) string {
	b, err := wire.AppendRequest(nil, req)
	if err != nil {
		b = []byte(req.Query + "\x00" + req.OperationName)
	}
	h := fnv.New128a()
	h.Write(b)
	return "plain:" + hex.EncodeToString(h.Sum(nil))
}

// Encode returns the canonical frame of m: compact JSON, what decoding it
// gives back. A Result must hold a JSON object and Errors at least one JSON
// object with a "message"; a Request's variables and extensions must be
// encodable.
func Encode(m Message) ([]byte, error) {
	switch m := m.(type) {
	case Request:
		return wire.AppendRequest(nil, m.Request)
	case Result:
		b, err := wire.AppendObject(nil, m.Payload)
		if err != nil {
			return nil, fmt.Errorf("plainws: encode result: %w", err)
		}
		return b, nil
	case Errors:
		if len(m.Errors) == 0 {
			return nil, errors.New("plainws: encode errors: no error")
		}
		dst := append([]byte(nil), `{"errors":[`...)
		for i, e := range m.Errors {
			if i > 0 {
				dst = append(dst, ',')
			}
			start := len(dst)
			var err error
			if dst, err = wire.AppendObject(dst, e); err != nil {
				return nil, fmt.Errorf("plainws: encode errors: error %d: %w", i, err)
			}
			var f [1][]byte
			wire.ScanObject(dst[start:], []string{"message"}, f[:])
			if wire.KindOf(f[0]) != wire.KindString {
				return nil, fmt.Errorf("plainws: encode errors: error %d has no string \"message\"", i)
			}
		}
		return append(dst, "]}"...), nil
	}
	return nil, fmt.Errorf("plainws: encode: unknown message %T", m)
}
