package streams

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// convertRecord turns a record of the DynamoDB Streams API into the record
// Lambda hands to a function for it.
func convertRecord(streamARN string, r types.Record) (events.DynamoDBEventRecord, error) {
	out := events.DynamoDBEventRecord{
		AWSRegion:      aws.ToString(r.AwsRegion),
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    aws.ToString(r.EventSource),
		EventVersion:   aws.ToString(r.EventVersion),
		EventSourceArn: streamARN,
	}
	if id := r.UserIdentity; id != nil {
		out.UserIdentity = &events.DynamoDBUserIdentity{Type: aws.ToString(id.Type), PrincipalID: aws.ToString(id.PrincipalId)}
	}
	if d := r.Dynamodb; d != nil {
		c := &out.Change
		if d.ApproximateCreationDateTime != nil {
			c.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
		}
		c.SequenceNumber = aws.ToString(d.SequenceNumber)
		c.SizeBytes = aws.ToInt64(d.SizeBytes)
		c.StreamViewType = string(d.StreamViewType)
		var err error
		if c.Keys, err = convertItem(d.Keys); err != nil {
			return out, fmt.Errorf("streams: record %s: keys: %w", c.SequenceNumber, err)
		}
		if c.NewImage, err = convertItem(d.NewImage); err != nil {
			return out, fmt.Errorf("streams: record %s: new image: %w", c.SequenceNumber, err)
		}
		if c.OldImage, err = convertItem(d.OldImage); err != nil {
			return out, fmt.Errorf("streams: record %s: old image: %w", c.SequenceNumber, err)
		}
	}
	return out, nil
}

// convertItem converts every attribute of item; nil stays nil.
func convertItem(item map[string]types.AttributeValue) (map[string]events.DynamoDBAttributeValue, error) {
	if item == nil {
		return nil, nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(item))
	for name, av := range item {
		v, err := convertValue(av)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// convertValue converts one attribute value, of any of DynamoDB's types.
func convertValue(av types.AttributeValue) (events.DynamoDBAttributeValue, error) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value), nil
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value), nil
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value), nil
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value), nil
	case *types.AttributeValueMemberNULL:
		return events.NewNullAttribute(), nil
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value), nil
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value), nil
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value), nil
	case *types.AttributeValueMemberL:
		list := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			c, err := convertValue(e)
			if err != nil {
				return events.DynamoDBAttributeValue{}, fmt.Errorf("element %d: %w", i, err)
			}
			list[i] = c
		}
		return events.NewListAttribute(list), nil
	case *types.AttributeValueMemberM:
		m, err := convertItem(v.Value)
		if err != nil {
			return events.DynamoDBAttributeValue{}, err
		}
		if m == nil {
			m = map[string]events.DynamoDBAttributeValue{}
		}
		return events.NewMapAttribute(m), nil
	case *types.UnknownUnionMember:
		return events.DynamoDBAttributeValue{}, fmt.Errorf("unknown attribute type %q", v.Tag)
	default:
		return events.DynamoDBAttributeValue{}, fmt.Errorf("unsupported attribute value %T", av)
	}
}
