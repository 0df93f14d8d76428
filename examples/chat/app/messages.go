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
)

// Message is one chat message.
type Message struct {
	ID     string `json:"id"`
	ChatID string `json:"chatId"`
	Text   string `json:"text"`
	Author string `json:"author,omitempty"`
	SentAt string `json:"sentAt"`
}

// Messages keeps the messages of each chat.
type Messages interface {
	// Add stores a message.
	Add(ctx context.Context, m Message) error
	// List returns the latest messages of a chat, oldest first.
	List(ctx context.Context, chatID string) ([]Message, error)
}

// maxListed bounds how many messages of a chat the messages query returns:
// the latest ones.
const maxListed = 100

// MemoryMessages keeps messages in the process: local runs.
type MemoryMessages struct {
	mu    sync.Mutex
	chats map[string][]Message
}

// NewMemoryMessages returns an empty MemoryMessages.
func NewMemoryMessages() *MemoryMessages { return &MemoryMessages{chats: map[string][]Message{}} }

// Add implements Messages.
func (m *MemoryMessages) Add(_ context.Context, msg Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chats[msg.ChatID] = append(m.chats[msg.ChatID], msg)
	return nil
}

// List implements Messages.
func (m *MemoryMessages) List(_ context.Context, chatID string) ([]Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.chats[chatID]
	return slices.Clone(list[max(0, len(list)-maxListed):]), nil
}

// DynamoMessages keeps messages in a DynamoDB table with key chatId (hash)
// and sk = sentAt#id (range), so a chat's messages come back in order.
type DynamoMessages struct {
	Client *dynamodb.Client
	Table  string
}

// Add implements Messages.
func (d *DynamoMessages) Add(ctx context.Context, m Message) error {
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

// CreateMessagesTable creates the messages table if it does not exist (local
// runs; on AWS the SAM template creates it).
func CreateMessagesTable(ctx context.Context, client *dynamodb.Client, table string) error {
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
		BillingMode: types.BillingModePayPerRequest,
	})
	if _, exists := errors.AsType[*types.ResourceInUseException](err); err != nil && !exists {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	return nil
}
