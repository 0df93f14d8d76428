package cdc_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb/cdc"
)

// attr decodes one attribute value from DynamoDB's JSON, as Lambda does.
func attr(t testing.TB, s string) events.DynamoDBAttributeValue {
	t.Helper()
	var av events.DynamoDBAttributeValue
	if err := json.Unmarshal([]byte(s), &av); err != nil {
		t.Fatalf("attribute %s: %v", s, err)
	}
	return av
}

func TestJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{`{"S":"héllo <b>"}`, `"héllo \u003cb\u003e"`},
		{`{"S":""}`, `""`},
		{`{"N":"12"}`, `12`},
		{`{"N":"-12.50"}`, `-12.50`},
		{`{"N":"0"}`, `0`},
		{`{"N":"-0.000001"}`, `-0.000001`},
		{`{"N":"1E+2"}`, `1E+2`},
		{`{"N":"1.5e-130"}`, `1.5e-130`},
		// Beyond float64: kept digit for digit.
		{`{"N":"12345678901234567890123456789012345678"}`, `12345678901234567890123456789012345678`},
		{`{"N":"0.1234567890123456789012345678901234567"}`, `0.1234567890123456789012345678901234567`},
		{`{"B":"AAEqQQ=="}`, `"AAEqQQ=="`},
		{`{"BOOL":true}`, `true`},
		{`{"BOOL":false}`, `false`},
		{`{"NULL":true}`, `null`},
		{`{"SS":["b","a"]}`, `["b","a"]`},
		{`{"SS":[]}`, `[]`},
		{`{"NS":["1","2.5","-3e3"]}`, `[1,2.5,-3e3]`},
		{`{"BS":["AAEqQQ==","QSoBAA=="]}`, `["AAEqQQ==","QSoBAA=="]`},
		{`{"L":[]}`, `[]`},
		{`{"L":[{"S":"Cookies"},{"N":"3.14159"},{"NULL":true},{"L":[{"BOOL":false}]}]}`, `["Cookies",3.14159,null,[false]]`},
		{`{"M":{}}`, `{}`},
		{`{"M":{"Name":{"S":"Joe"},"Age":{"N":"35"},"Tags":{"SS":["x"]},"Inner":{"M":{"b":{"B":"AA=="}}}}}`,
			`{"Age":35,"Inner":{"b":"AA=="},"Name":"Joe","Tags":["x"]}`},
	}
	for _, tt := range tests {
		got, err := cdc.JSON(attr(t, tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("JSON(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestJSONInvalid(t *testing.T) {
	t.Parallel()
	deep := events.NewNullAttribute()
	for range 40 {
		deep = events.NewListAttribute([]events.DynamoDBAttributeValue{deep})
	}
	tests := []struct {
		name string
		av   events.DynamoDBAttributeValue
	}{
		{"no type", events.DynamoDBAttributeValue{}},
		{"nested too deep", deep},
	}
	for _, n := range []string{"", "1.", ".5", "+1", "01", "-", "1e", "1e+", "NaN", "Infinity", "0x10", "1 ", " 1", "1,5", "--1"} {
		tests = append(tests, struct {
			name string
			av   events.DynamoDBAttributeValue
		}{"number " + n, events.NewNumberAttribute(n)})
	}
	tests = append(tests,
		struct {
			name string
			av   events.DynamoDBAttributeValue
		}{"number set", events.NewNumberSetAttribute([]string{"1", "x"})},
		struct {
			name string
			av   events.DynamoDBAttributeValue
		}{"number in a map", events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{"n": events.NewNumberAttribute("1.2.3")})},
	)
	for _, tt := range tests {
		if got, err := cdc.JSON(tt.av); !errors.Is(err, store.ErrInvalidEvent) {
			t.Errorf("%s: JSON = %s, %v; want an error wrapping store.ErrInvalidEvent", tt.name, got, err)
		}
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	got, err := cdc.Value(attr(t, `{"M":{"s":{"S":"x"},"n":{"N":"1.50"},"b":{"B":"AAE="},"ok":{"BOOL":true},"none":{"NULL":true},
		"l":{"L":[{"N":"2"}]},"ss":{"SS":["a"]},"ns":{"NS":["3"]},"bs":{"BS":["Ag=="]}}}`))
	want := map[string]any{
		"s": "x", "n": json.Number("1.50"), "b": []byte{0, 1}, "ok": true, "none": nil,
		"l": []any{json.Number("2")}, "ss": []string{"a"}, "ns": []json.Number{"3"}, "bs": [][]byte{{2}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Value = %#v, %v\nwant %#v", got, err, want)
	}
}

func TestTableName(t *testing.T) {
	t.Parallel()
	for arn, want := range map[string]string{
		"arn:aws:dynamodb:us-east-1:123456789012:table/Example-Table/stream/2016-12-01T00:00:00.000":    "Example-Table",
		"arn:aws:dynamodb:ddblocal:000000000000:table/t-x-chat-messages/stream/2026-12-02T10:00:00.000": "t-x-chat-messages",
		"arn:aws:dynamodb:eu-west-1:123456789012:table/orders":                                          "orders",
		"arn:aws:kinesis:eu-west-1:123456789012:stream/orders":                                          "",
		"": "",
	} {
		if got := cdc.TableName(arn); got != want {
			t.Errorf("TableName(%q) = %q, want %q", arn, got, want)
		}
	}
}

// record is a stream record of the orders table in Lambda's JSON.
func record(t *testing.T, js string) events.DynamoDBEventRecord {
	t.Helper()
	var rec events.DynamoDBEventRecord
	if err := json.Unmarshal([]byte(js), &rec); err != nil {
		t.Fatalf("record: %v", err)
	}
	return rec
}

const ordersARN = `"eventSourceARN":"arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-12-01T00:00:00.000"`

var (
	insertJSON = `{"eventID":"e1","eventName":"INSERT","eventSource":"aws:dynamodb",` + ordersARN + `,"dynamodb":{
		"ApproximateCreationDateTime":1764680000,"Keys":{"id":{"S":"o1"}},
		"NewImage":{"id":{"S":"o1"},"status":{"S":"new"},"total":{"N":"12.50"},"shop":{"S":"s1"}},
		"SequenceNumber":"100","SizeBytes":50,"StreamViewType":"NEW_AND_OLD_IMAGES"}}`
	modifyJSON = `{"eventID":"e2","eventName":"MODIFY","eventSource":"aws:dynamodb",` + ordersARN + `,"dynamodb":{
		"ApproximateCreationDateTime":1764680001,"Keys":{"id":{"S":"o1"}},
		"OldImage":{"id":{"S":"o1"},"status":{"S":"new"},"total":{"N":"12.50"},"shop":{"S":"s1"}},
		"NewImage":{"id":{"S":"o1"},"status":{"S":"paid"},"total":{"N":"12.50"},"shop":{"S":"s1"}},
		"SequenceNumber":"200","SizeBytes":90,"StreamViewType":"NEW_AND_OLD_IMAGES"}}`
	removeJSON = `{"eventID":"e3","eventName":"REMOVE","eventSource":"aws:dynamodb",` + ordersARN + `,"dynamodb":{
		"ApproximateCreationDateTime":1764680002,"Keys":{"id":{"S":"o1"}},
		"OldImage":{"id":{"S":"o1"},"status":{"S":"paid"},"total":{"N":"12.50"},"shop":{"S":"s1"}},
		"SequenceNumber":"300","SizeBytes":50,"StreamViewType":"NEW_AND_OLD_IMAGES"}}`
	expireJSON = `{"eventID":"e4","eventName":"REMOVE","eventSource":"aws:dynamodb",` + ordersARN + `,
		"userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"},"dynamodb":{
		"ApproximateCreationDateTime":1764680003,"Keys":{"id":{"S":"o2"}},
		"OldImage":{"id":{"S":"o2"},"status":{"S":"cart"},"shop":{"N":"7"},"ttl":{"N":"1764600000"}},
		"SequenceNumber":"400","SizeBytes":50,"StreamViewType":"NEW_AND_OLD_IMAGES"}}`
	keysOnlyJSON = `{"eventID":"e5","eventName":"MODIFY","eventSource":"aws:dynamodb",` + ordersARN + `,"dynamodb":{
		"Keys":{"id":{"S":"o3"}},"SequenceNumber":"500","SizeBytes":10,"StreamViewType":"KEYS_ONLY"}}`
)

func TestNewChange(t *testing.T) {
	t.Parallel()
	c, err := cdc.NewChange(record(t, modifyJSON))
	if err != nil {
		t.Fatal(err)
	}
	if c.Operation != cdc.Modify || c.Table != "orders" || c.SequenceNumber != "200" || c.EventID != "e2" ||
		!c.Time.Equal(time.Unix(1764680001, 0)) || c.Expired {
		t.Errorf("change %+v", c)
	}
	if want := map[string]any{"id": "o1"}; !reflect.DeepEqual(c.Keys, want) {
		t.Errorf("keys %v", c.Keys)
	}
	if c.OldImage["status"] != "new" || c.NewImage["status"] != "paid" || c.NewImage["total"] != json.Number("12.50") {
		t.Errorf("images %v → %v", c.OldImage, c.NewImage)
	}
	for _, tt := range []struct {
		name    string
		js      string
		expired bool
	}{
		{"user delete", removeJSON, false},
		{"Time to Live", expireJSON, true},
		{"another service", strings.Replace(expireJSON, "dynamodb.amazonaws.com", "glue.amazonaws.com", 1), false},
		{"a user called Service", strings.Replace(expireJSON, `"type":"Service"`, `"type":"User"`, 1), false},
		{"an insert by the service", strings.Replace(insertJSON, `"eventSource"`, `"userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"},"eventSource"`, 1), false},
	} {
		c, err := cdc.NewChange(record(t, tt.js))
		if err != nil || c.Expired != tt.expired {
			t.Errorf("%s: Expired = %v, %v; want %v", tt.name, c.Expired, err, tt.expired)
		}
	}
	for _, bad := range []string{
		strings.Replace(insertJSON, `"INSERT"`, `"UPSERT"`, 1),
		strings.Replace(insertJSON, `"12.50"`, `"12,50"`, 1),
		strings.Replace(modifyJSON, `"OldImage":{"id":{"S":"o1"}`, `"OldImage":{"id":{"N":"o1"}`, 1),
		strings.Replace(insertJSON, `"Keys":{"id":{"S":"o1"}}`, `"Keys":{"id":{"N":"one"}}`, 1),
	} {
		if _, err := cdc.NewChange(record(t, bad)); !errors.Is(err, store.ErrInvalidEvent) {
			t.Errorf("NewChange of a bad record: %v, want an error wrapping store.ErrInvalidEvent\n%s", err, bad)
		}
	}
}

func TestMapping(t *testing.T) {
	t.Parallel()
	type event struct {
		topic, payload string
		complete       bool
	}
	tests := []struct {
		name    string
		m       cdc.Mapping
		js      string
		want    []event
		invalid string
	}{
		{"insert: the table names the topic", cdc.Mapping{}, insertJSON,
			[]event{{"orders", `{"id":"o1","shop":"s1","status":"new","total":12.50}`, false}}, ""},
		{"modify: the new image", cdc.Mapping{}, modifyJSON,
			[]event{{"orders", `{"id":"o1","shop":"s1","status":"paid","total":12.50}`, false}}, ""},
		{"remove: complete with the old image", cdc.Mapping{}, removeJSON,
			[]event{{"orders", `{"id":"o1","shop":"s1","status":"paid","total":12.50}`, true}}, ""},
		{"expiry: as a remove by default", cdc.Mapping{}, expireJSON,
			[]event{{"orders", `{"id":"o2","shop":7,"status":"cart","ttl":1764600000}`, true}}, ""},
		{"expiry follows OnRemove", cdc.Mapping{OnRemove: cdc.Publish}, expireJSON,
			[]event{{"orders", `{"id":"o2","shop":7,"status":"cart","ttl":1764600000}`, false}}, ""},
		{"expiry ignored, removals still complete", cdc.Mapping{OnExpire: cdc.Ignore}, expireJSON, nil, ""},
		{"removal published, expiry ignored", cdc.Mapping{OnRemove: cdc.Publish, OnExpire: cdc.Ignore}, removeJSON,
			[]event{{"orders", `{"id":"o1","shop":"s1","status":"paid","total":12.50}`, false}}, ""},
		{"inserts ignored", cdc.Mapping{OnInsert: cdc.Ignore}, insertJSON, nil, ""},
		{"modifications complete", cdc.Mapping{OnModify: cdc.Complete}, modifyJSON,
			[]event{{"orders", `{"id":"o1","shop":"s1","status":"paid","total":12.50}`, true}}, ""},
		{"a fixed topic", cdc.Mapping{Topic: "ORDERS"}, insertJSON,
			[]event{{"ORDERS", `{"id":"o1","shop":"s1","status":"new","total":12.50}`, false}}, ""},
		{"a string attribute names the topic", cdc.Mapping{TopicAttribute: "shop"}, insertJSON,
			[]event{{"s1", `{"id":"o1","shop":"s1","status":"new","total":12.50}`, false}}, ""},
		{"a number attribute names the topic", cdc.Mapping{TopicAttribute: "shop"}, expireJSON,
			[]event{{"7", `{"id":"o2","shop":7,"status":"cart","ttl":1764600000}`, true}}, ""},
		{"Topic wins over TopicAttribute", cdc.Mapping{Topic: "T", TopicAttribute: "shop"}, insertJSON,
			[]event{{"T", `{"id":"o1","shop":"s1","status":"new","total":12.50}`, false}}, ""},
		{"keys only", cdc.Mapping{}, keysOnlyJSON, []event{{"orders", `{"id":"o3"}`, false}}, ""},
		{"no topic attribute", cdc.Mapping{TopicAttribute: "region"}, insertJSON, nil, "no string or number attribute region"},
		{"no table name", cdc.Mapping{}, strings.Replace(insertJSON, "table/orders/stream", "stream", 1), nil, "no table name"},
	}
	for _, tt := range tests {
		c, err := cdc.NewChange(record(t, tt.js))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		evs, err := tt.m.Map(c)
		if tt.invalid != "" {
			if !errors.Is(err, store.ErrInvalidEvent) || !strings.Contains(err.Error(), tt.invalid) {
				t.Errorf("%s: Map = %+v, %v; want an invalid event: %s", tt.name, evs, err, tt.invalid)
			}
			continue
		}
		var got []event
		for _, ev := range evs {
			got = append(got, event{ev.Topic, string(ev.Payload), ev.Complete})
			if ev.ID != "" || !ev.PublishedAt.Equal(c.Time) {
				t.Errorf("%s: event id %q (want none: the handler sets the record's) and time %v (want %v)", tt.name, ev.ID, ev.PublishedAt, c.Time)
			}
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Map = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestDecoder(t *testing.T) {
	t.Parallel()
	evs, err := cdc.Decoder(nil)(record(t, insertJSON))
	if err != nil || len(evs) != 1 || evs[0].Topic != "orders" {
		t.Errorf("Decoder(nil) = %+v, %v", evs, err)
	}
	if _, err := cdc.Decoder(nil)(record(t, strings.Replace(insertJSON, `"12.50"`, `"x"`, 1))); !errors.Is(err, store.ErrInvalidEvent) {
		t.Errorf("Decoder of a bad record: %v", err)
	}
	own := func(c cdc.Change) ([]store.Event, error) {
		return []store.Event{{Topic: "shop:" + c.NewImage["shop"].(string)}, {Topic: "all"}}, nil
	}
	if evs, err := cdc.Decoder(own)(record(t, insertJSON)); err != nil || len(evs) != 2 || evs[0].Topic != "shop:s1" {
		t.Errorf("Decoder(own) = %+v, %v", evs, err)
	}
}

// FuzzJSON: any attribute value Lambda can decode converts to valid JSON
// that says the same (numbers digit for digit, binaries as base64, sets as
// arrays), or fails with store.ErrInvalidEvent; nothing panics.
func FuzzJSON(f *testing.F) {
	for _, seed := range []string{`{"S":"x"}`, `{"N":"-1.5e3"}`, `{"N":"1."}`, `{"B":"AAE="}`, `{"BOOL":true}`, `{"NULL":true}`,
		`{"M":{"a":{"L":[{"N":"1"},{"SS":["s"]}]}}}`, `{"NS":["1","2"]}`, `{"BS":["AA=="]}`, `{"L":[]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var av events.DynamoDBAttributeValue
		if json.Unmarshal(data, &av) != nil {
			return
		}
		out, err := cdc.JSON(av)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidEvent) {
				t.Fatalf("JSON(%s): error %v does not wrap ErrInvalidEvent", data, err)
			}
			return
		}
		d := json.NewDecoder(bytes.NewReader(out))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("JSON(%s) = %s: not JSON: %v", data, out, err)
		}
		if problem := same(av, v, 0); problem != "" {
			t.Fatalf("JSON(%s) = %s: %s", data, out, problem)
		}
	})
}

// same reports how v, decoded from JSON with UseNumber, differs from av.
func same(av events.DynamoDBAttributeValue, v any, depth int) string {
	if depth > 40 {
		return "too deep"
	}
	eqBytes := func(b []byte, v any) bool {
		s, ok := v.(string)
		got, err := base64.StdEncoding.DecodeString(s)
		return ok && err == nil && bytes.Equal(got, b)
	}
	list := func(n int) ([]any, bool) {
		l, ok := v.([]any)
		return l, ok && len(l) == n
	}
	switch av.DataType() {
	case events.DataTypeString:
		if v != av.String() {
			return "string differs"
		}
	case events.DataTypeNumber:
		if v != json.Number(av.Number()) {
			return "number " + av.Number() + " differs"
		}
	case events.DataTypeBinary:
		if !eqBytes(av.Binary(), v) {
			return "binary differs"
		}
	case events.DataTypeBoolean:
		if v != av.Boolean() {
			return "boolean differs"
		}
	case events.DataTypeNull:
		if v != nil {
			return "null differs"
		}
	case events.DataTypeStringSet:
		l, ok := list(len(av.StringSet()))
		for i, s := range av.StringSet() {
			if !ok || l[i] != s {
				return "string set differs"
			}
		}
	case events.DataTypeNumberSet:
		l, ok := list(len(av.NumberSet()))
		for i, n := range av.NumberSet() {
			if !ok || l[i] != json.Number(n) {
				return "number set differs"
			}
		}
	case events.DataTypeBinarySet:
		l, ok := list(len(av.BinarySet()))
		for i, b := range av.BinarySet() {
			if !ok || !eqBytes(b, l[i]) {
				return "binary set differs"
			}
		}
	case events.DataTypeList:
		l, ok := list(len(av.List()))
		if !ok {
			return "list differs"
		}
		for i, e := range av.List() {
			if p := same(e, l[i], depth+1); p != "" {
				return p
			}
		}
	case events.DataTypeMap:
		m, ok := v.(map[string]any)
		if !ok || len(m) != len(av.Map()) {
			return "map differs"
		}
		for k, e := range av.Map() {
			if p := same(e, m[k], depth+1); p != "" {
				return k + ": " + p
			}
		}
	}
	return ""
}
