package legacyws_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
)

var (
	fresh = protocol.State{}
	acked = protocol.State{Acknowledged: true}
)

func send(frame string) protocol.Send { return protocol.Send{Frame: []byte(frame)} }

func closeWith(code legacyws.CloseCode, reason string) protocol.Close {
	return protocol.Close{Code: int(code), Reason: reason}
}

// errorFrame is the error message the server sends for id ("" for none) with
// one error whose message is msg, given as JSON string content.
func errorFrame(id, msg string) string {
	head := `{"type":"error",`
	if id != "" {
		head += `"id":"` + id + `",`
	}
	return head + `"payload":{"message":"` + msg + `","errors":[{"message":"` + msg + `"}]}}`
}

// connectionErrorFrame is the connection_error the server sends with msg,
// given as JSON string content.
func connectionErrorFrame(msg string) string {
	return `{"type":"connection_error","payload":{"message":"` + msg + `"}}`
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
	invalidType := func(id string) []protocol.Action {
		return []protocol.Action{send(errorFrame(id, "Invalid message type!"))}
	}
	tests := []struct {
		name  string
		state protocol.State
		frame string
		want  []protocol.Action
	}{
		// connection_init
		{"connection_init", fresh, `{"type":"connection_init"}`,
			[]protocol.Action{protocol.Init{}}},
		{"connection_init with payload", fresh, `{"type":"connection_init","payload":{ "authToken": "t" }}`,
			[]protocol.Action{protocol.Init{Payload: raw(`{"authToken":"t"}`)}}},
		{"connection_init after ack", acked, `{"type":"connection_init","payload":{}}`,
			[]protocol.Action{
				send(connectionErrorFrame("Too many initialisation requests")),
				closeWith(legacyws.CloseTooManyInitialisationRequests, "Too many initialisation requests"),
			}},
		{"invalid connection_init", fresh, `{"type":"connection_init","payload":"token"}`,
			[]protocol.Action{send(connectionErrorFrame(`\"connection_init\" message \"payload\" must be an object or null, got string`))}},
		{"invalid connection_init after ack", acked, `{"type":"connection_init","payload":1}`,
			[]protocol.Action{send(connectionErrorFrame(`\"connection_init\" message \"payload\" must be an object or null, got number`))}},

		// start
		{"start before ack", fresh, `{"id":"1","type":"start","payload":{"query":"subscription { a }"}}`,
			[]protocol.Action{send(errorFrame("1", "Unauthorized"))}},
		{"start before ack with an id needing escapes", fresh, `{"type":"start","id":"a\"\\\u0001","payload":{"query":"{ a }"}}`,
			[]protocol.Action{send(errorFrame(`a\"\\\u0001`, "Unauthorized"))}},
		{"start after ack", acked, `{"id":"1","type":"start","payload":{"query":"query Q($n: Int) { a(n: $n) }","operationName":"Q","variables":{"n":2},"extensions":{"e":true}}}`,
			[]protocol.Action{protocol.Start{ID: "1", Request: protocol.Request{
				Query: "query Q($n: Int) { a(n: $n) }", OperationName: "Q",
				Variables: map[string]any{"n": 2.0}, Extensions: map[string]any{"e": true},
			}}}},
		{"invalid start before ack", fresh, `{"type":"start","id":"","payload":{"query":"{ a }"}}`,
			[]protocol.Action{send(errorFrame("", `\"start\" message \"id\" must not be empty`))}},
		{"start without payload", acked, `{"id":"9","type":"start"}`,
			[]protocol.Action{send(errorFrame("9", `\"start\" message has no \"payload\"`))}},
		{"start with a number query", acked, `{"type":"start","id":"2","payload":{"query":1}}`,
			[]protocol.Action{send(errorFrame("2", `\"start\" payload \"query\" must be a string, got number`))}},
		{"start with a number id", acked, `{"type":"start","id":3,"payload":{"query":"q"}}`,
			[]protocol.Action{send(errorFrame("", `\"start\" message \"id\" must be a string, got number`))}},

		// stop and connection_terminate, in both states
		{"stop before ack", fresh, `{"id":"1","type":"stop"}`, []protocol.Action{protocol.Stop{ID: "1"}}},
		{"stop after ack", acked, `{"type":"stop","id":"x\ny"}`, []protocol.Action{protocol.Stop{ID: "x\ny"}}},
		{"stop without id", acked, `{"type":"stop"}`, []protocol.Action{send(errorFrame("", `\"stop\" message has no \"id\"`))}},
		{"connection_terminate before ack", fresh, `{"type":"connection_terminate","payload":null}`, []protocol.Action{protocol.Terminate{}}},
		{"connection_terminate after ack", acked, `{"type":"connection_terminate"}`, []protocol.Action{protocol.Terminate{}}},

		// server messages sent by a client
		{"data from a client", acked, `{"type":"data","id":"8","payload":{}}`, invalidType("8")},
		{"error from a client", acked, `{"type":"error","payload":{"message":"x"}}`, invalidType("")},
		{"complete from a client", acked, `{"type":"complete","id":"1"}`, invalidType("1")},
		{"connection_ack from a client", fresh, `{"type":"connection_ack"}`, invalidType("")},
		{"ka from a client", fresh, `{"type":"ka"}`, invalidType("")},
		{"connection_error from a client", fresh, `{"type":"connection_error","payload":{}}`, invalidType("")},

		// frames with an unusable type
		{"JSON number", fresh, `42`, invalidType("")},
		{"JSON array", acked, `[]`, invalidType("")},
		{"JSON string", acked, `"start"`, invalidType("")},
		{"empty object", fresh, `{}`, invalidType("")},
		{"no type", acked, `{"id":"1"}`, invalidType("1")},
		{"type is a number", acked, `{"type":1,"id":"1"}`, invalidType("1")},
		{"unknown type", acked, `{"type":"bogus","id":"7"}`, invalidType("7")},
		{"unknown type with a number id", acked, `{"type":"bogus","id":7}`, invalidType("")},
		{"predecessor init", fresh, `{"type":"init","payload":{}}`, invalidType("")},
		{"graphql-transport-ws subscribe", acked, `{"type":"subscribe","id":"1","payload":{"query":"q"}}`, invalidType("1")},

		// frames that are not messages at all
		{"empty frame", fresh, ``, []protocol.Action{send(connectionErrorFrame("message is empty"))}},
		{"binary garbage", acked, "\x89PNG\r\n\x1a\n\x00\x00", []protocol.Action{send(connectionErrorFrame("message is not valid UTF-8"))}},
		{"not JSON", fresh, `not json`, []protocol.Action{send(connectionErrorFrame(`message is not valid JSON: invalid character 'o' in literal null (expecting 'u')`))}},
		{"JSON null", acked, `null`, []protocol.Action{send(connectionErrorFrame("message must be a JSON object, got null"))}},
	}
	var srv legacyws.Server
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
// close codes of the package with reasons that fit a close frame.
func checkActions(t *testing.T, actions []protocol.Action) {
	t.Helper()
	if len(actions) == 0 {
		t.Fatal("no actions")
	}
	for i, a := range actions {
		switch a := a.(type) {
		case protocol.Send:
			if _, err := legacyws.DecodeServer(a.Frame); err != nil {
				t.Errorf("action %d sends a frame a client rejects: %v\n%s", i, err, a.Frame)
			}
		case protocol.Close:
			if i != len(actions)-1 {
				t.Errorf("Close is action %d of %d, not the last", i, len(actions))
			}
			switch legacyws.CloseCode(a.Code) {
			case legacyws.CloseForbidden, legacyws.CloseTooManyInitialisationRequests, legacyws.CloseInternalServerError:
			default:
				t.Errorf("close code %d is not one of the package's", a.Code)
			}
			if a.Reason == "" || len(a.Reason) > legacyws.MaxCloseReason || !utf8.ValidString(a.Reason) {
				t.Errorf("close reason %q is empty, %d bytes or invalid UTF-8", a.Reason, len(a.Reason))
			}
			if i == 0 {
				t.Errorf("Close without a message telling the client why")
			}
		case protocol.Start:
			if a.ID == "" {
				t.Errorf("Start with an empty id")
			}
		case protocol.Stop:
			if a.ID == "" {
				t.Errorf("Stop with an empty id")
			}
		case protocol.Ping, protocol.Pong:
			t.Errorf("%T in a protocol without client pings", a)
		}
	}
}

func TestServerOutcomes(t *testing.T) {
	t.Parallel()
	var srv legacyws.Server
	longID := strings.Repeat("i", 500)
	tests := []struct {
		name string
		got  []protocol.Action
		want []protocol.Action
	}{
		{"Refuse", srv.Refuse(), []protocol.Action{
			send(connectionErrorFrame("Forbidden")),
			closeWith(legacyws.CloseForbidden, "Forbidden"),
		}},
		{"Internal", srv.Internal(), []protocol.Action{
			send(connectionErrorFrame("Internal server error")),
			closeWith(legacyws.CloseInternalServerError, "Internal server error"),
		}},
		{"Reject", srv.Reject("1", []json.RawMessage{raw(`{"message":"a","locations":[{"line":1,"column":2}]}`), raw(`{"message":"b","path":["x"]}`)}),
			[]protocol.Action{send(`{"type":"error","id":"1","payload":{"message":"a","errors":[{"message":"a","locations":[{"line":1,"column":2}]},{"message":"b","path":["x"]}]}}`)}},
		{"Reject with one error", srv.Reject("1", []json.RawMessage{raw(`{"message":"Syntax Error: Expected Name, found <EOF>."}`)}),
			[]protocol.Action{send(errorFrame("1", "Syntax Error: Expected Name, found <EOF>."))}},
		{"Reject without errors", srv.Reject("1", nil),
			[]protocol.Action{send(errorFrame("1", "Unknown error"))}},
		{"Reject with an empty first error", srv.Reject("1", []json.RawMessage{nil, raw(`{"message":"b"}`)}),
			[]protocol.Action{send(`{"type":"error","id":"1","payload":{"message":"Unknown error","errors":[{"message":"Unknown error"},{"message":"b"}]}}`)}},
		{"Reject whose first message is not a string", srv.Reject("1", []json.RawMessage{raw(`{"message":null}`)}),
			[]protocol.Action{send(`{"type":"error","id":"1","payload":{"message":"Unknown error","errors":[{"message":null}]}}`)}},
		{"Reject with an escaped first message", srv.Reject("1", []json.RawMessage{raw(`{"path":["a"],"message":"say \"hi\" \u00e9"}`)}),
			[]protocol.Action{send(`{"type":"error","id":"1","payload":{"message":"say \"hi\" \u00e9","errors":[{"path":["a"],"message":"say \"hi\" \u00e9"}]}}`)}},
		{"Reject whose first message key is escaped", srv.Reject("1", []json.RawMessage{raw(`{"m\u0065ssage":"x"}`)}),
			[]protocol.Action{send(`{"type":"error","id":"1","payload":{"message":"x","errors":[{"m\u0065ssage":"x"}]}}`)}},
		{"Duplicate", srv.Duplicate("7"), []protocol.Action{send(errorFrame("7", "Subscriber for 7 already exists"))}},
		{"Duplicate with an id needing escapes", srv.Duplicate(`"q"`),
			[]protocol.Action{send(errorFrame(`\"q\"`, `Subscriber for \"q\" already exists`))}},
		{"Duplicate with a very long id", srv.Duplicate(longID),
			[]protocol.Action{send(errorFrame(longID, "Subscriber for "+longID+" already exists"))}},
		{"Duplicate with an invalid UTF-8 id", srv.Duplicate("\xff"),
			[]protocol.Action{send(errorFrame(`\ufffd`, `Subscriber for \ufffd already exists`))}},
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

func TestServerPongHasNothingToSay(t *testing.T) {
	t.Parallel()
	var srv legacyws.Server
	for _, payload := range []json.RawMessage{nil, raw(`null`), raw(`{"a":1}`), raw(`"x"`), raw(`{`)} {
		if got := srv.Pong(payload); len(got) != 0 {
			t.Errorf("Pong(%s) = %s, want no actions", payload, describe(got))
		}
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
		{"with an array payload", raw(`[1]`), fresh, legacyws.Server{}.Internal()},
		{"with invalid JSON", raw(`{"v":`), fresh, legacyws.Server{}.Internal()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state, got := legacyws.Server{}.Accept(fresh, tt.payload)
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
	if got := (legacyws.Server{}).Subprotocol(); got != "graphql-ws" {
		t.Fatalf("Subprotocol() = %q", got)
	}
}

func TestCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code legacyws.CloseCode
		num  int
		name string
	}{
		{legacyws.CloseForbidden, 4403, "Forbidden"},
		{legacyws.CloseTooManyInitialisationRequests, 4429, "TooManyInitialisationRequests"},
		{legacyws.CloseInternalServerError, 4500, "InternalServerError"},
		{legacyws.CloseCode(1011), 1011, "CloseCode(1011)"},
	}
	for _, tt := range tests {
		if int(tt.code) != tt.num || tt.code.String() != tt.name {
			t.Errorf("code %d %q, want %d %q", int(tt.code), tt.code, tt.num, tt.name)
		}
	}
}

// TestCloseReasonsFit gathers every action list that closes and checks that
// each reason fits a close frame: no client input reaches a close reason.
func TestCloseReasonsFit(t *testing.T) {
	t.Parallel()
	var srv legacyws.Server
	_, badAccept := srv.Accept(fresh, raw(`[]`))
	lists := [][]protocol.Action{
		srv.Refuse(),
		srv.Internal(),
		badAccept,
		srv.Receive(acked, []byte(`{"type":"connection_init","payload":{"`+strings.Repeat("é", 300)+`":1}}`)),
	}
	closes := 0
	for _, actions := range lists {
		checkActions(t, actions)
		if c, ok := actions[len(actions)-1].(protocol.Close); ok {
			closes++
			if len(c.Reason) > legacyws.MaxCloseReason {
				t.Errorf("reason %q is %d bytes", c.Reason, len(c.Reason))
			}
		}
	}
	if closes != len(lists) {
		t.Fatalf("%d of %d action lists close", closes, len(lists))
	}
	// A long id never reaches a close: Duplicate and start before ack keep
	// the connection open and carry the whole id in the error message.
	id := strings.Repeat("x", 1000)
	for _, actions := range [][]protocol.Action{
		srv.Duplicate(id),
		srv.Receive(fresh, []byte(`{"type":"start","id":"`+id+`","payload":{"query":"q"}}`)),
	} {
		checkActions(t, actions)
		if len(actions) != 1 {
			t.Fatalf("got %d actions, want one Send", len(actions))
		}
		m, err := legacyws.DecodeServer(actions[0].(protocol.Send).Frame)
		if err != nil || m.(legacyws.Error).ID != id {
			t.Fatalf("error frame %v, %v does not carry the id", m, err)
		}
	}
}

func TestAppendMatchesEncode(t *testing.T) {
	t.Parallel()
	var srv legacyws.Server
	result := raw(`{"data":{"messageAdded":{"id":"m-1","text":"héllo \"x\"","at":1.5e3}}}`)
	errs := []json.RawMessage{raw(`{"message":"a"}`), raw(`{"message":"b","path":["x",1]}`)}
	errPayload := raw(`{"message":"a","errors":[{"message":"a"},{"message":"b","path":["x",1]}]}`)
	for _, id := range escapeIDs {
		checks := []struct {
			name string
			got  []byte
			msg  legacyws.ServerMessage
		}{
			{"AppendNext", srv.AppendNext(nil, id, result), legacyws.Data{ID: id, Payload: result}},
			{"AppendComplete", srv.AppendComplete(nil, id), legacyws.Complete{ID: id}},
			{"AppendError", srv.AppendError(nil, id, errs), legacyws.Error{ID: id, Payload: errPayload}},
		}
		for _, c := range checks {
			want, err := legacyws.Encode(c.msg)
			if err != nil {
				t.Fatalf("Encode(%#v): %v", c.msg, err)
			}
			if string(c.got) != string(want) {
				t.Errorf("%s(%q)\n got %s\nwant %s", c.name, id, c.got, want)
			}
			back, err := legacyws.DecodeServer(c.got)
			if err != nil {
				t.Fatalf("%s(%q) = %s does not decode: %v", c.name, id, c.got, err)
			}
			if utf8.ValidString(id) && messageID(back) != id {
				t.Errorf("%s(%q) decodes to id %q", c.name, id, messageID(back))
			}
			if e, ok := back.(legacyws.Error); ok && !reflect.DeepEqual(e.Errors(), errs) {
				t.Errorf("AppendError(%q) reads back as errors %s, want %s", id, e.Errors(), errs)
			}
		}
	}
	// Without an id, AppendError writes none, as Encode does.
	want, err := legacyws.Encode(legacyws.Error{Payload: errPayload})
	if got := srv.AppendError(nil, "", errs); err != nil || string(got) != string(want) {
		t.Errorf("AppendError without id\n got %s\nwant %s (%v)", got, want, err)
	}
}

func messageID(m legacyws.ServerMessage) string {
	switch m := m.(type) {
	case legacyws.Data:
		return m.ID
	case legacyws.Error:
		return m.ID
	case legacyws.Complete:
		return m.ID
	}
	return ""
}

func TestAppendKeepsPrefix(t *testing.T) {
	t.Parallel()
	var srv legacyws.Server
	buf := []byte("prefix|")
	buf = srv.AppendNext(buf, "1", raw(`{"data":null}`))
	buf = append(buf, '|')
	buf = srv.AppendComplete(buf, "1")
	buf = append(buf, '|')
	buf = srv.AppendError(buf, "2", nil)
	want := `prefix|{"type":"data","id":"1","payload":{"data":null}}|{"type":"complete","id":"1"}|` + errorFrame("2", "Unknown error")
	if string(buf) != want {
		t.Fatalf("\n got %s\nwant %s", buf, want)
	}
	if got := string(srv.AppendNext(nil, "1", nil)); got != `{"type":"data","id":"1","payload":{}}` {
		t.Fatalf("AppendNext with an empty result = %s", got)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	var srv legacyws.Server
	result := raw(`{"data":{"messageAdded":{"id":"m-1","text":"hello","author":{"name":"Ada Lovelace"}}}}`)
	errs := []json.RawMessage{raw(`{"locations":[{"line":1,"column":2}],"message":"a \"quoted\" message"}`), raw(`{"message":"b"}`)}
	id := "2d1b7a6e-\"5c3f\"-\n"
	buf := make([]byte, 0, 512)
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendNext", func() { buf = srv.AppendNext(buf[:0], id, result) }},
		{"AppendComplete", func() { buf = srv.AppendComplete(buf[:0], id) }},
		{"AppendError", func() { buf = srv.AppendError(buf[:0], id, errs) }},
		{"AppendError without id", func() { buf = srv.AppendError(buf[:0], "", errs) }},
		{"AppendError without errors", func() { buf = srv.AppendError(buf[:0], id, nil) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s allocates %v times per call", tt.name, n)
		}
	}
}
