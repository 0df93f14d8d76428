// Package graphqlgo runs schemas of github.com/graphql-go/graphql for a
// gqlambda server.
//
// Build the schema as usual; give each subscription field a subscribe
// resolver made by [Subscribe], which declares the field's topics, filter
// and hooks, and a Resolve function, which receives each event's payload as
// its source:
//
//	"messageBroadcast": &graphql.Field{
//		Type:      graphql.String,
//		Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{"NEW_MESSAGE"}}),
//		Resolve: func(p graphql.ResolveParams) (any, error) {
//			return p.Source.(map[string]any)["message"], nil
//		},
//	},
//
// then hand the engine to the server: gqlambda.New(gqlambda.Config{Engine:
// graphqlgo.New(schema, nil)}).
//
// The engine keeps parsed and validated documents in a bounded cache, so a
// warm Lambda parses each distinct document once. It adds the validation
// rules graphql-go lacks (executable definitions only; a subscription selects
// exactly one root field, not an introspection field) and writes response
// fields in the order the query selects them (graphql-go itself returns maps,
// which encoding/json would sort).
//
// graphql-go recovers a panicking resolver only when it panics with an error
// value; a resolver that panics with anything else crashes the process, so
// resolvers should return errors instead of panicking.
package graphqlgo

import (
	"context"
	"errors"
	"fmt"

	"github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/source"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/internal/prepare"
)

// Options configure an [Engine]. The zero value is ready to use.
type Options struct {
	// CacheSize is how many distinct documents stay parsed and validated.
	// Default: 1000.
	CacheSize int
}

// Engine is a gqlambda.Engine for a graphql-go schema. It is safe for
// concurrent use.
type Engine struct {
	schema graphql.Schema
	docs   *prepare.Cache[*operation]
}

var _ gqlambda.Engine = (*Engine)(nil)

// New returns an Engine for schema. opts may be nil.
func New(schema graphql.Schema, opts *Options) *Engine {
	e := &Engine{schema: schema}
	var size int
	if opts != nil {
		size = opts.CacheSize
	}
	e.docs = prepare.NewCache(size, e.parse)
	return e
}

// document is a parsed and validated GraphQL document.
type document = prepare.Document[*operation]

// Prepare parses and validates query (or takes it from the cache) and selects
// the operation named operationName. Invalid documents and unknown operation
// names yield a gqlambda.Errors.
func (e *Engine) Prepare(ctx context.Context, query, operationName string) (gqlambda.Operation, error) {
	doc := e.docs.Get(query)
	if doc.Errs != nil {
		return nil, doc.Errs
	}
	op, unselected := prepare.Select(doc.Ops, operationName, (*operation).operationName)
	if unselected != nil {
		return nil, gqlambda.Errors{unselected}
	}
	return op.check()
}

// parse parses and validates query. graphql-go's parser accepts documents
// its validator then fails on with a panic (a variable without a type, such
// as "query($a:) { f }", dereferences nil): those are refused here first,
// and a panic of the validator on any other input is turned into a
// validation error, so that no document can crash the process.
func (e *Engine) parse(query string) (doc *document) {
	src := source.NewSource(&source.Source{Body: []byte(query), Name: "GraphQL request"})
	tree, err := parser.Parse(parser.ParseParams{Source: src})
	if err != nil {
		return &document{Errs: convertErrors(gqlerrors.FormatErrors(err))}
	}
	if errs := executableDefinitions(tree); errs != nil {
		return &document{Errs: errs}
	}
	if errs := untypedVariables(tree); errs != nil {
		return &document{Errs: errs}
	}
	defer func() {
		if r := recover(); r != nil {
			doc = &document{Errs: gqlambda.Errors{{
				Message:    "The document could not be validated.",
				Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"},
			}}}
		}
	}()
	if res := graphql.ValidateDocument(&e.schema, tree, nil); !res.IsValid {
		return &document{Errs: convertErrors(res.Errors)}
	}
	doc = &document{}
	fragments := fragmentsOf(tree)
	for _, def := range tree.Definitions {
		od, ok := def.(*ast.OperationDefinition)
		if !ok {
			continue
		}
		op := &operation{engine: e, tree: tree, def: od, typ: gqlambda.OperationType(od.Operation)}
		if od.Name != nil {
			op.name = od.Name.Value
		}
		op.shape = buildShape([]*ast.SelectionSet{od.SelectionSet}, fragments, 0)
		if op.typ == gqlambda.Subscription {
			op.rootField, op.errs = singleRootField(op, fragments)
		}
		doc.Ops = append(doc.Ops, op)
	}
	if len(doc.Ops) == 0 {
		doc.Errs = gqlambda.Errors{{Message: "The document contains no operation."}}
	}
	return doc
}

// operation is one operation of a valid document.
type operation struct {
	engine    *Engine
	tree      *ast.Document
	def       *ast.OperationDefinition
	name      string
	typ       gqlambda.OperationType
	shape     *shape
	rootField string
	errs      gqlambda.Errors // operation-level validation errors
}

var _ gqlambda.Operation = (*operation)(nil)

func (o *operation) check() (gqlambda.Operation, error) {
	if o.errs != nil {
		return nil, o.errs
	}
	return o, nil
}

// Type implements gqlambda.Operation.
func (o *operation) Type() gqlambda.OperationType { return o.typ }

// operationName returns the operation's name, "" when it has none.
func (o *operation) operationName() string { return o.name }

// Execute implements gqlambda.Operation: it runs the operation with root as
// root value and encodes the response with fields in query order.
func (o *operation) Execute(ctx context.Context, variables map[string]any, root any) ([]byte, error) {
	res := graphql.Execute(graphql.ExecuteParams{
		Schema:        o.engine.schema,
		Root:          root,
		AST:           o.tree,
		OperationName: o.name,
		Args:          variables,
		Context:       ctx,
	})
	if err := ctx.Err(); err != nil {
		return nil, err // graphql-go gave up waiting for the resolvers
	}
	return encodeResult(ctx, res, o.shape)
}

// Subscribe implements gqlambda.Operation: it runs the root field's subscribe
// resolver, which must be one made by [Subscribe].
func (o *operation) Subscribe(ctx context.Context, variables map[string]any) (gqlambda.Declaration, error) {
	if o.typ != gqlambda.Subscription {
		return gqlambda.Declaration{}, fmt.Errorf("graphqlgo: Subscribe on a %s operation", o.typ)
	}
	c := &capture{}
	ctx, cancel := context.WithCancel(context.WithValue(ctx, captureKey{}, c))
	defer cancel()
	var errs gqlambda.Errors
	results := graphql.ExecuteSubscription(graphql.ExecuteParams{
		Schema:        o.engine.schema,
		AST:           o.tree,
		OperationName: o.name,
		Args:          variables,
		Context:       ctx,
	})
	for res := range results {
		if len(res.Errors) > 0 {
			errs = append(errs, resolverErrors(ctx, res.Errors)...)
			continue
		}
		// The subscribe resolver produced an event stream of its own: it is
		// not one made by Subscribe. Stop reading it.
		cancel()
	}
	if errs != nil {
		return gqlambda.Declaration{}, errs
	}
	if !c.set {
		return gqlambda.Declaration{}, gqlambda.Errors{{
			Message: fmt.Sprintf("Subscription field %q must declare its topics with graphqlgo.Subscribe.", o.rootField),
		}}
	}
	return c.decl, nil
}

// captureKey marks the context of a subscribe phase.
type captureKey struct{}

// capture receives what the subscribe resolver declares.
type capture struct {
	decl gqlambda.Declaration
	set  bool
}

// Subscribe returns the subscribe resolver of a subscription field: set it
// as the field's Subscribe. When a client subscribes, it declares opts (the
// topics, the filter and the hooks) with the field's arguments; the field's
// Resolve then runs once per event with the event's payload as p.Source.
//
// The resolver only works under a gqlambda server's subscribe phase;
// anywhere else it returns an error.
func Subscribe(opts gqlambda.SubscribeOptions) graphql.FieldResolveFn {
	return func(p graphql.ResolveParams) (any, error) {
		c, ok := p.Context.Value(captureKey{}).(*capture)
		if !ok {
			return nil, errors.New("graphqlgo: a subscribe resolver made by graphqlgo.Subscribe ran outside a gqlambda server")
		}
		c.decl = gqlambda.Declaration{Field: p.Info.FieldName, Args: p.Args, Options: opts}
		c.set = true
		events := make(chan any)
		close(events)
		return events, nil
	}
}

// convertErrors converts graphql-go's errors.
func convertErrors(fes []gqlerrors.FormattedError) gqlambda.Errors {
	if len(fes) == 0 {
		return nil
	}
	out := make(gqlambda.Errors, len(fes))
	for i, fe := range fes {
		e := &gqlambda.Error{Message: fe.Message, Path: fe.Path, Extensions: fe.Extensions}
		for _, l := range fe.Locations {
			e.Locations = append(e.Locations, gqlambda.Location{Line: l.Line, Column: l.Column})
		}
		out[i] = e
	}
	return out
}

// resolverErrors converts the errors of an execution, masking those of
// resolvers that are failures of the infrastructure (gqlambda.MaskError).
func resolverErrors(ctx context.Context, fes []gqlerrors.FormattedError) gqlambda.Errors {
	out := convertErrors(fes)
	for i, fe := range fes {
		orig := fe.OriginalError()
		if located, ok := orig.(*gqlerrors.Error); ok {
			orig = located.OriginalError
		}
		if m := gqlambda.MaskError(ctx, orig); m != nil {
			out[i].Message, out[i].Extensions = m.Message, m.Extensions
		}
	}
	return out
}

// untypedVariables reports the variable definitions that have no type,
// which graphql-go's parser lets through and its validator cannot handle.
func untypedVariables(tree *ast.Document) gqlambda.Errors {
	var errs gqlambda.Errors
	for _, def := range tree.Definitions {
		od, ok := def.(*ast.OperationDefinition)
		if !ok {
			continue
		}
		for _, v := range od.VariableDefinitions {
			if v == nil || v.Type == nil {
				name := ""
				if v != nil && v.Variable != nil && v.Variable.Name != nil {
					name = v.Variable.Name.Value
				}
				errs = append(errs, &gqlambda.Error{
					Message:    fmt.Sprintf("Variable \"$%s\" has no type.", name),
					Extensions: map[string]any{"code": "GRAPHQL_PARSE_FAILED"},
				})
			}
		}
	}
	return errs
}
