package localgateway_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/localgateway"
)

// Example serves an echo handler, written as for Lambda: it answers each
// message through the @connections API, here the gateway itself. In an
// application the handler is gqlambda's Server.WebSocketHandler and the
// gateway is its Sender.
func Example() {
	var g *localgateway.Gateway
	disconnected := make(chan string, 1)
	handler := func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		rc := ev.RequestContext
		switch rc.EventType {
		case "MESSAGE":
			err := g.Post(ctx, "", rc.ConnectionID, []byte("echo: "+ev.Body))
			return events.APIGatewayProxyResponse{StatusCode: 200}, err
		case "DISCONNECT":
			disconnected <- fmt.Sprint(rc.DisconnectStatusCode, " ", *rc.DisconnectReason)
		}
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	g, err := localgateway.New(localgateway.Options{Handler: handler})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", nil)
	if err != nil {
		panic(err)
	}
	c.Write(ctx, websocket.MessageText, []byte("hello"))
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))

	c.Close(websocket.StatusNormalClosure, "bye")
	fmt.Println("disconnected:", <-disconnected)
	g.Shutdown(ctx)
	// Output:
	// echo: hello
	// disconnected: 1000 bye
}
