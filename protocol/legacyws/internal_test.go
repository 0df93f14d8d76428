package legacyws

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
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
		if got := kindOf([]byte(tt.raw)).String(); got != tt.want {
			t.Errorf("kindOf(%q) = %s, want %s", tt.raw, got, tt.want)
		}
	}
}

func TestTruthy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want bool
	}{
		{``, false},
		{`null`, false},
		{`false`, false},
		{`true`, true},
		{`0`, false},
		{`-0`, false},
		{`0.0e5`, false},
		{`1`, true},
		{`-1e-300`, true},
		{`1e400`, true},
		{`""`, false},
		{`" "`, true},
		{`"0"`, true},
		{`[]`, true},
		{`{}`, true},
	}
	for _, tt := range tests {
		var raw []byte
		if tt.raw != "" {
			raw = []byte(tt.raw)
		}
		if got := truthy(raw); got != tt.want {
			t.Errorf("truthy(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// FuzzUnquote checks unquote against encoding/json on every valid JSON
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
		raw = bytes.Trim(raw, " \t\r\n") // as scanObject slices values
		if !utf8.Valid(raw) || !json.Valid(raw) || kindOf(raw) != kindString {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", raw, err)
		}
		got, err := unquote(raw)
		if err != nil || got != want {
			t.Fatalf("unquote(%q) = %q, %v; encoding/json gives %q", raw, got, err, want)
		}
	})
}

// FuzzScan checks scanObject and scanArray against encoding/json on every
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
		switch kindOf(raw) {
		case kindObject:
			var want map[string]json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			names := []string{"a", "type", "payload"}
			for k := range want {
				names = append(names, k)
			}
			vals := make([][]byte, len(names))
			scanObject(raw, names, vals)
			for i, name := range names {
				w, ok := want[name]
				if (vals[i] != nil) != ok || !bytes.Equal(vals[i], w) {
					t.Fatalf("scanObject(%q) member %q = %q, encoding/json gives %q (present %v)", raw, name, vals[i], w, ok)
				}
			}
		case kindArray:
			var want []json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			var got []json.RawMessage
			scanArray(raw, func(i int, e []byte) bool {
				if i != len(got) {
					t.Fatalf("scanArray index %d after %d elements", i, len(got))
				}
				got = append(got, e)
				return true
			})
			if len(got) != len(want) {
				t.Fatalf("scanArray(%q) found %d elements, encoding/json %d", raw, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("scanArray(%q) element %d = %q, encoding/json gives %q", raw, i, got[i], want[i])
				}
			}
		}
	})
}
