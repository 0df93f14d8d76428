package gqlgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/gqlgen"
	"github.com/gqlambda/gqlambda/engine/gqlgen/internal/testschema"
	"github.com/gqlambda/gqlambda/filter"
)

func newEngine(opts *gqlgen.Options) *gqlgen.Engine {
	return gqlgen.New(testschema.NewExecutableSchema(testschema.Config{Resolvers: &testschema.Resolver{}}), opts)
}

func prepare(t testing.TB, e *gqlgen.Engine, query string) gqlambda.Operation {
	t.Helper()
	op, err := e.Prepare(context.Background(), query, "")
	if err != nil {
		t.Fatalf("Prepare(%s): %v", query, err)
	}
	return op
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	e := newEngine(nil)
	tests := []struct {
		name, query, opName string
		typ                 gqlambda.OperationType
		err                 string
	}{
		{"query", "{ message { id } }", "", gqlambda.Query, ""},
		{"typename", "{ __typename }", "", gqlambda.Query, ""},
		{"mutation", `mutation { post(text: "x") { id } }`, "", gqlambda.Mutation, ""},
		{"subscription", `subscription { messageAdded(room: "r") { id } }`, "", gqlambda.Subscription, ""},
		{"named subscription", `query A { fail } subscription B { messageAdded(room: "r") { id } }`, "B", gqlambda.Subscription, ""},
		{"named query", `query A { fail } subscription B { messageAdded(room: "r") { id } }`, "A", gqlambda.Query, ""},
		{"named mutation", `query A { fail } mutation B { post(text: "x") { id } } subscription C { rogue }`, "B", gqlambda.Mutation, ""},
		{"comment", "# subscription { rogue }\nquery Q { fail }", "", gqlambda.Query, ""},
		{"comment before subscription", "# query\n  subscription S { rogue }", "", gqlambda.Subscription, ""},
		{"fragment spread", "fragment F on Subscription { rogue }\nsubscription S { ...F }", "S", gqlambda.Subscription, ""},
		{"inline fragment", "subscription { ... on Subscription { counter(step: 1) } }", "", gqlambda.Subscription, ""},
		{"same field twice is one", "subscription { rogue rogue }", "", gqlambda.Subscription, ""},
		{"ambiguous", "query A { fail } query B { fail }", "", "", "Must provide operation name if query contains multiple operations."},
		{"unknown name", "query A { fail }", "Z", "", `Unknown operation named "Z".`},
		{"name of an anonymous operation", "{ fail }", "A", "", `Unknown operation named "A".`},
		{"syntax", "{ message {", "", "", "Expected Name, found <EOF>"},
		{"validation", "{ nope }", "", "", `Cannot query field "nope" on type "Query".`},
		{"not executable", "scalar Date", "", "", `Unexpected Name "scalar"`},
		{"fragments only", "fragment F on Query { fail }", "", "", "The document contains no operation."},
		{"empty", "", "", "", "The document contains no operation."},
		{"two root fields", `subscription { messageAdded(room: "r") { id } rogue }`, "", "", "Anonymous Subscription must select only one top level field."},
		{"two root fields through a fragment", "fragment F on Subscription { failing }\nsubscription S { rogue ...F }", "", "", `Subscription "S" must select only one top level field.`},
		{"aliased twice", "subscription S { a: rogue b: rogue }", "", "", `Subscription "S" must select only one top level field.`},
		{"introspection root", "subscription { __typename }", "", "", "Anonymous Subscription must not select an introspection top level field."},
		{"missing argument", "subscription { messageAdded { id } }", "", "", `Field "messageAdded" argument "room" of type "String!" is required, but it was not provided.`},
		{"defer", "{ message { ... @defer { id } } }", "", "", "The @defer directive is not supported: results are delivered whole."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, err := e.Prepare(context.Background(), tt.query, tt.opName)
			if tt.err != "" {
				errs, ok := errors.AsType[gqlambda.Errors](err)
				if !ok || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want gqlambda.Errors containing %q", err, tt.err)
				}
				if code := errs[0].Extensions["code"]; code != "GRAPHQL_VALIDATION_FAILED" && code != "GRAPHQL_PARSE_FAILED" {
					t.Errorf("extensions %v, want gqlgen's validation or parse code", errs[0].Extensions)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if op.Type() != tt.typ {
				t.Errorf("type %s, want %s", op.Type(), tt.typ)
			}
		})
	}
}

func TestErrorLocations(t *testing.T) {
	t.Parallel()
	e := newEngine(nil)
	tests := []struct {
		query string
		want  gqlambda.Error
	}{
		{"{\n  nope\n}", gqlambda.Error{
			Message:    `Cannot query field "nope" on type "Query".`,
			Locations:  []gqlambda.Location{{Line: 2, Column: 3}},
			Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"},
		}},
		{"{\n  message {\n", gqlambda.Error{
			Message:    "Expected Name, found <EOF>",
			Locations:  []gqlambda.Location{{Line: 3, Column: 1}},
			Extensions: map[string]any{"code": "GRAPHQL_PARSE_FAILED"},
		}},
		{"subscription {\n  rogue\n  failing\n}", gqlambda.Error{
			Message:    "Anonymous Subscription must select only one top level field.",
			Locations:  []gqlambda.Location{{Line: 3, Column: 3}},
			Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"},
		}},
	}
	for _, tt := range tests {
		_, err := e.Prepare(context.Background(), tt.query, "")
		errs, ok := errors.AsType[gqlambda.Errors](err)
		if !ok || len(errs) != 1 || !reflect.DeepEqual(*errs[0], tt.want) {
			t.Errorf("%q: err %#v, want %#v", tt.query, errs, tt.want)
		}
	}
}

func TestPrepareCaches(t *testing.T) {
	t.Parallel()
	e := newEngine(&gqlgen.Options{CacheSize: 2})
	ctx := context.Background()
	a1 := prepare(t, e, "{ message { id } }")
	if a2 := prepare(t, e, "{ message { id } }"); a1 != a2 {
		t.Error("the same document was parsed twice")
	}
	_, err1 := e.Prepare(ctx, "{ nope }", "")
	_, err2 := e.Prepare(ctx, "{ nope }", "")
	if err1 == nil || !reflect.DeepEqual(err1, err2) {
		t.Errorf("invalid document: errors %v then %v", err1, err2)
	}
	prepare(t, e, "{ fail }")
	if n := e.CachedDocuments(); n != 2 {
		t.Errorf("cache holds %d documents, want its capacity 2", n)
	}
	if a3 := prepare(t, e, "{ message { id } }"); a3 == a1 {
		t.Error("evicted document still cached")
	}
	// An operation whose document left the cache still runs.
	if got, err := a1.Execute(ctx, nil, nil); err != nil || string(got) != `{"data":{"message":{"id":"1"}}}` {
		t.Errorf("evicted operation: %s, %v", got, err)
	}
	// Operations of one document share its cache entry.
	q := "query A { fail } query B { must }"
	a, b := mustPrepare(t, e, q, "A"), mustPrepare(t, e, q, "B")
	if a == b || mustPrepare(t, e, q, "A") != a {
		t.Error("operations of one cached document are not kept apart")
	}
}

func mustPrepare(t *testing.T, e *gqlgen.Engine, query, name string) gqlambda.Operation {
	t.Helper()
	op, err := e.Prepare(context.Background(), query, name)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func TestExecute(t *testing.T) {
	t.Parallel()
	e := newEngine(nil)
	tests := []struct {
		name  string
		query string
		vars  map[string]any
		want  string
	}{
		{"query order", `{ message { text id author { name id } tags score } }`, nil,
			`{"data":{"message":{"text":"hi <b>&</b> \"there\"\n","id":"1","author":{"name":"ann","id":"a"},"tags":["x","y"],"score":1.5}}}`},
		{"aliases", `{ message { zz: id aa: text } }`, nil, `{"data":{"message":{"zz":"1","aa":"hi <b>&</b> \"there\"\n"}}}`},
		{"fragment", `{ message { ...F id } } fragment F on Message { author { id } text }`, nil,
			`{"data":{"message":{"author":{"id":"a"},"text":"hi <b>&</b> \"there\"\n","id":"1"}}}`},
		{"merged fields", `{ message { author { id } author { name } } }`, nil, `{"data":{"message":{"author":{"id":"a","name":"ann"}}}}`},
		{"union", `{ items { __typename ... on Room { title } ... on Message { text id } } }`, nil,
			`{"data":{"items":[{"__typename":"Message","text":"t","id":"1"},{"__typename":"Room","title":"lobby"}]}}`},
		{"introspection", `{ __schema { subscriptionType { name } } }`, nil, `{"data":{"__schema":{"subscriptionType":{"name":"Subscription"}}}}`},
		{"nullable field fails", `{ fail message { id } }`, nil,
			`{"errors":[{"message":"nope","locations":[{"line":1,"column":3}],"path":["fail"]}],"data":{"fail":null,"message":{"id":"1"}}}`},
		// A non-null root field failed: execution ran, so data is null.
		{"non-null root field fails", `{ must }`, nil, `{"errors":[{"message":"gone","locations":[{"line":1,"column":3}],"path":["must"]}],"data":null}`},
		// Variable coercion failed: execution never started, so no data entry.
		{"null variable", `query($id: ID!) { echo(id: $id) }`, map[string]any{"id": nil},
			`{"errors":[{"message":"Variable \"$id\" cannot be null.","locations":[{"line":1,"column":7}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`},
		{"missing variable", `query Q($id: ID!) { echo(id: $id) }`, nil,
			`{"errors":[{"message":"Variable \"$id\" must be defined.","locations":[{"line":1,"column":9}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`},
		{"variable of the wrong type", `query($id: ID!) { echo(id: $id) }`, map[string]any{"id": true},
			`{"errors":[{"message":"Variable \"$id\" cannot use bool as ID.","locations":[{"line":1,"column":7}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`},
		{"number variable", `query($id: ID!) { echo(id: $id) }`, map[string]any{"id": 12.0}, `{"data":{"echo":"12"}}`},
		{"variable", `query($id: ID!) { echo(id: $id) }`, map[string]any{"id": "7"}, `{"data":{"echo":"7"}}`},
		{"mutation", `mutation($t: String!) { post(text: $t) { text id } }`, map[string]any{"t": "hello"}, `{"data":{"post":{"text":"hello","id":"m1"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := prepare(t, e, tt.query).Execute(context.Background(), tt.vars, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.query, got, tt.want)
			}
		})
	}
}

func TestExecuteEvent(t *testing.T) {
	t.Parallel()
	e := newEngine(nil)
	msg := `subscription($r: String!) { messageAdded(room: $r) { text author { name } tags } }`
	tests := []struct {
		name  string
		query string
		vars  map[string]any
		root  any
		want  string
	}{
		{"decoded JSON payload", msg, map[string]any{"r": "x"},
			map[string]any{"text": "ev", "author": map[string]any{"name": "bo"}, "tags": []any{"a"}, "room": "x"},
			`{"data":{"messageAdded":{"text":"ev","author":{"name":"bo"},"tags":["a"]}}}`},
		{"raw JSON payload", msg, map[string]any{"r": "x"},
			json.RawMessage(`{"text":"raw","author":{"name":"cy"}}`),
			`{"data":{"messageAdded":{"text":"raw","author":{"name":"cy"},"tags":null}}}`},
		{"payload of the field's type", msg, map[string]any{"r": "x"},
			&testschema.Message{Text: ptr("typed")},
			`{"data":{"messageAdded":{"text":"typed","author":null,"tags":null}}}`},
		{"aliases and fragments", `subscription { m: messageAdded(room: "r") { ...F } } fragment F on Message { t: text }`, nil,
			map[string]any{"text": "ev"}, `{"data":{"m":{"t":"ev"}}}`},
		{"scalar payload", `subscription { counter(step: 2) }`, nil, 5.0, `{"data":{"counter":5}}`},
		{"nullable field, null payload", msg, map[string]any{"r": "x"}, nil, `{"data":{"messageAdded":null}}`},
		{"non-null field, null payload", `subscription { r: required { text } }`, nil, nil,
			`{"errors":[{"message":"cannot return null for non-null position (Message!): the value was nil"}],"data":null}`},
		{"non-null scalar field, payload of another type", `subscription { counter(step: 2) }`, nil, "five",
			`{"errors":[{"message":"gqlgen: decode the event payload into int: json: cannot unmarshal string into Go value of type int","locations":[{"line":1,"column":16}],"path":["counter"]}],"data":null}`},
		{"payload that does not decode", msg, map[string]any{"r": "x"}, []any{1},
			`{"errors":[{"message":"gqlgen: decode the event payload into *testschema.Message: json: cannot unmarshal array into Go value of type testschema.Message","locations":[{"line":1,"column":29}],"path":["messageAdded"]}],"data":null}`},
		{"resolver fails", `subscription { failing }`, nil, map[string]any{},
			`{"errors":[{"message":"subscribe failed","locations":[{"line":1,"column":16}],"path":["failing"]}],"data":null}`},
		{"invalid variables", msg, nil, map[string]any{},
			`{"errors":[{"message":"Variable \"$r\" must be defined.","locations":[{"line":1,"column":14}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`},
		{"relayed by a goroutine", `subscription { relayed(step: 1) }`, nil, 3.0, `{"data":{"relayed":3}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := prepare(t, e, tt.query).Execute(context.Background(), tt.vars, tt.root)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestExecuteEventOfRogueStream: a resolver that returns a stream of its own
// never declared its topics, so no such subscription is stored; executing
// one anyway is an error, not a wait on that stream.
func TestExecuteEventOfRogueStream(t *testing.T) {
	t.Parallel()
	e := newEngine(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := prepare(t, e, `subscription { rogue }`).Execute(ctx, nil, map[string]any{})
	if err == nil || !strings.Contains(err.Error(), `subscription field "rogue" did not take the event`) {
		t.Errorf("err %v", err)
	}
}

func TestExecuteEventCancelled(t *testing.T) {
	t.Parallel()
	e := newEngine(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := prepare(t, e, `subscription { relayed(step: 1) }`).Execute(ctx, nil, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func TestSubscribePhase(t *testing.T) {
	t.Parallel()
	e := newEngine(nil)
	ctx := context.Background()

	decl, err := prepare(t, e, `subscription($r: String!) { messageAdded(room: $r) { id } }`).Subscribe(ctx, map[string]any{"r": "lobby"})
	if err != nil {
		t.Fatal(err)
	}
	if decl.Field != "messageAdded" || !reflect.DeepEqual(decl.Args, map[string]any{"room": "lobby", "limit": ptr(10)}) ||
		!reflect.DeepEqual(decl.Options.Topics, []string{testschema.MessagesTopic}) ||
		!reflect.DeepEqual(decl.Options.Filter, filter.All(filter.Where("room", filter.Eq, "r"))) {
		t.Errorf("declaration %+v", decl)
	}

	// Through a fragment and an alias, with coerced arguments: the field's
	// name, its arguments by name, and topics computed from them.
	decl, err = prepare(t, e, `subscription S($s: Int!) { ...F } fragment F on Subscription { c: counter(step: $s, label: "x") }`).Subscribe(ctx, map[string]any{"s": 3.0})
	if err != nil {
		t.Fatal(err)
	}
	if decl.Field != "counter" || !reflect.DeepEqual(decl.Args, map[string]any{"step": 3, "label": ptr("x")}) {
		t.Errorf("declaration %+v", decl)
	}
	if topics, err := decl.Options.TopicsFunc(ctx, decl.Args); err != nil || !reflect.DeepEqual(topics, []string{"counter:3", "label:x"}) {
		t.Errorf("TopicsFunc: %v, %v", topics, err)
	}
	// A resolver that relays the stream from a goroutine declares too.
	if decl, err := prepare(t, e, `subscription { relayed(step: 4) }`).Subscribe(ctx, nil); err != nil || decl.Options.Topics[0] != "counter:4" {
		t.Errorf("relayed: %+v, %v", decl, err)
	}

	tests := []struct {
		name, query, err string
		vars             map[string]any
	}{
		{"missing variable", `subscription($r: String!) { messageAdded(room: $r) { id } }`, `Variable "$r" must be defined.`, nil},
		{"variable of the wrong type", `subscription($r: String!) { messageAdded(room: $r) { id } }`, `Variable "$r" cannot use float64 as String.`, map[string]any{"r": 1.0}},
		{"fractional Int", `subscription($s: Int!) { counter(step: $s) }`, `Variable "$s" cannot use float64 as Int.`, map[string]any{"s": 1.5}},
		{"resolver not using Subscribe", `subscription { rogue }`, `Subscription field "rogue" must declare its topics with gqlgen.Subscribe.`, nil},
		{"failing resolver", `subscription { failing }`, "subscribe failed", nil},
	}
	for _, tt := range tests {
		_, err := prepare(t, e, tt.query).Subscribe(ctx, tt.vars)
		if _, ok := errors.AsType[gqlambda.Errors](err); !ok || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err %v, want gqlambda.Errors with %q", tt.name, err, tt.err)
		}
	}
	if _, err := prepare(t, e, `{ fail }`).Subscribe(ctx, nil); err == nil {
		t.Error("Subscribe on a query must fail")
	}
}

func TestSubscribeOutsideServer(t *testing.T) {
	t.Parallel()
	if _, err := gqlgen.Subscribe[int](context.Background(), gqlambda.SubscribeOptions{Topics: []string{"T"}}); !errors.Is(err, gqlgen.ErrOutsideServer) {
		t.Errorf("err %v, want ErrOutsideServer", err)
	}
}

// TestNoGoroutineLeak runs every kind of execution, cold and cached, in a
// synctest bubble: synctest.Test returns only once every goroutine started
// in the bubble has ended, and fails when one is left blocked. The relayed
// field's goroutine ends only when its subscription's context does, so the
// engine must cancel it once the first response is read.
func TestNoGoroutineLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(nil)
		ctx := context.Background()
		runs := []func() error{
			func() error {
				_, err := prepare(t, e, `subscription { relayed(step: 1) }`).Execute(ctx, nil, 1.0)
				return err
			},
			func() error {
				_, err := prepare(t, e, `subscription { relayed(step: 1) }`).Subscribe(ctx, nil)
				return err
			},
			func() error {
				_, err := prepare(t, e, `subscription { messageAdded(room: "r") { id } }`).Execute(ctx, nil, map[string]any{"id": "1"})
				return err
			},
			func() error { _, err := prepare(t, e, `subscription { failing }`).Execute(ctx, nil, nil); return err },
			func() error { _, err := prepare(t, e, `{ message { id } fail }`).Execute(ctx, nil, nil); return err },
		}
		for range 2 {
			for _, run := range runs {
				if err := run(); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := newEngine(&gqlgen.Options{CacheSize: 3})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			ctx := context.Background()
			for i := range 50 {
				q := fmt.Sprintf(`subscription { messageAdded(room: "%d") { id text } }`, (g+i)%5)
				op, err := e.Prepare(ctx, q, "")
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := op.Subscribe(ctx, nil); err != nil {
					t.Error(err)
				}
				got, err := op.Execute(ctx, nil, map[string]any{"id": fmt.Sprint(i), "text": "t"})
				if want := fmt.Sprintf(`{"data":{"messageAdded":{"id":"%d","text":"t"}}}`, i); err != nil || string(got) != want {
					t.Errorf("got %s, %v; want %s", got, err, want)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkExecuteEvent(b *testing.B) {
	e := newEngine(nil)
	ctx := context.Background()
	op := prepare(b, e, `subscription { messageAdded(room: "r") { id text author { name } } }`)
	payload := map[string]any{"id": "1", "text": "hello", "author": map[string]any{"name": "ann"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := op.Execute(ctx, nil, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrepareCached(b *testing.B) {
	e := newEngine(nil)
	ctx := context.Background()
	q := `subscription { messageAdded(room: "r") { id text author { name } } }`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Prepare(ctx, q, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUntypedVariable: a variable without a type (which crashed another
// engine's validator) is a GraphQL error here too.
func TestUntypedVariable(t *testing.T) {
	t.Parallel()
	_, err := newEngine(nil).Prepare(t.Context(), `query($A:) { message { id } }`, "")
	if _, ok := errors.AsType[gqlambda.Errors](err); !ok {
		t.Errorf("Prepare = %v, want GraphQL errors", err)
	}
}
