package localgateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/localgateway"
)

// tokenAuthorizer allows the tokens "ann" and "bob" (from the query string
// on WebSocket, the Authorization header on HTTP), refuses "nobody" with
// 401, denies "mallory" with 403, fails on "boom", answers a nested context
// for "nested", panics on "panic", and records each request.
type tokenAuthorizer struct {
	mu   sync.Mutex
	reqs []events.APIGatewayCustomAuthorizerRequestTypeRequest
}

func (a *tokenAuthorizer) authorize(_ context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	a.mu.Lock()
	a.reqs = append(a.reqs, req)
	a.mu.Unlock()
	token := req.QueryStringParameters["token"]
	if h := req.Headers["authorization"]; h != "" {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	effect := "Allow"
	ctx := map[string]any{"name": strings.ToUpper(token), "level": 2, "admin": token == "ann"}
	switch token {
	case "nobody":
		return events.APIGatewayCustomAuthorizerResponse{}, localgateway.ErrUnauthorized
	case "boom":
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("the key store is down")
	case "panic":
		panic("authorizer bug")
	case "mallory":
		effect = "Deny"
	case "nested":
		ctx["groups"] = []string{"a"}
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: token,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{{
			Action: []string{"execute-api:Invoke"}, Effect: effect,
			// A wildcard over the stage's routes, as authorizers often answer
			// so that their result can be cached.
			Resource: []string{req.MethodArn[:strings.LastIndexByte(req.MethodArn, '/')] + "/*"},
		}}},
		Context: ctx,
	}, nil
}

func TestAuthorizerOnConnect(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	authz := &tokenAuthorizer{}
	var httpAuth sync.Map
	_, srv := start(t, rec, localgateway.Options{
		Authorizer: &localgateway.Authorizer{
			Func:               authz.authorize,
			IdentitySource:     []string{"route.request.querystring.token"},
			HTTP:               true,
			HTTPIdentitySource: []string{"$request.header.Authorization"},
		},
		HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, ok := localgateway.AuthorizerContext(r.Context())
			if !ok {
				t.Error("HTTP request reached the handler without an authorizer context")
			}
			httpAuth.Store(a["principalId"], a)
			_, _ = io.WriteString(w, "ok")
		}),
	})

	// Refused before $connect: no event, and the client sees the status.
	for _, tc := range []struct {
		query  string
		status int
		calls  bool
	}{
		{"", http.StatusUnauthorized, false}, // identity source missing: the authorizer is not called
		{"?token=", http.StatusUnauthorized, false},
		{"?token=nobody", http.StatusUnauthorized, true},
		{"?token=mallory", http.StatusForbidden, true},
		{"?token=boom", http.StatusInternalServerError, true},
		{"?token=panic", http.StatusInternalServerError, true},
		{"?token=nested", http.StatusInternalServerError, true},
	} {
		authz.mu.Lock()
		before := len(authz.reqs)
		authz.mu.Unlock()
		_, resp, err := websocket.Dial(t.Context(), wsURL(srv, "/graphql"+tc.query), nil)
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			t.Errorf("dial %q: status %d (%v), want %d", tc.query, code, err, tc.status)
		}
		authz.mu.Lock()
		called := len(authz.reqs) > before
		authz.mu.Unlock()
		if called != tc.calls {
			t.Errorf("dial %q: authorizer called %t, want %t", tc.query, called, tc.calls)
		}
	}
	if evs := rec.events("", ""); len(evs) != 0 {
		t.Fatalf("refused handshakes reached the handler: %d events", len(evs))
	}

	// Allowed: the context reaches $connect, every message and $disconnect.
	c := dial(t, wsURL(srv, "/graphql?token=ann"), "ann", nil)
	id := rec.connectionID(t, "ann")
	write(t, c, websocket.MessageText, []byte("hello"))
	rec.wait(t, "MESSAGE", id, 1)
	c.Close(websocket.StatusNormalClosure, "")
	rec.wait(t, "DISCONNECT", id, 1)
	for _, ev := range rec.events("", id) {
		a, ok := ev.RequestContext.Authorizer.(map[string]any)
		if !ok {
			t.Fatalf("%s event without authorizer: %#v", ev.RequestContext.EventType, ev.RequestContext.Authorizer)
		}
		if a["principalId"] != "ann" || a["name"] != "ANN" || a["admin"] != true || a["level"] != 2 {
			t.Errorf("%s authorizer %v, want principalId ann and the context", ev.RequestContext.EventType, a)
		}
		if _, ok := a["integrationLatency"]; !ok {
			t.Errorf("%s authorizer %v: no integrationLatency", ev.RequestContext.EventType, a)
		}
	}
	authz.mu.Lock()
	last := authz.reqs[len(authz.reqs)-1]
	authz.mu.Unlock()
	if last.Type != "REQUEST" || !strings.HasSuffix(last.MethodArn, "/local/$connect") || last.QueryStringParameters["token"] != "ann" ||
		last.Headers["X-Test"] != "ann" {
		t.Errorf("authorizer request %+v: want a REQUEST for $connect with the query string and headers", last)
	}
	// One handshake is one request: the authorizer and $connect see the
	// same request id.
	for _, ev := range rec.events("CONNECT", id) {
		if last.RequestContext.RequestID == "" || ev.RequestContext.RequestID != last.RequestContext.RequestID {
			t.Errorf("$connect request id %q, authorizer's %q: want one id", ev.RequestContext.RequestID, last.RequestContext.RequestID)
		}
	}

	// HTTP: the Authorization header, then the same semantics.
	post := func(auth string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/graphql", strings.NewReader(`{}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		auth   string
		status int
		body   string
	}{
		{"", http.StatusUnauthorized, `{"message":"Unauthorized"}`},
		{"Bearer nobody", http.StatusUnauthorized, `{"message":"Unauthorized"}`},
		{"Bearer mallory", http.StatusForbidden, `{"message":"Forbidden"}`},
		{"Bearer boom", http.StatusInternalServerError, ""},
		{"Bearer bob", http.StatusOK, "ok"},
	} {
		status, body := post(tc.auth)
		if status != tc.status || (tc.body != "" && body != tc.body) {
			t.Errorf("POST with %q: %d %s, want %d %s", tc.auth, status, body, tc.status, tc.body)
		}
	}
	a, ok := httpAuth.Load("bob")
	if !ok || a.(map[string]any)["name"] != "BOB" {
		t.Errorf("HTTP handler saw authorizer %v, want bob's context", a)
	}
}

func TestAuthorizerOptionsChecked(t *testing.T) {
	t.Parallel()
	handler := (&recorder{}).handle
	for _, a := range []*localgateway.Authorizer{
		{},
		{Func: (&tokenAuthorizer{}).authorize, IdentitySource: []string{"route.request.body.token"}},
		{Func: (&tokenAuthorizer{}).authorize, IdentitySource: []string{"$request.header.Authorization"}},
		{Func: (&tokenAuthorizer{}).authorize, HTTPIdentitySource: []string{"$request.header."}},
	} {
		if _, err := localgateway.New(localgateway.Options{Handler: handler, Authorizer: a}); err == nil {
			t.Errorf("New with authorizer %+v: want an error", a)
		}
	}
}
