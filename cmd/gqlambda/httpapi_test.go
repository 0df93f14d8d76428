package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

var testNow = time.Date(2026, 11, 21, 10, 15, 38, 0, time.UTC)

func TestHTTPEvent(t *testing.T) {
	binary := []byte{0xff, 0x00, 0xfe}
	tests := []struct {
		name   string
		req    func() *http.Request
		body   []byte
		check  func(t *testing.T, ev events.APIGatewayV2HTTPRequest)
		absent []string // headers the event must not have
	}{
		{
			name: "POST with a JSON body",
			req: func() *http.Request {
				r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4000/graphql", nil)
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("User-Agent", "test/1.0")
				return r
			},
			body: []byte(`{"query":"{ __typename }"}`),
			check: func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
				checkEq(t, "version", ev.Version, "2.0")
				checkEq(t, "routeKey", ev.RouteKey, "$default")
				checkEq(t, "rawPath", ev.RawPath, "/graphql")
				checkEq(t, "rawQueryString", ev.RawQueryString, "")
				checkEq(t, "content-type", ev.Headers["content-type"], "application/json")
				checkEq(t, "user-agent", ev.Headers["user-agent"], "test/1.0")
				checkEq(t, "host", ev.Headers["host"], "127.0.0.1:4000")
				checkEq(t, "x-forwarded-for", ev.Headers["x-forwarded-for"], "192.0.2.1")
				checkEq(t, "x-forwarded-proto", ev.Headers["x-forwarded-proto"], "http")
				checkEq(t, "body", ev.Body, `{"query":"{ __typename }"}`)
				checkEq(t, "isBase64Encoded", ev.IsBase64Encoded, false)
				checkEq(t, "http.method", ev.RequestContext.HTTP.Method, "POST")
				checkEq(t, "http.path", ev.RequestContext.HTTP.Path, "/graphql")
				checkEq(t, "http.protocol", ev.RequestContext.HTTP.Protocol, "HTTP/1.1")
				checkEq(t, "http.sourceIp", ev.RequestContext.HTTP.SourceIP, "192.0.2.1")
				checkEq(t, "http.userAgent", ev.RequestContext.HTTP.UserAgent, "test/1.0")
				checkEq(t, "apiId", ev.RequestContext.APIID, "api0123456")
				checkEq(t, "requestId", ev.RequestContext.RequestID, "req-1")
				checkEq(t, "domainName", ev.RequestContext.DomainName, "127.0.0.1:4000")
				checkEq(t, "domainPrefix", ev.RequestContext.DomainPrefix, "127")
				checkEq(t, "stage", ev.RequestContext.Stage, "$default")
				checkEq(t, "time", ev.RequestContext.Time, "21/Nov/2026:10:15:38 +0000")
				checkEq(t, "timeEpoch", ev.RequestContext.TimeEpoch, testNow.UnixMilli())
				checkEq(t, "cookies", len(ev.Cookies), 0)
				checkEq(t, "queryStringParameters", len(ev.QueryStringParameters), 0)
				if !strings.HasPrefix(ev.Headers["x-amzn-trace-id"], "Root=1-") {
					t.Errorf("x-amzn-trace-id = %q", ev.Headers["x-amzn-trace-id"])
				}
			},
			absent: []string{"Content-Type", "cookie"},
		},
		{
			name: "GET with a query, repeated headers and cookies",
			req: func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "http://example.com/graphql?query=%7B+a+%7D&x=1&x=2", nil)
				r.Header.Add("Accept", "application/json")
				r.Header.Add("Accept", "text/html")
				r.Header.Add("Cookie", "a=1; b=2")
				r.Header.Add("Cookie", "c=3")
				r.Header.Set("X-Forwarded-For", "203.0.113.9")
				return r
			},
			check: func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
				checkEq(t, "rawQueryString", ev.RawQueryString, "query=%7B+a+%7D&x=1&x=2")
				checkEq(t, "query", ev.QueryStringParameters["query"], "{ a }")
				checkEq(t, "x", ev.QueryStringParameters["x"], "1,2")
				checkEq(t, "accept", ev.Headers["accept"], "application/json,text/html")
				checkEq(t, "cookies", strings.Join(ev.Cookies, "|"), "a=1|b=2|c=3")
				checkEq(t, "x-forwarded-for", ev.Headers["x-forwarded-for"], "203.0.113.9, 192.0.2.1")
				checkEq(t, "domainPrefix", ev.RequestContext.DomainPrefix, "example")
				checkEq(t, "body", ev.Body, "")
			},
			absent: []string{"cookie"},
		},
		{
			name: "binary body",
			req: func() *http.Request {
				return httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4000/graphql", nil)
			},
			body: binary,
			check: func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
				checkEq(t, "isBase64Encoded", ev.IsBase64Encoded, true)
				checkEq(t, "body", ev.Body, base64.StdEncoding.EncodeToString(binary))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := httpEvent(tt.req(), tt.body, "api0123456", "req-1", testNow)
			// The event survives JSON, as the function receives it.
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			var got events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
			for _, h := range tt.absent {
				if _, ok := got.Headers[h]; ok {
					t.Errorf("header %q present: %q", h, got.Headers[h])
				}
			}
		})
	}
}

func checkEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestHTTPFunction(t *testing.T) {
	tests := []struct {
		name       string
		payload    string // the function's response
		fe         string // FunctionError
		body       string // request body
		wantStatus int
		wantBody   string
		wantHeader map[string][]string
	}{
		{
			name:       "response",
			payload:    `{"statusCode":201,"headers":{"content-type":"application/graphql-response+json","x-one":"1"},"multiValueHeaders":{"x-two":["a","b"]},"cookies":["s=1; Path=/","t=2"],"body":"{\"data\":{}}"}`,
			wantStatus: 201,
			wantBody:   `{"data":{}}`,
			wantHeader: map[string][]string{
				"Content-Type": {"application/graphql-response+json"},
				"X-One":        {"1"},
				"X-Two":        {"a", "b"},
				"Set-Cookie":   {"s=1; Path=/", "t=2"},
			},
		},
		{
			name:       "base64 body",
			payload:    `{"statusCode":200,"body":"` + base64.StdEncoding.EncodeToString([]byte("\xff\x00")) + `","isBase64Encoded":true}`,
			wantStatus: 200,
			wantBody:   "\xff\x00",
		},
		{
			name:       "JSON without statusCode",
			payload:    `{"data":{"a":1}}`,
			wantStatus: 200,
			wantBody:   `{"data":{"a":1}}`,
			wantHeader: map[string][]string{"Content-Type": {"application/json"}},
		},
		{
			name:       "JSON string",
			payload:    `"hello"`,
			wantStatus: 200,
			wantBody:   `"hello"`,
		},
		{
			name:       "function error",
			payload:    `{"errorMessage":"boom","errorType":"errorString"}`,
			fe:         "Unhandled",
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
		{
			name:       "function error without header",
			payload:    `{"errorMessage":"boom","errorType":"errorString"}`,
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
		{
			name:       "invalid status",
			payload:    `{"statusCode":0,"body":"x"}`,
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
		{
			name:       "invalid base64",
			payload:    `{"statusCode":200,"body":"***","isBase64Encoded":true}`,
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
		{
			name:       "not JSON",
			payload:    `<html>`,
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}`,
		},
		{
			name:       "body too large",
			payload:    `{"statusCode":200}`,
			body:       strings.Repeat("x", 65),
			wantStatus: 413,
			wantBody:   `{"message":"Request Entity Too Large"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent []byte
			api := &fakeLambda{respond: func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
				sent = in.Payload
				return answer(tt.payload, tt.fe)(ctx, in)
			}}
			h := &httpFunction{invoker: newInvoker(api, "fn", 1), apiID: "api0123456", now: func() time.Time { return testNow },
				log: slog.New(slog.DiscardHandler), maxBody: 64}
			srv := httptest.NewServer(h)
			defer srv.Close()
			body := tt.body
			if body == "" {
				body = `{"query":"{ a }"}`
			}
			resp, err := http.Post(srv.URL+"/graphql?x=1", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checkEq(t, "status", resp.StatusCode, tt.wantStatus)
			checkEq(t, "body", string(got), tt.wantBody)
			for k, want := range tt.wantHeader {
				if vs := resp.Header.Values(k); !slices.Equal(vs, want) {
					t.Errorf("header %s = %q, want %q", k, vs, want)
				}
			}
			if resp.Header.Get("Apigw-Requestid") == "" {
				t.Error("no Apigw-Requestid header")
			}
			if tt.wantStatus == 413 {
				if sent != nil {
					t.Error("the function was invoked for a request too large")
				}
				return
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(sent, &ev); err != nil {
				t.Fatal(err)
			}
			checkEq(t, "event body", ev.Body, body)
			checkEq(t, "event rawQueryString", ev.RawQueryString, "x=1")
			checkEq(t, "event method", ev.RequestContext.HTTP.Method, "POST")
		})
	}
}
