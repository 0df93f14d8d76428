package streams

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

func TestConvertValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      types.AttributeValue
		want    events.DynamoDBAttributeValue
		wantErr string
	}{
		{name: "S", in: &types.AttributeValueMemberS{Value: "héllo"}, want: events.NewStringAttribute("héllo")},
		{name: "empty S", in: &types.AttributeValueMemberS{}, want: events.NewStringAttribute("")},
		{name: "N", in: &types.AttributeValueMemberN{Value: "-12.5e3"}, want: events.NewNumberAttribute("-12.5e3")},
		{name: "B", in: &types.AttributeValueMemberB{Value: []byte{0, 1, 0xff}}, want: events.NewBinaryAttribute([]byte{0, 1, 0xff})},
		{name: "BOOL true", in: &types.AttributeValueMemberBOOL{Value: true}, want: events.NewBooleanAttribute(true)},
		{name: "BOOL false", in: &types.AttributeValueMemberBOOL{Value: false}, want: events.NewBooleanAttribute(false)},
		{name: "NULL", in: &types.AttributeValueMemberNULL{Value: true}, want: events.NewNullAttribute()},
		{name: "SS", in: &types.AttributeValueMemberSS{Value: []string{"a", "b"}}, want: events.NewStringSetAttribute([]string{"a", "b"})},
		{name: "NS", in: &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}}, want: events.NewNumberSetAttribute([]string{"1", "2.5"})},
		{name: "BS", in: &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}}, want: events.NewBinarySetAttribute([][]byte{{1}, {2, 3}})},
		{name: "empty L", in: &types.AttributeValueMemberL{}, want: events.NewListAttribute([]events.DynamoDBAttributeValue{})},
		{name: "empty M", in: &types.AttributeValueMemberM{}, want: events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{})},
		{
			name: "nested L and M",
			in: &types.AttributeValueMemberL{Value: []types.AttributeValue{
				&types.AttributeValueMemberS{Value: "x"},
				&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
					"n":    &types.AttributeValueMemberN{Value: "1"},
					"list": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberNULL{Value: true}}},
				}},
			}},
			want: events.NewListAttribute([]events.DynamoDBAttributeValue{
				events.NewStringAttribute("x"),
				events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{
					"n":    events.NewNumberAttribute("1"),
					"list": events.NewListAttribute([]events.DynamoDBAttributeValue{events.NewNullAttribute()}),
				}),
			}),
		},
		{name: "unknown type", in: &types.UnknownUnionMember{Tag: "X"}, wantErr: `unknown attribute type "X"`},
		{
			name:    "unknown type in a list",
			in:      &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{}, &types.UnknownUnionMember{Tag: "X"}}},
			wantErr: "element 1",
		},
		{
			name:    "unknown type in a map",
			in:      &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.UnknownUnionMember{Tag: "X"}}},
			wantErr: "attribute k",
		},
		{name: "nil", in: nil, wantErr: "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := convertValue(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
			if got.DataType() != tt.want.DataType() {
				t.Errorf("data type %v, want %v", got.DataType(), tt.want.DataType())
			}
		})
	}
}

func TestConvertRecord(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_700_000_000, 0).UTC()
	key := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "e1"}}
	in := types.Record{
		AwsRegion:    aws.String("eu-west-1"),
		EventID:      aws.String("ev-1"),
		EventName:    types.OperationTypeRemove,
		EventSource:  aws.String("aws:dynamodb"),
		EventVersion: aws.String("1.1"),
		UserIdentity: &types.Identity{Type: aws.String("Service"), PrincipalId: aws.String("dynamodb.amazonaws.com")},
		Dynamodb: &types.StreamRecord{
			ApproximateCreationDateTime: &at,
			Keys:                        key,
			OldImage:                    map[string]types.AttributeValue{"id": key["id"], "topic": &types.AttributeValueMemberS{Value: "T"}},
			SequenceNumber:              aws.String("000123"),
			SizeBytes:                   aws.Int64(42),
			StreamViewType:              types.StreamViewTypeNewAndOldImages,
		},
	}
	got, err := convertRecord("arn:stream", in)
	if err != nil {
		t.Fatal(err)
	}
	want := events.DynamoDBEventRecord{
		AWSRegion: "eu-west-1", EventID: "ev-1", EventName: "REMOVE", EventSource: "aws:dynamodb", EventVersion: "1.1",
		EventSourceArn: "arn:stream",
		UserIdentity:   &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"},
		Change: events.DynamoDBStreamRecord{
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: at},
			Keys:                        map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("e1")},
			OldImage:                    map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("e1"), "topic": events.NewStringAttribute("T")},
			SequenceNumber:              "000123",
			SizeBytes:                   42,
			StreamViewType:              "NEW_AND_OLD_IMAGES",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	in.Dynamodb.NewImage = map[string]types.AttributeValue{"bad": &types.UnknownUnionMember{Tag: "X"}}
	if _, err := convertRecord("arn:stream", in); err == nil || !strings.Contains(err.Error(), "000123") {
		t.Errorf("unconvertible new image: %v", err)
	}
}
