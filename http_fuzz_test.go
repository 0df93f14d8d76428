package gqlambda_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda"
)

// FuzzHTTPHandler: whatever the method, content type, query string and
// body, the GraphQL over HTTP handler answers with a status of the
// specification (never 500: no input is a server failure) and, when it
// answers with a body, a JSON one.
func FuzzHTTPHandler(f *testing.F) {
	for _, seed := range []struct {
		post              bool
		contentType, body string
	}{
		{true, "application/json", `{"query":"{ hello }"}`},
		{true, "application/json", `{"query":"mutation { send(chatId: \"1\", text: \"x\") { id } }"}`},
		{true, "application/json", `[{"query":"{ hello }"}]`},
		{true, "application/json", `{"query":"{ hello }","variables":[1]}`},
		{true, "application/json", `{"query":"` + strings.Repeat("{a", 50) + `"}`},
		{true, "text/plain", `{ hello }`},
		{false, "", `{ hello }`},
		{false, "", `query($a: Int) { hello }`},
		{true, "application/json; charset=utf-16", `{}`},
		{true, "application/json", "\xff\xfe"},
	} {
		f.Add(seed.post, seed.contentType, seed.body)
	}
	h := newHarness(f, nil)
	handler := h.srv.HTTPHandler(&gqlambda.HTTPOptions{MaxBodyBytes: 4 << 10})
	f.Fuzz(func(t *testing.T, post bool, contentType, body string) {
		var r *http.Request
		if post {
			r = httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
			r.Header.Set("Content-Type", contentType)
		} else {
			r = httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape(body), nil)
		}
		if strings.HasPrefix(contentType, "gr") {
			r.Header.Set("Accept", gqlambda.MediaTypeGraphQLResponse)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 405, 406, 413, 415:
		default:
			t.Fatalf("%s %q (%s): status %d, body %s", r.Method, body, contentType, w.Code, w.Body)
		}
		if w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q (%s): status %d, a body that is not JSON: %q", r.Method, body, contentType, w.Code, w.Body)
		}
	})
}
