package servertest

import (
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda/engine/graphqlgo"
)

// GraphQLGo builds the suite's schema (schema.graphqls) for graphql-go, on
// the topics, options and resolvers of e.
func GraphQLGo(e *Env) (graphql.Schema, error) {
	message := graphql.NewObject(graphql.ObjectConfig{Name: "Message", Fields: graphql.Fields{
		"id":   &graphql.Field{Type: graphql.NewNonNull(graphql.ID)},
		"room": &graphql.Field{Type: graphql.NewNonNull(graphql.String)},
		"text": &graphql.Field{Type: graphql.NewNonNull(graphql.String)},
		"seen": &graphql.Field{Type: graphql.NewNonNull(graphql.Int),
			Resolve: func(p graphql.ResolveParams) (any, error) { return e.Seen(p.Context) }},
		"via": &graphql.Field{Type: graphql.NewNonNull(graphql.String),
			Resolve: func(p graphql.ResolveParams) (any, error) {
				text, _ := p.Source.(map[string]any)["text"].(string)
				return e.Via(p.Context, text)
			}},
	}})
	source := func(p graphql.ResolveParams) (any, error) { return p.Source, nil }
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"hello": &graphql.Field{Type: graphql.NewNonNull(graphql.String),
			Resolve: func(p graphql.ResolveParams) (any, error) { return e.Hello(p.Context) }},
		"whoami": &graphql.Field{Type: graphql.NewNonNull(graphql.String),
			Resolve: func(p graphql.ResolveParams) (any, error) { return e.Whoami(p.Context) }},
		"connData": &graphql.Field{Type: graphql.NewNonNull(graphql.String),
			Resolve: func(p graphql.ResolveParams) (any, error) { return e.ConnData(p.Context) }},
		"contextValue": &graphql.Field{Type: graphql.NewNonNull(graphql.String),
			Resolve: func(p graphql.ResolveParams) (any, error) { return e.ContextValue(p.Context) }},
		"fail": &graphql.Field{Type: graphql.String,
			Resolve: func(p graphql.ResolveParams) (any, error) { return e.Fail(p.Context) }},
	}})
	mutation := graphql.NewObject(graphql.ObjectConfig{Name: "Mutation", Fields: graphql.Fields{
		"send": &graphql.Field{
			Type: graphql.NewNonNull(message),
			Args: graphql.FieldConfigArgument{
				"room": {Type: graphql.NewNonNull(graphql.String)},
				"text": {Type: graphql.NewNonNull(graphql.String)},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				m, err := e.Send(p.Context, p.Args["room"].(string), p.Args["text"].(string))
				if err != nil {
					return nil, err
				}
				return map[string]any{"id": m.ID, "room": m.Room, "text": m.Text}, nil
			},
		},
	}})
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"messages": &graphql.Field{
			Type:      graphql.NewNonNull(message),
			Args:      graphql.FieldConfigArgument{"room": {Type: graphql.String}},
			Subscribe: graphqlgo.Subscribe(e.Messages()),
			Resolve:   source,
		},
		"big":     &graphql.Field{Type: graphql.String, Subscribe: graphqlgo.Subscribe(e.Big()), Resolve: source},
		"refused": &graphql.Field{Type: graphql.String, Subscribe: graphqlgo.Subscribe(e.Refused()), Resolve: source},
		"greeted": &graphql.Field{Type: graphql.NewNonNull(message), Subscribe: graphqlgo.Subscribe(e.Greeted()), Resolve: source},
		"filtered": &graphql.Field{
			Type:      graphql.NewNonNull(message),
			Args:      graphql.FieldConfigArgument{"where": {Type: graphql.NewNonNull(graphql.String)}},
			Subscribe: graphqlgo.Subscribe(e.Filtered()),
			Resolve:   source,
		},
		"matching": &graphql.Field{
			Type:      graphql.NewNonNull(message),
			Args:      graphql.FieldConfigArgument{"contains": {Type: graphql.NewNonNull(graphql.String)}},
			Subscribe: graphqlgo.Subscribe(e.Matching()),
			Resolve:   source,
		},
		"rooms": &graphql.Field{
			Type:      graphql.NewNonNull(message),
			Args:      graphql.FieldConfigArgument{"rooms": {Type: graphql.NewNonNull(graphql.NewList(graphql.NewNonNull(graphql.String)))}},
			Subscribe: graphqlgo.Subscribe(e.Rooms()),
			Resolve:   source,
		},
	}})
	return graphql.NewSchema(graphql.SchemaConfig{Query: query, Mutation: mutation, Subscription: subscription})
}
