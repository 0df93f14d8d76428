package wire_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

func TestParseFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		data           string
		want           wire.Frame
		wantReason     string // substring; "" for a valid frame
		wantUnparsable bool
	}{
		{"all members", ` {"payload":{"a":1},"id":"1","type":"x","other":[]} `,
			wire.Frame{Type: []byte(`"x"`), ID: []byte(`"1"`), Payload: []byte(`{"a":1}`)}, "", false},
		{"no members", `{}`, wire.Frame{}, "", false},
		{"empty", ``, wire.Frame{}, "message is empty", true},
		{"invalid UTF-8", "{\"type\":\"\xff\"}", wire.Frame{}, "message is not valid UTF-8", true},
		{"not JSON", `{"type"`, wire.Frame{}, "message is not valid JSON: unexpected end of JSON input", true},
		{"null", `null`, wire.Frame{}, "message must be a JSON object, got null", true},
		{"array", `[]`, wire.Frame{}, "message must be a JSON object, got array", false},
	}
	for _, tt := range tests {
		got, bad := wire.ParseFrame([]byte(tt.data))
		if tt.wantReason == "" {
			if bad != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: ParseFrame = %q, %+v; want %q", tt.name, got, bad, tt.want)
			}
			continue
		}
		if bad == nil || !strings.Contains(bad.Reason, tt.wantReason) || bad.Unparsable != tt.wantUnparsable || bad.Type != "" {
			t.Errorf("%s: ParseFrame problem %+v, want %q (unparsable %v)", tt.name, bad, tt.wantReason, tt.wantUnparsable)
		}
	}
}

func TestDecodeType(t *testing.T) {
	t.Parallel()
	types := []string{"start", "stop"}
	tests := []struct {
		raw        string // "" for an absent member
		want       string
		wantReason string
	}{
		{`"start"`, "start", ""},
		{`"st\u006fp"`, "stop", ""},
		{``, "", `message has no "type"`},
		{`1`, "", `message "type" must be a string, got number`},
		{`""`, "", `message "type" is empty`},
		{`"Start"`, "", `unknown message type "Start"`},
		{`"subscription_start\n"`, "", `unknown message type "subscription_start\n"`},
		{`"` + strings.Repeat("é", 20) + `"`, "", `unknown message type "` + strings.Repeat("é", 16) + `"...`},
	}
	for _, tt := range tests {
		var raw []byte
		if tt.raw != "" {
			raw = []byte(tt.raw)
		}
		got, bad := wire.DecodeType(raw, types)
		reason := ""
		if bad != nil {
			reason = bad.Reason
		}
		if got != tt.want || reason != tt.wantReason {
			t.Errorf("DecodeType(%s) = %q, %q; want %q, %q", tt.raw, got, reason, tt.want, tt.wantReason)
		}
	}
}

func TestDecodeID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw        string
		want       string
		wantReason string
	}{
		{`"a\nb"`, "a\nb", ""},
		{``, "", `"stop" message has no "id"`},
		{`7`, "", `"stop" message "id" must be a string, got number`},
		{`""`, "", `"stop" message "id" must not be empty`},
	}
	for _, tt := range tests {
		var raw []byte
		if tt.raw != "" {
			raw = []byte(tt.raw)
		}
		got, bad := wire.DecodeID("stop", raw)
		if bad != nil {
			if got != "" || bad.Reason != tt.wantReason || bad.Type != "stop" {
				t.Errorf("DecodeID(%s) = %q, %+v; want the problem %q", tt.raw, got, bad, tt.wantReason)
			}
			continue
		}
		if got != tt.want || tt.wantReason != "" {
			t.Errorf("DecodeID(%s) = %q; want %q, problem %q", tt.raw, got, tt.want, tt.wantReason)
		}
	}
}

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	got, bad := wire.DecodeRequest("start", []byte(`{"query":"q","operationName":null,"variables":{"n":1},"extensions":{},"x":[]}`))
	want := protocol.Request{Query: "q", Variables: map[string]any{"n": 1.0}, Extensions: map[string]any{}}
	if bad != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeRequest = %#v, %+v; want %#v", got, bad, want)
	}
	for _, tt := range []struct{ payload, reason string }{
		{``, `"start" message has no "payload"`},
		{`[]`, `"start" message "payload" must be an object, got array`},
		{`{}`, `"start" payload has no "query"`},
		{`{"query":"q","variables":[]}`, `"start" payload "variables" must be an object or null, got array`},
		{`{"query":"q","operationName":1}`, `"start" payload "operationName" must be a string or null, got number`},
	} {
		var raw []byte
		if tt.payload != "" {
			raw = []byte(tt.payload)
		}
		got, bad := wire.DecodeRequest("start", raw)
		if bad == nil || bad.Reason != tt.reason || bad.Type != "start" || !reflect.DeepEqual(got, protocol.Request{}) {
			t.Errorf("DecodeRequest(%s) = %#v, %+v; want the problem %q", tt.payload, got, bad, tt.reason)
		}
	}
}

func TestWrongSender(t *testing.T) {
	t.Parallel()
	if got := wire.WrongSender("next", wire.FromClient); got.Type != "next" || got.Reason != `"next" is a server message, a client may not send it` {
		t.Errorf("from a client: %+v", got)
	}
	if got := wire.WrongSender("start", wire.FromServer); got.Type != "start" || got.Reason != `"start" is a client message, a server may not send it` {
		t.Errorf("from a server: %+v", got)
	}
}
