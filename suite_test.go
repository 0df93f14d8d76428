package gqlambda_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/gqlgen"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/internal/redistest"
	"github.com/gqlambda/gqlambda/internal/servertest"
	"github.com/gqlambda/gqlambda/internal/servertest/gqlgenschema"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/store/memory"
	redisstore "github.com/gqlambda/gqlambda/store/redis"
)

// The server suite runs every behaviour of suiteBehaviours in every cell of
// the matrix protocol × engine × store. A new store or engine joins the matrix
// with one line in suiteStores or suiteEngines; a behaviour that does not
// apply to a cell says why with a named skip.

// suiteProtocol is a WebSocket subprotocol as the suite's clients speak it.
type suiteProtocol struct {
	name        string
	subprotocol string
	// start and stop are the client frames that start and stop an operation.
	start func(id, query string) string
	stop  func(id string) string
	// next is the type of the server's result message.
	next string
	// ping and pong are a client ping and the server's answer; empty when the
	// protocol has none.
	ping, pong string
	// closes reports that protocol violations close the socket (with these
	// codes) rather than answer an error for the operation.
	closes bool
}

func suiteProtocols() []suiteProtocol {
	return []suiteProtocol{
		{
			name: "graphql-transport-ws", subprotocol: "graphql-transport-ws",
			start: func(id, query string) string { return operationFrame("subscribe", id, query) },
			stop:  func(id string) string { return `{"type":"complete","id":"` + id + `"}` },
			next:  "next", ping: `{"type":"ping"}`, pong: `{"type":"pong"}`, closes: true,
		},
		{
			name: "subscriptions-transport-ws", subprotocol: "graphql-ws",
			start: func(id, query string) string { return operationFrame("start", id, query) },
			stop:  func(id string) string { return `{"type":"stop","id":"` + id + `"}` },
			next:  "data",
		},
	}
}

func operationFrame(typ, id, query string) string {
	b, _ := json.Marshal(map[string]any{"type": typ, "id": id, "payload": map[string]any{"query": query}})
	return string(b)
}

// suiteEngine builds the suite's schema (internal/servertest) on one engine.
type suiteEngine struct {
	name string
	new  func(env *servertest.Env) (gqlambda.Engine, error)
}

func suiteEngines() []suiteEngine {
	return []suiteEngine{
		{name: "graphqlgo", new: func(env *servertest.Env) (gqlambda.Engine, error) {
			schema, err := servertest.GraphQLGo(env)
			if err != nil {
				return nil, err
			}
			return graphqlgo.New(schema, nil), nil
		}},
		{name: "gqlgen", new: func(env *servertest.Env) (gqlambda.Engine, error) {
			return gqlgen.New(gqlgenschema.NewExecutableSchema(gqlgenschema.Config{Resolvers: &gqlgenschema.Resolver{Env: env}}), nil), nil
		}},
	}
}

// suiteStore gives each test a store; tests keep apart by the prefix of
// their ids and topics, so a store may share its backend between them.
type suiteStore struct {
	name string
	new  func(t *testing.T) store.Store
}

func suiteStores() []suiteStore {
	var tablesOnce sync.Once
	var tables dynamodb.Tables
	var tablesErr error
	return []suiteStore{
		{name: "memory", new: func(*testing.T) store.Store { return memory.New(nil) }},
		{name: "dynamodb", new: func(t *testing.T) store.Store {
			client := dynamotest.Client(t) // skips without DynamoDB Local
			tablesOnce.Do(func() {
				tables = dynamodb.PrefixedTables(dynamotest.Prefix(t))
				tablesErr = dynamodb.CreateTables(context.WithoutCancel(t.Context()), client, tables)
			})
			if tablesErr != nil {
				t.Fatalf("create the suite's tables on DynamoDB Local: %v", tablesErr)
			}
			return dynamodb.New(client, &dynamodb.Options{Tables: tables})
		}},
		{name: "redis", new: func(t *testing.T) store.Store {
			return redisstore.New(redistest.Client(t), &redisstore.Options{KeyPrefix: redistest.Prefix(t)}) // skips without redis-server
		}},
	}
}

// suiteBehaviour is one behaviour test of the suite; configure, when set,
// changes the server's configuration first.
type suiteBehaviour struct {
	name      string
	run       func(f *suiteFixture)
	configure func(f *suiteFixture, cfg *gqlambda.Config)
}

func TestServerSuite(t *testing.T) {
	t.Parallel()
	for _, st := range suiteStores() {
		for _, en := range suiteEngines() {
			for _, pr := range suiteProtocols() {
				t.Run(st.name+"/"+en.name+"/"+pr.name, func(t *testing.T) {
					t.Parallel()
					for _, b := range suiteBehaviours() {
						t.Run(b.name, func(t *testing.T) {
							t.Parallel()
							b.run(newSuiteFixture(t, st, en, pr, b.configure))
						})
					}
				})
			}
		}
	}
}

// suiteFixture is one server of a cell, driven as API Gateway drives it.
type suiteFixture struct {
	t      *testing.T
	proto  suiteProtocol
	env    *servertest.Env
	srv    *gqlambda.Server
	store  store.Store
	rec    *gatewaytest.Recorder
	hooks  *hookLog  // server-level hooks: OnComplete, OnDisconnect
	errs   *hookLog  // OnError
	events *eventLog // Config.Events, when the behaviour sets it
	prefix string

	mu   sync.Mutex
	seen map[string]int
}

func newSuiteFixture(t *testing.T, st suiteStore, en suiteEngine, pr suiteProtocol, configure func(*suiteFixture, *gqlambda.Config)) *suiteFixture {
	t.Helper()
	prefix := strings.ToLower(rand.Text()[:8]) + "-"
	f := &suiteFixture{
		t: t, proto: pr, env: &servertest.Env{Prefix: prefix}, store: st.new(t),
		rec: gatewaytest.NewRecorder(), hooks: &hookLog{}, errs: &hookLog{}, prefix: prefix,
		seen: map[string]int{},
	}
	engine, err := en.new(f.env)
	if err != nil {
		t.Fatalf("engine %s: %v", en.name, err)
	}
	cfg := gqlambda.Config{
		Engine: engine,
		Store:  f.store,
		Sender: f.rec,
		// Legacy operations that precede their connection's acknowledgement
		// wait for it; the suite's never comes, so keep the wait short.
		Limits: gqlambda.Limits{AckWait: 50 * time.Millisecond},
		Hooks: gqlambda.Hooks{
			OnConnectionInit: func(_ context.Context, _ gqlambda.Conn, payload json.RawMessage) (gqlambda.InitResult, error) {
				var p struct {
					User string `json:"user"`
				}
				_ = json.Unmarshal(payload, &p)
				if p.User == "mallory" {
					return gqlambda.InitResult{}, errors.New("mallory is not welcome")
				}
				return gqlambda.InitResult{Context: map[string]string{"user": p.User}}, nil
			},
			OnComplete: func(_ context.Context, sub store.Subscription, reason gqlambda.CompleteReason) error {
				f.hooks.add("OnComplete %s %s", strings.TrimPrefix(sub.ID, prefix), reason)
				return nil
			},
			OnDisconnect: func(_ context.Context, c gqlambda.Conn, info gqlambda.DisconnectInfo) error {
				f.hooks.add("OnDisconnect %s %s", strings.TrimPrefix(c.ID, prefix), info.Cause)
				return nil
			},
			OnError: func(_ context.Context, err error) { f.errs.add("%v", err) },
		},
	}
	if configure != nil {
		configure(f, &cfg)
	}
	f.srv, err = gqlambda.New(cfg)
	if err != nil {
		t.Fatalf("gqlambda.New: %v", err)
	}
	return f
}

// id is the connection id name of this test.
func (f *suiteFixture) id(name string) string { return f.prefix + name }

func (f *suiteFixture) event(id, eventType, route, body string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body:    body,
		Headers: map[string]string{"Sec-WebSocket-Protocol": f.proto.subprotocol},
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			EventType: eventType, RouteKey: route, ConnectionID: id,
			DomainName: "abc123.execute-api.eu-west-1.amazonaws.com", Stage: "test",
		},
	}
}

func (f *suiteFixture) handle(ev events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	f.t.Helper()
	resp, err := f.srv.WebSocketHandler(f.t.Context(), ev)
	if err != nil {
		f.t.Fatalf("%s %s: %v", ev.RequestContext.RouteKey, ev.RequestContext.ConnectionID, err)
	}
	return resp
}

// connect opens connection id.
func (f *suiteFixture) connect(id string) {
	f.t.Helper()
	if resp := f.handle(f.event(id, "CONNECT", "$connect", "")); resp.StatusCode != 200 {
		f.t.Fatalf("$connect %s: status %d", id, resp.StatusCode)
	}
}

// send sends a client frame on id.
func (f *suiteFixture) send(id, frame string) {
	f.t.Helper()
	if resp := f.handle(f.event(id, "MESSAGE", "$default", frame)); resp.StatusCode != 200 {
		f.t.Fatalf("$default %s: status %d", id, resp.StatusCode)
	}
}

// ready connects and initialises id as user.
func (f *suiteFixture) ready(id, user string) {
	f.t.Helper()
	f.connect(id)
	f.send(id, `{"type":"connection_init","payload":{"user":"`+user+`"}}`)
	f.expect(id, frameWant{typ: "connection_ack"})
}

// disconnect sends the $disconnect of id.
func (f *suiteFixture) disconnect(id string) {
	f.t.Helper()
	f.handle(f.event(id, "DISCONNECT", "$disconnect", ""))
}

// frameWant describes an expected server frame: its type, its operation id,
// and its payload (compared as JSON) or a substring of it.
type frameWant struct {
	typ, id  string
	payload  string
	contains string
}

// expect checks the frames posted to id since the last expect.
func (f *suiteFixture) expect(id string, want ...frameWant) {
	f.t.Helper()
	got := f.take(id)
	if len(got) != len(want) {
		f.t.Fatalf("connection %s: got %d frames, want %d:\n%s", id, len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		var m struct {
			Type    string          `json:"type"`
			ID      string          `json:"id"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal([]byte(got[i]), &m); err != nil {
			f.t.Fatalf("connection %s frame %d is not JSON: %s", id, i, got[i])
		}
		switch {
		case m.Type != w.typ || m.ID != w.id:
			f.t.Fatalf("connection %s frame %d: %s, want type %q id %q", id, i, got[i], w.typ, w.id)
		case w.payload != "" && !jsonEqual(string(m.Payload), w.payload):
			f.t.Fatalf("connection %s frame %d: payload %s, want %s", id, i, m.Payload, w.payload)
		case w.contains != "" && !strings.Contains(string(m.Payload), w.contains):
			f.t.Fatalf("connection %s frame %d: payload %s, want it to contain %q", id, i, m.Payload, w.contains)
		}
	}
}

func (f *suiteFixture) take(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	all := f.rec.Frames(id)
	n := f.seen[id]
	f.seen[id] = len(all)
	return all[n:]
}

// next is the result frame of operation op carrying data.
func (f *suiteFixture) next(op, data string) frameWant {
	return frameWant{typ: f.proto.next, id: op, payload: `{"data":` + data + `}`}
}

func (f *suiteFixture) expectOpen(id string) {
	f.t.Helper()
	if code, reason, closed := f.rec.Closed(id); closed {
		f.t.Fatalf("connection %s closed with %d %q, want it open", id, code, reason)
	}
}

func (f *suiteFixture) expectClosed(id string, code int) {
	f.t.Helper()
	got, reason, closed := f.rec.Closed(id)
	if !closed || got != code {
		f.t.Fatalf("connection %s: closed %v with %d %q, want closed with %d", id, closed, got, reason, code)
	}
}

// subscriptions lists the ids (without the test's prefix) of topic's
// subscriptions, as connection/operation.
func (f *suiteFixture) subscriptions(topic string) []string {
	f.t.Helper()
	var out []string
	for sub, err := range f.store.TopicSubscriptions(f.t.Context(), topic) {
		if err != nil {
			f.t.Fatalf("TopicSubscriptions(%s): %v", topic, err)
		}
		out = append(out, strings.TrimPrefix(sub.ConnectionID, f.prefix)+"/"+sub.ID)
	}
	slices.Sort(out)
	return out
}

func (f *suiteFixture) expectSubscriptions(topic string, want ...string) {
	f.t.Helper()
	if got := f.subscriptions(topic); !slices.Equal(got, want) {
		f.t.Fatalf("subscriptions of %s: %q, want %q", topic, got, want)
	}
}

func (f *suiteFixture) expectNoConnection(id string) {
	f.t.Helper()
	if _, err := f.store.GetConnection(f.t.Context(), id); err == nil {
		f.t.Fatalf("connection %s still stored", id)
	}
}

func (f *suiteFixture) publish(topic string, payload any) gqlambda.PublishResult {
	f.t.Helper()
	res, err := f.srv.Publish(f.t.Context(), topic, payload)
	if err != nil {
		f.t.Fatalf("Publish(%s): %v", topic, err)
	}
	return res
}

func (f *suiteFixture) expectNoErrors() {
	f.t.Helper()
	if errs := f.errs.list(); len(errs) > 0 {
		f.t.Fatalf("OnError: %q", errs)
	}
}

func suiteBehaviours() []suiteBehaviour {
	return []suiteBehaviour{
		{"Handshake", suiteHandshake, nil},
		{"QueryOverTheSocket", suiteQueryOverTheSocket, nil},
		{"ConnectionContextReachesResolvers", suiteConnectionContext, nil},
		{"PublishReachesMatchingSubscriptions", suitePublishFiltered, nil},
		{"MutationPublishes", suiteMutationPublishes, nil},
		{"ClientCompleteEndsSubscription", suiteClientComplete, nil},
		{"ServerCompleteEndsSubscriptions", suiteServerComplete, nil},
		{"InvalidDocumentIsAnError", suiteInvalidDocument, nil},
		{"RefusedByItsField", suiteRefusedByField, nil},
		{"DuplicateOperationID", suiteDuplicateID, nil},
		{"OperationBeforeAcknowledgement", suiteBeforeAck, nil},
		{"DisconnectDeletesState", suiteDisconnect, nil},
		{"FrameForUnknownConnection", suiteUnknownConnection, nil},
		{"ResultOverTheMessageLimit", suiteOversizedResult, nil},
		{"LostDisconnectCleanedUpOnDelivery", suiteLostDisconnect, nil},
		{"SubscribeRacesDisconnect", suiteSubscribeRacesDisconnect, nil},
		{"InitRefused", suiteInitRefused, nil},
		{"InitialEventFromOnAfterSubscribe", suiteInitialEvent, nil},
		{"DeliveryThroughTheEventStore", suiteEventStore, func(f *suiteFixture, cfg *gqlambda.Config) {
			f.events = &eventLog{}
			cfg.Events = f.events
		}},
		{"StoredFilters", suiteStoredFilters, nil},
		{"SeveralTopics", suiteSeveralTopics, nil},
		{"SeveralSubscriptionsOfOneConnection", suiteSeveralSubscriptions, nil},
		{"SharedExecution", suiteSharedExecution(1), nil},
		{"ExecutionPerConnection", suiteSharedExecution(3), func(_ *suiteFixture, cfg *gqlambda.Config) { cfg.ExecutePerConnection = true }},
		{"GraphQLOverHTTP", suiteHTTP, nil},
		{"OperationLimits", suiteOperationLimits, nil},
		{"LongOperationID", suiteLongOperationID, nil},
		{"IntrospectionDisabled", suiteIntrospectionDisabled, func(_ *suiteFixture, cfg *gqlambda.Config) { cfg.DisableIntrospection = true }},
		{"RedeliveredEventReachesEachSubscriptionOnce", suiteRedelivery, nil},
		{"ConnectDataReachesResolvers", suiteConnectData, suiteKeepConnectData},
		{"PredicateDecidesEachEvent", suitePredicate, suiteKeepConnectData},
		{"ContextBuilder", suiteContextBuilder, suiteContextFunc},
		{"FormatErrorMasksErrors", suiteFormatError, suiteMaskSecrets},
		{"PlainDialect", suitePlainDialect, func(_ *suiteFixture, cfg *gqlambda.Config) { cfg.PlainProtocol = true }},
	}
}

// suitePlainDialect: with Config.PlainProtocol, clients that offer no
// subprotocol speak protocol/plainws (seed 002's dialect) on every engine and
// store: a subscription and a mutation as bare requests, the mutation's
// result and the published event as bare results, a repeated subscription
// kept once, and everything gone after $disconnect.
func suitePlainDialect(f *suiteFixture) {
	if !f.proto.closes {
		f.t.Skip("the plain dialect has no subprotocol: the graphql-transport-ws row runs it")
	}
	plain := func(id, eventType, route, body string) {
		f.t.Helper()
		ev := f.event(id, eventType, route, body)
		ev.Headers = nil // no Sec-WebSocket-Protocol
		if resp := f.handle(ev); resp.StatusCode != 200 || resp.Headers["Sec-WebSocket-Protocol"] != "" {
			f.t.Fatalf("%s %s: %+v", route, id, resp)
		}
	}
	sub, sender := f.id("sub"), f.id("sender")
	for _, id := range []string{sub, sender} {
		plain(id, "CONNECT", "$connect", "")
	}
	subscribe := plainFrame(`subscription { messages(room: "a") { text } }`)
	plain(sub, "MESSAGE", "$default", subscribe)
	plain(sub, "MESSAGE", "$default", subscribe)
	if got := f.subscriptions(f.env.MessagesTopic()); len(got) != 1 {
		f.t.Fatalf("subscriptions %q, want the repeated one once", got)
	}
	plain(sender, "MESSAGE", "$default", plainFrame(`mutation { send(room: "a", text: "Guten Morgen") { text } }`))
	if got := f.take(sender); len(got) != 1 || !jsonEqual(got[0], `{"data":{"text":"Guten Morgen"}}`) {
		f.t.Errorf("mutation's answer %q", got)
	}
	if got := f.take(sub); len(got) != 1 || !jsonEqual(got[0], `{"data":{"text":"Guten Morgen"}}`) {
		f.t.Errorf("subscriber's frames %q", got)
	}
	plain(sub, "DISCONNECT", "$disconnect", "")
	f.expectSubscriptions(f.env.MessagesTopic())
	f.expectNoConnection(sub)
	f.expectNoErrors()
}

// suiteKeepConnectData makes OnConnect keep the connection's id and whether
// it ends in "muted".
func suiteKeepConnectData(_ *suiteFixture, cfg *gqlambda.Config) {
	cfg.Hooks.OnConnect = func(_ context.Context, req gqlambda.ConnectRequest) (gqlambda.ConnectResult, error) {
		return gqlambda.ConnectResult{Data: map[string]any{"id": req.ConnectionID, "muted": strings.HasSuffix(req.ConnectionID, "muted")}}, nil
	}
}

// suiteConnectData: what OnConnect keeps is stored with the connection and
// reaches resolvers, over the socket and, through the subscription's copy,
// during fan-out (a predicate reads it in suitePredicate).
func suiteConnectData(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("q", "{ connData }"))
	data, _ := json.Marshal(`{"id":"` + c + `","muted":false}`)
	f.expect(c, f.next("q", `{"connData":`+string(data)+`}`), frameWant{typ: "complete", id: "q"})
	conn, err := f.store.GetConnection(f.t.Context(), c)
	if err != nil || !jsonEqual(string(conn.Data), `{"id":"`+c+`","muted":false}`) {
		f.t.Errorf("stored connection data %s, %v", conn.Data, err)
	}
	f.expectNoErrors()
}

// suitePredicate: a field's predicate decides, event by event, after the
// stored filter; it sees the payload, the arguments and the connection's
// data. Refused subscriptions count as filtered out.
func suitePredicate(f *suiteFixture) {
	c, muted := f.id("c"), f.id("muted")
	for _, id := range []string{c, muted} {
		f.ready(id, "ann")
		f.send(id, f.proto.start("s", `subscription { matching(contains: "x") { text } }`))
	}
	if res := f.publish(f.env.MessagesTopic(), servertest.Message{Text: "x marks the spot"}); res.Matched != 1 || res.Filtered != 1 || res.Delivered != 1 {
		f.t.Errorf("Publish of a matching text = %+v, want 1 matched (the muted connection filtered out), 1 delivered", res)
	}
	if res := f.publish(f.env.MessagesTopic(), servertest.Message{Text: "nothing"}); res.Matched != 0 || res.Filtered != 2 {
		f.t.Errorf("Publish of another text = %+v, want both filtered out", res)
	}
	f.expect(c, f.next("s", `{"matching":{"text":"x marks the spot"}}`))
	f.expect(muted)
	f.expectNoErrors()
}

// suiteContextFunc is a Config.Context that names where it ran: the user of
// the connection's context, the event's text, or HTTP; it refuses eve.
func suiteContextFunc(_ *suiteFixture, cfg *gqlambda.Config) {
	cfg.Context = func(ctx context.Context, req gqlambda.ContextRequest) (context.Context, error) {
		var kept struct{ User string }
		_ = req.Conn.DecodeContext(&kept)
		var v string
		switch {
		case req.HTTP != nil:
			v = "http " + req.HTTP.Method
		case req.Event != nil:
			text, _ := req.Event.(map[string]any)["text"].(string)
			v = "event " + text + " for " + kept.User
		case kept.User == "eve":
			return nil, errors.New("eve is suspended")
		default:
			v = "socket " + kept.User
		}
		return context.WithValue(ctx, servertest.ContextKey{}, v), nil
	}
}

// suiteContextBuilder: Config.Context builds the context of operations over
// the socket, of executions during fan-out (with the event) and of GraphQL
// over HTTP; its error refuses the operation.
func suiteContextBuilder(f *suiteFixture) {
	c, eve := f.id("c"), f.id("eve")
	f.ready(c, "ann")
	f.ready(eve, "eve")
	f.send(c, f.proto.start("q", "{ contextValue }"))
	f.expect(c, f.next("q", `{"contextValue":"socket ann"}`), frameWant{typ: "complete", id: "q"})
	f.send(eve, f.proto.start("q", "{ contextValue }"))
	f.expect(eve, frameWant{typ: "error", id: "q", contains: "eve is suspended"})
	f.send(c, f.proto.start("s", `subscription { messages { text via } }`))
	f.publish(f.env.MessagesTopic(), servertest.Message{Text: "hi"})
	f.expect(c, f.next("s", `{"messages":{"text":"hi","via":"event hi for ann"}}`))
	if f.proto.closes { // GraphQL over HTTP does not depend on the WebSocket protocol
		hs := httptest.NewServer(f.srv.HTTPHandler(nil))
		defer hs.Close()
		resp, err := http.Get(hs.URL + "/graphql?query=" + url.QueryEscape("{ contextValue }"))
		if err != nil {
			f.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !jsonEqual(string(body), `{"data":{"contextValue":"http GET"}}`) {
			f.t.Errorf("GET contextValue: %d %s", resp.StatusCode, body)
		}
	}
	f.expectNoErrors()
}

// suiteMaskSecrets is a Config.FormatError that hides any message naming
// servertest.Secret behind a generic one with a code, and leaves the others.
func suiteMaskSecrets(_ *suiteFixture, cfg *gqlambda.Config) {
	cfg.FormatError = func(_ context.Context, err *gqlambda.Error) *gqlambda.Error {
		if strings.Contains(err.Message, servertest.Secret) {
			return &gqlambda.Error{Message: "something went wrong", Path: err.Path, Extensions: map[string]any{"code": "MASKED"}}
		}
		return err
	}
}

// suiteFormatError: Config.FormatError rewrites the errors of results (a
// query over the socket, an event during fan-out, GraphQL over HTTP) and
// those that end an operation; what it leaves alone reaches the client as is.
func suiteFormatError(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("q", "{ fail }"))
	f.expect(c, frameWant{typ: f.proto.next, id: "q", contains: "MASKED"}, frameWant{typ: "complete", id: "q"})
	f.send(c, f.proto.start("r", "subscription { refused }"))
	f.expect(c, frameWant{typ: "error", id: "r", contains: "not allowed"})
	f.send(c, f.proto.start("s", `subscription { messages { text via } }`))
	f.publish(f.env.MessagesTopic(), servertest.Message{Text: "boom"})
	f.expect(c, frameWant{typ: f.proto.next, id: "s", contains: "something went wrong"})
	for _, frame := range f.rec.Frames(c) {
		if strings.Contains(frame, servertest.Secret) {
			f.t.Errorf("a frame reveals the secret: %s", frame)
		}
	}
	if f.proto.closes {
		hs := httptest.NewServer(f.srv.HTTPHandler(nil))
		defer hs.Close()
		resp, err := http.Get(hs.URL + "/graphql?query=" + url.QueryEscape("{ fail hello }"))
		if err != nil {
			f.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			Errors []gqlambda.Error `json:"errors"`
			Data   map[string]any   `json:"data"`
		}
		if err := json.Unmarshal(body, &out); err != nil || len(out.Errors) != 1 || out.Errors[0].Message != "something went wrong" ||
			out.Data["hello"] != "world" || strings.Contains(string(body), servertest.Secret) {
			f.t.Errorf("GET { fail hello }: %s", body)
		}
	}
	f.expectNoErrors()
}

func suiteHandshake(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	if f.proto.ping == "" {
		f.t.Skipf("%s has no ping", f.proto.name)
	}
	f.send(c, f.proto.ping)
	f.expect(c, frameWant{typ: "pong"})
	f.expectOpen(c)
	f.expectNoErrors()
}

func suiteQueryOverTheSocket(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("q", "{ hello }"))
	f.expect(c, f.next("q", `{"hello":"world"}`), frameWant{typ: "complete", id: "q"})
	f.expectOpen(c)
	f.expectNoErrors()
}

func suiteConnectionContext(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("q", "{ whoami }"))
	f.expect(c, f.next("q", `{"whoami":"ann@`+c+`"}`), frameWant{typ: "complete", id: "q"})
}

func suitePublishFiltered(f *suiteFixture) {
	a, b, all := f.id("a"), f.id("b"), f.id("all")
	for _, id := range []string{a, b, all} {
		f.ready(id, "ann")
	}
	f.send(a, f.proto.start("s", `subscription { messages(room: "a") { id room text } }`))
	f.send(b, f.proto.start("s", `subscription { messages(room: "b") { id room text } }`))
	f.send(all, f.proto.start("s", `subscription { messages { text } }`))
	res := f.publish(f.env.MessagesTopic(), servertest.Message{ID: "1", Room: "a", Text: "hi"})
	if want := (gqlambda.PublishResult{Matched: 2, Filtered: 1, Delivered: 2}); res != want {
		f.t.Errorf("Publish = %+v, want %+v", res, want)
	}
	f.expect(a, f.next("s", `{"messages":{"id":"1","room":"a","text":"hi"}}`))
	f.expect(all, f.next("s", `{"messages":{"text":"hi"}}`))
	f.expect(b)
	f.expectNoErrors()
}

func suiteMutationPublishes(f *suiteFixture) {
	sub, sender := f.id("sub"), f.id("sender")
	f.ready(sub, "ann")
	f.ready(sender, "bob")
	f.send(sub, f.proto.start("s", `subscription { messages(room: "a") { room text } }`))
	f.send(sender, f.proto.start("m", `mutation { send(room: "a", text: "hello") { id text } }`))
	f.expect(sender, f.next("m", `{"send":{"id":"1","text":"hello"}}`), frameWant{typ: "complete", id: "m"})
	f.expect(sub, f.next("s", `{"messages":{"room":"a","text":"hello"}}`))
	f.expectNoErrors()
}

func suiteClientComplete(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("s", `subscription { messages { text } }`))
	f.expectSubscriptions(f.env.MessagesTopic(), "c/s")
	f.send(c, f.proto.stop("s"))
	f.expectSubscriptions(f.env.MessagesTopic())
	if res := f.publish(f.env.MessagesTopic(), servertest.Message{Text: "late"}); res.Matched != 0 {
		f.t.Errorf("Publish after complete = %+v, want nothing matched", res)
	}
	f.expect(c)
	if got, want := append(f.env.Log(), f.hooks.list()...), []string{"messages.OnComplete s", "OnComplete s client"}; !slices.Equal(got, want) {
		f.t.Errorf("hooks %q, want %q", got, want)
	}
	f.expectOpen(c)
	f.expectNoErrors()
}

func suiteServerComplete(f *suiteFixture) {
	a, b := f.id("a"), f.id("b")
	f.ready(a, "ann")
	f.ready(b, "bob")
	f.send(a, f.proto.start("s", `subscription { messages(room: "a") { text } }`))
	f.send(b, f.proto.start("s", `subscription { messages(room: "b") { text } }`))
	res, err := f.srv.Complete(f.t.Context(), f.env.MessagesTopic(), map[string]any{"room": "a"})
	if err != nil || res.Matched != 1 || res.Delivered != 1 {
		f.t.Fatalf("Complete = %+v, %v; want one matched and delivered", res, err)
	}
	f.expect(a, frameWant{typ: "complete", id: "s"})
	f.expect(b)
	f.expectSubscriptions(f.env.MessagesTopic(), "b/s")
	if got, want := append(f.env.Log(), f.hooks.list()...), []string{"messages.OnComplete s", "OnComplete s server"}; !slices.Equal(got, want) {
		f.t.Errorf("hooks %q, want %q", got, want)
	}
	f.expectNoErrors()
}

func suiteInvalidDocument(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("bad", `subscription { nosuchfield }`))
	f.expect(c, frameWant{typ: "error", id: "bad", contains: "nosuchfield"})
	f.send(c, f.proto.start("unparsable", `subscription {`))
	f.expect(c, frameWant{typ: "error", id: "unparsable"})
	f.expectOpen(c)
	f.expectSubscriptions(f.env.MessagesTopic())
	f.expectNoErrors()
}

func suiteRefusedByField(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("r", `subscription { refused }`))
	f.expect(c, frameWant{typ: "error", id: "r", contains: "not allowed"})
	f.expectSubscriptions(f.env.Prefix + "REFUSED")
	f.expectOpen(c)
	f.expectNoErrors()
}

func suiteDuplicateID(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("s", `subscription { messages { text } }`))
	// The id is checked before the document, whatever is wrong with it.
	f.send(c, f.proto.start("s", `subscription { nosuchfield }`))
	f.expect(c, frameWant{typ: "error", id: "s", contains: "already exists"})
	if f.proto.closes {
		f.expectClosed(c, 4409)
		f.expectNoConnection(c)
		f.expectSubscriptions(f.env.MessagesTopic())
	} else {
		f.expectOpen(c)
		f.expectSubscriptions(f.env.MessagesTopic(), "c/s")
	}
	f.expectNoErrors()
}

func suiteBeforeAck(f *suiteFixture) {
	c := f.id("c")
	f.connect(c)
	f.send(c, f.proto.start("s", `subscription { messages { text } }`))
	f.expect(c, frameWant{typ: "error", id: "s", contains: "Unauthorized"})
	if f.proto.closes {
		f.expectClosed(c, 4401)
		f.expectNoConnection(c)
	} else {
		f.expectOpen(c)
	}
	f.expectSubscriptions(f.env.MessagesTopic())
	f.expectNoErrors()
}

func suiteDisconnect(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("s1", `subscription { messages { text } }`))
	f.send(c, f.proto.start("s2", `subscription { big }`))
	f.disconnect(c)
	f.expectNoConnection(c)
	f.expectSubscriptions(f.env.MessagesTopic())
	f.expectSubscriptions(f.env.BigTopic())
	hooks := f.hooks.list()
	slices.Sort(hooks[:min(2, len(hooks))]) // the two subscriptions end in any order
	if want := []string{"OnComplete s1 disconnect", "OnComplete s2 disconnect", "OnDisconnect c disconnect"}; !slices.Equal(hooks, want) {
		f.t.Errorf("hooks %q, want %q", hooks, want)
	}
	f.expectNoErrors()
}

func suiteUnknownConnection(f *suiteFixture) {
	c := f.id("never-connected")
	f.send(c, f.proto.start("s", `{ hello }`))
	f.expectClosed(c, 1013)
	f.expect(c)
}

func suiteOversizedResult(f *suiteFixture) {
	big, small := f.id("big"), f.id("small")
	f.ready(big, "ann")
	f.ready(small, "bob")
	f.send(big, f.proto.start("b", `subscription { big }`))
	f.send(small, f.proto.start("m", `subscription { messages { text } }`))
	f.publish(f.env.BigTopic(), strings.Repeat("x", 200<<10))
	// The oversized event is replaced by an error for it; the subscription
	// goes on (Limits.EndOnOversizedResult ends it instead).
	f.expect(big, frameWant{typ: f.proto.next, id: "b", contains: "MESSAGE_TOO_LARGE"})
	f.expectSubscriptions(f.env.BigTopic(), "big/b")
	f.publish(f.env.BigTopic(), "small enough")
	f.expect(big, f.next("b", `{"big":"small enough"}`))
	f.publish(f.env.MessagesTopic(), servertest.Message{Text: "after"})
	f.expect(small, f.next("m", `{"messages":{"text":"after"}}`))
	f.expectOpen(big)
	f.expectNoErrors()
}

// suiteLostDisconnect: API Gateway does not guarantee the $disconnect event.
// A connection whose client vanished stays in the store until the next
// delivery to it is answered 410 Gone; then the server removes the
// connection and every subscription of it, and the next publish does not try
// it again.
func suiteLostDisconnect(f *suiteFixture) {
	alive, lost := f.id("alive"), f.id("lost")
	for _, id := range []string{alive, lost} {
		f.ready(id, "ann")
		f.send(id, f.proto.start("s", `subscription { messages { text } }`))
	}
	f.rec.SetGone(lost) // the client vanished; no $disconnect arrives
	if res := f.publish(f.env.MessagesTopic(), servertest.Message{Text: "1"}); res.Matched != 2 || res.Delivered != 1 || res.Gone != 1 {
		f.t.Errorf("Publish with one gone connection = %+v, want matched 2, delivered 1, gone 1", res)
	}
	f.expectNoConnection(lost)
	f.expectSubscriptions(f.env.MessagesTopic(), "alive/s")
	if res := f.publish(f.env.MessagesTopic(), servertest.Message{Text: "2"}); res.Matched != 1 || res.Delivered != 1 || res.Gone != 0 {
		f.t.Errorf("second Publish = %+v, want matched 1, delivered 1, gone 0", res)
	}
	f.expect(alive, f.next("s", `{"messages":{"text":"1"}}`), f.next("s", `{"messages":{"text":"2"}}`))
	if got := f.hooks.list(); !slices.Equal(got, []string{"OnComplete s disconnect", "OnDisconnect lost gone"}) {
		f.t.Errorf("hooks %q", got)
	}
	f.expectNoErrors()
}

// suiteSubscribeRacesDisconnect races a subscribe frame against the
// $disconnect of the same connection, on many connections: whichever wins,
// neither the connection nor its subscription may be left behind.
func suiteSubscribeRacesDisconnect(f *suiteFixture) {
	const pairs = 20
	ids := make([]string, pairs)
	for i := range ids {
		ids[i] = f.id(fmt.Sprint("c", i))
		f.ready(ids[i], "ann")
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			_, _ = f.srv.WebSocketHandler(f.t.Context(), f.event(id, "MESSAGE", "$default", f.proto.start("s", `subscription { messages { text } }`)))
		})
		wg.Go(func() {
			<-start
			_, _ = f.srv.WebSocketHandler(f.t.Context(), f.event(id, "DISCONNECT", "$disconnect", ""))
		})
		close(start)
	}
	wg.Wait()
	f.expectSubscriptions(f.env.MessagesTopic())
	for _, id := range ids {
		f.expectNoConnection(id)
	}
	f.expectNoErrors()
}

func suiteInitRefused(f *suiteFixture) {
	c := f.id("c")
	f.connect(c)
	f.send(c, `{"type":"connection_init","payload":{"user":"mallory"}}`)
	if f.proto.closes {
		f.expect(c)
	} else {
		f.expect(c, frameWant{typ: "connection_error"})
	}
	f.expectClosed(c, 4403)
	f.expectNoConnection(c)
	if got := f.hooks.list(); !slices.Equal(got, []string{"OnDisconnect c server-close"}) {
		f.t.Errorf("hooks %q", got)
	}
	f.expectNoErrors()
}

func suiteInitialEvent(f *suiteFixture) {
	a, b := f.id("a"), f.id("b")
	f.ready(a, "ann")
	f.ready(b, "bob")
	f.send(a, f.proto.start("g", `subscription { greeted { text } }`))
	f.expect(a, f.next("g", `{"greeted":{"text":"welcome"}}`))
	f.send(b, f.proto.start("g", `subscription { greeted { room } }`))
	f.expect(b, f.next("g", `{"greeted":{"room":"lobby"}}`))
	f.expect(a) // the welcome went to the new subscription alone
	f.publish(f.env.GreetedTopic(), servertest.Message{Text: "later", Room: "r"})
	f.expect(a, f.next("g", `{"greeted":{"text":"later"}}`))
	f.expect(b, f.next("g", `{"greeted":{"room":"r"}}`))
	f.expectNoErrors()
}

// suiteEventStore: with Config.Events set, Publish (also from a mutation)
// stores the event and delivers nothing; Deliver, as a stream handler calls
// it, fans the stored event out.
func suiteEventStore(f *suiteFixture) {
	sub, sender := f.id("sub"), f.id("sender")
	f.ready(sub, "ann")
	f.ready(sender, "bob")
	f.send(sub, f.proto.start("s", `subscription { messages(room: "a") { text } }`))
	f.send(sender, f.proto.start("m", `mutation { send(room: "a", text: "stored") { text } }`))
	f.expect(sender, f.next("m", `{"send":{"text":"stored"}}`), frameWant{typ: "complete", id: "m"})
	if res := f.publish(f.env.MessagesTopic(), servertest.Message{Room: "b", Text: "other room"}); !res.Stored {
		f.t.Errorf("Publish with an event store = %+v, want Stored", res)
	}
	f.expect(sub)
	stored := f.events.list()
	if len(stored) != 2 {
		f.t.Fatalf("stored %d events, want 2", len(stored))
	}
	for _, ev := range stored {
		if _, err := f.srv.Deliver(f.t.Context(), ev); err != nil {
			f.t.Fatalf("Deliver(%s): %v", ev.ID, err)
		}
	}
	f.expect(sub, f.next("s", `{"messages":{"text":"stored"}}`))
	f.expectNoErrors()
}

// suiteStoredFilters: a filter with groups, nested fields and every kind of
// value survives the store's round trip and selects the events it should.
func suiteStoredFilters(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	where := `{"filterGroup":[` +
		`{"filters":[{"fieldName":"room","operator":"in","value":["a","b"]},{"fieldName":"text","operator":"beginsWith","value":"hi"}]},` +
		`{"filters":[{"fieldName":"id","operator":"between","value":["10","20"]}]}]}`
	b, _ := json.Marshal(where)
	f.send(c, f.proto.start("f", `subscription { filtered(where: `+string(b)+`) { id } }`))
	for _, tt := range []struct {
		m    servertest.Message
		want bool
	}{
		{servertest.Message{ID: "01", Room: "a", Text: "hi there"}, true},
		{servertest.Message{ID: "02", Room: "c", Text: "hi there"}, false},
		{servertest.Message{ID: "03", Room: "b", Text: "bye"}, false},
		{servertest.Message{ID: "15", Room: "z", Text: "z"}, true},
	} {
		res := f.publish(f.env.MessagesTopic(), tt.m)
		if tt.want {
			f.expect(c, f.next("f", `{"filtered":{"id":"`+tt.m.ID+`"}}`))
		} else {
			f.expect(c)
		}
		if got := res.Matched == 1; got != tt.want {
			f.t.Errorf("message %+v: matched %v, want %v", tt.m, got, tt.want)
		}
	}
	f.expectNoErrors()
}

// suiteSeveralTopics: one subscription listens to topics its arguments name
// and receives each topic's events once.
func suiteSeveralTopics(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("r", `subscription { rooms(rooms: ["a", "b", "a"]) { text } }`))
	f.expectSubscriptions(f.env.RoomTopic("a"), "c/r")
	f.expectSubscriptions(f.env.RoomTopic("b"), "c/r")
	f.publish(f.env.RoomTopic("a"), servertest.Message{Text: "to a"})
	f.publish(f.env.RoomTopic("b"), servertest.Message{Text: "to b"})
	f.publish(f.env.RoomTopic("c"), servertest.Message{Text: "to c"})
	f.expect(c, f.next("r", `{"rooms":{"text":"to a"}}`), f.next("r", `{"rooms":{"text":"to b"}}`))
	f.send(c, f.proto.stop("r"))
	f.expectSubscriptions(f.env.RoomTopic("a"))
	f.expectSubscriptions(f.env.RoomTopic("b"))
	f.expectNoErrors()
}

// suiteSeveralSubscriptions: one connection may hold several subscriptions
// on one topic; each gets the event, and completing one leaves the others.
func suiteSeveralSubscriptions(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("1", `subscription { messages { text } }`))
	f.send(c, f.proto.start("2", `subscription { messages(room: "a") { room } }`))
	f.send(c, f.proto.start("3", `subscription { messages { id } }`))
	f.expectSubscriptions(f.env.MessagesTopic(), "c/1", "c/2", "c/3")
	f.send(c, f.proto.stop("3"))
	if res := f.publish(f.env.MessagesTopic(), servertest.Message{ID: "9", Room: "a", Text: "t"}); res.Delivered != 2 {
		f.t.Errorf("Publish = %+v, want 2 delivered", res)
	}
	got := f.take(c)
	slices.Sort(got) // the two posts race
	want := []string{
		`{"id":"1","payload":{"data":{"messages":{"text":"t"}}},"type":"` + f.proto.next + `"}`,
		`{"id":"2","payload":{"data":{"messages":{"room":"a"}}},"type":"` + f.proto.next + `"}`,
	}
	for i := range got {
		var v any
		_ = json.Unmarshal([]byte(got[i]), &v)
		b, _ := json.Marshal(v)
		got[i] = string(b)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		f.t.Errorf("frames %q, want %q", got, want)
	}
	f.expectNoErrors()
}

// suiteSharedExecution: subscriptions with the same document, variables and
// connection context share one execution per event (executions of them);
// with ExecutePerConnection each runs its own.
func suiteSharedExecution(executions int) func(f *suiteFixture) {
	return func(f *suiteFixture) {
		ids := []string{f.id("a"), f.id("b"), f.id("c")}
		for _, id := range ids {
			f.ready(id, "same user") // the same context on every connection
			f.send(id, f.proto.start("s", `subscription { messages { text seen } }`))
		}
		f.publish(f.env.MessagesTopic(), servertest.Message{Text: "shared"})
		for _, id := range ids {
			f.expect(id, f.next("s", `{"messages":{"text":"shared","seen":1}}`))
		}
		if got := f.env.Resolutions(); got != executions {
			f.t.Errorf("one event to 3 equal subscriptions took %d executions, want %d", got, executions)
		}
		f.expectNoErrors()
	}
}

// suiteHTTP: GraphQL over HTTP on the same server: a query, and a mutation
// whose publish reaches a WebSocket subscriber. It does not depend on the
// WebSocket protocol, so one protocol row runs it.
func suiteHTTP(f *suiteFixture) {
	if !f.proto.closes {
		f.t.Skip("GraphQL over HTTP does not depend on the WebSocket protocol: the graphql-transport-ws row runs it")
	}
	sub := f.id("sub")
	f.ready(sub, "ann")
	f.send(sub, f.proto.start("s", `subscription { messages(room: "h") { text } }`))
	hs := httptest.NewServer(f.srv.HTTPHandler(nil))
	defer hs.Close()

	resp, err := http.Get(hs.URL + "/graphql?query=" + url.QueryEscape("{ hello }"))
	if err != nil {
		f.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !jsonEqual(string(body), `{"data":{"hello":"world"}}`) {
		f.t.Errorf("GET query: %d %s", resp.StatusCode, body)
	}

	req, _ := json.Marshal(map[string]any{"query": `mutation($t: String!) { send(room: "h", text: $t) { text } }`, "variables": map[string]any{"t": "over http"}})
	resp, err = http.Post(hs.URL+"/graphql", "application/json", strings.NewReader(string(req)))
	if err != nil {
		f.t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !jsonEqual(string(body), `{"data":{"send":{"text":"over http"}}}`) {
		f.t.Errorf("POST mutation: %d %s", resp.StatusCode, body)
	}
	f.expect(sub, f.next("s", `{"messages":{"text":"over http"}}`))
	f.expectNoErrors()
}

// suiteOperationLimits: documents over the operation limits are refused
// before the engine parses them, with a coded error for that operation; the
// connection stays, and what is within the limits (the introspection query
// clients send) runs.
func suiteOperationLimits(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	deep := "subscription { messages { " + strings.Repeat("a { ", 30) + "b" + strings.Repeat(" }", 30) + " } }"
	aliases := "{" + strings.Repeat("h: hello ", 51) + "}"
	mutations := "mutation {" + strings.Repeat(`send(room: "r", text: "t") { id } `, 11) + "}"
	for _, tt := range []struct{ id, doc, code string }{
		{"deep", deep, "QUERY_TOO_DEEP"},
		{"wide", "{" + strings.Repeat("hello ", 2001) + "}", "QUERY_TOO_COMPLEX"},
		{"aliases", aliases, "TOO_MANY_ALIASES"},
		{"mutations", mutations, "TOO_MANY_MUTATION_FIELDS"},
	} {
		f.send(c, f.proto.start(tt.id, tt.doc))
		f.expect(c, frameWant{typ: "error", id: tt.id, contains: tt.code})
	}
	if res := f.publish(f.env.MessagesTopic(), servertest.Message{Text: "none"}); res.Matched != 0 {
		f.t.Errorf("a refused document was stored: %+v", res)
	}
	f.send(c, f.proto.start("schema", introspectionQuery))
	got := f.take(c)
	if len(got) != 2 || !strings.Contains(got[0], `"queryType":{"name":"Query"}`) {
		f.t.Errorf("introspection query: %.300q", got)
	}
	f.expectOpen(c)
	f.expectNoErrors()
}

// suiteIntrospectionDisabled: with Config.DisableIntrospection, __schema and
// __type are refused; __typename is not introspection.
func suiteIntrospectionDisabled(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start("schema", introspectionQuery))
	f.expect(c, frameWant{typ: "error", id: "schema", contains: "INTROSPECTION_DISABLED"})
	f.send(c, f.proto.start("type", `{ __type(name: "Query") { name } }`))
	f.expect(c, frameWant{typ: "error", id: "type", contains: "INTROSPECTION_DISABLED"})
	f.send(c, f.proto.start("typename", `{ __typename hello }`))
	f.expect(c, f.next("typename", `{"__typename":"Query","hello":"world"}`), frameWant{typ: "complete", id: "typename"})
	f.expectOpen(c)
	f.expectNoErrors()
}

// introspectionQuery is the query GraphQL tools send to read a schema
// (graphql-js's getIntrospectionQuery).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}`

// suiteRedelivery: an SQS message whose delivery failed for one
// subscription is retried by SQS (alone, and then once more as a duplicate):
// each subscription gets the event exactly once, through the store's
// delivery log.
func suiteRedelivery(f *suiteFixture) {
	ok, flaky := f.id("ok"), f.id("flaky")
	for _, id := range []string{ok, flaky} {
		f.ready(id, "ann")
		f.send(id, f.proto.start("s", `subscription { messages(room: "a") { text } }`))
	}
	var mu sync.Mutex
	failing := true
	f.rec.Hook = func(_ context.Context, _, conn string, _ []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if failing && conn == flaky {
			return errors.New("503 after every retry")
		}
		return nil
	}
	body, _ := json.Marshal(gqlambda.Envelope{Topic: f.env.MessagesTopic(), Payload: json.RawMessage(`{"id":"1","room":"a","text":"once"}`)})
	batch := events.SQSEvent{Records: []events.SQSMessage{{MessageId: f.prefix + "m1", Body: string(body)}}}
	handler := f.srv.SQSHandler(nil)
	resp, err := handler(f.t.Context(), batch)
	if err != nil || len(resp.BatchItemFailures) != 1 {
		f.t.Fatalf("first delivery: %+v, %v; want the message as the one batch item failure", resp, err)
	}
	if errs := f.errs.list(); len(errs) != 1 || !strings.Contains(errs[0], "503") {
		f.t.Fatalf("OnError %q, want the failed post", errs)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	for range 2 { // SQS's retry, then a duplicate of it
		if resp, err := handler(f.t.Context(), batch); err != nil || len(resp.BatchItemFailures) != 0 {
			f.t.Fatalf("redelivery: %+v, %v; want no failure", resp, err)
		}
	}
	f.expect(ok, f.next("s", `{"messages":{"text":"once"}}`))
	f.expect(flaky, f.next("s", `{"messages":{"text":"once"}}`))
}

// suiteLongOperationID: an operation id over 256 bytes is an invalid message,
// refused before the store sees it (it would become part of a key): a close
// with 4400, or for the legacy protocol an error that keeps the connection.
func suiteLongOperationID(f *suiteFixture) {
	c := f.id("c")
	f.ready(c, "ann")
	f.send(c, f.proto.start(strings.Repeat("x", 257), `subscription { messages { text } }`))
	f.expectSubscriptions(f.env.MessagesTopic())
	if f.proto.closes {
		f.expectClosed(c, 4400)
		f.expectNoConnection(c)
	} else {
		if got := f.take(c); len(got) != 1 || !strings.Contains(got[0], "over 256 bytes") {
			f.t.Errorf("frames %.200q, want one error saying the id is too long", got)
		}
		f.expectOpen(c)
	}
	f.expectNoErrors()
}
