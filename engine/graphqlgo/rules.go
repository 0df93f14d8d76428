package graphqlgo

import (
	"fmt"
	"strings"

	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/kinds"
	"github.com/graphql-go/graphql/language/location"

	"github.com/gqlambda/gqlambda"
)

// maxFragmentDepth bounds fragment expansion; validation rejects fragment
// cycles, and this keeps the walks finite whatever the document.
const maxFragmentDepth = 64

// executableDefinitions reports definitions a request may not contain (type
// system definitions), a rule of the GraphQL specification graphql-go lacks.
func executableDefinitions(tree *ast.Document) gqlambda.Errors {
	var errs gqlambda.Errors
	for _, def := range tree.Definitions {
		switch def.(type) {
		case *ast.OperationDefinition, *ast.FragmentDefinition:
			continue
		}
		errs = append(errs, &gqlambda.Error{
			Message:   fmt.Sprintf("The %s definition is not executable.", kindName(def.GetKind())),
			Locations: locationsOf(def.GetLoc()),
		})
	}
	return errs
}

func kindName(kind string) string {
	switch kind {
	case kinds.ObjectDefinition:
		return "object type"
	case kinds.InterfaceDefinition:
		return "interface"
	case kinds.UnionDefinition:
		return "union"
	case kinds.ScalarDefinition:
		return "scalar"
	case kinds.EnumDefinition:
		return "enum"
	case kinds.InputObjectDefinition:
		return "input object type"
	case kinds.SchemaDefinition:
		return "schema"
	case kinds.DirectiveDefinition:
		return "directive"
	}
	return strings.ToLower(kind)
}

func locationsOf(loc *ast.Location) []gqlambda.Location {
	if loc == nil || loc.Source == nil {
		return nil
	}
	l := location.GetLocation(loc.Source, loc.Start)
	return []gqlambda.Location{{Line: l.Line, Column: l.Column}}
}

func fragmentsOf(tree *ast.Document) map[string]*ast.FragmentDefinition {
	frags := make(map[string]*ast.FragmentDefinition)
	for _, def := range tree.Definitions {
		if fd, ok := def.(*ast.FragmentDefinition); ok && fd.Name != nil {
			frags[fd.Name.Value] = fd
		}
	}
	return frags
}

// singleRootField applies the specification's rule that a subscription
// selects exactly one root field, which is not an introspection field. It
// returns that field's name.
func singleRootField(op *operation, frags map[string]*ast.FragmentDefinition) (string, gqlambda.Errors) {
	subject := "Anonymous Subscription"
	if op.name != "" {
		subject = fmt.Sprintf("Subscription %q", op.name)
	}
	type root struct {
		name string
		loc  *ast.Location
	}
	var roots []root
	seen := map[string]bool{}
	var walk func(ss *ast.SelectionSet, depth int)
	walk = func(ss *ast.SelectionSet, depth int) {
		if ss == nil || depth > maxFragmentDepth {
			return
		}
		for _, sel := range ss.Selections {
			switch sel := sel.(type) {
			case *ast.Field:
				key := responseKey(sel)
				if !seen[key] {
					seen[key] = true
					roots = append(roots, root{sel.Name.Value, sel.Loc})
				}
			case *ast.InlineFragment:
				walk(sel.SelectionSet, depth+1)
			case *ast.FragmentSpread:
				if fd := frags[sel.Name.Value]; fd != nil {
					walk(fd.SelectionSet, depth+1)
				}
			}
		}
	}
	walk(op.def.SelectionSet, 0)
	if len(roots) != 1 {
		var locs []gqlambda.Location
		for _, r := range roots[min(1, len(roots)):] {
			locs = append(locs, locationsOf(r.loc)...)
		}
		return "", gqlambda.Errors{{Message: subject + " must select only one top level field.", Locations: locs}}
	}
	if strings.HasPrefix(roots[0].name, "__") {
		return "", gqlambda.Errors{{Message: subject + " must not select an introspection top level field.", Locations: locationsOf(roots[0].loc)}}
	}
	return roots[0].name, nil
}

func responseKey(f *ast.Field) string {
	if f.Alias != nil && f.Alias.Value != "" {
		return f.Alias.Value
	}
	return f.Name.Value
}
