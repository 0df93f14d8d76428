package plainws_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/plainws"
)

func TestDecodeClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		frame   string
		want    protocol.Request
		invalid string
	}{
		// The sample's own frames.
		{frame: `{"query":"subscription Subscription {\n chat(chatId: \"chat\")\n}","variables":{}}`,
			want: protocol.Request{Query: "subscription Subscription {\n chat(chatId: \"chat\")\n}", Variables: map[string]any{}}},
		{frame: `{"query":"mutation postMessage {\n  putEvent(message: \"Good morning\", chatId: \"chat\") { Entries { EventId } }\n}","variables":{}}`,
			want: protocol.Request{Query: "mutation postMessage {\n  putEvent(message: \"Good morning\", chatId: \"chat\") { Entries { EventId } }\n}", Variables: map[string]any{}}},
		{frame: `{"query":"{ a }","operationName":"Q","variables":{"x":1},"extensions":{"e":true},"other":[1]}`,
			want: protocol.Request{Query: "{ a }", OperationName: "Q", Variables: map[string]any{"x": 1.0}, Extensions: map[string]any{"e": true}}},
		{frame: `{"query":"{ a }","operationName":null,"variables":null}`, want: protocol.Request{Query: "{ a }"}},
		{frame: ``, invalid: "empty"},
		{frame: `hello`, invalid: "not valid JSON"},
		{frame: "\xff", invalid: "UTF-8"},
		{frame: `null`, invalid: "got null"},
		{frame: `[]`, invalid: "must be a JSON object"},
		{frame: `{}`, invalid: `request has no "query"`},
		{frame: `{"query":1}`, invalid: `"query" must be a string`},
		{frame: `{"query":"{ a }","variables":[]}`, invalid: `"variables"`},
		{frame: `{"type":"connection_init"}`, invalid: "subprotocol"},
		{frame: `{"type":"subscribe","id":"1","payload":{"query":"{ a }"}}`, invalid: "subprotocol"},
	}
	for _, tt := range tests {
		m, err := plainws.DecodeClient([]byte(tt.frame))
		if tt.invalid != "" {
			de, ok := errors.AsType[*plainws.DecodeError](err)
			if !ok || !strings.Contains(de.Reason, tt.invalid) {
				t.Errorf("DecodeClient(%q) = %+v, %v; want a DecodeError about %s", tt.frame, m, err, tt.invalid)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(m.Request, tt.want) {
			t.Errorf("DecodeClient(%q) = %#v, %v; want %#v", tt.frame, m.Request, err, tt.want)
		}
	}
}

func TestDecodeServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		frame   string
		want    plainws.ServerMessage
		invalid string
	}{
		{frame: `{"data":{"chat":"Bonjour"}}`, want: plainws.Result{Payload: json.RawMessage(`{"data":{"chat":"Bonjour"}}`)}},
		{frame: `{ "data" : "Guten Morgen" }`, want: plainws.Result{Payload: json.RawMessage(`{"data":"Guten Morgen"}`)}},
		{frame: `{"errors":[{"message":"x"}],"data":null}`, want: plainws.Result{Payload: json.RawMessage(`{"errors":[{"message":"x"}],"data":null}`)}},
		{frame: `{"errors":[{"message":"x","path":["a"]}]}`, want: plainws.Errors{Errors: []json.RawMessage{json.RawMessage(`{"message":"x","path":["a"]}`)}}},
		{frame: `{"errors":[]}`, invalid: "must not be empty"},
		{frame: `{"errors":{}}`, invalid: "must be an array"},
		{frame: `{"errors":[1]}`, invalid: "must hold objects"},
		{frame: `{"errors":[{"msg":"x"}]}`, invalid: `no string "message"`},
		{frame: `7`, invalid: "must be a JSON object"},
	}
	for _, tt := range tests {
		m, err := plainws.DecodeServer([]byte(tt.frame))
		if tt.invalid != "" {
			if de, ok := errors.AsType[*plainws.DecodeError](err); !ok || !strings.Contains(de.Reason, tt.invalid) || m != nil {
				t.Errorf("DecodeServer(%q) = %+v, %v; want a DecodeError about %s", tt.frame, m, err, tt.invalid)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(m, tt.want) {
			t.Errorf("DecodeServer(%q) = %#v, %v; want %#v", tt.frame, m, err, tt.want)
		}
	}
}

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    plainws.Message
		want string
		err  bool
	}{
		{m: plainws.Request{Request: protocol.Request{Query: "{ a }", Variables: map[string]any{"b": 1, "a": "<x>"}}}, want: `{"query":"{ a }","variables":{"a":"<x>","b":1}}`},
		{m: plainws.Result{Payload: json.RawMessage(`{ "data" : 1 }`)}, want: `{"data":1}`},
		{m: plainws.Errors{Errors: []json.RawMessage{json.RawMessage(`{"message":"m"}`)}}, want: `{"errors":[{"message":"m"}]}`},
		{m: plainws.Result{Payload: json.RawMessage(`[1]`)}, err: true},
		{m: plainws.Result{}, err: true},
		{m: plainws.Errors{}, err: true},
		{m: plainws.Errors{Errors: []json.RawMessage{json.RawMessage(`{"code":1}`)}}, err: true},
		{m: plainws.Request{Request: protocol.Request{Query: "q", Variables: map[string]any{"f": func() {}}}}, err: true},
	}
	for _, tt := range tests {
		got, err := plainws.Encode(tt.m)
		if tt.err {
			if err == nil {
				t.Errorf("Encode(%#v) = %s, want an error", tt.m, got)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("Encode(%#v) = %s, %v; want %s", tt.m, got, err, tt.want)
		}
	}
}

func TestOperationID(t *testing.T) {
	t.Parallel()
	a := protocol.Request{Query: "subscription { chat(chatId: \"a\") }", Variables: map[string]any{"x": 1.0, "y": "z"}}
	same := protocol.Request{Query: "subscription { chat(chatId: \"a\") }", Variables: map[string]any{"y": "z", "x": 1.0}}
	others := []protocol.Request{
		{Query: "subscription { chat(chatId: \"b\") }", Variables: a.Variables},
		{Query: a.Query, Variables: map[string]any{"x": 2.0, "y": "z"}},
		{Query: a.Query, Variables: a.Variables, OperationName: "N"},
		{Query: a.Query},
	}
	id := plainws.OperationID(a)
	if !strings.HasPrefix(id, "plain:") || len(id) != len("plain:")+32 || plainws.OperationID(same) != id {
		t.Fatalf("OperationID = %q (of an equal request: %q)", id, plainws.OperationID(same))
	}
	for _, o := range others {
		if plainws.OperationID(o) == id {
			t.Errorf("OperationID(%+v) = OperationID(%+v)", o, a)
		}
	}
}

func TestServer(t *testing.T) {
	t.Parallel()
	var srv plainws.Server
	req := protocol.Request{Query: "subscription { chat(chatId: \"chat\") }", Variables: map[string]any{}}
	frame := []byte(`{"query":"subscription { chat(chatId: \"chat\") }","variables":{}}`)
	for _, st := range []protocol.State{{}, {Acknowledged: true}} {
		got := srv.Receive(st, frame)
		if want := []protocol.Action{protocol.Start{ID: plainws.OperationID(req), Request: req}}; !reflect.DeepEqual(got, want) {
			t.Errorf("Receive(%+v) = %#v, want %#v", st, got, want)
		}
	}
	bad := srv.Receive(protocol.State{}, []byte(`{"type":"connection_init"}`))
	if len(bad) != 1 || !strings.HasPrefix(string(bad[0].(protocol.Send).Frame), `{"errors":[{"message":"Invalid message received: message has a \"type\"`) {
		t.Errorf("Receive of a subprotocol's message = %#v", bad)
	}
	errs := []json.RawMessage{json.RawMessage(`{"message":"nope"}`)}
	for name, tt := range map[string]struct {
		got  []byte
		want string
	}{
		"next":                    {srv.AppendNext([]byte("x"), "id", []byte(`{"data":{"chat":"Hallo"}}`)), `x{"data":"Hallo"}`},
		"next of two root fields": {srv.AppendNext(nil, "id", []byte(`{"data":{"a":1,"b":{"c":2}}}`)), `{"data":{"a":1,"b":{"c":2}}}`},
		"next with errors":        {srv.AppendNext(nil, "id", []byte(`{"errors":[{"message":"x"}],"data":{"chat":null}}`)), `{"errors":[{"message":"x"}],"data":{"chat":null}}`},
		"next of an object":       {srv.AppendNext(nil, "id", []byte(`{"data":{"chat":{"text":"Hi"}}}`)), `{"data":{"text":"Hi"}}`},
		"empty next":              {srv.AppendNext(nil, "id", nil), `{}`},
		"complete":                {srv.AppendComplete([]byte("x"), "id"), `x`},
		"error":                   {srv.AppendError(nil, "id", errs), `{"errors":[{"message":"nope"}]}`},
		"empty error":             {srv.AppendError(nil, "id", nil), `{"errors":[{"message":"Unknown error"}]}`},
		"reject":                  {srv.Reject("id", errs)[0].(protocol.Send).Frame, `{"errors":[{"message":"nope"}]}`},
	} {
		if string(tt.got) != tt.want {
			t.Errorf("%s: %s, want %s", name, tt.got, tt.want)
		}
	}
	if a := srv.Duplicate("id"); a != nil {
		t.Errorf("Duplicate = %#v, want nothing: the subscription stays", a)
	}
	if a := srv.Pong(nil); a != nil {
		t.Errorf("Pong = %#v, want nothing", a)
	}
	if st, a := srv.Accept(protocol.State{}, json.RawMessage(`{}`)); !st.Acknowledged || a != nil {
		t.Errorf("Accept = %+v, %#v", st, a)
	}
	if a := srv.Internal(); !reflect.DeepEqual(a, []protocol.Action{protocol.Close{Code: 1011, Reason: "Internal server error"}}) {
		t.Errorf("Internal = %#v", a)
	}
	if srv.Subprotocol() != plainws.Name {
		t.Errorf("Subprotocol = %q", srv.Subprotocol())
	}
}

// checkRoundTrip: a frame is rejected with a one-line *DecodeError, or its
// message encodes to a canonical frame that decodes equal and re-encodes to
// the same bytes.
func checkRoundTrip[M plainws.Message](t *testing.T, data []byte, decode func([]byte) (M, error)) {
	t.Helper()
	m, err := decode(data)
	if err != nil {
		if de, ok := errors.AsType[*plainws.DecodeError](err); !ok || de.Reason == "" || strings.ContainsAny(de.Reason, "\r\n") {
			t.Fatalf("error %q (%T) is not a one-line *DecodeError", err, err)
		}
		return
	}
	enc, err := plainws.Encode(m)
	if err != nil {
		t.Fatalf("Encode(%#v) of a decoded message: %v", m, err)
	}
	back, err := decode(enc)
	if err != nil {
		t.Fatalf("decode(Encode(m)) = %v\nframe %q\nencoded %s", err, data, enc)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip changed the message\nframe %q\n got %#v\nwant %#v", data, back, m)
	}
	again, err := plainws.Encode(back)
	if err != nil || !bytes.Equal(again, enc) {
		t.Fatalf("encoding is not canonical: %s then %s (%v)", enc, again, err)
	}
}

var seeds = []string{
	`{"query":"subscription Subscription {\n chat(chatId: \"chat\")\n}","variables":{}}`,
	`{"query":"{ a }","operationName":"Q","variables":{"x":[1,{"y":null}]},"extensions":{}}`,
	`{"data":{"chat":"Bonjour"}}`, `{"errors":[{"message":"x"}]}`, `{"errors":[{"message":"x"}],"data":null}`,
	`{"type":"connection_init"}`, `{}`, `null`, `"x"`, "\xff",
}

func FuzzDecodeClient(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, plainws.DecodeClient)
	})
}

func FuzzDecodeServer(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, plainws.DecodeServer)
	})
}

// FuzzReceive: a frame is a Start of the request DecodeClient finds, under
// the request's OperationID, or, when DecodeClient rejects it, one errors
// message that a client decodes as Errors; the connection is never closed.
func FuzzReceive(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	var srv plainws.Server
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, decodeErr := plainws.DecodeClient(frame)
		actions := srv.Receive(protocol.State{}, frame)
		if len(actions) != 1 {
			t.Fatalf("Receive(%q) = %#v, want one action", frame, actions)
		}
		switch a := actions[0].(type) {
		case protocol.Start:
			if decodeErr != nil || a.ID != plainws.OperationID(m.Request) || !reflect.DeepEqual(a.Request, m.Request) {
				t.Fatalf("Receive(%q) = %#v; DecodeClient %#v, %v", frame, a, m, decodeErr)
			}
		case protocol.Send:
			sm, err := plainws.DecodeServer(a.Frame)
			if _, ok := sm.(plainws.Errors); decodeErr == nil || err != nil || !ok {
				t.Fatalf("Receive(%q) sends %s (%v); DecodeClient error %v", frame, a.Frame, err, decodeErr)
			}
		default:
			t.Fatalf("Receive(%q) = %#v", frame, actions)
		}
	})
}
