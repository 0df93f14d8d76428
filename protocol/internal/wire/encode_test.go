package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

// jsonString encodes s as encoding/json does with HTML escaping off.
func jsonString(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	var controls []byte
	for c := range byte(0x20) {
		controls = append(controls, c)
	}
	for _, s := range []string{
		"",
		"plain ASCII",
		string(controls), // \b, \f, \n, \r and \t by name, the others as \u00XX
		`"quoted" \back\slashes\ /solidus/ ` + "\x7f", // DEL needs no escape
		"<script>&amp;</script>",                      // not HTML-escaped
		"é ✓ 😀 \u2027\u2028\u2029\u202a",              // only U+2028 and U+2029 are escaped
		"\xff\xfe",                                    // invalid bytes
		"a\xe2\x82",                                   // a truncated 3-byte sequence at the end
		"\xf0\x9f\x98b",                               // a truncated 4-byte sequence before ASCII
		"\xed\xa0\x80",                                // an encoded surrogate, invalid in UTF-8
		"\xc0\xaf",                                    // an overlong encoding
		strings.Repeat("long\n", 300),
	} {
		if got, want := string(wire.AppendString(nil, s)), jsonString(t, s); got != want {
			t.Errorf("AppendString(%q)\n got %s\nwant %s", s, got, want)
		}
	}
}

// FuzzAppendString checks AppendString against encoding/json on every
// string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"\\/\b\f\n\r\t\x00\x7f", "<&>\u2028\u2029", "é\xff\xe2\x82😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := wire.AppendString([]byte("prefix"), s)
		if want := "prefix" + jsonString(t, s); string(got) != want {
			t.Fatalf("AppendString(%q)\n got %s\nwant %s", s, got, want)
		}
	})
}

func TestAppendMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"AppendType", append(wire.AppendType(nil, "ka"), '}'), `{"type":"ka"}`},
		{"AppendIDMessage", wire.AppendIDMessage([]byte("|"), "stop", "a\"b"), `|{"type":"stop","id":"a\"b"}`},
		{"AppendResultMessage", wire.AppendResultMessage(nil, "next", "1", []byte(`{"data":null}`)), `{"type":"next","id":"1","payload":{"data":null}}`},
		{"AppendResultMessage with an empty result", wire.AppendResultMessage(nil, "data", "1", nil), `{"type":"data","id":"1","payload":{}}`},
		{"AppendGraphQLError", wire.AppendGraphQLError(nil, "no\n"), `{"message":"no\n"}`},
		{"AppendErrorList", wire.AppendErrorList(nil, []json.RawMessage{json.RawMessage(`{"message":"a"}`), nil}), `[{"message":"a"},{"message":"Unknown error"}]`},
		{"AppendErrorList without errors", wire.AppendErrorList(nil, nil), `[{"message":"Unknown error"}]`},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestAppendOptionalPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		payload string
		want    string
		wantErr string
	}{
		{``, `{"type":"ping"}`, ""},
		{` null `, `{"type":"ping"}`, ""},
		{"{ \"a\" :\n[1] }", `{"type":"ping","payload":{"a":[1]}}`, ""},
		{`[]`, "", "payload must be an object or null, got array"},
		{`{`, "", "payload: invalid JSON: "},
	}
	for _, tt := range tests {
		got, err := wire.AppendOptionalPayload(nil, "ping", json.RawMessage(tt.payload))
		if tt.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || got != nil {
				t.Errorf("AppendOptionalPayload(%s) = %s, %v; want the error %q", tt.payload, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("AppendOptionalPayload(%s) = %s, %v; want %s", tt.payload, got, err, tt.want)
		}
	}
}

func TestAppendRequest(t *testing.T) {
	t.Parallel()
	got, err := wire.AppendRequest(nil, protocol.Request{
		Query: "q <&>", OperationName: "O", Variables: map[string]any{"b": 1, "a": "<x>"}, Extensions: map[string]any{},
	})
	if want := `{"query":"q <&>","operationName":"O","variables":{"a":"<x>","b":1},"extensions":{}}`; err != nil || string(got) != want {
		t.Errorf("AppendRequest = %s, %v; want %s", got, err, want)
	}
	if got, err := wire.AppendRequest(nil, protocol.Request{Query: "q"}); err != nil || string(got) != `{"query":"q"}` {
		t.Errorf("AppendRequest of a query only = %s, %v", got, err)
	}
	_, err = wire.AppendRequest(nil, protocol.Request{Query: "q", Extensions: map[string]any{"c": make(chan int)}})
	if err == nil || !strings.HasPrefix(err.Error(), "extensions: ") {
		t.Errorf("AppendRequest of unencodable extensions: %v", err)
	}
}

func TestAppendOperationMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		append  func() ([]byte, error)
		want    string
		wantErr string
	}{
		{"request", func() ([]byte, error) {
			return wire.AppendRequestMessage([]byte("|"), "start", "1", protocol.Request{Query: "q"})
		}, `|{"type":"start","id":"1","payload":{"query":"q"}}`, ""},
		{"request without id", func() ([]byte, error) {
			return wire.AppendRequestMessage(nil, "start", "", protocol.Request{Query: "q"})
		}, "", "id must not be empty"},
		{"request with unencodable variables", func() ([]byte, error) {
			return wire.AppendRequestMessage(nil, "start", "1", protocol.Request{Variables: map[string]any{"f": func() {}}})
		}, "", "variables: json: unsupported type: func()"},
		{"object", func() ([]byte, error) {
			return wire.AppendObjectMessage(nil, "data", "1", json.RawMessage(" { \"a\" : 1 } "))
		}, `{"type":"data","id":"1","payload":{"a":1}}`, ""},
		{"object without id", func() ([]byte, error) {
			return wire.AppendObjectMessage(nil, "data", "", json.RawMessage(`{}`))
		}, "", "id must not be empty"},
		{"object that is an array", func() ([]byte, error) {
			return wire.AppendObjectMessage(nil, "data", "1", json.RawMessage(`[]`))
		}, "", "payload: must be an object, got array"},
	}
	for _, tt := range tests {
		got, err := tt.append()
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr || got != nil {
				t.Errorf("%s = %s, %v; want the error %q", tt.name, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%s = %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}
	if _, err := wire.AppendObjectMessage(nil, "next", "", nil); !errors.Is(err, wire.ErrEmptyID) {
		t.Errorf("an empty id gives %v, want ErrEmptyID", err)
	}
}

func TestCheckMessage(t *testing.T) {
	t.Parallel()
	type message struct{}
	tests := []struct {
		m    any
		want string
	}{
		{message{}, ""},
		{&message{}, ""},
		{nil, "nil message"},
		{(*message)(nil), "nil *wire_test.message"},
	}
	for _, tt := range tests {
		got := ""
		if err := wire.CheckMessage(tt.m); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("CheckMessage(%#v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	id := "2d1b7a6e-\"5c3f\"-\n\u2028\xff"
	result := []byte(`{"data":{"a":1}}`)
	errs := []json.RawMessage{json.RawMessage(`{"message":"a"}`), nil}
	buf := make([]byte, 0, 512)
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendString", func() { buf = wire.AppendString(buf[:0], id) }},
		{"AppendHead", func() { buf = wire.AppendHead(buf[:0], "next", id) }},
		{"AppendIDMessage", func() { buf = wire.AppendIDMessage(buf[:0], "complete", id) }},
		{"AppendResultMessage", func() { buf = wire.AppendResultMessage(buf[:0], "next", id, result) }},
		{"AppendErrorList", func() { buf = wire.AppendErrorList(buf[:0], errs) }},
		{"ScanObject", func() {
			var vals [2][]byte
			wire.ScanObject(result, []string{"data", "errors"}, vals[:])
		}},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s allocates %v times per call", tt.name, n)
		}
	}
}
