package localgateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/localgateway"
)

// BenchmarkFrame measures the local gateway's per-frame path: a client
// writes a message, the gateway invokes the handler with its $default
// event, the handler posts the message back through the @connections API,
// and the client reads it. "inprocess" posts with Gateway.Post, as a server
// in the gateway's process does; "http" with apigw.Client to the gateway's
// @connections endpoint over loopback, as a Lambda behind the gateway does.
// The client's work is inside ns/op and allocs/op. Run with
//
//	go test -run '^$' -bench Frame -benchmem ./localgateway/
func BenchmarkFrame(b *testing.B) {
	for _, mode := range []string{"inprocess", "http"} {
		b.Run(mode, func(b *testing.B) {
			var sender gateway.Sender
			var endpoint string
			handler := func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				if ev.RequestContext.EventType == "MESSAGE" {
					if err := sender.Post(ctx, endpoint, ev.RequestContext.ConnectionID, []byte(ev.Body)); err != nil {
						return events.APIGatewayProxyResponse{}, err
					}
				}
				return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
			}
			g, err := localgateway.New(localgateway.Options{Handler: handler})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(g)
			b.Cleanup(func() {
				srv.Close()
				g.Shutdown(context.Background())
			})
			endpoint = srv.URL + "/" + g.Stage()
			sender = g
			if mode == "http" {
				sender = apigw.New(apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
					Region:      "us-east-1",
					Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
				}), &apigw.Options{Rate: -1})
			}
			// A context without Done: the client's WebSocket library then
			// sets up no timer per frame, which would count here.
			ctx := context.WithoutCancel(b.Context())
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+g.Path(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			frame := []byte(`{"type":"next","id":"1","payload":{"data":{"broadcast":"hello, world"}}}`)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
