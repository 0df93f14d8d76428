package transportws_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/transportws"
)

var (
	fresh = protocol.State{}
	acked = protocol.State{Acknowledged: true}
)

func send(frame string) protocol.Send { return protocol.Send{Frame: []byte(frame)} }

func closeWith(code transportws.CloseCode, reason string) protocol.Close {
	return protocol.Close{Code: int(code), Reason: reason}
}

func invalid(reason string) []protocol.Action {
	return []protocol.Action{closeWith(transportws.CloseBadRequest, "Invalid message received: "+reason)}
}

// describe renders actions for failure messages, frames as text.
func describe(actions []protocol.Action) string {
	var b strings.Builder
	for i, a := range actions {
		if i > 0 {
			b.WriteString(", ")
		}
		if s, ok := a.(protocol.Send); ok {
			fmt.Fprintf(&b, "Send(%s)", s.Frame)
			continue
		}
		fmt.Fprintf(&b, "%T%+v", a, a)
	}
	return "[" + b.String() + "]"
}

func TestServerReceive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		state protocol.State
		frame string
		want  []protocol.Action
	}{
		// connection_init
		{"connection_init", fresh, `{"type":"connection_init"}`,
			[]protocol.Action{protocol.Init{}}},
		{"connection_init with payload", fresh, `{"type":"connection_init","payload":{ "token": "t" }}`,
			[]protocol.Action{protocol.Init{Payload: raw(`{"token":"t"}`)}}},
		{"connection_init after ack", acked, `{"type":"connection_init"}`,
			[]protocol.Action{closeWith(transportws.CloseTooManyInitialisationRequests, "Too many initialisation requests")}},
		{"invalid connection_init after ack", acked, `{"type":"connection_init","payload":1}`,
			invalid(`"connection_init" message "payload" must be an object or null, got number`)},

		// ping and pong, in both states
		{"ping before ack", fresh, `{"type":"ping"}`, []protocol.Action{protocol.Ping{}}},
		{"ping after ack", acked, `{"type":"ping","payload":{"a":1}}`, []protocol.Action{protocol.Ping{Payload: raw(`{"a":1}`)}}},
		{"pong before ack", fresh, `{"type":"pong","payload":{"a":1}}`, []protocol.Action{protocol.Pong{Payload: raw(`{"a":1}`)}}},
		{"pong after ack", acked, `{"type":"pong"}`, []protocol.Action{protocol.Pong{}}},

		// subscribe
		{"subscribe before ack", fresh, `{"type":"subscribe","id":"1","payload":{"query":"{ a }"}}`,
			[]protocol.Action{
				send(`{"type":"error","id":"1","payload":[{"message":"Unauthorized"}]}`),
				closeWith(transportws.CloseUnauthorized, "Unauthorized"),
			}},
		{"subscribe before ack with an id needing escapes", fresh, `{"type":"subscribe","id":"a\"\\\u0001","payload":{"query":"{ a }"}}`,
			[]protocol.Action{
				send(`{"type":"error","id":"a\"\\\u0001","payload":[{"message":"Unauthorized"}]}`),
				closeWith(transportws.CloseUnauthorized, "Unauthorized"),
			}},
		{"subscribe after ack", acked, `{"type":"subscribe","id":"1","payload":{"query":"query Q($n: Int) { a(n: $n) }","operationName":"Q","variables":{"n":2},"extensions":{"e":true}}}`,
			[]protocol.Action{protocol.Start{ID: "1", Request: protocol.Request{
				Query: "query Q($n: Int) { a(n: $n) }", OperationName: "Q",
				Variables: map[string]any{"n": 2.0}, Extensions: map[string]any{"e": true},
			}}}},
		{"invalid subscribe before ack", fresh, `{"type":"subscribe","id":"","payload":{"query":"{ a }"}}`,
			invalid(`"subscribe" message "id" must not be empty`)},
		{"invalid subscribe after ack", acked, `{"type":"subscribe","id":"1","payload":{"query":1}}`,
			invalid(`"subscribe" payload "query" must be a string, got number`)},

		// complete, in both states
		{"complete before ack", fresh, `{"type":"complete","id":"1"}`, []protocol.Action{protocol.Stop{ID: "1"}}},
		{"complete after ack", acked, `{"type":"complete","id":"x\ny"}`, []protocol.Action{protocol.Stop{ID: "x\ny"}}},
		{"complete without id", acked, `{"type":"complete"}`, invalid(`"complete" message has no "id"`)},

		// server messages sent by a client
		{"next from a client", acked, `{"type":"next","id":"1","payload":{}}`,
			invalid(`"next" is a server message, a client may not send it`)},
		{"error from a client", acked, `{"type":"error","id":"1","payload":[{"message":"x"}]}`,
			invalid(`"error" is a server message, a client may not send it`)},
		{"connection_ack from a client", fresh, `{"type":"connection_ack"}`,
			invalid(`"connection_ack" is a server message, a client may not send it`)},

		// frames that are not messages
		{"empty frame", fresh, ``, invalid("message is empty")},
		{"empty frame after ack", acked, ``, invalid("message is empty")},
		{"binary garbage", fresh, "\x89PNG\r\n\x1a\n\x00\x00", invalid("message is not valid UTF-8")},
		{"not JSON", acked, `ping`, invalid("message is not valid JSON: invalid character 'p' looking for beginning of value")},
		{"JSON array", fresh, `[]`, invalid("message must be a JSON object, got array")},
		{"JSON string", acked, `"subscribe"`, invalid("message must be a JSON object, got string")},
		{"JSON null", fresh, `null`, invalid("message must be a JSON object, got null")},
		{"no type", acked, `{"id":"1"}`, invalid(`message has no "type"`)},
		{"unknown type", acked, `{"type":"start","id":"1","payload":{"query":"q"}}`, invalid(`unknown message type "start"`)},
		{"legacy connection_terminate", fresh, `{"type":"connection_terminate"}`, invalid(`unknown message type "connection_terminate"`)},
	}
	var srv transportws.Server
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := srv.Receive(tt.state, []byte(tt.frame))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Receive(%+v, %s)\n got %s\nwant %s", tt.state, tt.frame, describe(got), describe(tt.want))
			}
			checkActions(t, got)
		})
	}
}

// checkActions checks the invariants of every action list: not empty, at
// most one Close and only at the end, Send frames that a client can decode,
// close codes of the protocol with reasons that fit a close frame.
func checkActions(t *testing.T, actions []protocol.Action) {
	t.Helper()
	if len(actions) == 0 {
		t.Fatal("no actions")
	}
	for i, a := range actions {
		switch a := a.(type) {
		case protocol.Send:
			if _, err := transportws.DecodeServer(a.Frame); err != nil {
				t.Errorf("action %d sends a frame a client rejects: %v\n%s", i, err, a.Frame)
			}
		case protocol.Close:
			if i != len(actions)-1 {
				t.Errorf("Close is action %d of %d, not the last", i, len(actions))
			}
			if !isProtocolCode(a.Code) {
				t.Errorf("close code %d is not a graphql-transport-ws code", a.Code)
			}
			if len(a.Reason) > transportws.MaxCloseReason || !utf8.ValidString(a.Reason) {
				t.Errorf("close reason %q is %d bytes or invalid UTF-8", a.Reason, len(a.Reason))
			}
		case protocol.Start:
			if a.ID == "" {
				t.Errorf("Start with an empty id")
			}
		case protocol.Stop:
			if a.ID == "" {
				t.Errorf("Stop with an empty id")
			}
		}
	}
}

func isProtocolCode(code int) bool {
	switch transportws.CloseCode(code) {
	case transportws.CloseBadRequest, transportws.CloseUnauthorized, transportws.CloseForbidden,
		transportws.CloseSubprotocolNotAcceptable, transportws.CloseConnectionInitialisationTimeout,
		transportws.CloseSubscriberAlreadyExists, transportws.CloseTooManyInitialisationRequests,
		transportws.CloseInternalServerError:
		return true
	}
	return false
}

func TestServerOutcomes(t *testing.T) {
	t.Parallel()
	var srv transportws.Server
	longID := strings.Repeat("i", 200)
	tests := []struct {
		name string
		got  []protocol.Action
		want []protocol.Action
	}{
		{"Refuse", srv.Refuse(), []protocol.Action{closeWith(transportws.CloseForbidden, "Forbidden")}},
		{"Internal", srv.Internal(), []protocol.Action{closeWith(transportws.CloseInternalServerError, "Internal server error")}},
		{"Pong without payload", srv.Pong(nil), []protocol.Action{send(`{"type":"pong"}`)}},
		{"Pong with null payload", srv.Pong(raw(`null`)), []protocol.Action{send(`{"type":"pong"}`)}},
		{"Pong echoes the payload", srv.Pong(raw(`{ "t": 1 }`)), []protocol.Action{send(`{"type":"pong","payload":{"t":1}}`)}},
		{"Pong with a payload that is not an object", srv.Pong(raw(`"x"`)), srv.Internal()},
		{"Pong with invalid JSON", srv.Pong(raw(`{`)), srv.Internal()},
		{"Reject", srv.Reject("1", []json.RawMessage{raw(`{"message":"a"}`), raw(`{"message":"b","path":["x"]}`)}),
			[]protocol.Action{send(`{"type":"error","id":"1","payload":[{"message":"a"},{"message":"b","path":["x"]}]}`)}},
		{"Reject without errors", srv.Reject("1", nil),
			[]protocol.Action{send(`{"type":"error","id":"1","payload":[{"message":"Unknown error"}]}`)}},
		{"Reject with an empty error", srv.Reject("1", []json.RawMessage{raw(`{"message":"a"}`), nil}),
			[]protocol.Action{send(`{"type":"error","id":"1","payload":[{"message":"a"},{"message":"Unknown error"}]}`)}},
		{"Duplicate", srv.Duplicate("7"), []protocol.Action{
			send(`{"type":"error","id":"7","payload":[{"message":"Subscriber for 7 already exists"}]}`),
			closeWith(transportws.CloseSubscriberAlreadyExists, "Subscriber for 7 already exists"),
		}},
		{"Duplicate with an id needing escapes", srv.Duplicate(`"q"`), []protocol.Action{
			send(`{"type":"error","id":"\"q\"","payload":[{"message":"Subscriber for \"q\" already exists"}]}`),
			closeWith(transportws.CloseSubscriberAlreadyExists, `Subscriber for "q" already exists`),
		}},
		{"Duplicate with the longest id that fits", srv.Duplicate(strings.Repeat("i", 93)), []protocol.Action{
			send(`{"type":"error","id":"` + strings.Repeat("i", 93) + `","payload":[{"message":"Subscriber for ` + strings.Repeat("i", 93) + ` already exists"}]}`),
			closeWith(transportws.CloseSubscriberAlreadyExists, "Subscriber for "+strings.Repeat("i", 93)+" already exists"),
		}},
		{"Duplicate with an id one byte too long", srv.Duplicate(strings.Repeat("i", 94)), []protocol.Action{
			send(`{"type":"error","id":"` + strings.Repeat("i", 94) + `","payload":[{"message":"Subscriber for ` + strings.Repeat("i", 94) + ` already exists"}]}`),
			closeWith(transportws.CloseSubscriberAlreadyExists, "Subscriber already exists"),
		}},
		{"Duplicate with a very long id", srv.Duplicate(longID), []protocol.Action{
			send(`{"type":"error","id":"` + longID + `","payload":[{"message":"Subscriber for ` + longID + ` already exists"}]}`),
			closeWith(transportws.CloseSubscriberAlreadyExists, "Subscriber already exists"),
		}},
		{"Duplicate with an invalid UTF-8 id", srv.Duplicate("\xff"), []protocol.Action{
			send(`{"type":"error","id":"\ufffd","payload":[{"message":"Subscriber for \ufffd already exists"}]}`),
			closeWith(transportws.CloseSubscriberAlreadyExists, "Subscriber already exists"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Fatalf("\n got %s\nwant %s", describe(tt.got), describe(tt.want))
			}
			checkActions(t, tt.got)
		})
	}
}

func TestServerAccept(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		payload   json.RawMessage
		wantState protocol.State
		want      []protocol.Action
	}{
		{"without payload", nil, acked, []protocol.Action{send(`{"type":"connection_ack"}`)}},
		{"with null payload", raw(`null`), acked, []protocol.Action{send(`{"type":"connection_ack"}`)}},
		{"with payload", raw("{\n  \"v\": [1, 2]\n}"), acked, []protocol.Action{send(`{"type":"connection_ack","payload":{"v":[1,2]}}`)}},
		{"with an array payload", raw(`[1]`), fresh, transportws.Server{}.Internal()},
		{"with invalid JSON", raw(`{"v":`), fresh, transportws.Server{}.Internal()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state, got := transportws.Server{}.Accept(fresh, tt.payload)
			if state != tt.wantState {
				t.Errorf("state = %+v, want %+v", state, tt.wantState)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %s\nwant %s", describe(got), describe(tt.want))
			}
			checkActions(t, got)
		})
	}
}

func TestServerSubprotocol(t *testing.T) {
	t.Parallel()
	if got := (transportws.Server{}).Subprotocol(); got != "graphql-transport-ws" {
		t.Fatalf("Subprotocol() = %q", got)
	}
}

func TestCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code transportws.CloseCode
		num  int
		name string
	}{
		{transportws.CloseBadRequest, 4400, "BadRequest"},
		{transportws.CloseUnauthorized, 4401, "Unauthorized"},
		{transportws.CloseForbidden, 4403, "Forbidden"},
		{transportws.CloseSubprotocolNotAcceptable, 4406, "SubprotocolNotAcceptable"},
		{transportws.CloseConnectionInitialisationTimeout, 4408, "ConnectionInitialisationTimeout"},
		{transportws.CloseSubscriberAlreadyExists, 4409, "SubscriberAlreadyExists"},
		{transportws.CloseTooManyInitialisationRequests, 4429, "TooManyInitialisationRequests"},
		{transportws.CloseInternalServerError, 4500, "InternalServerError"},
		{transportws.CloseCode(1000), 1000, "CloseCode(1000)"},
	}
	for _, tt := range tests {
		if int(tt.code) != tt.num || tt.code.String() != tt.name {
			t.Errorf("code %d %q, want %d %q", int(tt.code), tt.code, tt.num, tt.name)
		}
	}
}

// TestCloseReasonsFit sends frames whose decode reasons are long and checks
// that the close reason is cut to fit, at a UTF-8 boundary.
func TestCloseReasonsFit(t *testing.T) {
	t.Parallel()
	frames := []string{
		`{"type":"` + strings.Repeat("é", 300) + `"}`,
		`{"type":"subscribe","id":"1","payload":{"query":"q","variables":{"n":1` + strings.Repeat("0", 500) + `}}}`,
		`{"type":"subscribe","id":"` + strings.Repeat("😀", 300) + `","payload":{"query":"q","operationName":7}}`,
		`{"type":"` + strings.Repeat("\\u00e9", 300) + `x"}`,
	}
	var srv transportws.Server
	for _, state := range []protocol.State{fresh, acked} {
		for _, frame := range frames {
			got := srv.Receive(state, []byte(frame))
			checkActions(t, got)
			c, ok := got[0].(protocol.Close)
			if len(got) != 1 || !ok || c.Code != int(transportws.CloseBadRequest) {
				t.Fatalf("Receive(%.40s...) = %s, want one Close 4400", frame, describe(got))
			}
			if !strings.HasPrefix(c.Reason, "Invalid message received: ") {
				t.Errorf("reason %q lacks the prefix", c.Reason)
			}
		}
	}
	// An id of the longest length allowed is carried whole by the error of a
	// subscribe before ack, while the close reason stays short.
	id := strings.Repeat("x", 256)
	got := srv.Receive(fresh, []byte(`{"type":"subscribe","id":"`+id+`","payload":{"query":"q"}}`))
	checkActions(t, got)
	m, err := transportws.DecodeServer(got[0].(protocol.Send).Frame)
	if err != nil || m.(transportws.Error).ID != id {
		t.Fatalf("error frame %v, %v does not carry the id", m, err)
	}
}

// TestLongOperationIDs: a client's operation id over 256 bytes is an invalid
// message (4400), whatever the message; the server's own messages are not
// bounded so.
func TestLongOperationIDs(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 257)
	var srv transportws.Server
	for _, frame := range []string{
		`{"type":"subscribe","id":"` + long + `","payload":{"query":"q"}}`,
		`{"type":"complete","id":"` + long + `"}`,
	} {
		got := srv.Receive(protocol.State{Acknowledged: true}, []byte(frame))
		if c, ok := got[0].(protocol.Close); len(got) != 1 || !ok || c.Code != int(transportws.CloseBadRequest) || !strings.Contains(c.Reason, "over 256 bytes") && !strings.HasPrefix(c.Reason, "Invalid message received") {
			t.Errorf("Receive(%.40s...) = %s, want one Close 4400", frame, describe(got))
		}
	}
	if _, err := transportws.DecodeClient([]byte(`{"type":"complete","id":"` + strings.Repeat("x", 256) + `"}`)); err != nil {
		t.Errorf("an id of 256 bytes: %v", err)
	}
	if _, err := transportws.DecodeServer([]byte(`{"type":"complete","id":"` + long + `"}`)); err != nil {
		t.Errorf("a server's complete with a long id: %v", err)
	}
}

func TestAppendMatchesEncode(t *testing.T) {
	t.Parallel()
	var srv transportws.Server
	result := raw(`{"data":{"messageAdded":{"id":"m-1","text":"héllo \"x\"","at":1.5e3}}}`)
	errs := []json.RawMessage{raw(`{"message":"a"}`), raw(`{"message":"b","path":["x",1]}`)}
	for _, id := range escapeIDs {
		checks := []struct {
			name string
			got  []byte
			msg  transportws.ServerMessage
		}{
			{"AppendNext", srv.AppendNext(nil, id, result), transportws.Next{ID: id, Payload: result}},
			{"AppendComplete", srv.AppendComplete(nil, id), transportws.Complete{ID: id}},
			{"AppendError", srv.AppendError(nil, id, errs), transportws.Error{ID: id, Payload: errs}},
		}
		for _, c := range checks {
			want, err := transportws.Encode(c.msg)
			if err != nil {
				t.Fatalf("Encode(%#v): %v", c.msg, err)
			}
			if string(c.got) != string(want) {
				t.Errorf("%s(%q)\n got %s\nwant %s", c.name, id, c.got, want)
			}
			back, err := transportws.DecodeServer(c.got)
			if err != nil {
				t.Fatalf("%s(%q) = %s does not decode: %v", c.name, id, c.got, err)
			}
			if utf8.ValidString(id) && messageID(back) != id {
				t.Errorf("%s(%q) decodes to id %q", c.name, id, messageID(back))
			}
		}
	}
}

func messageID(m transportws.ServerMessage) string {
	switch m := m.(type) {
	case transportws.Next:
		return m.ID
	case transportws.Error:
		return m.ID
	case transportws.Complete:
		return m.ID
	}
	return ""
}

func TestAppendKeepsPrefix(t *testing.T) {
	t.Parallel()
	var srv transportws.Server
	buf := []byte("prefix|")
	buf = srv.AppendNext(buf, "1", raw(`{"data":null}`))
	buf = append(buf, '|')
	buf = srv.AppendComplete(buf, "1")
	buf = append(buf, '|')
	buf = srv.AppendError(buf, "2", nil)
	want := `prefix|{"type":"next","id":"1","payload":{"data":null}}|{"type":"complete","id":"1"}|{"type":"error","id":"2","payload":[{"message":"Unknown error"}]}`
	if string(buf) != want {
		t.Fatalf("\n got %s\nwant %s", buf, want)
	}
	if got := string(srv.AppendNext(nil, "1", nil)); got != `{"type":"next","id":"1","payload":{}}` {
		t.Fatalf("AppendNext with an empty result = %s", got)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	var srv transportws.Server
	result := raw(`{"data":{"messageAdded":{"id":"m-1","text":"hello","author":{"name":"Ada Lovelace"}}}}`)
	errs := []json.RawMessage{raw(`{"message":"a"}`)}
	id := "2d1b7a6e-\"5c3f\"-\n"
	buf := make([]byte, 0, 512)
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendNext", func() { buf = srv.AppendNext(buf[:0], id, result) }},
		{"AppendComplete", func() { buf = srv.AppendComplete(buf[:0], id) }},
		{"AppendError", func() { buf = srv.AppendError(buf[:0], id, errs) }},
		{"AppendError without errors", func() { buf = srv.AppendError(buf[:0], id, nil) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s allocates %v times per call", tt.name, n)
		}
	}
}
