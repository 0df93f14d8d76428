package storetest

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
)

// serverEnv is a real gqlambda.Server on the case's store, with a recording
// gateway: the cases that check what the server does with a store, as a
// Lambda function would drive it.
type serverEnv struct {
	e     *env
	srv   *gqlambda.Server
	rec   *gatewaytest.Recorder
	topic string
}

func (e *env) server() *serverEnv {
	e.t.Helper()
	topic := e.topic("server")
	sub := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"ticks": &graphql.Field{
			Type:      graphql.Int,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{topic}}),
			Resolve: func(p graphql.ResolveParams) (any, error) {
				return p.Source.(map[string]any)["n"], nil
			},
		},
	}})
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"ok": &graphql.Field{Type: graphql.Boolean},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: sub})
	if err != nil {
		e.t.Fatalf("schema: %v", err)
	}
	rec := gatewaytest.NewRecorder()
	srv, err := gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(schema, nil), Store: e.s, Sender: rec})
	if err != nil {
		e.t.Fatalf("gqlambda.New: %v", err)
	}
	return &serverEnv{e: e, srv: srv, rec: rec, topic: topic}
}

func (s *serverEnv) event(id, eventType, route, body string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body:    body,
		Headers: map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"},
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			EventType: eventType, RouteKey: route, ConnectionID: id,
			DomainName: "example.execute-api.eu-west-1.amazonaws.com", Stage: "test",
		},
	}
}

func (s *serverEnv) handle(ev events.APIGatewayWebsocketProxyRequest) error {
	resp, err := s.srv.WebSocketHandler(s.e.ctx, ev)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: status %d", ev.RequestContext.RouteKey, ev.RequestContext.ConnectionID, resp.StatusCode)
	}
	return nil
}

// subscribed connects id, initialises it and subscribes to the case's topic
// with operation id "1", reporting the first failure.
func (s *serverEnv) subscribed(id string) error {
	for _, ev := range []events.APIGatewayWebsocketProxyRequest{
		s.event(id, "CONNECT", "$connect", ""),
		s.event(id, "MESSAGE", "$default", `{"type":"connection_init"}`),
		s.event(id, "MESSAGE", "$default", `{"type":"subscribe","id":"1","payload":{"query":"subscription { ticks }"}}`),
	} {
		if err := s.handle(ev); err != nil {
			return err
		}
	}
	return nil
}

// testLostDisconnectCleanedUpOnDelivery: API Gateway does not guarantee the
// $disconnect event. A connection whose client vanished stays in the store
// until the next delivery to it is answered 410 Gone; then the server must
// remove the connection and every subscription of it, and the next publish
// must not try it again.
func testLostDisconnectCleanedUpOnDelivery(e *env) {
	s := e.server()
	alive, lost := e.id("alive"), e.id("lost")
	for _, id := range []string{alive, lost} {
		if err := s.subscribed(id); err != nil {
			e.t.Fatalf("subscribe %s through the server: %v", id, err)
		}
	}
	s.rec.SetGone(lost) // the client vanished; no $disconnect arrives

	res, err := s.srv.Publish(e.ctx, s.topic, map[string]any{"n": 1})
	if err != nil {
		e.t.Fatalf("Publish: %v", err)
	}
	if res.Matched != 2 || res.Delivered != 1 || res.Gone != 1 {
		e.t.Errorf("Publish with one gone connection = %+v, want matched 2, delivered 1, gone 1", res)
	}
	e.expectNoConnection("after a 410 Gone on delivery", lost)
	e.expectNoSubscription("after a 410 Gone on delivery", lost, "1")
	for sub, err := range e.s.TopicSubscriptions(e.ctx, s.topic) {
		if err != nil {
			e.t.Fatalf("TopicSubscriptions: %v", err)
		}
		if sub.ConnectionID == lost {
			e.t.Errorf("TopicSubscriptions after a 410 Gone still yields the gone connection's subscription %q", sub.ID)
		}
	}
	res, err = s.srv.Publish(e.ctx, s.topic, map[string]any{"n": 2})
	if err != nil {
		e.t.Fatalf("second Publish: %v", err)
	}
	if res.Matched != 1 || res.Delivered != 1 || res.Gone != 0 {
		e.t.Errorf("second Publish = %+v, want matched 1, delivered 1, gone 0", res)
	}
	frames := s.rec.Frames(alive)
	if n := len(frames); n != 3 || !strings.Contains(frames[1], `"ticks":1`) || !strings.Contains(frames[2], `"ticks":2`) {
		e.t.Errorf("frames of the live connection: %q, want ack and two ticks", frames)
	}
}

// testSubscribeDisconnectRaceThroughServer races a subscribe frame against
// the $disconnect of the same connection, through the server, on many
// connections: whichever wins, neither the connection nor its subscription
// may be left behind.
func testSubscribeDisconnectRaceThroughServer(e *env) {
	s := e.server()
	n := max(e.o.RacePairs/10, 10)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.id(fmt.Sprintf("c%d", i))
		for _, ev := range []events.APIGatewayWebsocketProxyRequest{
			s.event(ids[i], "CONNECT", "$connect", ""),
			s.event(ids[i], "MESSAGE", "$default", `{"type":"connection_init"}`),
		} {
			if err := s.handle(ev); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	forEach(n, e.o.Concurrency, func(i int) {
		race(
			func() {
				_, _ = s.srv.WebSocketHandler(context.WithoutCancel(e.ctx),
					s.event(ids[i], "MESSAGE", "$default", `{"type":"subscribe","id":"1","payload":{"query":"subscription { ticks }"}}`))
			},
			func() {
				_, _ = s.srv.WebSocketHandler(context.WithoutCancel(e.ctx), s.event(ids[i], "DISCONNECT", "$disconnect", ""))
			},
		)
	})
	left := 0
	for sub, err := range e.s.TopicSubscriptions(e.ctx, s.topic) {
		if err != nil {
			e.t.Fatalf("TopicSubscriptions: %v", err)
		}
		left++
		if left <= maxReported {
			e.t.Errorf("subscription %q of connection %q left behind by a subscribe racing $disconnect", sub.ID, sub.ConnectionID)
		}
	}
	if left > maxReported {
		e.t.Errorf("%d subscriptions left behind in all", left)
	}
	for _, id := range ids {
		e.expectNoConnection("after $disconnect", id)
	}
}
