package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/internal/dynamotest"
)

// TestSoakSmoke runs the soak for a few seconds on each of the chat's
// stores: the command works, and a short churn loses and duplicates
// nothing, leaves no row, and ends with the goroutines of the clients gone.
func TestSoakSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chat for seconds")
	}
	chat := filepath.Join(t.TempDir(), "chat")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", chat, "github.com/gqlambda/gqlambda/examples/chat")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the chat: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name     string
		dynamodb func(t *testing.T) string
	}{
		{"Memory", func(*testing.T) string { return "" }},
		{"DynamoDB", func(t *testing.T) string { _, endpoint := dynamotest.Config(t); return endpoint }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{
				Duration:    8 * time.Second,
				Chat:        chat,
				DynamoDB:    tc.dynamodb(t),
				Clients:     10,
				LifetimeMin: 2 * time.Second,
				LifetimeMax: 4 * time.Second,
				Rooms:       3,
				Rate:        15,
				Sample:      2 * time.Second,
				Drain:       20 * time.Second, // generous: the machine may be loaded
				ChatLog:     filepath.Join(t.TempDir(), "chat.log"),
			}
			rep, err := Run(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			if f := rep.Failures(); len(f) > 0 {
				log, _ := os.ReadFile(o.ChatLog)
				t.Fatalf("failures: %v\nclient errors: %v\n%s\nchat log:\n%s", f, rep.Errors, rep.Markdown(), log)
			}
			if rep.Connects <= int64(o.Clients) || rep.Disconnects != rep.Connects {
				t.Errorf("connects %d, disconnects %d: want churn beyond the first %d clients, each leaving", rep.Connects, rep.Disconnects, o.Clients)
			}
			if rep.Expected == 0 || rep.Delivered < rep.Expected {
				t.Errorf("expected %d, delivered %d: want every expected message delivered", rep.Expected, rep.Delivered)
			}
			if len(rep.Samples) < 4 {
				t.Errorf("%d samples in 8 s every 2 s, want at least 4", len(rep.Samples))
			}
			for _, s := range rep.Samples {
				if s.RSSMB <= 0 || s.HeapLiveMB <= 0 || s.Goroutines <= 0 {
					t.Errorf("sample %+v: want the chat's memory and goroutines", s)
				}
			}
			if rep.Latency.N == 0 || rep.Latency.P50 <= 0 {
				t.Errorf("latency %+v: want percentiles of the deliveries", rep.Latency)
			}
			// Each connected client holds goroutines of the gateway; once
			// they have all left, those are gone. What may remain is the
			// chat's pool of keep-alive connections to DynamoDB, bounded.
			if f := rep.Flatness; f.GoroutinesAfter-f.GoroutinesAfterInHTTPPool >= f.GoroutinesBefore+o.Clients/2 {
				t.Errorf("goroutines: %d before the clients, %d after they left: want the clients' goroutines gone\n%s", f.GoroutinesBefore, f.GoroutinesAfter, rep.GoroutinesAtEnd)
			}
			if tc.name == "DynamoDB" && rep.RowsLeft == nil {
				t.Error("no count of the rows left on DynamoDB")
			}
		})
	}
}
