package gqlambda_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/gqlambda/gqlambda"
)

// Per-frame cost of the WebSocket handler with the memory store and a
// recording sender: the server's own work, store and gateway excluded as far
// as an in-memory store allows. Run with
//
//	go test -run=^$ -bench=Frame -benchmem .
func BenchmarkFrame(b *testing.B) {
	ctx := context.Background()
	// A frame rate no benchmark reaches: the limiter's bucket is taken at
	// every frame, as in production, and never refuses one.
	unlimited := func(c *gqlambda.Config, _ *hookLog) { c.Limits.FrameRate = 1e12 }
	b.Run("ping", func(b *testing.B) {
		h := newHarness(b, unlimited)
		h.ready("c1")
		ev := h.message
		ev.RequestContext.ConnectionID = "c1"
		ev.Body = `{"type":"ping"}`
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.srv.WebSocketHandler(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("subscribe+complete", func(b *testing.B) {
		h := newHarness(b, unlimited)
		h.ready("c1")
		sub := h.message
		sub.RequestContext.ConnectionID = "c1"
		sub.Body = `{"type":"subscribe","id":"s1","payload":{"query":"subscription($c: ID) { messages(chatId: $c) { id text author } }","variables":{"c":"42"}}}`
		done := sub
		done.Body = `{"type":"complete","id":"s1"}`
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.srv.WebSocketHandler(ctx, sub); err != nil {
				b.Fatal(err)
			}
			if _, err := h.srv.WebSocketHandler(ctx, done); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("query", func(b *testing.B) {
		h := newHarness(b, unlimited)
		h.ready("c1")
		ev := h.message
		ev.RequestContext.ConnectionID = "c1"
		ev.Body = `{"type":"subscribe","id":"q","payload":{"query":"{ hello }"}}`
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.srv.WebSocketHandler(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPublish fans one event out to N subscribers on the memory store
// with a recording sender: the cost of filtering, executing (shared) and
// framing per delivered post. allocs/post counts every allocation of the
// process during the loop (the memory store's copies and the recorder's
// included) per delivered post. Run with
//
//	go test -run '^$' -bench Publish -benchmem .
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := newHarness(b, nil)
			for i := range n {
				id := fmt.Sprint("c", i)
				h.ready(id)
				h.subscribe(id, "s", `subscription { messages(chatId: "42") { id text } }`)
			}
			payload := map[string]any{"id": "1", "chatId": "42", "text": "hello"}
			ctx := context.Background()
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				h.rec.Reset()
				res, err := h.srv.Publish(ctx, "MESSAGES", payload)
				if err != nil || res.Delivered != n {
					b.Fatalf("%+v %v", res, err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/post")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/post")
		})
	}
}
