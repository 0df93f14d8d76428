package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/examples/chat/app"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
)

// chatClient is a graphql-ws client of the chat subscribed to one chat's
// messages.
type chatClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func subscribeChat(t *testing.T, url, chatID string) *chatClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &chatClient{t: t, ws: ws}
	c.write(`{"type":"connection_init"}`)
	if got := c.read(30 * time.Second); !strings.Contains(got, "connection_ack") {
		t.Fatalf("got %s, want connection_ack", got)
	}
	c.write(`{"type":"subscribe","id":"1","payload":{"query":"subscription { chat(chatId: \"` + chatID + `\") { text } }"}}`)
	c.settle()
	return c
}

// settle returns once every frame c sent before it has been handled: it
// sends a query and reads until its complete. The gateway handles a
// connection's frames in order, so a subscription sent before is stored by
// then. It reads only the query's own frames: call it before messages flow.
func (c *chatClient) settle() {
	c.t.Helper()
	c.write(`{"type":"subscribe","id":"settle","payload":{"query":"{ __typename }"}}`)
	for {
		got := c.read(30 * time.Second)
		if strings.Contains(got, `"type":"complete"`) && strings.Contains(got, `"id":"settle"`) {
			return
		}
		if !strings.Contains(got, `"id":"settle"`) {
			c.t.Fatalf("got %s while waiting for the settling query", got)
		}
	}
}

func (c *chatClient) write(frame string) {
	c.t.Helper()
	if err := c.ws.Write(c.t.Context(), websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *chatClient) read(d time.Duration) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), d)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return string(b)
}

// send posts sendMessage over HTTP and returns the response body.
func send(t *testing.T, url, chatID, text string) string {
	t.Helper()
	q, _ := json.Marshal(map[string]string{"query": `mutation { sendMessage(chatId: "` + chatID + `", text: "` + text + `") { id } }`})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(q)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sendMessage: %v", err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, resp.StatusCode, " ")
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return b.String()
}

// TestDynamoDBLocalRestart: the chat on a DynamoDB Local that stops and
// starts again, empty. While it is down, a mutation gets a masked error at
// once, and the stream pollers say once what is wrong (not several times a
// second); once it is back, the chat creates its tables again, the pollers
// find the new streams, a new subscriber gets the new messages, and nothing
// is left in the tables once the clients are gone.
func TestDynamoDBLocalRestart(t *testing.T) {
	d := dynamotest.Own(t)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.StartLocal(t.Context(), ln, app.LocalOptions{NewEngine: newEngine, DynamoDB: d.Endpoint, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})

	before := subscribeChat(t, a.WebSocketURL, "room")
	if got := send(t, a.HTTPURL, "room", "first"); !strings.HasPrefix(got, "200") || strings.Contains(got, "errors") {
		t.Fatalf("sendMessage: %s", got)
	}
	if got := before.read(30 * time.Second); !strings.Contains(got, "first") {
		t.Fatalf("got %s, want the first message", got)
	}

	d.Stop(t)
	down := time.Now()
	mark := len(logs.String())
	began := time.Now()
	got := send(t, a.HTTPURL, "room", "lost")
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("sendMessage while DynamoDB is down took %v", took)
	}
	if !strings.Contains(got, "SERVICE_UNAVAILABLE") || strings.Contains(got, "127.0.0.1") {
		t.Errorf("sendMessage while DynamoDB is down: %s, want a masked SERVICE_UNAVAILABLE", got)
	}
	time.Sleep(8*time.Second - time.Since(down))
	outage := logs.String()[mark:]
	warns := 0
	for l := range strings.SplitSeq(outage, "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "stream:") {
			warns++
		}
	}
	// Two pollers, each with its readers and its stream description: a few
	// distinct failures, each said once; not 2.6 lines a second.
	if warns > 8 {
		t.Errorf("%d WARN lines of the pollers in 8 s of outage, want each distinct failure once:\n%s", warns, outage)
	}

	d.Start(t)
	after := subscribeChat(t, a.WebSocketURL, "room")
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := send(t, a.HTTPURL, "room", "second")
		if strings.HasPrefix(got, "200") && !strings.Contains(got, "errors") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sendMessage after the restart: %s", got)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	if got := after.read(90 * time.Second); !strings.Contains(got, "second") {
		t.Fatalf("got %s, want the second message", got)
	}
	if out := logs.String(); !strings.Contains(out, "creating the tables again") || !strings.Contains(out, "stream: reading again") {
		t.Errorf("logs do not say that the tables were created again and the streams read again:\n%s", out)
	}

	// The clients leave: nothing of them is left.
	before.ws.Close(websocket.StatusNormalClosure, "")
	after.ws.Close(websocket.StatusNormalClosure, "")
	client := awsdynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
		func(o *awsdynamodb.Options) { o.BaseEndpoint = aws.String(d.Endpoint) })
	deadline = time.Now().Add(30 * time.Second)
	for {
		left := 0
		for _, table := range []string{app.DefaultTablePrefix + "connections", app.DefaultTablePrefix + "subscriptions"} {
			out, err := client.Scan(t.Context(), &awsdynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			for _, item := range out.Items {
				if _, ok := item["connectionId"]; ok || table == app.DefaultTablePrefix+"connections" {
					left++
				}
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d items left after every client disconnected", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
