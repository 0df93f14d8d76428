package gatewaytest_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
)

func TestRecorder(t *testing.T) {
	ctx := context.Background()
	r := gatewaytest.NewRecorder()
	if err := r.Post(ctx, "https://a", "c1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := r.Post(ctx, "https://b", "c1", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got := r.Frames("c1"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("Frames = %q", got)
	}
	if got := r.Endpoints("c1"); !slices.Equal(got, []string{"https://a", "https://b"}) {
		t.Errorf("Endpoints = %q", got)
	}
	if _, _, ok := r.Closed("c1"); ok {
		t.Error("c1 closed before Close")
	}
	if err := r.Close(ctx, "https://a", "c1", 4400, "bad"); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(ctx, "https://a", "c1", 1000, "again"); err != nil {
		t.Fatal(err)
	}
	if code, reason, ok := r.Closed("c1"); !ok || code != 4400 || reason != "bad" {
		t.Errorf("Closed = %d %q %v", code, reason, ok)
	}
	if err := r.Post(ctx, "https://a", "c1", []byte("late")); !errors.Is(err, gateway.ErrGone) {
		t.Errorf("post after close: %v", err)
	}
	r.SetGone("c2")
	if err := r.Post(ctx, "https://a", "c2", []byte("x")); !errors.Is(err, gateway.ErrGone) {
		t.Errorf("post to gone: %v", err)
	}
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	r.SetInfo("c4", gateway.ConnectionInfo{ConnectedAt: at, LastActiveAt: at.Add(time.Minute)})
	if info, err := r.Get(ctx, "https://a", "c4"); err != nil || !info.LastActiveAt.Equal(at.Add(time.Minute)) {
		t.Errorf("Get of a live connection: %+v, %v", info, err)
	}
	for _, id := range []string{"c1", "c2"} { // closed, gone
		if _, err := r.Get(ctx, "https://a", id); !errors.Is(err, gateway.ErrGone) {
			t.Errorf("Get %s: %v, want ErrGone", id, err)
		}
	}
	if r.Gets() != 3 {
		t.Errorf("Gets %d, want 3", r.Gets())
	}
	if r.Posts() != 2 || r.Closes() != 1 {
		t.Errorf("Posts %d Closes %d", r.Posts(), r.Closes())
	}
	if got := r.Connections(); !slices.Equal(got, []string{"c1", "c2", "c4"}) {
		t.Errorf("Connections = %q", got)
	}
	boom := errors.New("boom")
	r.Hook = func(ctx context.Context, endpoint, id string, frame []byte) error {
		if id == "c3" {
			return boom
		}
		return nil
	}
	if err := r.Post(ctx, "https://a", "c3", []byte("x")); err != boom {
		t.Errorf("hook error: %v", err)
	}
	if r.Frames("c3") != nil {
		t.Error("frame recorded although the hook failed")
	}
	r.Reset()
	if r.Posts() != 0 || r.Connections() != nil && len(r.Connections()) != 0 || r.Frames("c1") != nil {
		t.Error("Reset kept records")
	}
	if err := r.Post(ctx, "https://a", "c1", []byte("again")); err != nil {
		t.Errorf("post after Reset: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Post(cancelled, "https://a", "c1", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("post with cancelled context: %v", err)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := gatewaytest.NewRecorder()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_ = r.Post(context.Background(), "e", "c", []byte("f"))
			}
		})
	}
	wg.Wait()
	if r.Posts() != 800 || len(r.Frames("c")) != 800 {
		t.Errorf("Posts %d frames %d", r.Posts(), len(r.Frames("c")))
	}
}
