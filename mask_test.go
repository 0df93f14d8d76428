package gqlambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// maskedTable is the name of the table the resolvers of the masking test
// write to: it must never reach a client.
const maskedTable = "gqlambda-masked-secret-table"

// deadAddress returns a loopback address nothing listens on: connections to
// it are refused.
func deadAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// dynamoClient is a DynamoDB client of endpoint that tries each call once.
func dynamoClient(endpoint string) *awsdynamodb.Client {
	return awsdynamodb.NewFromConfig(aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, func(o *awsdynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.RetryMaxAttempts = 1
	})
}

// maskingSchema has a resolver for each kind of failure of the
// infrastructure: a network call refused (dial), a DynamoDB write refused
// (putRefused) or to a table that does not exist (putMissing, on DynamoDB
// Local), a Publish whose event store fails (publish).
func maskingSchema(t *testing.T, dead string, local *awsdynamodb.Client) graphql.Schema {
	put := func(db *awsdynamodb.Client) graphql.FieldResolveFn {
		return func(p graphql.ResolveParams) (any, error) {
			_, err := db.PutItem(p.Context, &awsdynamodb.PutItemInput{
				TableName: aws.String(maskedTable),
				Item:      map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "x"}},
			})
			return "written", err
		}
	}
	mutation := graphql.Fields{
		"putRefused": {Type: graphql.String, Resolve: put(dynamoClient("http://" + dead))},
		"publish": {Type: graphql.String, Resolve: func(p graphql.ResolveParams) (any, error) {
			srv, _ := gqlambda.ServerFromContext(p.Context)
			_, err := srv.Publish(p.Context, "T", map[string]any{"x": 1})
			return "published", err
		}},
		"refused": {Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) {
			// A resolver's own error is shown as it is.
			return nil, fmt.Errorf("the room is closed")
		}},
	}
	if local != nil {
		mutation["putMissing"] = &graphql.Field{Type: graphql.String, Resolve: put(local)}
	}
	schema, err := graphql.NewSchema(graphql.SchemaConfig{
		Query: graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
			"dial": {Type: graphql.String, Resolve: func(p graphql.ResolveParams) (any, error) {
				req, err := http.NewRequestWithContext(p.Context, http.MethodGet, "http://"+dead+"/"+maskedTable, nil)
				if err != nil {
					return nil, err
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return nil, err
				}
				resp.Body.Close()
				return "answered", nil
			}},
		}}),
		Mutation: graphql.NewObject(graphql.ObjectConfig{Name: "Mutation", Fields: mutation}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// leaks matches what must never reach a client: addresses, dial errors,
// table names, AWS request ids and SDK operation errors.
var leaks = regexp.MustCompile(`127\.0\.0\.1|dial tcp|connection refused|` + maskedTable + `|RequestID:|operation error|api error|response error|exceeded maximum`)

// TestInfrastructureErrorsAreMasked: an error of the store, of a network
// call or of an AWS service that a resolver returns reaches the client as a
// message with a code and a request id, over HTTP and over the socket, and
// is logged (and passed to OnError) in full under that id; Config.FormatError
// sees the masked error. A resolver's own error is shown as it is.
func TestInfrastructureErrorsAreMasked(t *testing.T) {
	t.Parallel()
	dead := deadAddress(t)
	var local *awsdynamodb.Client
	if os.Getenv(dynamotest.EnvEndpoint) != "" {
		local = dynamotest.Client(t)
	}
	var formatted sync.Map // messages FormatError received
	var logs strings.Builder
	var logMu sync.Mutex
	h := newHarness(t, func(c *gqlambda.Config, _ *hookLog) {
		c.Engine = graphqlgo.New(maskingSchema(t, dead, local), nil)
		c.Events = dynamodb.NewEventTable(dynamoClient("http://"+dead), nil)
		c.FormatError = func(_ context.Context, e *gqlambda.Error) *gqlambda.Error {
			formatted.Store(e.Message, true)
			return e
		}
		c.Logger = newTestLogger(&logs, &logMu)
	})

	cases := []struct {
		name, query, code string
	}{
		{"network call refused", `{ dial }`, "SERVICE_UNAVAILABLE"},
		{"DynamoDB refused", `mutation { putRefused }`, "SERVICE_UNAVAILABLE"},
		{"event store refused", `mutation { publish }`, "SERVICE_UNAVAILABLE"},
	}
	if local != nil {
		cases = append(cases, struct{ name, query, code string }{"DynamoDB table missing", `mutation { putMissing }`, "INTERNAL_SERVER_ERROR"})
	}
	handler := h.srv.HTTPHandler(nil)
	h.ready("c1")
	for i, tc := range cases {
		check := func(t *testing.T, body string) {
			t.Helper()
			var res struct {
				Errors []gqlambda.Error
			}
			if err := json.Unmarshal([]byte(body), &res); err != nil || len(res.Errors) != 1 {
				t.Fatalf("result %s: want one error (%v)", body, err)
			}
			e := res.Errors[0]
			id, _ := e.Extensions["requestId"].(string)
			if e.Extensions["code"] != tc.code || id == "" || !strings.Contains(e.Message, id) {
				t.Errorf("error %+v, want code %s and a request id", e, tc.code)
			}
			if m := leaks.FindString(body); m != "" {
				t.Errorf("the client reads %q in %s", m, body)
			}
			logMu.Lock()
			logged := logs.String()
			logMu.Unlock()
			var line string
			for l := range strings.SplitSeq(logged, "\n") {
				if strings.Contains(l, "request_id="+id) {
					line = l
				}
			}
			if !strings.Contains(line, "level=ERROR") || !leaks.MatchString(line) {
				t.Errorf("log of request %s: %q, want the failure in full at ERROR", id, line)
			}
			if _, ok := formatted.Load(e.Message); !ok {
				t.Errorf("FormatError did not see %q", e.Message)
			}
		}
		t.Run(tc.name+"/HTTP", func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":`+jsonString(tc.query)+`}`))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, req)
			body, _ := io.ReadAll(w.Body)
			check(t, string(body))
		})
		t.Run(tc.name+"/WebSocket", func(t *testing.T) {
			h.subscribe("c1", fmt.Sprint("op", i), tc.query)
			frames := h.take("c1")
			if len(frames) != 2 {
				t.Fatalf("frames %q, want next and complete", frames)
			}
			var next struct {
				Type    string
				Payload json.RawMessage
			}
			if err := json.Unmarshal([]byte(frames[0]), &next); err != nil || next.Type != "next" {
				t.Fatalf("frame %s, want next", frames[0])
			}
			check(t, string(next.Payload))
		})
	}
	t.Run("a resolver's own error", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"mutation { refused }"}`))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if body := w.Body.String(); !strings.Contains(body, "the room is closed") || strings.Contains(body, "requestId") {
			t.Errorf("result %s, want the resolver's message as it is", body)
		}
	})
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// lockedWriter serialises the writes of a logger to a builder.
type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// newTestLogger logs in slog's text format to b, under mu.
func newTestLogger(b *strings.Builder, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{b, mu}, nil))
}
