package gqlambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
)

const (
	gqlResp = "application/graphql-response+json"
	appJSON = "application/json"
)

// httpCase is one GraphQL over HTTP request and what must come back.
type httpCase struct {
	name        string
	method      string
	contentType string // "-" for none
	accept      string
	query       url.Values
	body        string

	status   int
	respType string // expected media type of the response
	want     string // substring of the body
	noData   bool   // the body must have no data entry
	allow    string // expected Allow header
}

func httpCases() []httpCase {
	get := func(q string) url.Values { return url.Values{"query": {q}} }
	return []httpCase{
		{name: "POST query, graphql-response+json", method: "POST", accept: gqlResp, body: `{"query":"{ hello }"}`,
			status: 200, respType: gqlResp, want: `{"data":{"hello":"world"}}`},
		{name: "POST query, application/json", method: "POST", accept: appJSON, body: `{"query":"{ hello }"}`,
			status: 200, respType: appJSON, want: `{"data":{"hello":"world"}}`},
		{name: "no Accept: application/json", method: "POST", body: `{"query":"{ hello }"}`, status: 200, respType: appJSON},
		{name: "*/* gives application/json", method: "POST", accept: "*/*", body: `{"query":"{ hello }"}`, status: 200, respType: appJSON},
		{name: "both, equal quality: graphql-response+json", method: "POST", accept: appJSON + ", " + gqlResp,
			body: `{"query":"{ hello }"}`, status: 200, respType: gqlResp},
		{name: "quality decides", method: "POST", accept: gqlResp + ";q=0.5, " + appJSON,
			body: `{"query":"{ hello }"}`, status: 200, respType: appJSON},
		{name: "nothing acceptable", method: "POST", accept: "text/html", body: `{"query":"{ hello }"}`, status: 406, respType: appJSON},
		{name: "variables and operationName", method: "POST", accept: gqlResp,
			body:   `{"query":"query A { boom } query B($s: Int!) { large(size: $s) }","operationName":"B","variables":{"s":3},"extensions":{"x":1}}`,
			status: 200, respType: gqlResp, want: `{"data":{"large":"qqq"}}`},
		{name: "null optional parameters", method: "POST", accept: appJSON,
			body: `{"query":"{ hello }","operationName":null,"variables":null,"extensions":null}`, status: 200, respType: appJSON, want: `"world"`},
		{name: "field error is 200", method: "POST", accept: gqlResp, body: `{"query":"{ boom hello }"}`,
			status: 200, respType: gqlResp, want: `"data":{"boom":null,"hello":"world"}`},
		{name: "parse error, graphql-response+json", method: "POST", accept: gqlResp, body: `{"query":"{"}`,
			status: 400, respType: gqlResp, want: `"errors"`, noData: true},
		{name: "parse error, application/json", method: "POST", accept: appJSON, body: `{"query":"{"}`,
			status: 200, respType: appJSON, want: `"errors"`, noData: true},
		{name: "validation error, graphql-response+json", method: "POST", accept: gqlResp, body: `{"query":"{ nope }"}`,
			status: 400, respType: gqlResp, want: `Cannot query field`, noData: true},
		{name: "validation error, application/json", method: "POST", accept: appJSON, body: `{"query":"{ nope }"}`,
			status: 200, respType: appJSON, want: `Cannot query field`, noData: true},
		{name: "variable coercion, graphql-response+json", method: "POST", accept: gqlResp,
			body: `{"query":"query($s: Int!) { large(size: $s) }","variables":{"s":null}}`, status: 400, respType: gqlResp, noData: true},
		{name: "variable coercion, application/json", method: "POST", accept: appJSON,
			body: `{"query":"query($s: Int!) { large(size: $s) }","variables":{"s":null}}`, status: 200, respType: appJSON, noData: true},
		{name: "subscription over HTTP", method: "POST", accept: gqlResp, body: `{"query":"subscription { multi { id } }"}`,
			status: 400, respType: gqlResp, want: `served over the WebSocket API`},
		{name: "malformed JSON", method: "POST", accept: appJSON, body: `{ "not a JSON`, status: 400, respType: appJSON},
		{name: "malformed JSON, graphql-response+json", method: "POST", accept: gqlResp, body: `{ "not a JSON`, status: 400, respType: gqlResp},
		{name: "missing query", method: "POST", body: `{"qeury":"{ hello }"}`, status: 400, want: `Missing query`},
		{name: "query not a string", method: "POST", body: `{"query":{"obj":"ect"}}`, status: 400, want: `must be a string`},
		{name: "query a number", method: "POST", body: `{"query":0}`, status: 400},
		{name: "operationName not a string", method: "POST", body: `{"query":"{ hello }","operationName":false}`, status: 400},
		{name: "variables a string", method: "POST", body: `{"query":"{ hello }","variables":"string"}`, status: 400},
		{name: "variables an array", method: "POST", body: `{"query":"{ hello }","variables":["array"]}`, status: 400},
		{name: "extensions a number", method: "POST", body: `{"query":"{ hello }","extensions":0}`, status: 400},
		{name: "body an array without batching", method: "POST", body: `[{"query":"{ hello }"}]`, status: 400, want: `Batched requests`},
		{name: "body not an object", method: "POST", body: `"{ hello }"`, status: 400},
		{name: "empty body", method: "POST", body: ``, status: 400, want: `Missing request body`},
		{name: "no Content-Type", method: "POST", contentType: "-", body: `{"query":"{ hello }"}`, status: 415},
		{name: "wrong Content-Type", method: "POST", contentType: "text/plain", body: `{"query":"{ hello }"}`, status: 415},
		{name: "charset utf-8", method: "POST", contentType: "application/json; charset=utf-8", body: `{"query":"{ hello }"}`, status: 200},
		{name: "charset latin1", method: "POST", contentType: "application/json; charset=iso-8859-1", body: `{"query":"{ hello }"}`, status: 415},
		{name: "GET query", method: "GET", accept: gqlResp, query: get("{ hello }"), status: 200, respType: gqlResp, want: `"world"`},
		{name: "GET variables", method: "GET", accept: appJSON,
			query: url.Values{"query": {"query($s: Int!) { large(size: $s) }"}, "variables": {`{"s":2}`}}, status: 200, want: `"qq"`},
		{name: "GET bad variables", method: "GET", query: url.Values{"query": {"{ hello }"}, "variables": {`[1]`}}, status: 400},
		{name: "GET without query", method: "GET", query: url.Values{}, status: 400},
		{name: "GET mutation refused", method: "GET", accept: gqlResp, query: get(`mutation { send(chatId: "1", text: "x") { id } }`),
			status: 405, allow: "POST", want: `not allowed over GET`},
		{name: "PUT refused", method: "PUT", body: `{"query":"{ hello }"}`, status: 405, allow: "GET, POST"},
		{name: "POST mutation", method: "POST", accept: gqlResp, body: `{"query":"mutation { send(chatId: \"1\", text: \"x\") { text } }"}`,
			status: 200, want: `{"data":{"send":{"text":"x"}}}`},
	}
}

func (c httpCase) check(t *testing.T, status int, header http.Header, body string) {
	t.Helper()
	if status != c.status {
		t.Errorf("status %d, want %d; body %s", status, c.status, body)
	}
	if ct := header.Get("Content-Type"); c.respType != "" && ct != c.respType+"; charset=utf-8" {
		t.Errorf("Content-Type %q, want %s; charset=utf-8", ct, c.respType)
	}
	if c.want != "" && !strings.Contains(body, c.want) {
		t.Errorf("body %s, want it to contain %s", body, c.want)
	}
	if c.allow != "" && header.Get("Allow") != c.allow {
		t.Errorf("Allow %q, want %q", header.Get("Allow"), c.allow)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &top); err != nil {
		t.Errorf("body is not a JSON object: %s", body)
		return
	}
	if _, hasData := top["data"]; c.noData && hasData {
		t.Errorf("body %s has a data entry", body)
	}
	if status != 200 {
		if _, hasErrors := top["errors"]; !hasErrors {
			t.Errorf("error response without errors: %s", body)
		}
	}
}

func TestHTTPHandler(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	handler := h.srv.HTTPHandler(nil)
	for _, c := range httpCases() {
		t.Run(c.name, func(t *testing.T) {
			target := "/graphql"
			if c.query != nil {
				target += "?" + c.query.Encode()
			}
			r := httptest.NewRequest(c.method, target, strings.NewReader(c.body))
			switch c.contentType {
			case "":
				r.Header.Set("Content-Type", appJSON)
			case "-":
			default:
				r.Header.Set("Content-Type", c.contentType)
			}
			if c.accept != "" {
				r.Header.Set("Accept", c.accept)
			}
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, r)
			c.check(t, w.Code, w.Header(), w.Body.String())
		})
	}
}

func TestAPIGatewayHandler(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	handler := h.srv.APIGatewayHandler(nil)
	for i, c := range httpCases() {
		t.Run(c.name, func(t *testing.T) {
			ev := events.APIGatewayProxyRequest{HTTPMethod: c.method, Path: "/graphql", Headers: map[string]string{}, Body: c.body}
			if i%2 == 1 { // API Gateway base64-encodes bodies it sees as binary
				ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(c.body)), true
			}
			switch c.contentType {
			case "":
				ev.Headers["Content-Type"] = appJSON
			case "-":
			default:
				ev.Headers["Content-Type"] = c.contentType
			}
			if c.accept != "" {
				ev.Headers["accept"] = c.accept // header names arrive in the client's case
			}
			if c.query != nil {
				ev.MultiValueQueryStringParameters = c.query
			}
			resp, err := handler(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, resp.StatusCode, resp.MultiValueHeaders, resp.Body)
		})
	}
}

func TestHTTPAPIHandler(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	handler := h.srv.HTTPAPIHandler(nil)
	for _, c := range httpCases() {
		t.Run(c.name, func(t *testing.T) {
			ev := events.APIGatewayV2HTTPRequest{RawPath: "/graphql", Headers: map[string]string{}, Body: c.body}
			ev.RequestContext.HTTP.Method = c.method
			switch c.contentType {
			case "":
				ev.Headers["content-type"] = appJSON
			case "-":
			default:
				ev.Headers["content-type"] = c.contentType
			}
			if c.accept != "" {
				ev.Headers["accept"] = c.accept
			}
			if c.query != nil {
				ev.RawQueryString = c.query.Encode()
			}
			resp, err := handler(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			header := http.Header{}
			for k, v := range resp.Headers {
				header.Set(k, v)
			}
			c.check(t, resp.StatusCode, header, resp.Body)
		})
	}
}

func TestHTTPBatching(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	handler := h.srv.HTTPHandler(&gqlambda.HTTPOptions{Batching: true})
	r := httptest.NewRequest("POST", "/graphql", strings.NewReader(`[{"query":"{ hello }"},{"query":"{ nope }"}]`))
	r.Header.Set("Content-Type", appJSON)
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	var results []map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &results); err != nil || len(results) != 2 {
		t.Fatalf("batch answer %s: %v", w.Body, err)
	}
	if string(results[0]["data"]) != `{"hello":"world"}` || results[1]["errors"] == nil {
		t.Errorf("batch answer %s", w.Body)
	}
}

func TestHTTPOnRequestAndLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	type userKey struct{}
	opts := &gqlambda.HTTPOptions{
		MaxBodyBytes: 64,
		OnRequest: func(ctx context.Context, req *gqlambda.HTTPRequest) (context.Context, error) {
			switch req.Header.Get("Authorization") {
			case "":
				return nil, errors.New("missing token")
			case "banned":
				return nil, &gqlambda.StatusError{Status: http.StatusForbidden, Reason: "banned"}
			}
			if _, ok := gqlambda.ServerFromContext(ctx); !ok {
				return nil, errors.New("no server in the context")
			}
			return context.WithValue(ctx, userKey{}, req.Header.Get("Authorization")), nil
		},
	}
	handler := h.srv.HTTPHandler(opts)
	tests := []struct {
		name, auth, body string
		status           int
	}{
		{"no token", "", `{"query":"{ hello }"}`, 401},
		{"banned", "banned", `{"query":"{ hello }"}`, 403},
		{"ok", "ann", `{"query":"{ hello }"}`, 200},
		{"too large", "ann", `{"query":"{ hello }","extensions":{"pad":"` + strings.Repeat("x", 64) + `"}}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", appJSON)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
		})
	}
}

// TestHTTPOperationLimits: a document over the operation limits is a
// request error (400 in the GraphQL over HTTP media type) with the limit's
// code, answered before the engine parses it; the 110 KB, 10,000-deep
// document that took graphql-go's validation over a minute is refused by
// size, and the same nesting under the size limit by depth.
func TestHTTPOperationLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) { c.Limits.MaxDocumentBytes = 200 << 10 })
	small := newHarness(t, nil)
	deep := func(n int) string { return "{" + strings.Repeat("a {", n) + "b" + strings.Repeat("}", n) + "}" }
	tests := []struct {
		name  string
		h     *harness
		query string
		code  string
	}{
		{"110 KB deep document", small, deep(10_000) + strings.Repeat(" ", 70_000), "DOCUMENT_TOO_LARGE"},
		{"10,000 deep", h, deep(10_000), "QUERY_TOO_DEEP"},
		{"4,500 repeated fields", h, "{" + strings.Repeat("hello ", 4500) + "}", "QUERY_TOO_COMPLEX"},
		{"10,000 aliases", h, "{" + strings.Repeat("h: hello ", 10_000) + "}", "QUERY_TOO_COMPLEX"},
		{"100 aliases", h, "{" + strings.Repeat("h: hello ", 100) + "}", "TOO_MANY_ALIASES"},
	}
	for _, tt := range tests {
		body, _ := json.Marshal(map[string]string{"query": tt.query})
		r := httptest.NewRequest("POST", "/graphql", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", appJSON)
		r.Header.Set("Accept", gqlambda.MediaTypeGraphQLResponse)
		w := httptest.NewRecorder()
		tt.h.srv.HTTPHandler(nil).ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"code":"`+tt.code+`"`) {
			t.Errorf("%s: %d %.200s, want 400 with code %s", tt.name, w.Code, w.Body, tt.code)
		}
	}
}

// TestHTTPRequestDeadline: a request's work ends at HTTPOptions.Timeout
// (and when the client goes away): its resolvers see their context end, and
// the client gets an answer then instead of waiting for them.
func TestHTTPRequestDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ended := make(chan error, 1)
		query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
			"slow": &graphql.Field{Type: graphql.String, Resolve: func(p graphql.ResolveParams) (any, error) {
				<-p.Context.Done()
				ended <- p.Context.Err()
				return nil, p.Context.Err()
			}},
		}})
		schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := gqlambda.New(gqlambda.Config{Engine: graphqlgo.New(schema, nil)})
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		w := httptest.NewRecorder()
		srv.HTTPHandler(&gqlambda.HTTPOptions{Timeout: 3 * time.Second}).ServeHTTP(w, httptest.NewRequest("GET", "/graphql?query=%7Bslow%7D", nil))
		if took := time.Since(began); took != 3*time.Second {
			t.Errorf("answered after %s, want the 3 s timeout", took)
		}
		if err := <-ended; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the resolver's context ended with %v, want its deadline", err)
		}
		if w.Code != http.StatusGatewayTimeout || !strings.Contains(w.Body.String(), `"code":"TIMEOUT"`) {
			t.Errorf("answer %d %s, want 504 with code TIMEOUT", w.Code, w.Body)
		}
	})
}
