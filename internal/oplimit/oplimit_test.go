package oplimit

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// introspectionQuery is the query GraphQL clients and tools send to read a
// schema (graphql-js's getIntrospectionQuery, with descriptions): the
// default limits must let it through.
const introspectionQuery = `
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}`

// defaults are the bounds the server applies unless configured otherwise.
var defaults = Limits{MaxBytes: 32 << 10, MaxDepth: 20, MaxFields: 2000, MaxAliases: 50, MaxMutationFields: 10}

func nested(depth int) string {
	return "{" + strings.Repeat("a {", depth-1) + "b" + strings.Repeat("}", depth-1) + "}"
}

// bomb is a document of n fragments each spreading the next twice: 2^n
// fields in a few hundred bytes.
func bomb(n int) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := range n {
		fmt.Fprintf(&b, "fragment F%d on Q { a: x ...F%d b: y ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Q { z }\n", n)
	return b.String()
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		doc    string
		limits Limits
		code   string // "" for none
	}{
		{name: "small query", doc: `{ hello }`, limits: defaults},
		{name: "introspection query", doc: introspectionQuery, limits: defaults},
		{name: "introspection disabled", doc: introspectionQuery, limits: Limits{NoIntrospection: true}, code: CodeIntrospection},
		{name: "__type disabled", doc: `{ __type(name: "Q") { name } }`, limits: Limits{NoIntrospection: true}, code: CodeIntrospection},
		{name: "__typename is no introspection", doc: `{ __typename a { __typename } }`, limits: Limits{NoIntrospection: true}},
		{name: "too large", doc: `{ hello }` + strings.Repeat(" ", 100), limits: Limits{MaxBytes: 50}, code: CodeTooLarge},
		{name: "depth at the limit", doc: nested(20), limits: defaults},
		{name: "depth over the limit", doc: nested(21), limits: defaults, code: CodeTooDeep},
		{name: "10,000 deep", doc: nested(10_000), limits: Limits{MaxDepth: 20}, code: CodeTooDeep},
		{name: "depth through fragments", doc: `{ a { ...F } } fragment F on A { b { ...G } } fragment G on B { c { d } }`, limits: Limits{MaxDepth: 3}, code: CodeTooDeep},
		{name: "depth through fragments at the limit", doc: `{ a { ...F } } fragment F on A { b { ...G } } fragment G on B { c { d } }`, limits: Limits{MaxDepth: 4}},
		{name: "fragment defined first", doc: `fragment F on A { b { c } } query { a { ...F } }`, limits: Limits{MaxDepth: 2}, code: CodeTooDeep},
		{name: "inline fragments add no depth", doc: `{ a { ... on A { ... { b } } } }`, limits: Limits{MaxDepth: 2}},
		{name: "repeated fields", doc: "{" + strings.Repeat("hello ", 4500) + "}", limits: defaults, code: CodeTooManyFields},
		{name: "fields at the limit", doc: "{" + strings.Repeat("hello ", 2000) + "}", limits: defaults},
		{name: "fragment bomb", doc: bomb(40), limits: defaults, code: CodeTooManyFields},
		{name: "small fragment tree", doc: bomb(4), limits: defaults},
		{name: "aliases", doc: "{" + strings.Repeat("x: messages { id } ", 51) + "}", limits: defaults, code: CodeTooManyAliases},
		{name: "aliases through a fragment", doc: `{ ...F ...F } fragment F on Q { a: x b: y }`, limits: Limits{MaxAliases: 3}, code: CodeTooManyAliases},
		{name: "aliased mutations", doc: "mutation {" + strings.Repeat(`m: send(text: "x") { id } `, 11) + "}", limits: defaults, code: CodeTooManyAliases + "|" + CodeTooManyRoots},
		{name: "mutation root fields", doc: "mutation {" + strings.Repeat(`send(text: "x") { id } `, 11) + "}", limits: defaults, code: CodeTooManyRoots},
		{name: "mutation root fields through fragments", doc: `mutation { ...M ... on Mutation { c } } fragment M on Mutation { a b }`, limits: Limits{MaxMutationFields: 2}, code: CodeTooManyRoots},
		{name: "query root fields are not bounded so", doc: "{" + strings.Repeat(`a `, 11) + "}", limits: defaults},
		{name: "braces in strings, comments and defaults", doc: `query Q($v: In = {a: "}}}", b: [1, {c: 2}]) @d(x: "{") {
			# { { {
			a(s: "} { \" }", t: """ } { \""" }""") { b }
		}`, limits: Limits{MaxDepth: 2, MaxFields: 2}},
		{name: "unterminated string", doc: `{ a(s: "}}}) { b } }`, limits: defaults},
		{name: "not a GraphQL document", doc: `type Query { a: Int }`, limits: defaults},
		{name: "empty", doc: ``, limits: defaults},
		{name: "no bounds", doc: nested(500) + bomb(10), limits: Limits{}},
	}
	for _, tt := range tests {
		got := Check(tt.doc, tt.limits)
		switch {
		case tt.code == "" && got != nil:
			t.Errorf("%s: %v (%s), want no violation", tt.name, got, got.Code)
		case tt.code != "" && got == nil:
			t.Errorf("%s: no violation, want %s", tt.name, tt.code)
		case tt.code != "" && !strings.Contains("|"+tt.code+"|", "|"+got.Code+"|"):
			t.Errorf("%s: %s (%v), want %s", tt.name, got.Code, got, tt.code)
		}
	}
}

// measure is what the scanner reads of doc: its operations' totals.
func measure(doc string) []operationTotal {
	s := scanner{src: doc}
	s.document()
	return s.totals()
}

// oracle measures a document parsed by a complete GraphQL parser.
func oracle(doc *ast.QueryDocument) []operationTotal {
	memo := map[string]total{}
	visiting := map[string]bool{}
	var walk func(set ast.SelectionSet, depth int, root bool) total
	walk = func(set ast.SelectionSet, depth int, root bool) total {
		var t total
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.Field:
				t.fields++
				if sel.Alias != sel.Name {
					t.aliases++
				}
				if root {
					t.roots++
				}
				t.depth = max(t.depth, depth+1)
				sub := walk(sel.SelectionSet, depth+1, false)
				t.fields += sub.fields
				t.aliases += sub.aliases
				t.depth = max(t.depth, sub.depth)
			case *ast.InlineFragment:
				sub := walk(sel.SelectionSet, depth, root)
				t.fields += sub.fields
				t.aliases += sub.aliases
				t.depth = max(t.depth, sub.depth)
				t.roots += sub.roots
			case *ast.FragmentSpread:
				f := doc.Fragments.ForName(sel.Name)
				if f == nil || visiting[sel.Name] {
					continue
				}
				ft, ok := memo[sel.Name]
				if !ok {
					visiting[sel.Name] = true
					ft = walk(f.SelectionSet, 0, true)
					visiting[sel.Name] = false
					memo[sel.Name] = ft
				}
				t.fields += ft.fields
				t.aliases += ft.aliases
				t.depth = max(t.depth, depth+ft.depth)
				if root {
					t.roots += ft.roots
				}
			}
		}
		return t
	}
	var out []operationTotal
	for _, op := range doc.Operations {
		out = append(out, operationTotal{string(op.Operation), walk(op.SelectionSet, 0, true)})
	}
	return out
}

// TestMeasureAgreesWithAParser: on valid documents the scanner reads the
// depth, fields, aliases and root fields a complete parser finds.
func TestMeasureAgreesWithAParser(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`{ hello }`,
		introspectionQuery,
		nested(30),
		bomb(6),
		`mutation M($a: In = {x: "{"}) { x: send(a: $a) { ... on M { id } ...F } b: send { id } } fragment F on M { text t2: text }`,
		`subscription { messages(room: "a", where: """ { " """) @live { id ... @include(if: true) { text } } }`,
		`query A { a } query B { b { c } } fragment X on Q { y }`,
	} {
		parsed, err := parser.ParseQuery(&ast.Source{Input: doc})
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		want, got := oracle(parsed), measure(doc)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%.60q:\nscanner %v\nparser  %v", doc, got, want)
		}
	}
}

// FuzzMeasure: whatever the input, Check returns within its linear pass, and
// on every document a complete parser accepts the scanner measures what the
// parser finds.
func FuzzMeasure(f *testing.F) {
	for _, seed := range []string{`{ a }`, introspectionQuery, bomb(3), nested(5),
		`query Q($v: I = {a: "}"}) { a(s: """x""") @d { b: c ...F ... on T { d } } } fragment F on T { e }`,
		`mutation { a b c }`, `{ a(x: [1, 2.5e3, -3, {y: "\u00e9"}]) }`, "# c\n{ a }"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		_ = Check(doc, defaults)
		_ = Check(doc, Limits{NoIntrospection: true})
		parsed, err := parser.ParseQuery(&ast.Source{Input: doc})
		if err != nil {
			return
		}
		for _, op := range parsed.Operations {
			if hasSelfAlias(op.SelectionSet) {
				return // "a: a" is an alias the parser's AST cannot tell
			}
		}
		for _, fr := range parsed.Fragments {
			if hasSelfAlias(fr.SelectionSet) {
				return
			}
		}
		if got, want := measure(doc), oracle(parsed); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q:\nscanner %v\nparser  %v", doc, got, want)
		}
	})
}

// hasSelfAlias reports an aliased field whose alias is its name, or a
// document the fuzzer made where a field name follows a colon loosely.
func hasSelfAlias(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Alias == sel.Name && sel.Position != nil && sel.Position.Src != nil {
				src := sel.Position.Src.Input[sel.Position.Start:]
				if i := strings.IndexAny(src, ":({}"); i >= 0 && src[i] == ':' {
					return true
				}
			}
			if hasSelfAlias(sel.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if hasSelfAlias(sel.SelectionSet) {
				return true
			}
		}
	}
	return false
}

func BenchmarkCheck(b *testing.B) {
	for _, bm := range []struct{ name, doc string }{
		{"subscription", `subscription OnMessage($chat: ID!) { messageAdded(chatId: $chat) { id text author { name } } }`},
		{"introspection", introspectionQuery},
		{"10000-deep", nested(10_000)},
		{"fragment-bomb", bomb(40)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.doc)))
			for b.Loop() {
				Check(bm.doc, defaults)
			}
		})
	}
}
