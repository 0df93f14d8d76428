package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
)

// The events of the translated chat, as the AWS sample names them.
const (
	// SourceRequest is the source of the events putEvent puts.
	SourceRequest = "apollo"
	// DetailTypeReceived is their detail type: a client sent a message.
	DetailTypeReceived = "ClientMessageReceived"
	// SourceTranslate is the source of the processors' events.
	SourceTranslate = "translate"
	// DetailTypeTranslated is their detail type: a message was translated
	// (or could not be).
	DetailTypeTranslated = "ClientMessageTranslated"
)

// Limits of putEvent's arguments.
const (
	// MaxMessage is the longest message, in bytes.
	MaxMessage = 2000
	// MaxChatID is the longest chat id, in bytes.
	MaxChatID = 128
)

// Received is the detail of a ClientMessageReceived event, the sample's
// {"message", "chatId"}.
type Received struct {
	Message string `json:"message"`
	ChatID  string `json:"chatId"`
}

// Translated is the detail of a ClientMessageTranslated event: the sample's
// {"message", "chatId"} (the translation, or a message saying why there is
// none), and what the richer translations subscription shows.
type Translated struct {
	ChatID string `json:"chatId"`
	// Message is what the chat subscription delivers: the translation, or
	// a sentence saying that the translation into Language failed.
	Message string `json:"message"`
	// Language is the target language's code.
	Language string `json:"language"`
	// Original is the message translated.
	Original string `json:"original"`
	// Error, when set, says why there is no translation.
	Error string `json:"error,omitempty"`
	// RequestID is the id of the ClientMessageReceived event: with Language,
	// the translation's identity, under which redelivered and repeated
	// events reach each subscriber once.
	RequestID string `json:"requestId"`
}

// ChatTopic is the topic of a chat's translations.
func ChatTopic(chatID string) string { return "chat/" + chatID }

// PutEventsAPI is the call of EventBridge's client that the app uses;
// *eventbridge.Client has it.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// newSchema is the sample's schema, unchanged, with one more subscription,
// translations, that gives each translation's language and original:
//
//	type EventDetails { EventId: String ErrorMessage: String ErrorCode: String }
//	type Result { Entries: [EventDetails] FailedEntries: Int }
//	type Query { getEvent: String }
//	type Mutation { putEvent(message: String!, chatId: String!): Result }
//	type Subscription { chat(chatId: String!): String translations(chatId: String!): Translation }
//	type Translation { chatId: String! language: String! message: String! original: String! error: String }
//
// putEvent puts the message on the bus named busName through bus.
func newSchema(bus PutEventsAPI, busName string) (graphql.Schema, error) {
	nonNull := graphql.NewNonNull
	eventDetails := graphql.NewObject(graphql.ObjectConfig{Name: "EventDetails", Fields: graphql.Fields{
		"EventId":      &graphql.Field{Type: graphql.String},
		"ErrorMessage": &graphql.Field{Type: graphql.String},
		"ErrorCode":    &graphql.Field{Type: graphql.String},
	}})
	result := graphql.NewObject(graphql.ObjectConfig{Name: "Result", Fields: graphql.Fields{
		"Entries":       &graphql.Field{Type: graphql.NewList(eventDetails)},
		"FailedEntries": &graphql.Field{Type: graphql.Int},
	}})
	translation := graphql.NewObject(graphql.ObjectConfig{Name: "Translation", Fields: graphql.Fields{
		"chatId":   &graphql.Field{Type: nonNull(graphql.String)},
		"language": &graphql.Field{Type: nonNull(graphql.String)},
		"message":  &graphql.Field{Type: nonNull(graphql.String)},
		"original": &graphql.Field{Type: nonNull(graphql.String)},
		"error":    &graphql.Field{Type: graphql.String},
	}})
	query := graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
		"getEvent": &graphql.Field{Type: graphql.String, Resolve: func(graphql.ResolveParams) (any, error) {
			return "Hello from Apollo!", nil
		}},
	}})
	mutation := graphql.NewObject(graphql.ObjectConfig{Name: "Mutation", Fields: graphql.Fields{
		"putEvent": &graphql.Field{
			Type: result,
			Args: graphql.FieldConfigArgument{
				"message": {Type: nonNull(graphql.String)},
				"chatId":  {Type: nonNull(graphql.String)},
			},
			Resolve: func(p graphql.ResolveParams) (any, error) {
				return putEvent(p.Context, bus, busName, p.Args["message"].(string), p.Args["chatId"].(string))
			},
		},
	}})
	chatArgs := graphql.FieldConfigArgument{"chatId": {Type: nonNull(graphql.String)}}
	// The chatId names the topic: only that chat's translations reach the
	// subscriber.
	subscribe := graphqlgo.Subscribe(gqlambda.SubscribeOptions{
		TopicsFunc: func(_ context.Context, args map[string]any) ([]string, error) {
			id := args["chatId"].(string)
			if err := checkChatID(id); err != nil {
				return nil, err
			}
			return []string{ChatTopic(id)}, nil
		},
	})
	subscription := graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
		"chat": &graphql.Field{
			Type:      graphql.String,
			Args:      chatArgs,
			Subscribe: subscribe,
			// The event's detail is the source: the sample posted its message.
			Resolve: func(p graphql.ResolveParams) (any, error) {
				return p.Source.(map[string]any)["message"], nil
			},
		},
		"translations": &graphql.Field{
			Type:      translation,
			Args:      chatArgs,
			Subscribe: subscribe,
			Resolve:   func(p graphql.ResolveParams) (any, error) { return p.Source, nil },
		},
	}})
	return graphql.NewSchema(graphql.SchemaConfig{Query: query, Mutation: mutation, Subscription: subscription})
}

func checkChatID(id string) error {
	switch {
	case id == "":
		return errors.New("chatId is empty")
	case len(id) > MaxChatID:
		return fmt.Errorf("chatId is longer than %d bytes", MaxChatID)
	case !utf8.ValidString(id):
		return errors.New("chatId is not valid UTF-8")
	}
	return nil
}

// putEvent puts one ClientMessageReceived event on the bus, as the sample's
// resolver does, and returns PutEvents's result in the sample's shape.
func putEvent(ctx context.Context, bus PutEventsAPI, busName, message, chatID string) (map[string]any, error) {
	if err := checkChatID(chatID); err != nil {
		return nil, err
	}
	if message == "" {
		return nil, errors.New("message is empty")
	}
	if len(message) > MaxMessage {
		return nil, fmt.Errorf("message is longer than %d bytes", MaxMessage)
	}
	detail, err := json.Marshal(Received{Message: message, ChatID: chatID})
	if err != nil {
		return nil, err
	}
	out, err := bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(busName),
		Source:       aws.String(SourceRequest),
		DetailType:   aws.String(DetailTypeReceived),
		Detail:       aws.String(string(detail)),
	}}})
	if err != nil {
		return nil, fmt.Errorf("put the message on the bus: %w", err)
	}
	entries := make([]any, len(out.Entries))
	for i, e := range out.Entries {
		entries[i] = map[string]any{"EventId": orNil(e.EventId), "ErrorCode": orNil(e.ErrorCode), "ErrorMessage": orNil(e.ErrorMessage)}
	}
	return map[string]any{"Entries": entries, "FailedEntries": int(out.FailedEntryCount)}, nil
}

// orNil is a GraphQL String of an SDK's optional string: null when absent.
func orNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
