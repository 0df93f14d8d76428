package wire_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

func TestKindOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want string
	}{
		{``, "nothing"},
		{` `, "nothing"},
		{`null`, "null"},
		{`true`, "boolean"},
		{` false`, "boolean"},
		{`-1`, "number"},
		{`0.5`, "number"},
		{`"s"`, "string"},
		{"\n[1]", "array"},
		{"\t{}", "object"},
	}
	for _, tt := range tests {
		if got := wire.KindOf([]byte(tt.raw)).String(); got != tt.want {
			t.Errorf("KindOf(%q) = %s, want %s", tt.raw, got, tt.want)
		}
	}
}

func TestUnquote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    string
		wantErr bool
	}{
		{`""`, "", false},
		{`"plain"`, "plain", false},
		{`"a\"b\\c\/d"`, `a"b\c/d`, false},
		{`"\ud83d\ude00"`, "😀", false},
		{`"\ud83d"`, "\uFFFD", false}, // a lone surrogate, as encoding/json decodes it
		{`"\ud83dx"`, "\uFFFDx", false},
		{`x`, "", true},
		{`"`, "", true},
		{`"\x"`, "", true},
		{`"\u12"`, "", true},
		{`"a\"`, "", true},
	}
	for _, tt := range tests {
		got, err := wire.Unquote([]byte(tt.raw))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Unquote(%s) = %q, %v; want %q, error %v", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestScanObject(t *testing.T) {
	t.Parallel()
	obj := []byte(` {"type":"a", "t\u0079pe" : "b", "Type":1, "id":{"type":"c"}, "payload":null} `)
	names := []string{"type", "id", "payload", "missing"}
	vals := make([][]byte, len(names))
	wire.ScanObject(obj, names, vals)
	want := []string{`"b"`, `{"type":"c"}`, `null`, ""}
	for i, name := range names {
		if string(vals[i]) != want[i] || (want[i] == "") != (vals[i] == nil) {
			t.Errorf("member %q = %q, want %q", name, vals[i], want[i])
		}
	}
}

func TestElementsStops(t *testing.T) {
	t.Parallel()
	var got []string
	for i, e := range wire.Elements([]byte(`[1, "]", [2], {"a":[]}, null]`)) {
		if i == 3 {
			break
		}
		got = append(got, string(e))
	}
	if want := []string{`1`, `"]"`, `[2]`}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("elements %q, want %q", got, want)
	}
	for range wire.Elements([]byte(`{"a":1}`)) {
		t.Fatal("an object has no elements")
	}
}

// FuzzUnquote checks Unquote against encoding/json on every valid JSON
// string.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{
		`""`, `"plain"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u0041\u00e9\u2603"`,
		`"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`, `"\ud83dx"`, `"\ud83d\u0041"`,
		`"\ud83d\ud83d\ude00"`, `"\uD83D\uDE00"`, `"é✓😀"`, `"\u0000"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.Trim(raw, " \t\r\n") // as ScanObject slices values
		if !utf8.Valid(raw) || !json.Valid(raw) || wire.KindOf(raw) != wire.KindString {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", raw, err)
		}
		got, err := wire.Unquote(raw)
		if err != nil || got != want {
			t.Fatalf("Unquote(%q) = %q, %v; encoding/json gives %q", raw, got, err, want)
		}
	})
}

// FuzzScan checks ScanObject and Elements against encoding/json on every
// valid JSON object and array.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":1}`, ` { "a" : [1, {"b":"}"}] , "c":"\"", "a":null } `,
		`{"\u0061":true,"A":false}`, `[1, "x", [], {}, null, -1.5e3]`,
		`{"a":{"a":{"a":1}},"b":"\\"}`, `["]", "\\\"", {"[":"{"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !utf8.Valid(raw) || !json.Valid(raw) {
			return
		}
		switch wire.KindOf(raw) {
		case wire.KindObject:
			var want map[string]json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			names := []string{"a", "type", "payload"}
			for k := range want {
				names = append(names, k)
			}
			vals := make([][]byte, len(names))
			wire.ScanObject(raw, names, vals)
			for i, name := range names {
				w, ok := want[name]
				if (vals[i] != nil) != ok || !bytes.Equal(vals[i], w) {
					t.Fatalf("ScanObject(%q) member %q = %q, encoding/json gives %q (present %v)", raw, name, vals[i], w, ok)
				}
			}
		case wire.KindArray:
			var want []json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			var got []json.RawMessage
			for i, e := range wire.Elements(raw) {
				if i != len(got) {
					t.Fatalf("Elements index %d after %d elements", i, len(got))
				}
				got = append(got, e)
			}
			if len(got) != len(want) {
				t.Fatalf("Elements(%q) found %d elements, encoding/json %d", raw, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("Elements(%q) element %d = %q, encoding/json gives %q", raw, i, got[i], want[i])
				}
			}
		}
	})
}
