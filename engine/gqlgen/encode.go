package gqlgen

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/internal/response"
)

// encodeResponse encodes one of the executor's responses as a GraphQL
// response: errors first, then data (gqlgen writes its fields in query
// order), then extensions.
//
// executed tells whether execution started. gqlgen leaves Data nil both when
// preparing the execution failed (variable coercion) and when the root
// field's resolver failed; the specification wants no data entry in the
// first case, which GraphQL over HTTP answers with 400, and "data": null in
// the second.
func encodeResponse(ctx context.Context, resp *graphql.Response, executed bool) ([]byte, error) {
	var data func([]byte) ([]byte, error)
	if resp.Data != nil || executed || len(resp.Errors) == 0 {
		data = response.Raw(resp.Data)
	}
	return response.Encode(64+len(resp.Data), resolverErrors(ctx, resp.Errors), data, resp.Extensions)
}

// resolverErrors converts the errors of an execution, masking those of
// resolvers that are failures of the infrastructure (gqlambda.MaskError).
func resolverErrors(ctx context.Context, errs gqlerror.List) gqlambda.Errors {
	out := convertErrors(errs)
	for i, ge := range errs {
		if ge.Err == nil {
			continue
		}
		if m := gqlambda.MaskError(ctx, ge.Err); m != nil {
			out[i].Message, out[i].Extensions = m.Message, m.Extensions
		}
	}
	return out
}

// convertErrors converts gqlparser's errors.
func convertErrors(errs gqlerror.List) gqlambda.Errors {
	if len(errs) == 0 {
		return nil
	}
	out := make(gqlambda.Errors, len(errs))
	for i, ge := range errs {
		e := &gqlambda.Error{Message: ge.Message, Extensions: ge.Extensions}
		for _, l := range ge.Locations {
			e.Locations = append(e.Locations, gqlambda.Location{Line: l.Line, Column: l.Column})
		}
		for _, p := range ge.Path {
			switch p := p.(type) {
			case ast.PathName:
				e.Path = append(e.Path, string(p))
			case ast.PathIndex:
				e.Path = append(e.Path, int(p))
			}
		}
		out[i] = e
	}
	return out
}

// jsonNumbers returns vars with its float numbers as json.Number, the form
// gqlgen's transports decode variables into and its scalars expect (an Int
// argument rejects a float64). vars itself is not modified.
func jsonNumbers(vars map[string]any) map[string]any {
	if !hasFloat(vars) {
		return vars
	}
	return toNumbers(vars).(map[string]any)
}

func hasFloat(v any) bool {
	switch v := v.(type) {
	case float64, float32:
		return true
	case map[string]any:
		for _, e := range v {
			if hasFloat(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasFloat(e) {
				return true
			}
		}
	}
	return false
}

func toNumbers(v any) any {
	switch v := v.(type) {
	case float64:
		return json.Number(strconv.FormatFloat(v, 'f', -1, 64))
	case float32:
		return json.Number(strconv.FormatFloat(float64(v), 'f', -1, 32))
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = toNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = toNumbers(e)
		}
		return out
	}
	return v
}

// noDeferRule rejects @defer: the server delivers each result as one
// message, so deferred fragments would never arrive.
var noDeferRule = core.Rule{
	Name: "NoDefer",
	RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
		observers.OnDirective(func(_ *core.Walker, d *ast.Directive) {
			if d.Name == "defer" {
				addError(
					core.Message(`The @defer directive is not supported: results are delivered whole.`),
					core.At(d.Position),
				)
			}
		})
	},
}

// singleRootKeyRule completes gqlparser's SingleFieldSubscriptions rule,
// which counts distinct field names: the specification counts response
// keys, so subscription { a: f b: f } selects two root fields.
var singleRootKeyRule = core.Rule{
	Name: "SingleRootKeySubscriptions",
	RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
		observers.OnOperation(func(_ *core.Walker, op *ast.OperationDefinition) {
			if op.Operation != ast.Subscription {
				return
			}
			var keys []*ast.Field
			names := map[string]bool{}
			seen := map[string]bool{}
			visited := map[string]bool{}
			var walk func(ss ast.SelectionSet)
			walk = func(ss ast.SelectionSet) {
				for _, sel := range ss {
					switch sel := sel.(type) {
					case *ast.Field:
						names[sel.Name] = true
						if !seen[sel.Alias] {
							seen[sel.Alias] = true
							keys = append(keys, sel)
						}
					case *ast.InlineFragment:
						walk(sel.SelectionSet)
					case *ast.FragmentSpread:
						if sel.Definition != nil && !visited[sel.Name] {
							visited[sel.Name] = true
							walk(sel.Definition.SelectionSet)
						}
					}
				}
			}
			walk(op.SelectionSet)
			// Distinct names are SingleFieldSubscriptions' to report.
			if len(keys) > 1 && len(names) == 1 {
				subject := "Anonymous Subscription"
				if op.Name != "" {
					subject = "Subscription " + strconv.Quote(op.Name)
				}
				addError(core.Message("%s must select only one top level field.", subject), core.At(keys[1].Position))
			}
		})
	},
}
