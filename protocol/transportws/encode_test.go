package transportws_test

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/transportws"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  transportws.Message
		want string
	}{
		{"connection_init without payload", transportws.ConnectionInit{}, `{"type":"connection_init"}`},
		{"connection_init payload is compacted", transportws.ConnectionInit{Payload: raw(" { \"a\" : [ 1 , 2 ] }\n")}, `{"type":"connection_init","payload":{"a":[1,2]}}`},
		{"connection_init null payload is omitted", transportws.ConnectionInit{Payload: raw(`null`)}, `{"type":"connection_init"}`},
		{"connection_ack without payload", transportws.ConnectionAck{}, `{"type":"connection_ack"}`},
		{"connection_ack with payload", transportws.ConnectionAck{Payload: raw(`{"v":1}`)}, `{"type":"connection_ack","payload":{"v":1}}`},
		{"ping", transportws.Ping{}, `{"type":"ping"}`},
		{"ping with payload", transportws.Ping{Payload: raw(`{}`)}, `{"type":"ping","payload":{}}`},
		{"pong", transportws.Pong{Payload: raw(`{"t":1}`)}, `{"type":"pong","payload":{"t":1}}`},
		{"pointer to a message", &transportws.Pong{}, `{"type":"pong"}`},
		{"subscribe with query only", transportws.Subscribe{ID: "1", Payload: protocol.Request{Query: "{ a }"}},
			`{"type":"subscribe","id":"1","payload":{"query":"{ a }"}}`},
		{"subscribe with every field", transportws.Subscribe{ID: "1", Payload: protocol.Request{
			Query:         "query A { a }",
			OperationName: "A",
			Variables:     map[string]any{"b": 1, "a": "<x> & y"},
			Extensions:    map[string]any{"e": []any{true, nil}},
		}}, `{"type":"subscribe","id":"1","payload":{"query":"query A { a }","operationName":"A","variables":{"a":"<x> & y","b":1},"extensions":{"e":[true,null]}}}`},
		{"subscribe with empty maps", transportws.Subscribe{ID: "1", Payload: protocol.Request{
			Query: "q", Variables: map[string]any{}, Extensions: map[string]any{},
		}}, `{"type":"subscribe","id":"1","payload":{"query":"q","variables":{},"extensions":{}}}`},
		{"next", transportws.Next{ID: "1", Payload: raw(`{"data":{"a":1}}`)}, `{"type":"next","id":"1","payload":{"data":{"a":1}}}`},
		{"next payload is compacted", transportws.Next{ID: "1", Payload: raw("{ \"data\" :\n null }")}, `{"type":"next","id":"1","payload":{"data":null}}`},
		{"error", transportws.Error{ID: "1", Payload: []json.RawMessage{raw(`{"message":"a"}`), raw(` {"message": "b"} `)}},
			`{"type":"error","id":"1","payload":[{"message":"a"},{"message":"b"}]}`},
		{"complete", transportws.Complete{ID: "1"}, `{"type":"complete","id":"1"}`},
		{"id is escaped", transportws.Complete{ID: "a\"b\\c\n<>&\u2028\x01"}, `{"type":"complete","id":"a\"b\\c\n<>&\u2028\u0001"}`},
		{"invalid UTF-8 in an id becomes U+FFFD", transportws.Complete{ID: "a\xffb"}, `{"type":"complete","id":"a\ufffdb"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := transportws.Encode(tt.msg)
			if err != nil {
				t.Fatalf("Encode(%#v): %v", tt.msg, err)
			}
			if string(got) != tt.want {
				t.Fatalf("Encode(%#v)\n got %s\nwant %s", tt.msg, got, tt.want)
			}
		})
	}
}

func TestEncodeInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  transportws.Message
		want string // substring of the error
	}{
		{"nil message", nil, "nil message"},
		{"nil pointer", (*transportws.Ping)(nil), "nil *transportws.Ping"},
		{"connection_init payload is a string", transportws.ConnectionInit{Payload: raw(`"x"`)}, "payload must be an object or null, got string"},
		{"connection_ack payload is not JSON", transportws.ConnectionAck{Payload: raw(`{`)}, "invalid JSON"},
		{"ping payload is an array", transportws.Ping{Payload: raw(`[]`)}, "got array"},
		{"pong payload is white space", transportws.Pong{Payload: raw(` `)}, "invalid JSON"},
		{"subscribe without id", transportws.Subscribe{Payload: protocol.Request{Query: "q"}}, "id must not be empty"},
		{"subscribe variables cannot be encoded", transportws.Subscribe{ID: "1", Payload: protocol.Request{Query: "q", Variables: map[string]any{"f": func() {}}}}, "variables"},
		{"subscribe variables hold NaN", transportws.Subscribe{ID: "1", Payload: protocol.Request{Query: "q", Variables: map[string]any{"n": math.NaN()}}}, "variables"},
		{"subscribe extensions cannot be encoded", transportws.Subscribe{ID: "1", Payload: protocol.Request{Query: "q", Extensions: map[string]any{"c": make(chan int)}}}, "extensions"},
		{"next without id", transportws.Next{Payload: raw(`{}`)}, "id must not be empty"},
		{"next without payload", transportws.Next{ID: "1"}, "must be an object, got nothing"},
		{"next payload is null", transportws.Next{ID: "1", Payload: raw(`null`)}, "must be an object, got null"},
		{"next payload is not JSON", transportws.Next{ID: "1", Payload: raw(`{"a":}`)}, "invalid JSON"},
		{"error without id", transportws.Error{Payload: []json.RawMessage{raw(`{"message":"x"}`)}}, "id must not be empty"},
		{"error without errors", transportws.Error{ID: "1"}, "must not be an empty list"},
		{"error element is a string", transportws.Error{ID: "1", Payload: []json.RawMessage{raw(`"x"`)}}, "element 0: must be an object, got string"},
		{"error element has no message", transportws.Error{ID: "1", Payload: []json.RawMessage{raw(`{"message":"a"}`), raw(`{}`)}}, `element 1 has no "message"`},
		{"error element is empty", transportws.Error{ID: "1", Payload: []json.RawMessage{nil}}, "element 0: must be an object, got nothing"},
		{"complete without id", transportws.Complete{}, "id must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := transportws.Encode(tt.msg)
			if err == nil {
				t.Fatalf("Encode(%#v) = %s, want an error", tt.msg, got)
			}
			if got != nil {
				t.Errorf("Encode returned %q with an error", got)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "transportws: encode") {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// roundTripMessages holds every message type, with awkward ids and payloads.
var roundTripMessages = []transportws.Message{
	transportws.ConnectionInit{},
	transportws.ConnectionInit{Payload: raw(`{"token":"a\"b","n":[1,2.5,-3e-7],"o":{}}`)},
	transportws.ConnectionAck{},
	transportws.ConnectionAck{Payload: raw(`{"connectionId":"x"}`)},
	transportws.Ping{},
	transportws.Ping{Payload: raw(`{"t":1}`)},
	transportws.Pong{},
	transportws.Pong{Payload: raw(`{"t":"\u2028"}`)},
	transportws.Subscribe{ID: "1", Payload: protocol.Request{Query: "{ a }"}},
	transportws.Subscribe{ID: "op \"quoted\" \\ é 😀 \x00\x1f", Payload: protocol.Request{
		Query:         "subscription S($x: [Int]) {\n  s(x: $x)\n}",
		OperationName: "S",
		Variables:     map[string]any{"x": []any{1.0, 2.0}, "y": map[string]any{"z": nil, "h": "<&>"}, "big": 1e300},
		Extensions:    map[string]any{},
	}},
	transportws.Next{ID: "1", Payload: raw(`{"data":{"a":"\u003c"}}`)},
	transportws.Next{ID: "\t", Payload: raw(`{}`)},
	transportws.Error{ID: "1", Payload: []json.RawMessage{raw(`{"message":"a"}`)}},
	transportws.Error{ID: "2", Payload: []json.RawMessage{raw(`{"message":"a","path":["x",0]}`), raw(`{"message":null}`)}},
	transportws.Complete{ID: "1"},
	transportws.Complete{ID: "\u2029"},
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range roundTripMessages {
		enc, err := transportws.Encode(m)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", m, err)
		}
		decoded := 0
		if _, ok := m.(transportws.ClientMessage); ok {
			decoded++
			back, err := transportws.DecodeClient(enc)
			if err != nil {
				t.Fatalf("DecodeClient(%s): %v", enc, err)
			}
			if !reflect.DeepEqual(back, m) {
				t.Errorf("DecodeClient(Encode(m)) changed the message\n got %#v\nwant %#v", back, m)
			}
		}
		if _, ok := m.(transportws.ServerMessage); ok {
			decoded++
			back, err := transportws.DecodeServer(enc)
			if err != nil {
				t.Fatalf("DecodeServer(%s): %v", enc, err)
			}
			if !reflect.DeepEqual(back, m) {
				t.Errorf("DecodeServer(Encode(m)) changed the message\n got %#v\nwant %#v", back, m)
			}
		}
		if decoded == 0 {
			t.Errorf("%T is neither a client nor a server message", m)
		}
	}
}

// TestDirection pins which message types each side may send.
func TestDirection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg            transportws.Message
		client, server bool
	}{
		{transportws.ConnectionInit{}, true, false},
		{transportws.ConnectionAck{}, false, true},
		{transportws.Ping{}, true, true},
		{transportws.Pong{}, true, true},
		{transportws.Subscribe{}, true, false},
		{transportws.Next{}, false, true},
		{transportws.Error{}, false, true},
		{transportws.Complete{}, true, true},
	}
	for _, tt := range tests {
		_, client := tt.msg.(transportws.ClientMessage)
		_, server := tt.msg.(transportws.ServerMessage)
		if client != tt.client || server != tt.server {
			t.Errorf("%s: client %v server %v, want client %v server %v", tt.msg.Type(), client, server, tt.client, tt.server)
		}
	}
}

// escapeIDs are ids whose encoding needs care (the escaping itself is tested
// against encoding/json in protocol/internal/wire).
var escapeIDs = []string{
	"1",
	`with "quotes"`,
	`back\slash\`,
	"controls \x00\x01\x08\x09\x0a\x0c\x0d\x1f\x7f",
	"unicode é ✓ 😀",
	"separators \u2028 \u2029",
	"html <script>&</script>",
	"invalid \xff\xfe UTF-8 \xe2\x82",
	"\xf0\x9f\x98", // a truncated 4-byte sequence
	strings.Repeat("long-", 200),
}
