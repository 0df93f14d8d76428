package legacyws_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol/legacyws"
)

func BenchmarkDecodeClient(b *testing.B) {
	frame, err := os.ReadFile(filepath.Join("testdata", "frames", "client-start-extensions.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := legacyws.DecodeClient(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReceiveStart(b *testing.B) {
	frame, err := os.ReadFile(filepath.Join("testdata", "frames", "client-start.json"))
	if err != nil {
		b.Fatal(err)
	}
	var srv legacyws.Server
	b.ReportAllocs()
	for b.Loop() {
		if actions := srv.Receive(acked, frame); len(actions) != 1 {
			b.Fatal(describe(actions))
		}
	}
}

// benchResult is a 100-byte execution result.
var benchResult = json.RawMessage(`{"data":{"messageAdded":{"id":"m-41","text":"hello, world","author":{"name":"Ada Lovelace!!!!!!"}}}}`)

func BenchmarkAppendNext(b *testing.B) {
	if len(benchResult) != 100 {
		b.Fatalf("result is %d bytes, want 100", len(benchResult))
	}
	var srv legacyws.Server
	id := "2d1b7a6e-5c3f-4f57-9a55-0c0f6b7f1c2e"
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchResult)))
	for b.Loop() {
		buf = srv.AppendNext(buf[:0], id, benchResult)
	}
	if !strings.HasSuffix(string(buf), string(benchResult)+"}") {
		b.Fatalf("unexpected frame %s", buf)
	}
}

func BenchmarkAppendNextEscapedID(b *testing.B) {
	var srv legacyws.Server
	id := "op \"é\" \\ \n 😀"
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = srv.AppendNext(buf[:0], id, benchResult)
	}
}

func BenchmarkAppendError(b *testing.B) {
	var srv legacyws.Server
	id := "2d1b7a6e-5c3f-4f57-9a55-0c0f6b7f1c2e"
	errs := []json.RawMessage{
		json.RawMessage(`{"message":"The result is 140000 bytes, over the 131072-byte message limit","extensions":{"code":"MESSAGE_TOO_LARGE"}}`),
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = srv.AppendError(buf[:0], id, errs)
	}
}
