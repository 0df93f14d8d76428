// Package oplimit measures a GraphQL document before any engine parses or
// validates it, in one linear pass over its text: the nesting depth, the
// number of fields and aliases each operation selects once its fragment
// spreads are expanded, the root fields of mutations, and whether it
// introspects the schema. Engines' validation can cost far more than
// linear time (graphql-go's grows with the square of the depth and of
// repeated fields), so a server checks these bounds first and refuses a
// document over them without handing it to the engine.
//
// The scanner reads only the structure it needs (selection sets, fields,
// aliases, fragments) and skips arguments, variables and directives. A
// document it cannot read is not refused here: the engine then reports the
// syntax error, and what the scanner did read is still bounded. Fragment
// spreads are expanded with memoisation and saturating counts, so a
// document of fragments that spread each other twice per level (2^n fields)
// costs a linear pass to refuse. Fragment cycles count once; the engine's
// validation reports them.
package oplimit

import "fmt"

// Limits bound one document. A zero or negative field is no bound.
type Limits struct {
	// MaxBytes bounds the document's length.
	MaxBytes int
	// MaxDepth bounds the nesting of fields, through fragments.
	MaxDepth int
	// MaxFields bounds the fields an operation selects once its fragments
	// are expanded, and the fields written in the whole document.
	MaxFields int
	// MaxAliases bounds the aliased fields of an operation, fragments
	// expanded.
	MaxAliases int
	// MaxMutationFields bounds the root fields of a mutation (each one runs,
	// in order, with its side effects).
	MaxMutationFields int
	// NoIntrospection refuses documents that select __schema or __type.
	NoIntrospection bool
}

// Codes of the violations, for the errors' extensions.
const (
	CodeTooLarge       = "DOCUMENT_TOO_LARGE"
	CodeTooDeep        = "QUERY_TOO_DEEP"
	CodeTooManyFields  = "QUERY_TOO_COMPLEX"
	CodeTooManyAliases = "TOO_MANY_ALIASES"
	CodeTooManyRoots   = "TOO_MANY_MUTATION_FIELDS"
	CodeIntrospection  = "INTROSPECTION_DISABLED"
)

// Violation is a bound a document exceeds.
type Violation struct {
	// Code is one of the Code constants.
	Code string
	// Message says what was measured against which bound.
	Message string
}

// Error implements the error interface.
func (v *Violation) Error() string { return v.Message }

// Check measures doc against l and returns the first bound it exceeds, or
// nil. It is safe for concurrent use and runs in time linear in len(doc).
func Check(doc string, l Limits) *Violation {
	if l.MaxBytes > 0 && len(doc) > l.MaxBytes {
		return &Violation{CodeTooLarge, fmt.Sprintf("The document is %d bytes, over the limit of %d", len(doc), l.MaxBytes)}
	}
	s := scanner{src: doc, limits: l}
	s.document()
	if s.violation != nil {
		return s.violation
	}
	return s.resolve()
}

// definition is what the scanner learnt of one operation or fragment.
type definition struct {
	name      string
	operation string // "query", "mutation", "subscription"; "" for a fragment
	fields    int    // fields written in it
	aliases   int
	depth     int      // deepest field written in it
	roots     int      // root fields written in it (operations)
	spreads   []spread // fragment spreads in it
}

// spread is a fragment spread at a depth (the number of fields around it)
// of its definition.
type spread struct {
	name  string
	depth int
	root  bool // directly in the operation's selection set
}

// total is a definition with its spreads expanded.
type total struct {
	fields, aliases, depth, roots int
}

// saturate keeps counts from overflowing: past it, every bound is exceeded.
const saturate = 1 << 30

func add(a, b int) int { return min(a+b, saturate) }

// resolve expands the spreads of every operation and checks the bounds.
func (s *scanner) resolve() *Violation {
	l := s.limits
	if l.MaxFields > 0 && s.written > l.MaxFields {
		return &Violation{CodeTooManyFields, fmt.Sprintf("The document has %d fields, over the limit of %d", s.written, l.MaxFields)}
	}
	for _, op := range s.totals() {
		switch {
		case l.MaxDepth > 0 && op.depth > l.MaxDepth:
			return &Violation{CodeTooDeep, fmt.Sprintf("The operation nests fields %d deep, over the limit of %d", op.depth, l.MaxDepth)}
		case l.MaxFields > 0 && op.fields > l.MaxFields:
			return &Violation{CodeTooManyFields, fmt.Sprintf("The operation selects %d fields, over the limit of %d", op.fields, l.MaxFields)}
		case l.MaxAliases > 0 && op.aliases > l.MaxAliases:
			return &Violation{CodeTooManyAliases, fmt.Sprintf("The operation has %d aliases, over the limit of %d", op.aliases, l.MaxAliases)}
		case op.operation == "mutation" && l.MaxMutationFields > 0 && op.roots > l.MaxMutationFields:
			return &Violation{CodeTooManyRoots, fmt.Sprintf("The mutation has %d root fields, over the limit of %d", op.roots, l.MaxMutationFields)}
		}
	}
	return nil
}

// operationTotal is an operation with its fragment spreads expanded.
type operationTotal struct {
	operation string
	total
}

// totals expands the fragment spreads of every operation read.
func (s *scanner) totals() []operationTotal {
	frags := make(map[string]*definition)
	for i := range s.defs {
		if d := &s.defs[i]; d.operation == "" {
			if _, dup := frags[d.name]; !dup {
				frags[d.name] = d
			}
		}
	}
	memo := make(map[string]total, len(frags))
	visiting := make(map[string]bool)
	var expand func(d *definition) total
	expand = func(d *definition) total {
		t := total{fields: d.fields, aliases: d.aliases, depth: d.depth, roots: d.roots}
		for _, sp := range d.spreads {
			f := frags[sp.name]
			if f == nil || visiting[sp.name] {
				continue // unknown or cyclic: the engine's validation says so
			}
			ft, ok := memo[sp.name]
			if !ok {
				visiting[sp.name] = true
				ft = expand(f)
				visiting[sp.name] = false
				memo[sp.name] = ft
			}
			t.fields = add(t.fields, ft.fields)
			t.aliases = add(t.aliases, ft.aliases)
			t.depth = max(t.depth, min(sp.depth+ft.depth, saturate))
			if sp.root {
				// A fragment spread at the root adds its root fields.
				t.roots = add(t.roots, ft.roots)
			}
		}
		return t
	}
	var out []operationTotal
	for i := range s.defs {
		if d := &s.defs[i]; d.operation != "" {
			out = append(out, operationTotal{d.operation, expand(d)})
		}
	}
	return out
}
