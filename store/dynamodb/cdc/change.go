package cdc

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/store"
)

// Operation is the kind of a change, as DynamoDB Streams names it.
type Operation string

// The operations of a DynamoDB stream.
const (
	Insert Operation = "INSERT" // a new item
	Modify Operation = "MODIFY" // an item changed
	Remove Operation = "REMOVE" // an item deleted, by a caller or by Time to Live
)

// Change is one stream record, decoded: what a [Mapper] maps to events.
type Change struct {
	// Operation is INSERT, MODIFY or REMOVE.
	Operation Operation
	// Table is the name of the table, from the record's event source ARN;
	// empty when the ARN does not name one.
	Table string
	// Keys are the item's key attributes, as [Image] converts them.
	Keys map[string]any
	// OldImage is the item before the change and NewImage after it, as
	// [Image] converts them. Each is nil when the record does not carry it:
	// an INSERT has no old image and a REMOVE no new one, and the stream's
	// view type (KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES) decides
	// which images records carry at all.
	OldImage, NewImage map[string]any
	// SequenceNumber is the record's position in its shard.
	SequenceNumber string
	// EventID is the record's unique id, the default id of its events.
	EventID string
	// Time is when the change was made, to the second (the record's
	// ApproximateCreationDateTime); zero when absent.
	Time time.Time
	// Expired reports a REMOVE made by DynamoDB's Time to Live (the record's
	// userIdentity is the DynamoDB service), not by a caller.
	Expired bool
	// Record is the stream record itself.
	Record events.DynamoDBEventRecord
}

// NewChange decodes a stream record. A record of an unknown operation, or
// whose attribute values cannot be converted (see [Value]), is an error
// wrapping [store.ErrInvalidEvent].
func NewChange(rec events.DynamoDBEventRecord) (Change, error) {
	c := Change{
		Operation:      Operation(rec.EventName),
		Table:          TableName(rec.EventSourceArn),
		SequenceNumber: rec.Change.SequenceNumber,
		EventID:        rec.EventID,
		Time:           rec.Change.ApproximateCreationDateTime.Time,
		Record:         rec,
	}
	switch c.Operation {
	case Insert, Modify, Remove:
	default:
		return Change{}, invalid("record %s: unknown event name %q", rec.Change.SequenceNumber, rec.EventName)
	}
	if id := rec.UserIdentity; c.Operation == Remove && id != nil && id.Type == "Service" && id.PrincipalID == "dynamodb.amazonaws.com" {
		c.Expired = true
	}
	var err error
	if c.Keys, err = Image(rec.Change.Keys); err != nil {
		return Change{}, fmt.Errorf("record %s: keys: %w", rec.Change.SequenceNumber, err)
	}
	if c.OldImage, err = Image(rec.Change.OldImage); err != nil {
		return Change{}, fmt.Errorf("record %s: old image: %w", rec.Change.SequenceNumber, err)
	}
	if c.NewImage, err = Image(rec.Change.NewImage); err != nil {
		return Change{}, fmt.Errorf("record %s: new image: %w", rec.Change.SequenceNumber, err)
	}
	return c, nil
}

// TableName returns the table's name in a DynamoDB table or stream ARN
// (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL), or "".
func TableName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// Item returns the item as the change leaves it: the new image, or, for a
// REMOVE, the old image; the keys when the record carries neither.
func (c Change) Item() map[string]any {
	switch {
	case c.Operation != Remove && c.NewImage != nil:
		return c.NewImage
	case c.OldImage != nil:
		return c.OldImage
	}
	return c.Keys
}

// Mapper maps one change to the events it causes, in order: none to ignore
// it. An error means the record can never be delivered: the stream handler
// reports it and skips the record. An event without ID gets the record's
// eventID from the handler.
type Mapper func(c Change) ([]store.Event, error)

// Decoder returns the record decoder of gqlambda's
// Server.DynamoDBStreamHandler that decodes each record into a [Change]
// (see [NewChange]) and maps it with m; a nil m is the zero [Mapping]'s Map:
//
//	lambda.Start(srv.DynamoDBStreamHandler(cdc.Decoder(nil)))
func Decoder(m Mapper) func(events.DynamoDBEventRecord) ([]store.Event, error) {
	if m == nil {
		m = Mapping{}.Map
	}
	return func(rec events.DynamoDBEventRecord) ([]store.Event, error) {
		c, err := NewChange(rec)
		if err != nil {
			return nil, err
		}
		return m(c)
	}
}

// Action is what [Mapping] makes of a change.
type Action int

// The actions of a [Mapping].
const (
	// Default: the field's default, which its documentation gives.
	Default Action = iota
	// Publish delivers the item to the subscriptions whose filter matches
	// it, as the server's Publish does.
	Publish
	// Complete ends the subscriptions whose filter matches the item, as the
	// server's Complete does.
	Complete
	// Ignore makes no event.
	Ignore
)

// String returns the action's name.
func (a Action) String() string {
	switch a {
	case Default:
		return "default"
	case Publish:
		return "publish"
	case Complete:
		return "complete"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Mapping is the default mapping of changes: one event per change, whose
// topic is Topic, or the item's TopicAttribute, or the table's name; whose
// payload is the item as the change leaves it ([Change.Item]: the new image,
// the old image of a removed item, or the keys when the stream carries no
// image); and whose action depends on the operation. Its zero value maps
// inserts and modifications to a publish of the new image on the topic named
// after the table, and removals (Time to Live included) to a complete of the
// subscriptions the old image matches.
type Mapping struct {
	// Topic, when set, is the topic of every change.
	Topic string
	// TopicAttribute, when set (and Topic is not), names the item's
	// attribute, a string or a number, whose value is the topic. An item
	// without it cannot be delivered.
	TopicAttribute string
	// OnInsert and OnModify say what an INSERT and a MODIFY do. Default:
	// Publish.
	OnInsert, OnModify Action
	// OnRemove says what a REMOVE by a caller does. Default: Complete.
	OnRemove Action
	// OnExpire says what a REMOVE by Time to Live does. Default: what
	// OnRemove says.
	OnExpire Action
}

// Map is the [Mapper] of m. An item without the topic attribute, and a
// change of a table whose name the record does not give (with neither Topic
// nor TopicAttribute set), are errors wrapping [store.ErrInvalidEvent].
func (m Mapping) Map(c Change) ([]store.Event, error) {
	action := m.action(c)
	if action == Ignore {
		return nil, nil
	}
	item := c.Item()
	topic, err := m.topic(c, item)
	if err != nil {
		return nil, err
	}
	payload, err := marshal(item)
	if err != nil {
		return nil, err
	}
	return []store.Event{{Topic: topic, Payload: payload, Complete: action == Complete, PublishedAt: c.Time}}, nil
}

// action returns what m makes of c.
func (m Mapping) action(c Change) Action {
	or := func(a, def Action) Action {
		if a == Default {
			return def
		}
		return a
	}
	switch c.Operation {
	case Insert:
		return or(m.OnInsert, Publish)
	case Modify:
		return or(m.OnModify, Publish)
	}
	remove := or(m.OnRemove, Complete)
	if c.Expired {
		return or(m.OnExpire, remove)
	}
	return remove
}

// topic returns the topic of c, whose item is item.
func (m Mapping) topic(c Change, item map[string]any) (string, error) {
	switch {
	case m.Topic != "":
		return m.Topic, nil
	case m.TopicAttribute != "":
		switch v := item[m.TopicAttribute].(type) {
		case string:
			if v != "" {
				return v, nil
			}
		case json.Number:
			return v.String(), nil
		}
		return "", invalid("record %s: the item has no string or number attribute %s to name the topic", c.SequenceNumber, m.TopicAttribute)
	case c.Table != "":
		return c.Table, nil
	}
	return "", invalid("record %s: no table name in the event source ARN %q to name the topic", c.SequenceNumber, c.Record.EventSourceArn)
}
