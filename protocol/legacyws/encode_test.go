package legacyws_test

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  legacyws.Message
		want string
	}{
		{"connection_init without payload", legacyws.ConnectionInit{}, `{"type":"connection_init"}`},
		{"connection_init payload is compacted", legacyws.ConnectionInit{Payload: raw(" { \"a\" : [ 1 , 2 ] }\n")}, `{"type":"connection_init","payload":{"a":[1,2]}}`},
		{"connection_init null payload is omitted", legacyws.ConnectionInit{Payload: raw(`null`)}, `{"type":"connection_init"}`},
		{"start with query only", legacyws.Start{ID: "1", Payload: protocol.Request{Query: "{ a }"}},
			`{"type":"start","id":"1","payload":{"query":"{ a }"}}`},
		{"start with every field", legacyws.Start{ID: "1", Payload: protocol.Request{
			Query:         "query A { a }",
			OperationName: "A",
			Variables:     map[string]any{"b": 1, "a": "<x> & y"},
			Extensions:    map[string]any{"e": []any{true, nil}},
		}}, `{"type":"start","id":"1","payload":{"query":"query A { a }","operationName":"A","variables":{"a":"<x> & y","b":1},"extensions":{"e":[true,null]}}}`},
		{"start with empty maps", legacyws.Start{ID: "1", Payload: protocol.Request{
			Query: "q", Variables: map[string]any{}, Extensions: map[string]any{},
		}}, `{"type":"start","id":"1","payload":{"query":"q","variables":{},"extensions":{}}}`},
		{"stop", legacyws.Stop{ID: "1"}, `{"type":"stop","id":"1"}`},
		{"connection_terminate", legacyws.ConnectionTerminate{}, `{"type":"connection_terminate"}`},
		{"pointer to a message", &legacyws.ConnectionTerminate{}, `{"type":"connection_terminate"}`},
		{"connection_ack without payload", legacyws.ConnectionAck{}, `{"type":"connection_ack"}`},
		{"connection_ack with payload", legacyws.ConnectionAck{Payload: raw(`{"v":1}`)}, `{"type":"connection_ack","payload":{"v":1}}`},
		{"connection_error", legacyws.ConnectionError{Payload: raw(`{ "message": "no" }`)}, `{"type":"connection_error","payload":{"message":"no"}}`},
		{"ka", legacyws.KeepAlive{}, `{"type":"ka"}`},
		{"data", legacyws.Data{ID: "1", Payload: raw(`{"data":{"a":1}}`)}, `{"type":"data","id":"1","payload":{"data":{"a":1}}}`},
		{"data payload is compacted", legacyws.Data{ID: "1", Payload: raw("{ \"data\" :\n null }")}, `{"type":"data","id":"1","payload":{"data":null}}`},
		{"error with an object", legacyws.Error{ID: "1", Payload: raw(`{"message":"a"}`)}, `{"type":"error","id":"1","payload":{"message":"a"}}`},
		{"error with an array", legacyws.Error{ID: "1", Payload: raw(`[{"message":"a"}, {"message":"b"}]`)}, `{"type":"error","id":"1","payload":[{"message":"a"},{"message":"b"}]}`},
		{"error without id", legacyws.Error{Payload: raw(`{"message":"Invalid message type!"}`)}, `{"type":"error","payload":{"message":"Invalid message type!"}}`},
		{"complete", legacyws.Complete{ID: "1"}, `{"type":"complete","id":"1"}`},
		{"id is escaped", legacyws.Complete{ID: "a\"b\\c\n<>&\u2028\x01"}, `{"type":"complete","id":"a\"b\\c\n<>&\u2028\u0001"}`},
		{"invalid UTF-8 in an id becomes U+FFFD", legacyws.Stop{ID: "a\xffb"}, `{"type":"stop","id":"a\ufffdb"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := legacyws.Encode(tt.msg)
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
		msg  legacyws.Message
		want string // substring of the error
	}{
		{"nil message", nil, "nil message"},
		{"nil pointer", (*legacyws.KeepAlive)(nil), "nil *legacyws.KeepAlive"},
		{"connection_init payload is a string", legacyws.ConnectionInit{Payload: raw(`"x"`)}, "payload must be an object or null, got string"},
		{"connection_ack payload is not JSON", legacyws.ConnectionAck{Payload: raw(`{`)}, "invalid JSON"},
		{"connection_ack payload is white space", legacyws.ConnectionAck{Payload: raw(` `)}, "invalid JSON"},
		{"start without id", legacyws.Start{Payload: protocol.Request{Query: "q"}}, "id must not be empty"},
		{"start variables cannot be encoded", legacyws.Start{ID: "1", Payload: protocol.Request{Query: "q", Variables: map[string]any{"f": func() {}}}}, "variables"},
		{"start variables hold NaN", legacyws.Start{ID: "1", Payload: protocol.Request{Query: "q", Variables: map[string]any{"n": math.NaN()}}}, "variables"},
		{"start extensions cannot be encoded", legacyws.Start{ID: "1", Payload: protocol.Request{Query: "q", Extensions: map[string]any{"c": make(chan int)}}}, "extensions"},
		{"stop without id", legacyws.Stop{}, "id must not be empty"},
		{"connection_error without payload", legacyws.ConnectionError{}, "must be an object, got nothing"},
		{"connection_error payload is an array", legacyws.ConnectionError{Payload: raw(`[]`)}, "must be an object, got array"},
		{"data without id", legacyws.Data{Payload: raw(`{}`)}, "id must not be empty"},
		{"data without payload", legacyws.Data{ID: "1"}, "must be an object, got nothing"},
		{"data payload is null", legacyws.Data{ID: "1", Payload: raw(`null`)}, "must be an object, got null"},
		{"data payload is not JSON", legacyws.Data{ID: "1", Payload: raw(`{"a":}`)}, "invalid JSON"},
		{"error without payload", legacyws.Error{ID: "1"}, "got nothing"},
		{"error payload is a string", legacyws.Error{ID: "1", Payload: raw(`"x"`)}, "must be an object or an array of objects, got string"},
		{"error payload is an empty array", legacyws.Error{ID: "1", Payload: raw(`[]`)}, "must not be an empty array"},
		{"error element is a string", legacyws.Error{ID: "1", Payload: raw(`[{"message":"a"},"x"]`)}, "payload element 1 must be an object, got string"},
		{"error payload is not JSON", legacyws.Error{Payload: raw(`[`)}, "invalid JSON"},
		{"complete without id", legacyws.Complete{}, "id must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := legacyws.Encode(tt.msg)
			if err == nil {
				t.Fatalf("Encode(%#v) = %s, want an error", tt.msg, got)
			}
			if got != nil {
				t.Errorf("Encode returned %q with an error", got)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "legacyws: encode") {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// roundTripMessages holds every message type, with awkward ids and payloads.
var roundTripMessages = []legacyws.Message{
	legacyws.ConnectionInit{},
	legacyws.ConnectionInit{Payload: raw(`{"authToken":"a\"b","n":[1,2.5,-3e-7],"o":{}}`)},
	legacyws.Start{ID: "1", Payload: protocol.Request{Query: "{ a }"}},
	legacyws.Start{ID: "op \"quoted\" \\ é 😀 \x00\x1f", Payload: protocol.Request{
		Query:         "subscription S($x: [Int]) {\n  s(x: $x)\n}",
		OperationName: "S",
		Variables:     map[string]any{"x": []any{1.0, 2.0}, "y": map[string]any{"z": nil, "h": "<&>"}, "big": 1e300},
		Extensions:    map[string]any{},
	}},
	legacyws.Stop{ID: "1"},
	legacyws.Stop{ID: "\u2029"},
	legacyws.ConnectionTerminate{},
	legacyws.ConnectionAck{},
	legacyws.ConnectionAck{Payload: raw(`{"connectionId":"x"}`)},
	legacyws.ConnectionError{Payload: raw(`{"message":"Prohibited connection!"}`)},
	legacyws.KeepAlive{},
	legacyws.Data{ID: "1", Payload: raw(`{"data":{"a":"\u003c"}}`)},
	legacyws.Data{ID: "\t", Payload: raw(`{}`)},
	legacyws.Error{ID: "1", Payload: raw(`{"message":"a"}`)},
	legacyws.Error{ID: "2", Payload: raw(`[{"message":"a","path":["x",0]},{"message":null}]`)},
	legacyws.Error{Payload: raw(`{"message":"Invalid message type!","errors":[{"message":"Invalid message type!"}]}`)},
	legacyws.Complete{ID: "1"},
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range roundTripMessages {
		enc, err := legacyws.Encode(m)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", m, err)
		}
		var back legacyws.Message
		switch m.(type) {
		case legacyws.ClientMessage:
			back, err = legacyws.DecodeClient(enc)
		case legacyws.ServerMessage:
			back, err = legacyws.DecodeServer(enc)
		default:
			t.Fatalf("%T is neither a client nor a server message", m)
		}
		if err != nil {
			t.Fatalf("decode(%s): %v", enc, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Errorf("decode(Encode(m)) changed the message\n got %#v\nwant %#v", back, m)
		}
	}
}

// TestDirection pins which message types each side may send: in the legacy
// protocol no message goes both ways.
func TestDirection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg            legacyws.Message
		client, server bool
	}{
		{legacyws.ConnectionInit{}, true, false},
		{legacyws.Start{}, true, false},
		{legacyws.Stop{}, true, false},
		{legacyws.ConnectionTerminate{}, true, false},
		{legacyws.ConnectionAck{}, false, true},
		{legacyws.ConnectionError{}, false, true},
		{legacyws.KeepAlive{}, false, true},
		{legacyws.Data{}, false, true},
		{legacyws.Error{}, false, true},
		{legacyws.Complete{}, false, true},
	}
	for _, tt := range tests {
		_, client := tt.msg.(legacyws.ClientMessage)
		_, server := tt.msg.(legacyws.ServerMessage)
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
