package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store/dynamodb/cdc"
)

// Message is one chat message.
type Message struct {
	ID     string `json:"id"`
	ChatID string `json:"chatId"`
	Text   string `json:"text"`
	Author string `json:"author,omitempty"`
	SentAt string `json:"sentAt"`
}

// MaxTextBytes bounds a message's text: a chat message, not a file; every
// subscriber of the chat receives it.
const MaxTextBytes = 4096

// CheckText refuses a text over MaxTextBytes with a GraphQL error the client
// sees (code BAD_USER_INPUT).
func CheckText(text string) error {
	if len(text) > MaxTextBytes {
		return &gqlambda.Error{
			Message:    fmt.Sprintf("The text is %d bytes, over the limit of %d", len(text), MaxTextBytes),
			Extensions: map[string]any{"code": "BAD_USER_INPUT"},
		}
	}
	return nil
}

// Messages keeps the messages of each chat and makes each new one reach the
// chat's subscribers.
type Messages interface {
	// Send stores m and makes it reach the subscribers of its chat (topic
	// TopicChat): MemoryMessages publishes it through the server that runs
	// the resolver; DynamoMessages only writes it, and the messages table's
	// stream delivers it (change data capture, ChangeMapping), as the seed
	// serverless-graphql-subscriptions does.
	Send(ctx context.Context, m Message) error
	// List returns the latest messages of a chat, oldest first.
	List(ctx context.Context, chatID string) ([]Message, error)
}

// maxListed bounds how many messages of a chat the messages query returns:
// the latest ones.
const maxListed = 100

// maxChats bounds how many chats MemoryMessages keeps messages of.
const maxChats = 10_000

// MemoryMessages keeps messages in the process: local runs. It keeps the
// latest maxListed messages of each chat (all that List returns) and the
// messages of at most maxChats chats, so that a long run's memory stays
// flat (bench/soak).
type MemoryMessages struct {
	mu    sync.Mutex
	chats map[string][]Message
}

// NewMemoryMessages returns an empty MemoryMessages.
func NewMemoryMessages() *MemoryMessages { return &MemoryMessages{chats: map[string][]Message{}} }

// Send implements Messages: it keeps msg and publishes it to TopicChat
// through the server that runs the resolver.
func (m *MemoryMessages) Send(ctx context.Context, msg Message) error {
	m.mu.Lock()
	list, ok := m.chats[msg.ChatID]
	if !ok && len(m.chats) >= maxChats {
		for id := range m.chats { // forget some other chat
			delete(m.chats, id)
			break
		}
	}
	if len(list) >= maxListed {
		// Drop the oldest, in place: the backing array never grows past
		// maxListed.
		list = append(list[:0], list[len(list)-maxListed+1:]...)
	}
	m.chats[msg.ChatID] = append(list, msg)
	m.mu.Unlock()
	return Publish(ctx, TopicChat, msg)
}

// List implements Messages.
func (m *MemoryMessages) List(_ context.Context, chatID string) ([]Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.chats[chatID]
	return slices.Clone(list[max(0, len(list)-maxListed):]), nil
}

// DynamoMessages keeps messages in a DynamoDB table with key chatId (hash)
// and sk = sentAt#id (range), so a chat's messages come back in order. The
// table's stream is what delivers them: a function subscribed to it
// (GQLAMBDA_HANDLER=messages on Lambda, a stream poller locally) maps each
// new item to a chat event with ChangeMapping.
type DynamoMessages struct {
	Client MessagesAPI
	Table  string
}

// MessagesAPI is the part of the DynamoDB client DynamoMessages uses.
type MessagesAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// MessagesTableAPI is the part of the DynamoDB client CreateMessagesTable
// uses.
type MessagesTableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTable(ctx context.Context, in *dynamodb.UpdateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTableOutput, error)
}

// ChangeMapping maps the changes of the messages table to events: a new
// message (its item, whose attributes are those of Message, and sk) is
// published to TopicChat, where each chat subscription's filter keeps the
// messages of its chatId; edits would be published too; deletions
// (none yet) and Time to Live expiries end nobody's subscription.
var ChangeMapping = cdc.Mapping{Topic: TopicChat, OnRemove: cdc.Ignore}

// Send implements Messages: it writes m, which the table's stream delivers.
func (d *DynamoMessages) Send(ctx context.Context, m Message) error {
	item := map[string]types.AttributeValue{
		"chatId": &types.AttributeValueMemberS{Value: m.ChatID},
		"sk":     &types.AttributeValueMemberS{Value: m.SentAt + "#" + m.ID},
		"id":     &types.AttributeValueMemberS{Value: m.ID},
		"text":   &types.AttributeValueMemberS{Value: m.Text},
		"sentAt": &types.AttributeValueMemberS{Value: m.SentAt},
	}
	if m.Author != "" {
		item["author"] = &types.AttributeValueMemberS{Value: m.Author}
	}
	if _, err := d.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.Table), Item: item}); err != nil {
		return fmt.Errorf("put message: %w", err)
	}
	return nil
}

// List implements Messages.
func (d *DynamoMessages) List(ctx context.Context, chatID string) ([]Message, error) {
	out, err := d.Client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(d.Table),
		KeyConditionExpression:    aws.String("chatId = :c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": &types.AttributeValueMemberS{Value: chatID}},
		ScanIndexForward:          aws.Bool(false), // newest first, then reversed
		Limit:                     aws.Int32(maxListed),
	})
	if err != nil {
		return nil, fmt.Errorf("query messages: %w", err)
	}
	list := make([]Message, 0, len(out.Items))
	for _, item := range slices.Backward(out.Items) {
		list = append(list, Message{
			ID: str(item["id"]), ChatID: chatID, Text: str(item["text"]), Author: str(item["author"]), SentAt: str(item["sentAt"]),
		})
	}
	return list, nil
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// CreateMessagesTable creates the messages table, with a NEW_IMAGE stream
// (the deliveries), if it does not exist, and enables the stream of a table
// that exists without one (local runs; on AWS the SAM template creates it).
func CreateMessagesTable(ctx context.Context, client MessagesTableAPI, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("chatId"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("chatId"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode:         types.BillingModePayPerRequest,
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage},
	})
	_, exists := errors.AsType[*types.ResourceInUseException](err)
	if err != nil && !exists {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	if !exists {
		return nil
	}
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return fmt.Errorf("describe table %s: %w", table, err)
	}
	if spec := out.Table.StreamSpecification; spec != nil && aws.ToBool(spec.StreamEnabled) {
		return nil
	}
	if _, err := client.UpdateTable(ctx, &dynamodb.UpdateTableInput{
		TableName:           aws.String(table),
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage},
	}); err != nil {
		return fmt.Errorf("enable the stream of table %s: %w", table, err)
	}
	return nil
}
