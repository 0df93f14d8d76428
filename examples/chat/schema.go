package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/examples/chat/app"
	"github.com/gqlambda/gqlambda/filter"
)

// newSchema builds the chat schema:
//
//	type Message { id: ID! chatId: ID! text: String! author: String sentAt: String! }
//	type Query { messages(chatId: ID!): [Message!]! }
//	type Mutation {
//	  broadcastMessage(message: String!): String!
//	  sendMessage(chatId: ID!, text: String!): Message!
//	}
//	type Subscription { messageBroadcast: String! chat(chatId: ID!): Message! }
//
// broadcastMessage publishes to every messageBroadcast subscriber;
// sendMessage stores the message, its author taken from the caller's
// identity (app.AuthorOf), and it reaches the chat subscribers of that
// chatId only, through the filter each chat subscription stores: published at
// once with the in-memory message store, by change data capture of the
// messages table on DynamoDB (see app.Messages).
func newSchema(messages app.Messages, now func() time.Time) (graphql.Schema, error) {
	nonNull := graphql.NewNonNull
	message := graphql.NewObject(graphql.ObjectConfig{Name: "Message", Fields: graphql.Fields{
		"id":     &graphql.Field{Type: nonNull(graphql.ID)},
		"chatId": &graphql.Field{Type: nonNull(graphql.ID)},
		"text":   &graphql.Field{Type: nonNull(graphql.String)},
		"author": &graphql.Field{Type: graphql.String},
		"sentAt": &graphql.Field{Type: nonNull(graphql.String)},
	}})

	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"messages": &graphql.Field{
			Type: nonNull(graphql.NewList(nonNull(message))),
			Args: graphql.FieldConfigArgument{"chatId": {Type: nonNull(graphql.ID)}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				return messages.List(p.Context, p.Args["chatId"].(string))
			},
		},
	}})

	mutation := graphql.NewObject(graphql.ObjectConfig{Name: "Mutation", Fields: graphql.Fields{
		"broadcastMessage": &graphql.Field{
			Type: nonNull(graphql.String),
			Args: graphql.FieldConfigArgument{"message": {Type: nonNull(graphql.String)}},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				text := p.Args["message"].(string)
				if err := app.Publish(p.Context, app.TopicBroadcast, map[string]any{"message": text}); err != nil {
					return nil, err
				}
				return text, nil
			},
		},
		"sendMessage": &graphql.Field{
			Type: nonNull(message),
			Args: graphql.FieldConfigArgument{
				"chatId": {Type: nonNull(graphql.ID)},
				"text":   {Type: nonNull(graphql.String)},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				if err := app.CheckText(p.Args["text"].(string)); err != nil {
					return nil, err
				}
				m := app.Message{
					ID:     rand.Text(),
					ChatID: p.Args["chatId"].(string),
					Text:   p.Args["text"].(string),
					// From the authorizer's identity: never from the client.
					Author: app.AuthorOf(p.Context),
					SentAt: now().UTC().Format(time.RFC3339Nano),
				}
				// Stored and delivered: published at once in memory, by the
				// messages table's stream on DynamoDB.
				if err := messages.Send(p.Context, m); err != nil {
					return nil, fmt.Errorf("send the message: %w", err)
				}
				return m, nil
			},
		},
	}})

	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"messageBroadcast": &graphql.Field{
			Type:      nonNull(graphql.String),
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{app.TopicBroadcast}}),
			Resolve: func(p graphql.ResolveParams) (any, error) {
				return p.Source.(map[string]any)["message"], nil
			},
		},
		"chat": &graphql.Field{
			Type: nonNull(message),
			Args: graphql.FieldConfigArgument{"chatId": {Type: nonNull(graphql.ID)}},
			Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{
				Topics: []string{app.TopicChat},
				// Fixed at subscribe time and stored with the subscription:
				// only this chat's messages reach the subscriber.
				FilterFunc: func(ctx context.Context, args map[string]any) (filter.Filter, error) {
					return filter.All(filter.Where("chatId", filter.Eq, args["chatId"])), nil
				},
			}),
			// The event payload (a Message, JSON-decoded) is the source.
			Resolve: func(p graphql.ResolveParams) (any, error) { return p.Source, nil },
		},
	}})

	return graphql.NewSchema(graphql.SchemaConfig{Query: query, Mutation: mutation, Subscription: subscription})
}
