package gqlambda_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/memory"
)

// The harness drives one server on the memory store with graphql-go, for the
// tests of the server's details (every hook's arguments and order, limits,
// configuration, the captured API Gateway events). The behaviours that
// depend on the protocol, the engine or the store run in every cell of the
// server suite (suite_test.go).

// The events API Gateway sends, as captured: every test event is one of
// these with its connection id and body replaced.
var (
	//go:embed testdata/events/connect.json
	connectFixture []byte
	//go:embed testdata/events/message.json
	messageFixture []byte
	//go:embed testdata/events/disconnect.json
	disconnectFixture []byte
)

func loadEvent(t testing.TB, raw []byte) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	var ev events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return ev
}

// hookLog records hook calls in order.
type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *hookLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf(format, args...))
}

func (l *hookLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

func (l *hookLog) count(prefix string) int {
	n := 0
	for _, c := range l.list() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// testSchema is a chat schema with a subscription field for every feature the
// tests exercise.
func testSchema(t testing.TB, log *hookLog) graphql.Schema {
	t.Helper()
	message := graphql.NewObject(graphql.ObjectConfig{Name: "Message", Fields: graphql.Fields{
		"id":       &graphql.Field{Type: graphql.NewNonNull(graphql.ID)},
		"chatId":   &graphql.Field{Type: graphql.NewNonNull(graphql.ID)},
		"text":     &graphql.Field{Type: graphql.NewNonNull(graphql.String)},
		"author":   &graphql.Field{Type: graphql.String},
		"priority": &graphql.Field{Type: graphql.Int},
		"tags":     &graphql.Field{Type: graphql.NewList(graphql.String)},
	}})
	source := func(p graphql.ResolveParams) (any, error) { return p.Source, nil }
	var ids atomic.Int64

	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"hello": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) { return "world", nil }},
		"whoami": &graphql.Field{Type: graphql.String, Resolve: func(p graphql.ResolveParams) (any, error) {
			c, ok := gqlambda.ConnFromContext(p.Context)
			if !ok {
				return nil, fmt.Errorf("no connection")
			}
			var kept struct{ User string }
			if err := c.DecodeContext(&kept); err != nil {
				return nil, err
			}
			id, _ := gqlambda.OperationIDFromContext(p.Context)
			return kept.User + "@" + c.ID + "#" + id, nil
		}},
		"boom": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) { return nil, fmt.Errorf("boom") }},
		"large": &graphql.Field{Type: graphql.String, Args: graphql.FieldConfigArgument{"size": {Type: graphql.NewNonNull(graphql.Int)}},
			Resolve: func(p graphql.ResolveParams) (any, error) { return strings.Repeat("q", p.Args["size"].(int)), nil }},
	}})

	mutation := graphql.NewObject(graphql.ObjectConfig{Name: "Mutation", Fields: graphql.Fields{
		"send": &graphql.Field{
			Type: message,
			Args: graphql.FieldConfigArgument{
				"chatId":   {Type: graphql.NewNonNull(graphql.ID)},
				"text":     {Type: graphql.NewNonNull(graphql.String)},
				"author":   {Type: graphql.String},
				"priority": {Type: graphql.Int},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				msg := map[string]any{"id": fmt.Sprint(ids.Add(1)), "chatId": p.Args["chatId"], "text": p.Args["text"]}
				if a, ok := p.Args["author"]; ok {
					msg["author"] = a
				}
				if pr, ok := p.Args["priority"]; ok {
					msg["priority"] = pr
				}
				srv, ok := gqlambda.ServerFromContext(p.Context)
				if !ok {
					return nil, fmt.Errorf("no server in context")
				}
				if _, err := srv.Publish(p.Context, "MESSAGES", msg); err != nil {
					return nil, err
				}
				return msg, nil
			},
		},
	}})

	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"messages": &graphql.Field{
			Type: message,
			Args: graphql.FieldConfigArgument{
				"chatId": {Type: graphql.ID},
				"where":  {Type: graphql.String, Description: "an AppSync filter as JSON"},
			},
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{
				Topics: []string{"MESSAGES"},
				FilterFunc: func(ctx context.Context, args map[string]any) (filter.Filter, error) {
					if where, ok := args["where"].(string); ok {
						return filter.Parse([]byte(where))
					}
					if chatID, ok := args["chatId"].(string); ok {
						return filter.All(filter.Where("chatId", filter.Eq, chatID)), nil
					}
					return filter.Filter{}, nil
				},
			}),
			Resolve: source,
		},
		"room": &graphql.Field{
			Type: message,
			Args: graphql.FieldConfigArgument{"chatId": {Type: graphql.NewNonNull(graphql.ID)}},
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{
				TopicsFunc: func(ctx context.Context, args map[string]any) ([]string, error) {
					return []string{"room:" + args["chatId"].(string)}, nil
				},
			}),
			Resolve: source,
		},
		"multi": &graphql.Field{
			Type:      message,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{"A", "B"}}),
			Resolve:   source,
		},
		"hooked": &graphql.Field{
			Type: graphql.String,
			Args: graphql.FieldConfigArgument{
				"reject":  {Type: graphql.Boolean},
				"initial": {Type: graphql.String},
				"label":   {Type: graphql.String},
			},
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{
				Topics: []string{"HOOKED"},
				OnSubscribe: func(ctx context.Context, args map[string]any) error {
					id, _ := gqlambda.OperationIDFromContext(ctx)
					log.add("field.OnSubscribe %s %v", id, args["label"])
					if r, _ := args["reject"].(bool); r {
						return &gqlambda.Error{Message: "not allowed", Extensions: map[string]any{"code": "FORBIDDEN"}}
					}
					return nil
				},
				OnAfterSubscribe: func(ctx context.Context, args map[string]any) (any, error) {
					id, _ := gqlambda.OperationIDFromContext(ctx)
					log.add("field.OnAfterSubscribe %s %v", id, args["label"])
					if s, ok := args["initial"].(string); ok {
						return map[string]any{"text": s}, nil
					}
					return nil, nil
				},
				OnComplete: func(ctx context.Context, args map[string]any) error {
					id, _ := gqlambda.OperationIDFromContext(ctx)
					log.add("field.OnComplete %s %v", id, args["label"])
					return nil
				},
			}),
			Resolve: func(p graphql.ResolveParams) (any, error) { return p.Source.(map[string]any)["text"], nil },
		},
		"big": &graphql.Field{
			Type:      graphql.String,
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{"BIG"}}),
			Resolve: func(p graphql.ResolveParams) (any, error) {
				return strings.Repeat("x", int(p.Source.(map[string]any)["size"].(float64))), nil
			},
		},
		"unmanaged": &graphql.Field{
			Type:      graphql.String,
			Subscribe: func(graphql.ResolveParams) (any, error) { return "not a stream", nil },
			Resolve:   func(graphql.ResolveParams) (any, error) { return "x", nil },
		},
	}})

	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Mutation: mutation, Subscription: subscription})
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	return schema
}

// harness drives a Server the way API Gateway does.
type harness struct {
	t     testing.TB
	srv   *gqlambda.Server
	store *memory.Store
	rec   *gatewaytest.Recorder
	log   *hookLog
	errs  *hookLog

	seenMu sync.Mutex
	seenN  map[string]int // frames of each connection already taken

	offset atomic.Int64 // how far the harness clock is ahead of time.Now

	connect, message, disconnect events.APIGatewayWebsocketProxyRequest
}

// newHarness builds a server on a memory store and a recording sender;
// configure may set hooks and limits.
func newHarness(t testing.TB, configure func(*gqlambda.Config, *hookLog)) *harness {
	t.Helper()
	h := &harness{
		t:          t,
		rec:        gatewaytest.NewRecorder(),
		log:        &hookLog{},
		errs:       &hookLog{},
		seenN:      map[string]int{},
		connect:    loadEvent(t, connectFixture),
		message:    loadEvent(t, messageFixture),
		disconnect: loadEvent(t, disconnectFixture),
	}
	h.store = memory.New(&memory.Options{Now: h.now})
	cfg := gqlambda.Config{
		Now:    h.now,
		Engine: graphqlgo.New(testSchema(t, h.log), nil),
		Store:  h.store,
		Sender: h.rec,
		Hooks: gqlambda.Hooks{
			OnError: func(_ context.Context, err error) { h.errs.add("%v", err) },
		},
	}
	if configure != nil {
		configure(&cfg, h.log)
	}
	srv, err := gqlambda.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.srv = srv
	return h
}

// now is the harness clock, shared by the server and the store.
func (h *harness) now() time.Time { return time.Now().Add(time.Duration(h.offset.Load())) }

// advance moves the harness clock forward.
func (h *harness) advance(d time.Duration) { h.offset.Add(int64(d)) }

// connectWith sends a $connect offering protocols (none: no header).
func (h *harness) connectWith(id string, protocols ...string) events.APIGatewayProxyResponse {
	h.t.Helper()
	ev := h.connect
	ev.Headers = cloneMap(ev.Headers)
	ev.MultiValueHeaders = cloneMultiMap(ev.MultiValueHeaders)
	delete(ev.Headers, "Sec-WebSocket-Protocol")
	delete(ev.MultiValueHeaders, "Sec-WebSocket-Protocol")
	if len(protocols) > 0 {
		ev.Headers["Sec-WebSocket-Protocol"] = strings.Join(protocols, ", ")
		ev.MultiValueHeaders["Sec-WebSocket-Protocol"] = []string{strings.Join(protocols, ", ")}
	}
	ev.RequestContext.ConnectionID = id
	resp, err := h.srv.WebSocketHandler(context.Background(), ev)
	if err != nil {
		h.t.Fatalf("$connect %s: %v", id, err)
	}
	return resp
}

// open connects id with graphql-transport-ws and checks it was accepted.
func (h *harness) open(id string) {
	h.t.Helper()
	if resp := h.connectWith(id, "graphql-transport-ws"); resp.StatusCode != 200 {
		h.t.Fatalf("$connect %s: status %d", id, resp.StatusCode)
	}
}

// ready opens id and initialises it.
func (h *harness) ready(id string) {
	h.t.Helper()
	h.open(id)
	h.send(id, `{"type":"connection_init"}`)
	h.expect(id, `{"type":"connection_ack"}`)
}

// send delivers a client frame as a $default event.
func (h *harness) send(id, frame string) {
	h.t.Helper()
	ev := h.message
	ev.RequestContext.ConnectionID = id
	ev.Body = frame
	resp, err := h.srv.WebSocketHandler(context.Background(), ev)
	if err != nil || resp.StatusCode != 200 {
		h.t.Fatalf("$default %s: status %d, err %v", id, resp.StatusCode, err)
	}
}

// subscribe starts operation opID on id with query (and variables as JSON).
func (h *harness) subscribe(id, opID, query string) {
	h.t.Helper()
	b, _ := json.Marshal(map[string]any{"type": "subscribe", "id": opID, "payload": map[string]any{"query": query}})
	h.send(id, string(b))
}

// hangUp sends a $disconnect with the client's close status.
func (h *harness) hangUp(id string, code int, reason string) {
	h.t.Helper()
	ev := h.disconnect
	ev.RequestContext.ConnectionID = id
	ev.RequestContext.DisconnectStatusCode = int64(code)
	ev.RequestContext.DisconnectReason = &reason
	if _, err := h.srv.WebSocketHandler(context.Background(), ev); err != nil {
		h.t.Fatalf("$disconnect %s: %v", id, err)
	}
}

func (h *harness) publish(topic string, payload any) gqlambda.PublishResult {
	h.t.Helper()
	res, err := h.srv.Publish(context.Background(), topic, payload)
	if err != nil {
		h.t.Fatalf("Publish(%s): %v", topic, err)
	}
	return res
}

// expect checks that the frames posted to id since the last expect are want
// (compared as JSON), in order.
func (h *harness) expect(id string, want ...string) {
	h.t.Helper()
	got := h.take(id)
	if len(got) != len(want) {
		h.t.Fatalf("connection %s: got %d frames, want %d\ngot:  %s\nwant: %s", id, len(got), len(want), strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	for i := range want {
		if !jsonEqual(got[i], want[i]) {
			h.t.Fatalf("connection %s frame %d:\ngot:  %s\nwant: %s", id, i, got[i], want[i])
		}
	}
}

// take returns the frames posted to id since the last take.
func (h *harness) take(id string) []string {
	h.seenMu.Lock()
	defer h.seenMu.Unlock()
	all := h.rec.Frames(id)
	n := h.seenN[id]
	h.seenN[id] = len(all)
	return all[n:]
}

// expectClosed checks that the server closed id with code.
func (h *harness) expectClosed(id string, code int) {
	h.t.Helper()
	got, reason, ok := h.rec.Closed(id)
	if !ok {
		h.t.Fatalf("connection %s: not closed, want close %d", id, code)
	}
	if got != code {
		h.t.Fatalf("connection %s: closed with %d %q, want %d", id, got, reason, code)
	}
	if len(reason) > 123 {
		h.t.Fatalf("connection %s: close reason of %d bytes, over 123", id, len(reason))
	}
}

func (h *harness) expectOpen(id string) {
	h.t.Helper()
	if code, reason, ok := h.rec.Closed(id); ok {
		h.t.Fatalf("connection %s: closed with %d %q, want open", id, code, reason)
	}
}

// expectNoState checks that nothing of connection id is left in the store.
func (h *harness) expectNoState(id string, topics ...string) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.store.GetConnection(ctx, id); err == nil {
		h.t.Fatalf("connection %s still stored", id)
	}
	for _, topic := range topics {
		for sub, err := range h.store.TopicSubscriptions(ctx, topic) {
			if err != nil {
				h.t.Fatal(err)
			}
			if sub.ConnectionID == id {
				h.t.Fatalf("subscription %s of connection %s still stored on topic %s", sub.ID, id, topic)
			}
		}
	}
}

func (h *harness) subscriptions(topic string) []store.Subscription {
	h.t.Helper()
	var out []store.Subscription
	for sub, err := range h.store.TopicSubscriptions(context.Background(), topic) {
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, sub)
	}
	return out
}

func jsonEqual(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return a == b
	}
	return reflect.DeepEqual(va, vb)
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneMultiMap(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}
