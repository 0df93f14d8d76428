package gqlambda_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/memory"
)

func TestIdentityOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		authorizer map[string]any
		ok         bool
		principal  string
		claims     map[string]string
		scopes     []string
	}{
		{name: "none"},
		{name: "empty", authorizer: map[string]any{}},
		{
			name:       "WebSocket Lambda authorizer",
			authorizer: map[string]any{"principalId": "u1", "name": "Ann", "admin": true, "level": float64(3), "integrationLatency": float64(12)},
			ok:         true, principal: "u1",
			claims: map[string]string{"name": "Ann", "admin": "true", "level": "3", "integrationLatency": "", "principalId": ""},
		},
		{
			name:       "HTTP API Lambda authorizer context",
			authorizer: map[string]any{"sub": "u2", "name": "Bob"},
			ok:         true, principal: "u2", claims: map[string]string{"name": "Bob", "sub": "u2"},
		},
		{
			name:       "JWT authorizer",
			authorizer: map[string]any{"claims": map[string]any{"sub": "u3", "email": "c@example.com"}, "scopes": []string{"chat/write"}},
			ok:         true, principal: "u3", claims: map[string]string{"email": "c@example.com"}, scopes: []string{"chat/write"},
		},
		{
			name:       "REST Cognito authorizer",
			authorizer: map[string]any{"claims": map[string]any{"sub": "u4", "cognito:username": "dee"}},
			ok:         true, principal: "u4", claims: map[string]string{"cognito:username": "dee"},
		},
		{
			name:       "principalId of another type",
			authorizer: map[string]any{"principalId": float64(7)},
			ok:         true, principal: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := gqlambda.IdentityOf(tc.authorizer)
			if ok != tc.ok || id.Principal != tc.principal {
				t.Fatalf("IdentityOf(%v) = %+v, %t; want principal %q, %t", tc.authorizer, id, ok, tc.principal, tc.ok)
			}
			for k, want := range tc.claims {
				if got := id.Claim(k); got != want {
					t.Errorf("Claim(%q) = %q, want %q", k, got, want)
				}
			}
			if !slices.Equal(id.Scopes, tc.scopes) {
				t.Errorf("Scopes = %q, want %q", id.Scopes, tc.scopes)
			}
		})
	}
}

// identitySchema serves the identity test: Query.me is the caller's
// principal; Subscription.mine(room) delivers the messages of a room whose
// "to" is the subscriber (a stored filter built from the identity at
// subscribe time), to subscribers whose authorizer did not mark them "muted"
// (a predicate reading the identity at fan-out), and resolves as "<text>
// for <principal>" (the resolver reading it at fan-out).
func identitySchema(t testing.TB, topic string, seen *hookLog) graphql.Schema {
	nonNull := graphql.NewNonNull
	principal := func(ctx context.Context) (string, error) {
		id, ok := gqlambda.IdentityFromContext(ctx)
		if !ok {
			return "", fmt.Errorf("no identity")
		}
		return id.Principal, nil
	}
	schema, err := graphql.NewSchema(graphql.SchemaConfig{
		Query: graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
			"me": &graphql.Field{Type: nonNull(graphql.String), Resolve: func(p graphql.ResolveParams) (any, error) { return principal(p.Context) }},
		}}),
		Subscription: graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
			"mine": &graphql.Field{
				Type: nonNull(graphql.String),
				Args: graphql.FieldConfigArgument{"room": {Type: nonNull(graphql.String)}},
				Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{
					Topics: []string{topic},
					FilterFunc: func(ctx context.Context, args map[string]any) (filter.Filter, error) {
						who, err := principal(ctx)
						if err != nil {
							return filter.Filter{}, err
						}
						seen.add("filter %s", who)
						return filter.All(filter.Where("room", filter.Eq, args["room"]), filter.Where("to", filter.Eq, who)), nil
					},
					Predicate: func(ctx context.Context, payload any, args map[string]any) (bool, error) {
						id, ok := gqlambda.IdentityFromContext(ctx)
						if !ok {
							return false, fmt.Errorf("no identity in the predicate")
						}
						return id.Claim("muted") != "true", nil
					},
				}),
				Resolve: func(p graphql.ResolveParams) (any, error) {
					who, err := principal(p.Context)
					if err != nil {
						return nil, err
					}
					return p.Source.(map[string]any)["text"].(string) + " for " + who, nil
				},
			},
			"everyone": &graphql.Field{
				Type:      nonNull(graphql.String),
				Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{topic + "-all"}}),
				Resolve: func(p graphql.ResolveParams) (any, error) {
					who, err := principal(p.Context)
					return "hello " + who, err
				},
			},
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// TestIdentityReachesEveryCall: the authorizer context of $connect is
// stored with the connection on each store, and reaches the hooks, the
// stored filter built at subscribe time, and the predicate and resolver of
// each delivery, although later frames carry no authorizer. Subscriptions
// of different identities never share an execution.
func TestIdentityReachesEveryCall(t *testing.T) {
	t.Parallel()
	for _, st := range suiteStores() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			prefix := strings.ToLower(rand.Text()[:8]) + "-"
			topic := prefix + "MINE"
			seen := &hookLog{}
			rec := gatewaytest.NewRecorder()
			backend := st.new(t)
			identity := func(ctx context.Context) string {
				id, ok := gqlambda.IdentityFromContext(ctx)
				if !ok {
					return "none"
				}
				return id.Principal
			}
			srv, err := gqlambda.New(gqlambda.Config{
				Engine: graphqlgo.New(identitySchema(t, topic, seen), nil),
				Store:  backend,
				Sender: rec,
				Hooks: gqlambda.Hooks{
					OnConnect: func(ctx context.Context, req gqlambda.ConnectRequest) (gqlambda.ConnectResult, error) {
						id, _ := gqlambda.IdentityOf(req.Authorizer)
						seen.add("OnConnect %s %s", id.Principal, identity(ctx))
						return gqlambda.ConnectResult{}, nil
					},
					OnConnectionInit: func(ctx context.Context, c gqlambda.Conn, _ json.RawMessage) (gqlambda.InitResult, error) {
						id, _ := c.Identity()
						seen.add("OnConnectionInit %s %s", id.Principal, identity(ctx))
						return gqlambda.InitResult{}, nil
					},
					OnSubscribe: func(ctx context.Context, req gqlambda.SubscribeRequest) error {
						id, _ := req.Conn.Identity()
						seen.add("OnSubscribe %s %s", id.Principal, identity(ctx))
						return nil
					},
					OnDisconnect: func(ctx context.Context, c gqlambda.Conn, _ gqlambda.DisconnectInfo) error {
						id, _ := c.Identity()
						seen.add("OnDisconnect %s %s", id.Principal, identity(ctx))
						return nil
					},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			handle := func(id, eventType, route, body string, authorizer map[string]any) events.APIGatewayProxyResponse {
				t.Helper()
				ev := events.APIGatewayWebsocketProxyRequest{
					Body:    body,
					Headers: map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"},
					RequestContext: events.APIGatewayWebsocketProxyRequestContext{
						EventType: eventType, RouteKey: route, ConnectionID: prefix + id,
						DomainName: "abc123.execute-api.eu-west-1.amazonaws.com", Stage: "test",
					},
				}
				if authorizer != nil {
					ev.RequestContext.Authorizer = authorizer
				}
				resp, err := srv.WebSocketHandler(t.Context(), ev)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("%s %s: %d %v", route, id, resp.StatusCode, err)
				}
				return resp
			}
			// ann and bob share every byte of their operations; only the
			// authorizer tells them apart. cy is muted by hers.
			users := map[string]map[string]any{
				"ann": {"principalId": "ann", "integrationLatency": float64(5)},
				"bob": {"principalId": "bob", "integrationLatency": float64(7)},
				"cy":  {"principalId": "cy", "muted": "true"},
			}
			for _, u := range []string{"ann", "bob", "cy"} {
				handle(u, "CONNECT", "$connect", "", users[u])
				// Later frames carry no authorizer: the stored one is used.
				handle(u, "MESSAGE", "$default", `{"type":"connection_init"}`, nil)
				handle(u, "MESSAGE", "$default", `{"type":"subscribe","id":"q","payload":{"query":"{ me }"}}`, nil)
				handle(u, "MESSAGE", "$default", `{"type":"subscribe","id":"s","payload":{"query":"subscription { mine(room: \"r\") }"}}`, nil)
				handle(u, "MESSAGE", "$default", `{"type":"subscribe","id":"e","payload":{"query":"subscription { everyone }"}}`, nil)
			}
			for _, to := range []string{"ann", "bob", "cy"} {
				if _, err := srv.Publish(t.Context(), topic, map[string]any{"room": "r", "to": to, "text": "hi"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := srv.Publish(t.Context(), topic+"-all", map[string]any{}); err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{
				"ann": {`{"type":"connection_ack"}`, `{"id":"q","type":"next","payload":{"data":{"me":"ann"}}}`, `{"id":"q","type":"complete"}`,
					`{"id":"s","type":"next","payload":{"data":{"mine":"hi for ann"}}}`, `{"id":"e","type":"next","payload":{"data":{"everyone":"hello ann"}}}`},
				"bob": {`{"type":"connection_ack"}`, `{"id":"q","type":"next","payload":{"data":{"me":"bob"}}}`, `{"id":"q","type":"complete"}`,
					`{"id":"s","type":"next","payload":{"data":{"mine":"hi for bob"}}}`, `{"id":"e","type":"next","payload":{"data":{"everyone":"hello bob"}}}`},
				"cy": {`{"type":"connection_ack"}`, `{"id":"q","type":"next","payload":{"data":{"me":"cy"}}}`, `{"id":"q","type":"complete"}`,
					`{"id":"e","type":"next","payload":{"data":{"everyone":"hello cy"}}}`},
			}
			for u, frames := range want {
				got := rec.Frames(prefix + u)
				if len(got) != len(frames) {
					t.Fatalf("%s got %d frames, want %d:\n%s", u, len(got), len(frames), strings.Join(got, "\n"))
				}
				for i := range frames {
					if !jsonEqual(got[i], frames[i]) {
						t.Errorf("%s frame %d: %s, want %s", u, i, got[i], frames[i])
					}
				}
			}
			// The stored record carries it too.
			subs := slices.Collect(func(yield func(store.Subscription) bool) {
				for s, err := range backend.TopicSubscriptions(t.Context(), topic) {
					if err != nil {
						t.Fatal(err)
					}
					if !yield(s) {
						return
					}
				}
			})
			if len(subs) != 3 {
				t.Fatalf("%d subscriptions of %s, want 3", len(subs), topic)
			}
			for _, s := range subs {
				var a map[string]any
				if err := json.Unmarshal(s.Authorizer, &a); err != nil || a["principalId"] != strings.TrimPrefix(s.ConnectionID, prefix) {
					t.Errorf("subscription of %s stored authorizer %s", s.ConnectionID, s.Authorizer)
				}
				// How long the authorizer took is not the caller's identity:
				// left out, so that one identity's subscriptions share
				// executions.
				if _, ok := a["integrationLatency"]; ok {
					t.Errorf("subscription of %s stored integrationLatency: %s", s.ConnectionID, s.Authorizer)
				}
			}
			handle("ann", "DISCONNECT", "$disconnect", "", nil)
			for _, line := range []string{
				"OnConnect ann ann", "OnConnectionInit ann ann", "OnSubscribe ann ann", "filter ann",
				"OnConnect bob bob", "OnSubscribe bob bob", "filter bob", "filter cy", "OnDisconnect ann ann",
			} {
				if !slices.Contains(seen.list(), line) {
					t.Errorf("no %q in the hooks' log:\n%s", line, strings.Join(seen.list(), "\n"))
				}
			}
		})
	}
}

// TestIdentityOverHTTP: the authorizer context of a GraphQL over HTTP
// request reaches resolvers, from an HTTP API's Lambda or JWT authorizer, a
// REST API's, and from HTTPOptions.OnRequest for net/http requests.
func TestIdentityOverHTTP(t *testing.T) {
	t.Parallel()
	srv, err := gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(identitySchema(t, "T", &hookLog{}), nil),
		Store:  memory.New(nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"query":"{ me }"}`
	v2 := func(a *events.APIGatewayV2HTTPRequestContextAuthorizerDescription) string {
		ev := events.APIGatewayV2HTTPRequest{Body: body, Headers: map[string]string{"content-type": "application/json"}}
		ev.RequestContext.HTTP.Method = http.MethodPost
		ev.RequestContext.Authorizer = a
		resp, err := srv.HTTPAPIHandler(nil)(t.Context(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Body
	}
	rest := func(a map[string]any) string {
		ev := events.APIGatewayProxyRequest{HTTPMethod: http.MethodPost, Body: body, Headers: map[string]string{"Content-Type": "application/json"}}
		ev.RequestContext.Authorizer = a
		resp, err := srv.APIGatewayHandler(nil)(t.Context(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Body
	}
	var mu sync.Mutex
	netHTTP := func(token string) string {
		h := srv.HTTPHandler(&gqlambda.HTTPOptions{OnRequest: func(ctx context.Context, req *gqlambda.HTTPRequest) (context.Context, error) {
			mu.Lock()
			defer mu.Unlock()
			if token != "" {
				req.Authorizer = map[string]any{"principalId": token}
			}
			return ctx, nil
		}})
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
		return w.Body.String()
	}
	for _, tc := range []struct{ name, got, want string }{
		{"HTTP API Lambda authorizer", v2(&events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{"sub": "ann"}}), `{"data":{"me":"ann"}}`},
		{"HTTP API JWT authorizer", v2(&events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
			Claims: map[string]string{"sub": "bob"}, Scopes: []string{"chat"}}}), `{"data":{"me":"bob"}}`},
		{"REST Lambda authorizer", rest(map[string]any{"principalId": "cy"}), `{"data":{"me":"cy"}}`},
		{"net/http with OnRequest", netHTTP("dee"), `{"data":{"me":"dee"}}`},
	} {
		if !jsonEqual(tc.got, tc.want) {
			t.Errorf("%s: %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	for _, tc := range []struct{ name, got string }{
		{"HTTP API without authorizer", v2(nil)},
		{"net/http without OnRequest's identity", netHTTP("")},
	} {
		if !strings.Contains(tc.got, "no identity") {
			t.Errorf("%s: %s, want the resolver's error", tc.name, tc.got)
		}
	}
}
