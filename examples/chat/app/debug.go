package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"time"
)

// RuntimeStats is what GET /debug/runtime of the chat's debug listener
// (-debug-addr) answers: the process's goroutines and Go heap, read by
// bench/soak to see whether they stay flat under churn.
type RuntimeStats struct {
	Goroutines int `json:"goroutines"`
	// HeapAlloc is the bytes of allocated heap objects; after a collection
	// when the request asked for one (?gc=1), the live heap.
	HeapAlloc uint64 `json:"heapAlloc"`
	// HeapInuse and Sys are runtime.MemStats' fields of those names.
	HeapInuse uint64 `json:"heapInuse"`
	Sys       uint64 `json:"sys"`
	NumGC     uint32 `json:"numGC"`
}

// debugHandler answers GET /debug/runtime with [RuntimeStats] (?gc=1 runs a
// collection first, so that HeapAlloc is the live heap), and GET
// /debug/goroutines with the goroutines' stacks.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/runtime", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(RuntimeStats{
			Goroutines: runtime.NumGoroutine(),
			HeapAlloc:  m.HeapAlloc,
			HeapInuse:  m.HeapInuse,
			Sys:        m.Sys,
			NumGC:      m.NumGC,
		})
	})
	// The goroutines' stacks, grouped, to see what a growing count is.
	mux.HandleFunc("GET /debug/goroutines", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_ = pprof.Lookup("goroutine").WriteTo(w, 1)
	})
	return mux
}

// serveDebug serves debugHandler on addr until the returned stop is called.
// It is a listener of its own, so that the chat's public address never
// answers it.
func serveDebug(addr string, logger *slog.Logger) (stop func(), url string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("debug listener stopped", slog.String("error", err.Error()))
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, "http://" + ln.Addr().String() + "/debug/runtime", nil
}
