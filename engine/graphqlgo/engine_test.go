package graphqlgo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/filter"
)

func testSchema(t testing.TB) graphql.Schema {
	t.Helper()
	author := graphql.NewObject(graphql.ObjectConfig{Name: "Author", Fields: graphql.Fields{
		"name": &graphql.Field{Type: graphql.String},
		"id":   &graphql.Field{Type: graphql.ID},
	}})
	message := graphql.NewObject(graphql.ObjectConfig{Name: "Message", Fields: graphql.Fields{
		"id":     &graphql.Field{Type: graphql.ID},
		"text":   &graphql.Field{Type: graphql.String},
		"author": &graphql.Field{Type: author},
		"tags":   &graphql.Field{Type: graphql.NewList(graphql.String)},
		"score":  &graphql.Field{Type: graphql.Float},
	}})
	room := graphql.NewObject(graphql.ObjectConfig{Name: "Room", Fields: graphql.Fields{
		"title": &graphql.Field{Type: graphql.String},
	}})
	item := graphql.NewUnion(graphql.UnionConfig{Name: "Item", Types: []*graphql.Object{message, room},
		ResolveType: func(p graphql.ResolveTypeParams) *graphql.Object {
			if _, ok := p.Value.(map[string]any)["title"]; ok {
				return room
			}
			return message
		}})
	source := func(p graphql.ResolveParams) (any, error) { return p.Source, nil }
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"message": &graphql.Field{Type: message, Resolve: func(graphql.ResolveParams) (any, error) {
			return map[string]any{"id": "1", "text": "hi <b>&</b> \"there\"\n", "author": map[string]any{"name": "ann", "id": "a"}, "tags": []any{"x", "y"}, "score": 1.5}, nil
		}},
		"items": &graphql.Field{Type: graphql.NewList(item), Resolve: func(graphql.ResolveParams) (any, error) {
			return []any{map[string]any{"id": "1", "text": "t"}, map[string]any{"title": "lobby"}}, nil
		}},
		"fail": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) { return nil, errors.New("nope") }},
		"must": &graphql.Field{Type: graphql.NewNonNull(graphql.String), Resolve: func(graphql.ResolveParams) (any, error) { return nil, errors.New("gone") }},
		"echo": &graphql.Field{Type: graphql.String, Args: graphql.FieldConfigArgument{"id": {Type: graphql.NewNonNull(graphql.ID)}},
			Resolve: func(p graphql.ResolveParams) (any, error) { return p.Args["id"], nil }},
	}})
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"messageAdded": &graphql.Field{
			Type: message,
			Args: graphql.FieldConfigArgument{
				"room":  {Type: graphql.NewNonNull(graphql.String)},
				"limit": {Type: graphql.Int, DefaultValue: 10},
			},
			Subscribe: Subscribe(gqlambda.SubscribeOptions{
				Topics: []string{"MESSAGES"},
				Filter: filter.All(filter.Where("room", filter.Eq, "r")),
			}),
			Resolve: source,
		},
		"rogue": &graphql.Field{
			Type: graphql.String,
			Subscribe: func(p graphql.ResolveParams) (any, error) {
				ch := make(chan any, 1)
				ch <- "event"
				close(ch)
				return ch, nil
			},
			Resolve: source,
		},
		"failing": &graphql.Field{
			Type:      graphql.String,
			Subscribe: func(p graphql.ResolveParams) (any, error) { return nil, errors.New("subscribe failed") },
			Resolve:   source,
		},
	}})
	schema, err := graphql.NewSchema(graphql.SchemaConfig{Query: query, Subscription: subscription})
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	e := New(testSchema(t), nil)
	ctx := context.Background()
	tests := []struct {
		name, query, opName string
		typ                 gqlambda.OperationType
		err                 string
	}{
		{"query", "{ message { id } }", "", gqlambda.Query, ""},
		{"named subscription", "query A { fail } subscription B { messageAdded(room: \"r\") { id } }", "B", gqlambda.Subscription, ""},
		{"named query", "query A { fail } subscription B { messageAdded(room: \"r\") { id } }", "A", gqlambda.Query, ""},
		{"ambiguous", "query A { fail } query B { fail }", "", "", "Must provide operation name"},
		{"unknown name", "query A { fail }", "Z", "", `Unknown operation named "Z"`},
		{"syntax", "{ message {", "", "", "Syntax Error"},
		{"validation", "{ nope }", "", "", `Cannot query field "nope" on type "Query"`},
		{"not executable", "scalar Date", "", "", "The scalar definition is not executable."},
		{"fragments only", "fragment F on Query { fail }", "", "", ""}, // checked below: an error
		{"two root fields", "subscription { messageAdded(room: \"r\") { id } rogue }", "", "", "Anonymous Subscription must select only one top level field."},
		{"aliased twice", "subscription S { a: rogue b: rogue }", "", "", `Subscription "S" must select only one top level field.`},
		{"same field twice is one", "subscription { rogue rogue }", "", gqlambda.Subscription, ""},
		{"introspection", "subscription { __typename }", "", "", "must not select an introspection top level field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, err := e.Prepare(ctx, tt.query, tt.opName)
			if tt.name == "fragments only" {
				if err == nil {
					t.Fatal("a document without operation must be an error")
				}
				return
			}
			if tt.err != "" {
				var errs gqlambda.Errors
				if !errors.As(err, &errs) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want gqlambda.Errors containing %q", err, tt.err)
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
	e := New(testSchema(t), nil)
	_, err := e.Prepare(context.Background(), "{\n  nope\n}", "")
	var errs gqlambda.Errors
	if !errors.As(err, &errs) || len(errs[0].Locations) != 1 || errs[0].Locations[0] != (gqlambda.Location{Line: 2, Column: 3}) {
		t.Fatalf("%#v", err)
	}
}

func TestPrepareCaches(t *testing.T) {
	t.Parallel()
	e := New(testSchema(t), &Options{CacheSize: 2})
	ctx := context.Background()
	a1, _ := e.Prepare(ctx, "{ message { id } }", "")
	a2, _ := e.Prepare(ctx, "{ message { id } }", "")
	if a1 != a2 {
		t.Error("the same document was parsed twice")
	}
	e.Prepare(ctx, "{ message { text } }", "")
	e.Prepare(ctx, "{ fail }", "")
	if n := e.docs.Len(); n != 2 {
		t.Errorf("cache holds %d documents, want its capacity 2", n)
	}
	if a3, _ := e.Prepare(ctx, "{ message { id } }", ""); a3 == a1 {
		t.Error("evicted document still cached")
	}
}

func TestExecuteQueryOrder(t *testing.T) {
	t.Parallel()
	e := New(testSchema(t), nil)
	tests := []struct {
		query string
		vars  map[string]any
		want  string
	}{
		{`{ message { text id author { name id } tags score } }`, nil,
			`{"data":{"message":{"text":"hi <b>&</b> \"there\"\n","id":"1","author":{"name":"ann","id":"a"},"tags":["x","y"],"score":1.5}}}`},
		{`{ message { zz: id aa: text } }`, nil, `{"data":{"message":{"zz":"1","aa":"hi <b>&</b> \"there\"\n"}}}`},
		{`{ message { ...F id } } fragment F on Message { author { id } text }`, nil,
			`{"data":{"message":{"author":{"id":"a"},"text":"hi <b>&</b> \"there\"\n","id":"1"}}}`},
		{`{ message { author { id } author { name } } }`, nil, `{"data":{"message":{"author":{"id":"a","name":"ann"}}}}`},
		{`{ items { __typename ... on Room { title } ... on Message { text id } } }`, nil,
			`{"data":{"items":[{"__typename":"Message","text":"t","id":"1"},{"__typename":"Room","title":"lobby"}]}}`},
		{`{ fail message { id } }`, nil,
			`{"errors":[{"message":"nope","locations":[{"line":1,"column":3}],"path":["fail"]}],"data":{"fail":null,"message":{"id":"1"}}}`},
		// A non-null root field failed: execution ran, so data is null.
		{`{ must }`, nil, `{"errors":[{"message":"gone","locations":[{"line":1,"column":3}],"path":["must"]}],"data":null}`},
		// Variable coercion failed: execution never started, so no data entry.
		{`query($id: ID!) { echo(id: $id) }`, map[string]any{"id": nil},
			`{"errors":[{"message":"Variable \"$id\" of required type \"ID!\" was not provided.","locations":[{"line":1,"column":7}]}]}`},
		{`query($id: ID!) { echo(id: $id) }`, map[string]any{"id": "7"}, `{"data":{"echo":"7"}}`},
	}
	for _, tt := range tests {
		op, err := e.Prepare(context.Background(), tt.query, "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := op.Execute(context.Background(), tt.vars, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.query, got, tt.want)
		}
	}
}

func TestExecuteSubscriptionEvent(t *testing.T) {
	t.Parallel()
	e := New(testSchema(t), nil)
	op, err := e.Prepare(context.Background(), `subscription($r: String!) { messageAdded(room: $r) { text author { name } } }`, "")
	if err != nil {
		t.Fatal(err)
	}
	payload := map[string]any{"text": "ev", "author": map[string]any{"name": "bo"}}
	got, err := op.Execute(context.Background(), map[string]any{"r": "x"}, payload)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"data":{"messageAdded":{"text":"ev","author":{"name":"bo"}}}}`; string(got) != want {
		t.Errorf("got %s want %s", got, want)
	}
}

func TestSubscribePhase(t *testing.T) {
	t.Parallel()
	e := New(testSchema(t), nil)
	ctx := context.Background()
	prep := func(q string) gqlambda.Operation {
		t.Helper()
		op, err := e.Prepare(ctx, q, "")
		if err != nil {
			t.Fatal(err)
		}
		return op
	}

	decl, err := prep(`subscription($r: String!) { messageAdded(room: $r) { id } }`).Subscribe(ctx, map[string]any{"r": "lobby"})
	if err != nil {
		t.Fatal(err)
	}
	if decl.Field != "messageAdded" || !reflect.DeepEqual(decl.Args, map[string]any{"room": "lobby", "limit": 10}) ||
		!reflect.DeepEqual(decl.Options.Topics, []string{"MESSAGES"}) || len(decl.Options.Filter.Groups) != 1 {
		t.Errorf("declaration %+v", decl)
	}

	tests := []struct{ name, query, err string }{
		{"invalid variables", `subscription($r: String!) { messageAdded(room: $r) { id } }`, `Variable "$r" of required type "String!" was not provided.`},
		{"resolver not made by Subscribe", `subscription { rogue }`, `Subscription field "rogue" must declare its topics with graphqlgo.Subscribe.`},
		{"failing subscribe resolver", `subscription { failing }`, "subscribe failed"},
	}
	for _, tt := range tests {
		_, err := prep(tt.query).Subscribe(ctx, nil)
		var errs gqlambda.Errors
		if !errors.As(err, &errs) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err %v, want gqlambda.Errors with %q", tt.name, err, tt.err)
		}
	}
	if _, err := prep(`{ fail }`).Subscribe(ctx, nil); err == nil {
		t.Error("Subscribe on a query must fail")
	}
}

func TestSubscribeResolverOutsideServer(t *testing.T) {
	t.Parallel()
	fn := Subscribe(gqlambda.SubscribeOptions{Topics: []string{"T"}})
	if _, err := fn(graphql.ResolveParams{Context: context.Background()}); err == nil || !strings.Contains(err.Error(), "outside a gqlambda server") {
		t.Errorf("err %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := New(testSchema(t), &Options{CacheSize: 3})
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
				if _, err := op.Execute(ctx, nil, map[string]any{"id": i, "text": "t"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestAppendString checks the string encoder against encoding/json's decoder.
func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `"quoted"`, `back\slash`, "\x00\x01\x1f\x7f", "tab\tnl\ncr\r", "ü€𝄞", "\u2028\u2029", "bad\xffutf8", "<>&"} {
		checkString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkString(t, s) })
}

func checkString(t *testing.T, s string) {
	t.Helper()
	var buf bytes.Buffer
	appendString(&buf, s)
	var got string
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%q encoded as invalid JSON %s: %v", s, buf.Bytes(), err)
	}
	// Each invalid byte becomes U+FFFD, as encoding/json does.
	var want strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		want.WriteRune(r)
		i += size
	}
	if got != want.String() {
		t.Fatalf("%q round-tripped to %q", s, got)
	}
}

func BenchmarkExecuteEvent(b *testing.B) {
	e := New(testSchema(b), nil)
	ctx := context.Background()
	op, err := e.Prepare(ctx, `subscription { messageAdded(room: "r") { id text author { name } } }`, "")
	if err != nil {
		b.Fatal(err)
	}
	payload := map[string]any{"id": "1", "text": "hello", "author": map[string]any{"name": "ann"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := op.Execute(ctx, nil, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrepareCached(b *testing.B) {
	e := New(testSchema(b), nil)
	ctx := context.Background()
	q := `subscription { messageAdded(room: "r") { id text author { name } } }`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Prepare(ctx, q, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDocumentsTheValidatorCannotHandle: documents graphql-go's parser
// accepts and its validator crashes on are refused with an error; no
// document panics.
func TestDocumentsTheValidatorCannotHandle(t *testing.T) {
	t.Parallel()
	e := New(testSchema(t), nil)
	for _, doc := range []string{`query($A:) {A0}`, `query($a:, $b: Int) { x }`} {
		_, err := e.Prepare(t.Context(), doc, "")
		var errs gqlambda.Errors
		if !errors.As(err, &errs) || !strings.Contains(errs.Error(), "has no type") {
			t.Errorf("Prepare(%q) = %v, want a GraphQL error about the untyped variable", doc, err)
		}
	}
}
