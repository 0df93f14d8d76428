package main

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/examples/chat/app"
)

// TestLocalSweeps runs the chat locally with sweeps every 200 ms (what
// -sweep-interval sets), pinging idle connections: a client that answers
// pings stays, one that does not is closed (1001, "Pong not received"), and
// one that never sends connection_init is closed with 4408, all through the
// local gateway's sockets.
func TestLocalSweeps(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.StartLocal(t.Context(), ln, app.LocalOptions{
		NewEngine:     newEngine,
		SweepInterval: 200 * time.Millisecond,
		Liveness:      gqlambda.Liveness{Ping: true, IdleAfter: 300 * time.Millisecond, PongTimeout: 2 * time.Second, InitTimeout: 2 * time.Second},
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	dial := func(init bool) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.Dial(ctx, a.WebSocketURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		if init {
			if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init"}); err != nil {
				t.Fatal(err)
			}
			var ack struct{ Type string }
			if err := wsjson.Read(ctx, c, &ack); err != nil || ack.Type != "connection_ack" {
				t.Fatalf("connection_init answered %q, %v", ack.Type, err)
			}
		}
		return c
	}
	answering, silent, lazy := dial(true), dial(true), dial(false)
	defer answering.CloseNow()
	defer silent.CloseNow()
	defer lazy.CloseNow()

	// The answering client answers three pings in a row with pongs.
	answered := make(chan error, 1)
	go func() {
		for range 3 {
			var m struct{ Type string }
			if err := wsjson.Read(ctx, answering, &m); err != nil {
				answered <- err
				return
			}
			if m.Type != "ping" {
				answered <- errors.New("received " + m.Type + ", want ping")
				return
			}
			if err := wsjson.Write(ctx, answering, map[string]any{"type": "pong"}); err != nil {
				answered <- err
				return
			}
		}
		answered <- nil
	}()

	// The silent one reads its ping and says nothing: the sweeper closes it.
	var m struct{ Type string }
	if err := wsjson.Read(ctx, silent, &m); err != nil || m.Type != "ping" {
		t.Fatalf("the silent client read %q, %v; want a ping", m.Type, err)
	}
	_, _, err = silent.Read(ctx)
	if code := websocket.CloseStatus(err); code != 1001 {
		t.Errorf("the silent client: %v; want close 1001", err)
	}
	_, _, err = lazy.Read(ctx)
	if code := websocket.CloseStatus(err); code != 4408 {
		t.Errorf("the client that never initialised: %v; want close 4408", err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("the answering client: %v", err)
	}
	// Still connected: a query over the socket is answered.
	if err := wsjson.Write(ctx, answering, map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": "{ __typename }"}}); err != nil {
		t.Fatal(err)
	}
	for {
		if err := wsjson.Read(ctx, answering, &m); err != nil {
			t.Fatalf("the answering client after its pongs: %v", err)
		}
		if m.Type == "next" {
			break
		}
		if m.Type == "ping" {
			wsjson.Write(ctx, answering, map[string]any{"type": "pong"})
		}
	}
}
