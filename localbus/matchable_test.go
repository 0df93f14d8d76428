package localbus

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestMatchable: the event patterns see is the event's JSON as
// encoding/json decodes it (times to the second), built without encoding
// the event.
func TestMatchable(t *testing.T) {
	b, err := New(Options{Name: "bus"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(t.Context()) })
	at := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.FixedZone("x", 3600))
	for _, e := range []Entry{
		{Source: "s", DetailType: "t", Detail: `{}`},
		{Source: "s", DetailType: "t", Detail: `{"a": 1.5, "b": [true, null, "x"], "c": {"d": 12345678901234567890}}`, Resources: []string{"arn:1", "arn:2"}, Time: at},
		{Source: "s", DetailType: "t", Detail: `{"a": "<&>\u00e9"}`, Resources: []string{}},
	} {
		ev, detail, code, msg := b.envelope(e, at)
		if code != "" {
			t.Fatalf("%+v: refused: %s %s", e, code, msg)
		}
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		want["time"] = "2026-01-02T02:04:05Z"
		if got := matchable(ev, detail); !reflect.DeepEqual(got, want) {
			t.Errorf("%+v:\n got %#v\nwant %#v", e, got, want)
		}
	}
}
