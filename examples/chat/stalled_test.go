package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/examples/chat/app"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
)

// stalledClient connects to url with a small receive buffer, subscribes
// subs times to chatID's messages and then never reads again: a subscriber
// whose socket stopped reading.
func stalledClient(t *testing.T, url, chatID string, subs int) {
	t.Helper()
	dialer := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &chatClient{t: t, ws: ws}
	c.write(`{"type":"connection_init"}`)
	if got := c.read(30 * time.Second); !strings.Contains(got, "connection_ack") {
		t.Fatalf("got %s, want connection_ack", got)
	}
	for i := range subs {
		c.write(fmt.Sprintf(`{"type":"subscribe","id":"s%d","payload":{"query":"subscription { chat(chatId: \"%s\") { text } }"}}`, i, chatID))
	}
	c.settle()
}

// TestStalledSubscriberDelaysNoOther: one subscriber whose socket stopped
// reading (subscribed many times, so that its socket fills) and several live
// ones, on the memory store and on DynamoDB Local. Messages are sent until
// the gateway has closed the stalled one (its queue stayed full); every live
// subscriber gets every message, each promptly: on the memory store within
// 2 s of its mutation, on DynamoDB Local (whose latency on a loaded machine
// varies) within twice the slowest delivery measured before the stalled
// subscriber came, plus 5 s. Before, each post to the stalled subscriber
// held the others for the gateway's 10 s write timeout.
func TestStalledSubscriberDelaysNoOther(t *testing.T) {
	for _, mode := range []string{"memory", "dynamodb"} {
		t.Run(mode, func(t *testing.T) {
			opts := app.LocalOptions{NewEngine: newEngine}
			stalledSubs, maxMessages := 60, 600
			if mode == "dynamodb" {
				opts.DynamoDB = os.Getenv(dynamotest.EnvEndpoint)
				if opts.DynamoDB == "" {
					t.Skipf("%s is not set", dynamotest.EnvEndpoint)
				}
				opts.TablePrefix = dynamotest.Prefix(t)
				maxMessages = 120
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			a, err := app.StartLocal(t.Context(), ln, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				a.Shutdown(ctx)
			})

			const live = 4
			var mu sync.Mutex
			arrived := make([]map[int]time.Time, live)
			var sent []time.Time
			for i := range live {
				arrived[i] = map[int]time.Time{}
				c := subscribeChat(t, a.WebSocketURL, "room")
				go func() {
					for {
						_, b, err := c.ws.Read(context.Background())
						if err != nil {
							return
						}
						var n int
						if _, err := fmt.Sscanf(string(b), `{"type":"next","id":"1","payload":{"data":{"chat":{"text":"m%d`, &n); err == nil {
							mu.Lock()
							arrived[i][n] = time.Now()
							mu.Unlock()
						}
					}
				}()
			}

			pad := strings.Repeat("x", app.MaxTextBytes-10)
			// sendAndWait sends messages [from, to) and waits until every
			// live subscriber has them; it returns the slowest delivery.
			sendAndWait := func(from, to int) time.Duration {
				for n := from; n < to; n++ {
					mu.Lock()
					sent = append(sent, time.Now())
					mu.Unlock()
					if got := send(t, a.HTTPURL, "room", fmt.Sprintf("m%d%s", n, pad)); !strings.HasPrefix(got, "200") || strings.Contains(got, `"errors"`) {
						t.Fatalf("sendMessage %d: %s", n, got[:min(len(got), 300)])
					}
				}
				deadline := time.Now().Add(60 * time.Second)
				for {
					mu.Lock()
					missing := 0
					var worst time.Duration
					for i := range live {
						for n := from; n < to; n++ {
							if at, ok := arrived[i][n]; ok {
								worst = max(worst, at.Sub(sent[n]))
							} else {
								missing++
							}
						}
					}
					mu.Unlock()
					if missing == 0 {
						return worst
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d deliveries of messages %d to %d missing after 60 s", missing, from, to-1)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			baseline := sendAndWait(0, 5)

			stalledClient(t, a.WebSocketURL, "room", stalledSubs)
			// One message at a time: the change-data-capture handler posts
			// a batch's records in turn, so a round of several messages
			// would put several of the stalled client's post timeouts
			// (1 s each) in the path of its last delivery, on any machine.
			var worst time.Duration
			n := 5
			for len(a.Gateway.Connections()) > live {
				if n >= maxMessages {
					t.Fatalf("%d messages sent and the stalled subscriber is still connected", n)
				}
				worst = max(worst, sendAndWait(n, n+1))
				n++
			}
			worst = max(worst, sendAndWait(n, n+1)) // and after its close
			bound := 2 * time.Second
			if mode == "dynamodb" {
				bound = 2*baseline + 5*time.Second
			}
			t.Logf("%d messages; slowest delivery to a live subscriber: %v before the stalled one came, %v after (bound %v)", n+1, baseline, worst, bound)
			if worst > bound {
				t.Errorf("a live subscriber got a message %v after its mutation, want within %v", worst, bound)
			}
		})
	}
}
