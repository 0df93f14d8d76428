package transportws_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/transportws"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestDecodeClientValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  transportws.ClientMessage
	}{
		{"connection_init without payload", `{"type":"connection_init"}`, transportws.ConnectionInit{}},
		{"connection_init with payload", `{"type":"connection_init","payload":{"token":"t"}}`,
			transportws.ConnectionInit{Payload: raw(`{"token":"t"}`)}},
		{"connection_init payload is compacted", "{\"type\":\"connection_init\",\"payload\": {\n \"a\" : [1, 2],\t\"b\":\" x \"} }",
			transportws.ConnectionInit{Payload: raw(`{"a":[1,2],"b":" x "}`)}},
		{"connection_init null payload", `{"type":"connection_init","payload":null}`, transportws.ConnectionInit{}},
		{"connection_init empty object payload", `{"type":"connection_init","payload":{}}`,
			transportws.ConnectionInit{Payload: raw(`{}`)}},
		{"ping without payload", `{"type":"ping"}`, transportws.Ping{}},
		{"ping with payload", `{"type":"ping","payload":{"n":1}}`, transportws.Ping{Payload: raw(`{"n":1}`)}},
		{"ping null payload", `{"type":"ping","payload":null}`, transportws.Ping{}},
		{"pong without payload", `{"type":"pong"}`, transportws.Pong{}},
		{"pong with payload", `{"type":"pong","payload":{"n":1}}`, transportws.Pong{Payload: raw(`{"n":1}`)}},
		{"subscribe with query only", `{"type":"subscribe","id":"1","payload":{"query":"{ a }"}}`,
			transportws.Subscribe{ID: "1", Payload: protocol.Request{Query: "{ a }"}}},
		{"subscribe with every field", `{"id":"op-1","type":"subscribe","payload":{"operationName":"A","query":"query A($x: Int) { a(x: $x) }","variables":{"x":1,"y":[true,null,"s"]},"extensions":{"persistedQuery":{"version":1}}}}`,
			transportws.Subscribe{ID: "op-1", Payload: protocol.Request{
				Query:         "query A($x: Int) { a(x: $x) }",
				OperationName: "A",
				Variables:     map[string]any{"x": 1.0, "y": []any{true, nil, "s"}},
				Extensions:    map[string]any{"persistedQuery": map[string]any{"version": 1.0}},
			}}},
		{"subscribe with null optional fields", `{"type":"subscribe","id":"1","payload":{"query":"{ a }","operationName":null,"variables":null,"extensions":null}}`,
			transportws.Subscribe{ID: "1", Payload: protocol.Request{Query: "{ a }"}}},
		{"subscribe with empty variables", `{"type":"subscribe","id":"1","payload":{"query":"{ a }","variables":{}}}`,
			transportws.Subscribe{ID: "1", Payload: protocol.Request{Query: "{ a }", Variables: map[string]any{}}}},
		{"subscribe with empty query string", `{"type":"subscribe","id":"1","payload":{"query":""}}`,
			transportws.Subscribe{ID: "1", Payload: protocol.Request{}}},
		{"subscribe with escapes in id and query", `{"type":"subscribe","id":"a\"b\\c\u00e9\n","payload":{"query":"{ a(s: \"\u2603\") }"}}`,
			transportws.Subscribe{ID: "a\"b\\c\u00e9\n", Payload: protocol.Request{Query: `{ a(s: "☃") }`}}},
		{"complete", `{"type":"complete","id":"1"}`, transportws.Complete{ID: "1"}},
		{"complete ignores a payload", `{"type":"complete","id":"1","payload":[1]}`, transportws.Complete{ID: "1"}},
		{"unknown members are ignored", `{"type":"subscribe","id":"1","extra":{"deep":[1]},"payload":{"query":"{ a }","other":1}}`,
			transportws.Subscribe{ID: "1", Payload: protocol.Request{Query: "{ a }"}}},
		{"id on ping is ignored", `{"type":"ping","id":5}`, transportws.Ping{}},
		{"type spelled with an escape", `{"type":"p\u0069ng"}`, transportws.Ping{}},
		{"the last duplicate member wins", `{"type":"pong","type":"ping"}`, transportws.Ping{}},
		{"member names are case-sensitive", `{"type":"ping","Type":"next","TYPE":1}`, transportws.Ping{}},
		{"white space around the object", " \r\n\t{\"type\":\"ping\"}\n ", transportws.Ping{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := transportws.DecodeClient([]byte(tt.frame))
			if err != nil {
				t.Fatalf("DecodeClient(%s): %v", tt.frame, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DecodeClient(%s)\n got %#v\nwant %#v", tt.frame, got, tt.want)
			}
		})
	}
}

// decodeErrorOf checks that err is a one-line *DecodeError and returns it.
func decodeErrorOf(t *testing.T, err error) *transportws.DecodeError {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	de, ok := errors.AsType[*transportws.DecodeError](err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	if de.Reason == "" || strings.ContainsAny(de.Reason, "\r\n") {
		t.Fatalf("reason %q is not one non-empty line", de.Reason)
	}
	if !strings.HasPrefix(err.Error(), "transportws: invalid message: ") {
		t.Fatalf("error %q lacks the package prefix", err)
	}
	return de
}

func TestDecodeClientInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		frame    string
		wantType string // DecodeError.Type
		want     string // substring of the reason
	}{
		{"empty frame", ``, "", "message is empty"},
		{"white space only", "  \n", "", "not valid JSON"},
		{"invalid UTF-8", "{\"type\":\"ping\",\"x\":\"\xff\"}", "", "not valid UTF-8"},
		{"binary garbage", "\x00\x01\x02\xfe\xff", "", "not valid UTF-8"},
		{"not JSON", `hello`, "", "not valid JSON: invalid character 'h'"},
		{"truncated object", `{"type":"ping"`, "", "not valid JSON"},
		{"trailing data", `{"type":"ping"}{}`, "", "not valid JSON"},
		{"deep nesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "", "exceeded max depth"},
		{"array", `[{"type":"ping"}]`, "", "must be a JSON object, got array"},
		{"string", `"ping"`, "", "must be a JSON object, got string"},
		{"number", `42`, "", "must be a JSON object, got number"},
		{"boolean", `true`, "", "must be a JSON object, got boolean"},
		{"null", `null`, "", "must be a JSON object, got null"},
		{"no type", `{"id":"1"}`, "", `message has no "type"`},
		{"type in other case", `{"Type":"ping"}`, "", `message has no "type"`},
		{"type is a number", `{"type":1}`, "", `"type" must be a string, got number`},
		{"type is null", `{"type":null}`, "", `"type" must be a string, got null`},
		{"type is an object", `{"type":{}}`, "", `"type" must be a string, got object`},
		{"type is empty", `{"type":""}`, "", `"type" is empty`},
		{"unknown type", `{"type":"start","id":"1"}`, "", `unknown message type "start"`},
		{"type is case-sensitive", `{"type":"PING"}`, "", `unknown message type "PING"`},
		{"long unknown type is shortened", `{"type":"` + strings.Repeat("x", 500) + `"}`, "", `unknown message type "` + strings.Repeat("x", 32) + `"...`},
		{"next from a client", `{"type":"next","id":"1","payload":{}}`, "next", `"next" is a server message`},
		{"error from a client", `{"type":"error","id":"1","payload":[{"message":"x"}]}`, "error", `"error" is a server message`},
		{"connection_ack from a client", `{"type":"connection_ack"}`, "connection_ack", `"connection_ack" is a server message`},
		{"connection_init payload is a string", `{"type":"connection_init","payload":"token"}`, "connection_init", `"connection_init" message "payload" must be an object or null, got string`},
		{"connection_init payload is an array", `{"type":"connection_init","payload":[]}`, "connection_init", `"payload" must be an object or null, got array`},
		{"connection_init payload is false", `{"type":"connection_init","payload":false}`, "connection_init", `"payload" must be an object or null, got boolean`},
		{"ping payload is a number", `{"type":"ping","payload":0}`, "ping", `"ping" message "payload" must be an object or null, got number`},
		{"pong payload is an array", `{"type":"pong","payload":[{}]}`, "pong", `"pong" message "payload" must be an object or null, got array`},
		{"subscribe without id", `{"type":"subscribe","payload":{"query":"{ a }"}}`, "subscribe", `"subscribe" message has no "id"`},
		{"subscribe id is a number", `{"type":"subscribe","id":1,"payload":{"query":"{ a }"}}`, "subscribe", `"subscribe" message "id" must be a string, got number`},
		{"subscribe id is null", `{"type":"subscribe","id":null,"payload":{"query":"{ a }"}}`, "subscribe", `"id" must be a string, got null`},
		{"subscribe id is empty", `{"type":"subscribe","id":"","payload":{"query":"{ a }"}}`, "subscribe", `"subscribe" message "id" must not be empty`},
		{"subscribe without payload", `{"type":"subscribe","id":"1"}`, "subscribe", `"subscribe" message has no "payload"`},
		{"subscribe payload is null", `{"type":"subscribe","id":"1","payload":null}`, "subscribe", `"payload" must be an object, got null`},
		{"subscribe payload is a string", `{"type":"subscribe","id":"1","payload":"{ a }"}`, "subscribe", `"payload" must be an object, got string`},
		{"subscribe without query", `{"type":"subscribe","id":"1","payload":{}}`, "subscribe", `"subscribe" payload has no "query"`},
		{"subscribe query is null", `{"type":"subscribe","id":"1","payload":{"query":null}}`, "subscribe", `"query" must be a string, got null`},
		{"subscribe query is an object", `{"type":"subscribe","id":"1","payload":{"query":{}}}`, "subscribe", `"query" must be a string, got object`},
		{"subscribe variables is an array", `{"type":"subscribe","id":"1","payload":{"query":"q","variables":[]}}`, "subscribe", `"variables" must be an object or null, got array`},
		{"subscribe variables is a string", `{"type":"subscribe","id":"1","payload":{"query":"q","variables":"{}"}}`, "subscribe", `"variables" must be an object or null, got string`},
		{"subscribe variables overflow float64", `{"type":"subscribe","id":"1","payload":{"query":"q","variables":{"n":1e400}}}`, "subscribe", `"variables" cannot be decoded`},
		{"subscribe operationName is a number", `{"type":"subscribe","id":"1","payload":{"query":"q","operationName":1}}`, "subscribe", `"operationName" must be a string or null, got number`},
		{"subscribe operationName is an object", `{"type":"subscribe","id":"1","payload":{"query":"q","operationName":{}}}`, "subscribe", `"operationName" must be a string or null, got object`},
		{"subscribe extensions is an array", `{"type":"subscribe","id":"1","payload":{"query":"q","extensions":[1]}}`, "subscribe", `"extensions" must be an object or null, got array`},
		{"subscribe extensions is a boolean", `{"type":"subscribe","id":"1","payload":{"query":"q","extensions":true}}`, "subscribe", `"extensions" must be an object or null, got boolean`},
		{"complete without id", `{"type":"complete"}`, "complete", `"complete" message has no "id"`},
		{"complete id is empty", `{"type":"complete","id":""}`, "complete", `"complete" message "id" must not be empty`},
		{"complete id is an array", `{"type":"complete","id":["1"]}`, "complete", `"id" must be a string, got array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := transportws.DecodeClient([]byte(tt.frame))
			if got != nil {
				t.Errorf("DecodeClient returned a message %#v with an error", got)
			}
			de := decodeErrorOf(t, err)
			if !strings.Contains(de.Reason, tt.want) {
				t.Errorf("reason %q does not mention %q", de.Reason, tt.want)
			}
			if de.Type != tt.wantType {
				t.Errorf("Type = %q, want %q", de.Type, tt.wantType)
			}
		})
	}
}

func TestDecodeServerValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  transportws.ServerMessage
	}{
		{"connection_ack without payload", `{"type":"connection_ack"}`, transportws.ConnectionAck{}},
		{"connection_ack with payload", `{"type":"connection_ack","payload":{"v": 1}}`, transportws.ConnectionAck{Payload: raw(`{"v":1}`)}},
		{"connection_ack null payload", `{"type":"connection_ack","payload":null}`, transportws.ConnectionAck{}},
		{"ping", `{"type":"ping","payload":{"t":1}}`, transportws.Ping{Payload: raw(`{"t":1}`)}},
		{"pong", `{"type":"pong"}`, transportws.Pong{}},
		{"next", `{"type":"next","id":"1","payload":{"data":{"a":1}}}`, transportws.Next{ID: "1", Payload: raw(`{"data":{"a":1}}`)}},
		{"next payload is compacted", `{"type":"next","id":"1","payload":{ "data" : null, "errors" : [ ] }}`, transportws.Next{ID: "1", Payload: raw(`{"data":null,"errors":[]}`)}},
		{"next with empty result", `{"type":"next","id":"1","payload":{}}`, transportws.Next{ID: "1", Payload: raw(`{}`)}},
		{"error with one error", `{"type":"error","id":"1","payload":[{"message":"bad"}]}`,
			transportws.Error{ID: "1", Payload: []json.RawMessage{raw(`{"message":"bad"}`)}}},
		{"error with several errors", `{"type":"error","id":"1","payload":[ {"message": "a", "path": ["x"]}, {"message":"b","locations":[{"line":1,"column":2}]} ]}`,
			transportws.Error{ID: "1", Payload: []json.RawMessage{raw(`{"message":"a","path":["x"]}`), raw(`{"message":"b","locations":[{"line":1,"column":2}]}`)}}},
		{"error whose message is null", `{"type":"error","id":"1","payload":[{"message":null}]}`,
			transportws.Error{ID: "1", Payload: []json.RawMessage{raw(`{"message":null}`)}}},
		{"complete", `{"type":"complete","id":"x"}`, transportws.Complete{ID: "x"}},
		{"unknown members are ignored", `{"type":"next","id":"1","payload":{},"extra":true}`, transportws.Next{ID: "1", Payload: raw(`{}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := transportws.DecodeServer([]byte(tt.frame))
			if err != nil {
				t.Fatalf("DecodeServer(%s): %v", tt.frame, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DecodeServer(%s)\n got %#v\nwant %#v", tt.frame, got, tt.want)
			}
		})
	}
}

func TestDecodeServerInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		frame    string
		wantType string
		want     string
	}{
		{"empty frame", ``, "", "message is empty"},
		{"not an object", `[]`, "", "must be a JSON object, got array"},
		{"unknown type", `{"type":"data","id":"1"}`, "", `unknown message type "data"`},
		{"connection_init from a server", `{"type":"connection_init"}`, "connection_init", `"connection_init" is a client message`},
		{"subscribe from a server", `{"type":"subscribe","id":"1","payload":{"query":"q"}}`, "subscribe", `"subscribe" is a client message`},
		{"connection_ack payload is a string", `{"type":"connection_ack","payload":"ok"}`, "connection_ack", `"connection_ack" message "payload" must be an object or null, got string`},
		{"next without id", `{"type":"next","payload":{}}`, "next", `"next" message has no "id"`},
		{"next id is empty", `{"type":"next","id":"","payload":{}}`, "next", `"next" message "id" must not be empty`},
		{"next id is a number", `{"type":"next","id":7,"payload":{}}`, "next", `"next" message "id" must be a string, got number`},
		{"next without payload", `{"type":"next","id":"1"}`, "next", `"next" message has no "payload"`},
		{"next payload is null", `{"type":"next","id":"1","payload":null}`, "next", `"next" message "payload" must be an object, got null`},
		{"next payload is an array", `{"type":"next","id":"1","payload":[]}`, "next", `"payload" must be an object, got array`},
		{"error without id", `{"type":"error","payload":[{"message":"x"}]}`, "error", `"error" message has no "id"`},
		{"error without payload", `{"type":"error","id":"1"}`, "error", `"error" message has no "payload"`},
		{"error payload is an object", `{"type":"error","id":"1","payload":{"message":"x"}}`, "error", `"payload" must be an array of GraphQL errors, got object`},
		{"error payload is null", `{"type":"error","id":"1","payload":null}`, "error", `"payload" must be an array of GraphQL errors, got null`},
		{"error payload is empty", `{"type":"error","id":"1","payload":[]}`, "error", `"payload" must not be an empty array`},
		{"error element is a string", `{"type":"error","id":"1","payload":["bad"]}`, "error", `"payload" element 0 must be an object, got string`},
		{"error element is null", `{"type":"error","id":"1","payload":[{"message":"a"},null]}`, "error", `element 1 must be an object, got null`},
		{"error element has no message", `{"type":"error","id":"1","payload":[{"msg":"a"}]}`, "error", `element 0 has no "message"`},
		{"complete without id", `{"type":"complete"}`, "complete", `"complete" message has no "id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := transportws.DecodeServer([]byte(tt.frame))
			if got != nil {
				t.Errorf("DecodeServer returned a message %#v with an error", got)
			}
			de := decodeErrorOf(t, err)
			if !strings.Contains(de.Reason, tt.want) {
				t.Errorf("reason %q does not mention %q", de.Reason, tt.want)
			}
			if de.Type != tt.wantType {
				t.Errorf("Type = %q, want %q", de.Type, tt.wantType)
			}
		})
	}
}

func TestDecodeErrorUnwrapsJSONError(t *testing.T) {
	t.Parallel()
	_, err := transportws.DecodeClient([]byte(`{"type":`))
	if _, ok := errors.AsType[*json.SyntaxError](err); !ok {
		t.Fatalf("error %v does not wrap a *json.SyntaxError", err)
	}
	_, err = transportws.DecodeClient([]byte(`{"type":"subscribe","id":"1","payload":{"query":"q","variables":{"n":1e999}}}`))
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
		t.Fatalf("error %v does not wrap a *json.UnmarshalTypeError", err)
	}
	_, err = transportws.DecodeClient([]byte(`{"type":"next"}`))
	if de := decodeErrorOf(t, err); de.Err != nil {
		t.Fatalf("a protocol violation unwraps to %v, want nil", de.Err)
	}
}

// TestDecodeFixtures decodes the frames in testdata/frames: files named
// client-* with DecodeClient, server-* with DecodeServer. They are shaped as
// the graphql-ws client and server send them (id before type, pretty
// payloads), so decoding and re-encoding must converge on the canonical form.
func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob(filepath.Join("testdata", "frames", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 8 {
		t.Fatalf("found %d fixtures in testdata/frames, want at least 8", len(paths))
	}
	for _, path := range paths {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			decode := func(b []byte) (transportws.Message, error) { return transportws.DecodeClient(b) }
			if strings.HasPrefix(name, "server-") {
				decode = func(b []byte) (transportws.Message, error) { return transportws.DecodeServer(b) }
			}
			m, err := decode(data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			enc, err := transportws.Encode(m)
			if err != nil {
				t.Fatalf("Encode(%#v): %v", m, err)
			}
			if !strings.HasPrefix(string(enc), `{"type":"`+m.Type()+`"`) {
				t.Errorf("Encode = %s, want type first", enc)
			}
			back, err := decode(enc)
			if err != nil {
				t.Fatalf("decode(%s): %v", enc, err)
			}
			if !reflect.DeepEqual(back, m) {
				t.Fatalf("re-encoding changed the message\n got %#v\nwant %#v", back, m)
			}
		})
	}
}
