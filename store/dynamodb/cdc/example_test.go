package cdc_test

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/store/dynamodb/cdc"
)

// ExampleDecoder decodes a stream record of an orders table as the server's
// stream handler does with
// lambda.Start(srv.DynamoDBStreamHandler(cdc.Decoder(cdc.Mapping{}.Map))):
// the table names the topic and the new image is the payload, numbers kept
// as DynamoDB wrote them.
func ExampleDecoder() {
	var rec events.DynamoDBEventRecord
	_ = json.Unmarshal([]byte(`{"eventID":"e1","eventName":"MODIFY","eventSource":"aws:dynamodb",
		"eventSourceARN":"arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-12-01T00:00:00.000",
		"dynamodb":{"Keys":{"id":{"S":"o1"}},
			"OldImage":{"id":{"S":"o1"},"status":{"S":"new"},"total":{"N":"99999999999999999.99"}},
			"NewImage":{"id":{"S":"o1"},"status":{"S":"paid"},"total":{"N":"99999999999999999.99"}},
			"SequenceNumber":"200","StreamViewType":"NEW_AND_OLD_IMAGES"}}`), &rec)

	evs, err := cdc.Decoder(cdc.Mapping{}.Map)(rec)
	if err != nil {
		panic(err)
	}
	for _, ev := range evs {
		fmt.Println(ev.Topic, string(ev.Payload), "complete:", ev.Complete)
	}
	// Output:
	// orders {"id":"o1","status":"paid","total":99999999999999999.99} complete: false
}

// ExampleMapping_Map maps the deletion of an expired item by Time to Live
// differently from a deletion by a caller.
func ExampleMapping_Map() {
	m := cdc.Mapping{Topic: "SESSIONS", OnRemove: cdc.Complete, OnExpire: cdc.Publish}
	for _, c := range []cdc.Change{
		{Operation: cdc.Remove, OldImage: map[string]any{"id": "s1"}},
		{Operation: cdc.Remove, OldImage: map[string]any{"id": "s2"}, Expired: true},
	} {
		evs, _ := m.Map(c)
		fmt.Printf("%s expired=%v: complete=%v\n", c.OldImage["id"], c.Expired, evs[0].Complete)
	}
	// Output:
	// s1 expired=false: complete=true
	// s2 expired=true: complete=false
}

// ExampleJSON converts attribute values of every kind to JSON.
func ExampleJSON() {
	for _, av := range []events.DynamoDBAttributeValue{
		events.NewNumberAttribute("12345678901234567890.5"),
		events.NewStringSetAttribute([]string{"a", "b"}),
		events.NewBinaryAttribute([]byte{0, 1, 2}),
		events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{"ok": events.NewBooleanAttribute(true), "none": events.NewNullAttribute()}),
	} {
		out, _ := cdc.JSON(av)
		fmt.Println(string(out))
	}
	// Output:
	// 12345678901234567890.5
	// ["a","b"]
	// "AAEC"
	// {"none":null,"ok":true}
}
