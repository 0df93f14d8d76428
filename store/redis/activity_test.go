package redis

import (
	"reflect"
	"testing"

	"github.com/gqlambda/gqlambda/store"
)

// roundTrip encodes c as its hash and decodes it.
func roundTrip(t *testing.T, c store.Connection) store.Connection {
	t.Helper()
	fields := map[string]string{fieldWriteToken: "tok"}
	enc := connectionFields(c)
	for i := 0; i < len(enc); i += 2 {
		fields[enc[i].(string)] = enc[i+1].(string)
	}
	r, err := decodeConnection(c.ID, fields)
	if err != nil {
		t.Fatalf("the encoding %v does not decode: %v", fields, err)
	}
	return r.conn
}

// FuzzConnectionActivity decodes a connection hash whose activity fields
// (la, pa) hold anything: the decode fails with an error, or gives a
// connection that encodes to a hash that decodes to the same.
func FuzzConnectionActivity(f *testing.F) {
	for _, seed := range [][2]string{{"1765000000001", ""}, {"1765000000001", "1765000000002"}, {"", ""}, {"-1", "x"}, {"99999999999999999999", "0"}, {"1e3", " 1"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, la, pa string) {
		fields := map[string]string{fieldWriteToken: "tok", fieldConnectedAt: "1765000000000"}
		if la != "" {
			fields[fieldLastActive] = la
		}
		if pa != "" {
			fields[fieldPingedAt] = pa
		}
		r, err := decodeConnection("c", fields)
		if err != nil {
			return
		}
		// A record without la is last active when it connected: the first
		// encoding writes that; from there, encoding and decoding agree.
		want := r.conn
		if want.LastActiveAt.IsZero() {
			want.LastActiveAt = want.ConnectedAt
		}
		got := roundTrip(t, r.conn)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip of la=%q pa=%q:\n got %+v\nwant %+v", la, pa, got, want)
		}
	})
}
