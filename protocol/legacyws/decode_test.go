package legacyws_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestDecodeClientValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  legacyws.ClientMessage
	}{
		{"connection_init without payload", `{"type":"connection_init"}`, legacyws.ConnectionInit{}},
		{"connection_init with payload", `{"type":"connection_init","payload":{"authToken":"t"}}`,
			legacyws.ConnectionInit{Payload: raw(`{"authToken":"t"}`)}},
		{"connection_init payload is compacted", "{\"type\":\"connection_init\",\"payload\": {\n \"a\" : [1, 2],\t\"b\":\" x \"} }",
			legacyws.ConnectionInit{Payload: raw(`{"a":[1,2],"b":" x "}`)}},
		{"connection_init null payload", `{"type":"connection_init","payload":null}`, legacyws.ConnectionInit{}},
		{"connection_init empty payload", `{"type":"connection_init","payload":{}}`, legacyws.ConnectionInit{Payload: raw(`{}`)}},
		{"start with query only", `{"id":"1","type":"start","payload":{"query":"{ a }"}}`,
			legacyws.Start{ID: "1", Payload: protocol.Request{Query: "{ a }"}}},
		{"start with every field", `{"id":"op-1","type":"start","payload":{"operationName":"A","query":"query A($x: Int) { a(x: $x) }","variables":{"x":1,"y":[true,null,"s"]},"extensions":{"persistedQuery":{"version":1}}}}`,
			legacyws.Start{ID: "op-1", Payload: protocol.Request{
				Query:         "query A($x: Int) { a(x: $x) }",
				OperationName: "A",
				Variables:     map[string]any{"x": 1.0, "y": []any{true, nil, "s"}},
				Extensions:    map[string]any{"persistedQuery": map[string]any{"version": 1.0}},
			}}},
		{"start with null optional fields", `{"type":"start","id":"1","payload":{"query":"{ a }","operationName":null,"variables":null,"extensions":null}}`,
			legacyws.Start{ID: "1", Payload: protocol.Request{Query: "{ a }"}}},
		{"start with empty variables", `{"type":"start","id":"1","payload":{"query":"{ a }","variables":{}}}`,
			legacyws.Start{ID: "1", Payload: protocol.Request{Query: "{ a }", Variables: map[string]any{}}}},
		{"start with empty query string", `{"type":"start","id":"1","payload":{"query":""}}`,
			legacyws.Start{ID: "1", Payload: protocol.Request{}}},
		{"start with escapes in id and query", `{"type":"start","id":"a\"b\\c\u00e9\n","payload":{"query":"{ a(s: \"\u2603\") }"}}`,
			legacyws.Start{ID: "a\"b\\c\u00e9\n", Payload: protocol.Request{Query: `{ a(s: "☃") }`}}},
		{"stop", `{"id":"1","type":"stop"}`, legacyws.Stop{ID: "1"}},
		{"stop ignores a payload", `{"type":"stop","id":"1","payload":[1]}`, legacyws.Stop{ID: "1"}},
		{"connection_terminate", `{"type":"connection_terminate"}`, legacyws.ConnectionTerminate{}},
		{"connection_terminate with null payload", `{"type":"connection_terminate","payload":null}`, legacyws.ConnectionTerminate{}},
		{"connection_terminate ignores anything else", `{"type":"connection_terminate","id":5,"payload":"x"}`, legacyws.ConnectionTerminate{}},
		{"unknown members are ignored", `{"type":"start","id":"1","extra":{"deep":[1]},"payload":{"query":"{ a }","other":1}}`,
			legacyws.Start{ID: "1", Payload: protocol.Request{Query: "{ a }"}}},
		{"type spelled with an escape", `{"type":"st\u0061rt","id":"1","payload":{"query":"q"}}`,
			legacyws.Start{ID: "1", Payload: protocol.Request{Query: "q"}}},
		{"the last duplicate member wins", `{"type":"start","type":"stop","id":"2"}`, legacyws.Stop{ID: "2"}},
		{"member names are case-sensitive", `{"type":"stop","Type":"data","ID":1,"id":"3"}`, legacyws.Stop{ID: "3"}},
		{"white space around the object", " \r\n\t{\"type\":\"connection_terminate\"}\n ", legacyws.ConnectionTerminate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := legacyws.DecodeClient([]byte(tt.frame))
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
func decodeErrorOf(t *testing.T, err error) *legacyws.DecodeError {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	de, ok := errors.AsType[*legacyws.DecodeError](err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	if de.Reason == "" || strings.ContainsAny(de.Reason, "\r\n") {
		t.Fatalf("reason %q is not one non-empty line", de.Reason)
	}
	if !strings.HasPrefix(err.Error(), "legacyws: invalid message: ") {
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
		wantID   string // DecodeError.ID
		want     string // substring of the reason
	}{
		{"empty frame", ``, "", "", "message is empty"},
		{"white space only", "  \n", "", "", "not valid JSON"},
		{"invalid UTF-8", "{\"type\":\"stop\",\"id\":\"\xff\"}", "", "", "not valid UTF-8"},
		{"binary garbage", "\x00\x01\x02\xfe\xff", "", "", "not valid UTF-8"},
		{"not JSON", `not json`, "", "", "not valid JSON: invalid character 'o' in literal null (expecting 'u')"},
		{"truncated object", `{"type":"stop","id":"1"`, "", "", "not valid JSON"},
		{"trailing data", `{"type":"stop","id":"1"}{}`, "", "", "not valid JSON"},
		{"deep nesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "", "", "exceeded max depth"},
		{"array", `[{"type":"stop","id":"1"}]`, "", "", "must be a JSON object, got array"},
		{"string", `"start"`, "", "", "must be a JSON object, got string"},
		{"number", `42`, "", "", "must be a JSON object, got number"},
		{"boolean", `true`, "", "", "must be a JSON object, got boolean"},
		{"null", `null`, "", "", "must be a JSON object, got null"},
		{"no type", `{"id":"1"}`, "", "1", `message has no "type"`},
		{"type in other case", `{"Type":"stop","id":"1"}`, "", "1", `message has no "type"`},
		{"type is a number", `{"type":1}`, "", "", `"type" must be a string, got number`},
		{"type is null", `{"type":null,"id":"x"}`, "", "x", `"type" must be a string, got null`},
		{"type is empty", `{"type":""}`, "", "", `"type" is empty`},
		{"unknown type", `{"type":"bogus","id":"7"}`, "", "7", `unknown message type "bogus"`},
		{"type is case-sensitive", `{"type":"START","id":"1"}`, "", "1", `unknown message type "START"`},
		{"long unknown type is shortened", `{"type":"` + strings.Repeat("x", 500) + `"}`, "", "", `unknown message type "` + strings.Repeat("x", 32) + `"...`},
		{"predecessor init", `{"type":"init","payload":{}}`, "", "", `unknown message type "init"`},
		{"predecessor subscription_start", `{"type":"subscription_start","id":"1","query":"q"}`, "", "1", `unknown message type "subscription_start"`},
		{"graphql-transport-ws subscribe", `{"type":"subscribe","id":"1","payload":{"query":"q"}}`, "", "1", `unknown message type "subscribe"`},
		{"data from a client", `{"type":"data","id":"8","payload":{}}`, "data", "8", `"data" is a server message, a client may not send it`},
		{"error from a client", `{"type":"error","id":"1","payload":{"message":"x"}}`, "error", "1", `"error" is a server message`},
		{"complete from a client", `{"type":"complete","id":"1"}`, "complete", "1", `"complete" is a server message`},
		{"connection_ack from a client", `{"type":"connection_ack"}`, "connection_ack", "", `"connection_ack" is a server message`},
		{"ka from a client", `{"type":"ka"}`, "ka", "", `"ka" is a server message`},
		{"connection_error from a client", `{"type":"connection_error","payload":{}}`, "connection_error", "", `"connection_error" is a server message`},
		{"connection_init payload is a string", `{"type":"connection_init","payload":"token"}`, "connection_init", "", `"connection_init" message "payload" must be an object or null, got string`},
		{"connection_init payload is an array", `{"type":"connection_init","payload":[]}`, "connection_init", "", `"payload" must be an object or null, got array`},
		{"connection_init payload is false", `{"type":"connection_init","payload":false}`, "connection_init", "", `"payload" must be an object or null, got boolean`},
		{"start without id", `{"type":"start","payload":{"query":"{ a }"}}`, "start", "", `"start" message has no "id"`},
		{"start id is a number", `{"type":"start","id":1,"payload":{"query":"{ a }"}}`, "start", "", `"start" message "id" must be a string, got number`},
		{"start id is null", `{"type":"start","id":null,"payload":{"query":"{ a }"}}`, "start", "", `"id" must be a string, got null`},
		{"start id is empty", `{"type":"start","id":"","payload":{"query":"{ a }"}}`, "start", "", `"start" message "id" must not be empty`},
		{"start without payload", `{"id":"9","type":"start"}`, "start", "9", `"start" message has no "payload"`},
		{"start payload is null", `{"type":"start","id":"1","payload":null}`, "start", "1", `"payload" must be an object, got null`},
		{"start payload is a string", `{"type":"start","id":"1","payload":"{ a }"}`, "start", "1", `"payload" must be an object, got string`},
		{"start without query", `{"type":"start","id":"1","payload":{}}`, "start", "1", `"start" payload has no "query"`},
		{"start query is null", `{"type":"start","id":"1","payload":{"query":null}}`, "start", "1", `"query" must be a string, got null`},
		{"start query is a document", `{"type":"start","id":"1","payload":{"query":{"kind":"Document"}}}`, "start", "1", `"query" must be a string, got object`},
		{"start variables is an array", `{"type":"start","id":"1","payload":{"query":"q","variables":[]}}`, "start", "1", `"variables" must be an object or null, got array`},
		{"start variables is a string", `{"type":"start","id":"1","payload":{"query":"q","variables":"{}"}}`, "start", "1", `"variables" must be an object or null, got string`},
		{"start variables overflow float64", `{"type":"start","id":"1","payload":{"query":"q","variables":{"n":1e400}}}`, "start", "1", `"variables" cannot be decoded`},
		{"start operationName is a number", `{"type":"start","id":"1","payload":{"query":"q","operationName":1}}`, "start", "1", `"operationName" must be a string or null, got number`},
		{"start extensions is an array", `{"type":"start","id":"1","payload":{"query":"q","extensions":[1]}}`, "start", "1", `"extensions" must be an object or null, got array`},
		{"start extensions overflow float64", `{"type":"start","id":"1","payload":{"query":"q","extensions":{"n":-1e999}}}`, "start", "1", `"extensions" cannot be decoded`},
		{"stop without id", `{"type":"stop"}`, "stop", "", `"stop" message has no "id"`},
		{"stop id is empty", `{"type":"stop","id":""}`, "stop", "", `"stop" message "id" must not be empty`},
		{"stop id is an array", `{"type":"stop","id":["1"]}`, "stop", "", `"id" must be a string, got array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := legacyws.DecodeClient([]byte(tt.frame))
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
			if de.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", de.ID, tt.wantID)
			}
		})
	}
}

func TestDecodeServerValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  legacyws.ServerMessage
	}{
		{"connection_ack without payload", `{"type":"connection_ack"}`, legacyws.ConnectionAck{}},
		{"connection_ack with payload", `{"type":"connection_ack","payload":{"v": 1}}`, legacyws.ConnectionAck{Payload: raw(`{"v":1}`)}},
		{"connection_ack null payload", `{"type":"connection_ack","payload":null}`, legacyws.ConnectionAck{}},
		{"connection_error", `{"type":"connection_error","payload":{"message":"Prohibited connection!"}}`,
			legacyws.ConnectionError{Payload: raw(`{"message":"Prohibited connection!"}`)}},
		{"connection_error with a null id", `{"type":"connection_error","id":null,"payload":{"message":"x"}}`,
			legacyws.ConnectionError{Payload: raw(`{"message":"x"}`)}},
		{"ka", `{"type":"ka"}`, legacyws.KeepAlive{}},
		{"ka ignores anything else", `{"type":"ka","id":"1","payload":[]}`, legacyws.KeepAlive{}},
		{"data", `{"type":"data","id":"1","payload":{"data":{"a":1}}}`, legacyws.Data{ID: "1", Payload: raw(`{"data":{"a":1}}`)}},
		{"data payload is compacted", `{"type":"data","id":"1","payload":{ "data" : null, "errors" : [ ] }}`, legacyws.Data{ID: "1", Payload: raw(`{"data":null,"errors":[]}`)}},
		{"error with an object", `{"type":"error","id":"4","payload":{"message":"Syntax Error"}}`,
			legacyws.Error{ID: "4", Payload: raw(`{"message":"Syntax Error"}`)}},
		{"error with an array", `{"type":"error","id":"1","payload":[ {"message": "a"}, {"message":"b"} ]}`,
			legacyws.Error{ID: "1", Payload: raw(`[{"message":"a"},{"message":"b"}]`)}},
		{"error without id", `{"type":"error","payload":{"message":"Invalid message type!"}}`,
			legacyws.Error{Payload: raw(`{"message":"Invalid message type!"}`)}},
		{"error with an empty id", `{"type":"error","id":"","payload":{}}`, legacyws.Error{Payload: raw(`{}`)}},
		{"error with a null id", `{"type":"error","id":null,"payload":{"message":"x"}}`, legacyws.Error{Payload: raw(`{"message":"x"}`)}},
		{"error with a number id", `{"type":"error","id":5,"payload":{"message":"x"}}`, legacyws.Error{Payload: raw(`{"message":"x"}`)}},
		{"complete", `{"type":"complete","id":"x"}`, legacyws.Complete{ID: "x"}},
		{"complete with null payload", `{"type":"complete","id":"1","payload":null}`, legacyws.Complete{ID: "1"}},
		{"unknown members are ignored", `{"type":"data","id":"1","payload":{},"extra":true}`, legacyws.Data{ID: "1", Payload: raw(`{}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := legacyws.DecodeServer([]byte(tt.frame))
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
		{"unknown type", `{"type":"next","id":"1"}`, "", `unknown message type "next"`},
		{"connection_init from a server", `{"type":"connection_init"}`, "connection_init", `"connection_init" is a client message`},
		{"start from a server", `{"type":"start","id":"1","payload":{"query":"q"}}`, "start", `"start" is a client message`},
		{"stop from a server", `{"type":"stop","id":"1"}`, "stop", `"stop" is a client message`},
		{"connection_terminate from a server", `{"type":"connection_terminate"}`, "connection_terminate", `"connection_terminate" is a client message`},
		{"connection_ack payload is a string", `{"type":"connection_ack","payload":"ok"}`, "connection_ack", `"connection_ack" message "payload" must be an object or null, got string`},
		{"connection_error without payload", `{"type":"connection_error"}`, "connection_error", `"connection_error" message has no "payload"`},
		{"connection_error payload is a string", `{"type":"connection_error","payload":"no"}`, "connection_error", `"connection_error" message "payload" must be an object, got string`},
		{"data without id", `{"type":"data","payload":{}}`, "data", `"data" message has no "id"`},
		{"data id is empty", `{"type":"data","id":"","payload":{}}`, "data", `"data" message "id" must not be empty`},
		{"data id is a number", `{"type":"data","id":7,"payload":{}}`, "data", `"data" message "id" must be a string, got number`},
		{"data without payload", `{"type":"data","id":"1"}`, "data", `"data" message has no "payload"`},
		{"data payload is null", `{"type":"data","id":"1","payload":null}`, "data", `"data" message "payload" must be an object, got null`},
		{"error without payload", `{"type":"error","id":"1"}`, "error", `"error" message has no "payload"`},
		{"error payload is a string", `{"type":"error","id":"1","payload":"bad"}`, "error", `"payload" must be an object or an array of objects, got string`},
		{"error payload is null", `{"type":"error","id":"1","payload":null}`, "error", `got null`},
		{"error payload is empty", `{"type":"error","id":"1","payload":[]}`, "error", `"payload" must not be an empty array`},
		{"error element is a string", `{"type":"error","id":"1","payload":["bad"]}`, "error", `"payload" element 0 must be an object, got string`},
		{"error element is null", `{"type":"error","id":"1","payload":[{"message":"a"},null]}`, "error", `element 1 must be an object, got null`},
		{"complete without id", `{"type":"complete"}`, "complete", `"complete" message has no "id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := legacyws.DecodeServer([]byte(tt.frame))
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
	_, err := legacyws.DecodeClient([]byte(`{"type":`))
	if _, ok := errors.AsType[*json.SyntaxError](err); !ok {
		t.Fatalf("error %v does not wrap a *json.SyntaxError", err)
	}
	_, err = legacyws.DecodeClient([]byte(`{"type":"start","id":"1","payload":{"query":"q","variables":{"n":1e999}}}`))
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
		t.Fatalf("error %v does not wrap a *json.UnmarshalTypeError", err)
	}
	_, err = legacyws.DecodeClient([]byte(`{"type":"data"}`))
	if de := decodeErrorOf(t, err); de.Err != nil {
		t.Fatalf("a protocol violation unwraps to %v, want nil", de.Err)
	}
}

// TestErrorErrors checks Error.Errors against the reference client's
// formatErrors: an array as it is, "errors" before "message", JavaScript
// truthiness, and "Unknown error" for anything else.
func TestErrorErrors(t *testing.T) {
	t.Parallel()
	unknown := []json.RawMessage{raw(`{"message":"Unknown error"}`)}
	tests := []struct {
		name    string
		payload string
		want    []json.RawMessage
	}{
		{"one error as an object", `{"message":"a","path":["x"]}`, []json.RawMessage{raw(`{"message":"a","path":["x"]}`)}},
		{"array", `[{"message":"a"}, {"message":"b"}]`, []json.RawMessage{raw(`{"message":"a"}`), raw(`{"message":"b"}`)}},
		{"empty array", `[]`, []json.RawMessage{}},
		{"errors before message", `{"message":"a","errors":[{"message":"a"},{"message":"b"}]}`,
			[]json.RawMessage{raw(`{"message":"a"}`), raw(`{"message":"b"}`)}},
		{"errors of errors", `{"errors":{"errors":[{"message":"deep"}]}}`, []json.RawMessage{raw(`{"message":"deep"}`)}},
		{"errors holding one error object", `{"errors":{"message":"one"}}`, []json.RawMessage{raw(`{"message":"one"}`)}},
		{"falsy errors falls back to message", `{"errors":null,"message":"m"}`, []json.RawMessage{raw(`{"errors":null,"message":"m"}`)}},
		{"false errors", `{"errors":false,"message":"m"}`, []json.RawMessage{raw(`{"errors":false,"message":"m"}`)}},
		{"zero errors", `{"errors":-0.0,"message":"m"}`, []json.RawMessage{raw(`{"errors":-0.0,"message":"m"}`)}},
		{"empty string errors", `{"errors":"","message":"m"}`, []json.RawMessage{raw(`{"errors":"","message":"m"}`)}},
		{"truthy string errors", `{"errors":"x","message":"m"}`, unknown},
		{"empty message", `{"message":""}`, unknown},
		{"null message", `{"message":null}`, unknown},
		{"number message", `{"message":1}`, []json.RawMessage{raw(`{"message":1}`)}},
		{"true message", `{"message":true}`, []json.RawMessage{raw(`{"message":true}`)}},
		{"empty object", `{}`, unknown},
		{"nothing", ``, unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := legacyws.Error{ID: "1", Payload: raw(tt.payload)}.Errors()
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Errors() of %s\n got %s\nwant %s", tt.payload, got, tt.want)
			}
		})
	}
}
