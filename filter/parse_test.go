package filter_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/filter"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want filter.Filter
	}{
		{"null", `null`, filter.Filter{}},
		{"null with spaces", " \n null\t", filter.Filter{}},
		{"empty object", `{}`, filter.Filter{}},
		{"null groups", `{"filterGroup": null}`, filter.Filter{}},
		{"no groups", `{"filterGroup": []}`, filter.Filter{}},
		{"one condition", `{"filterGroup":[{"filters":[{"fieldName":"chatId","operator":"eq","value":"42"}]}]}`,
			filter.All(filter.Where("chatId", filter.Eq, "42"))},
		{"the package example", `{"filterGroup": [
			  {"filters": [
			    {"fieldName": "chatId", "operator": "eq", "value": "42"},
			    {"fieldName": "author.role", "operator": "in", "value": ["admin", "mod"]}
			  ]}
			]}`,
			filter.All(filter.Where("chatId", filter.Eq, "42"), filter.Where("author.role", filter.In, []any{"admin", "mod"}))},
		{"numbers are float64", `{"filterGroup":[{"filters":[{"fieldName":"n","operator":"between","value":[1,2.5]}]}]}`,
			filter.All(filter.Where("n", filter.Between, []any{1.0, 2.5}))},
		{"two groups", `{"filterGroup":[
			  {"filters":[{"fieldName":"a","operator":"ne","value":true},{"fieldName":"b","operator":"gt","value":-3e2}]},
			  {"filters":[{"fieldName":"c.d","operator":"containsAny","value":["x",1,false]}]}]}`,
			filter.Any(
				filter.All(filter.Where("a", filter.Ne, true), filter.Where("b", filter.Gt, -300.0)),
				filter.All(filter.Where("c.d", filter.ContainsAny, []any{"x", 1.0, false})),
			)},
	}
	for _, tc := range tests {
		got, err := filter.Parse([]byte(tc.json))
		if err != nil {
			t.Errorf("%s: Parse: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want.Normalize()) {
			t.Errorf("%s: Parse = %#v, want %#v", tc.name, got, tc.want.Normalize())
		}
		if got.IsZero() != tc.want.IsZero() {
			t.Errorf("%s: IsZero = %v, want %v", tc.name, got.IsZero(), tc.want.IsZero())
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		json    string
		want    string // a substring of the message
		jsonErr any    // when set, errors.As must find an error of this type
	}{
		{"empty input", ``, "filter: parse: unexpected EOF", nil},
		{"only spaces", "  ", "filter: parse: unexpected EOF", nil},
		{"bad JSON", `{"filterGroup": [`, "filter: parse: unexpected EOF", nil},
		{"syntax error", `{"filterGroup": x}`, "filter: parse: invalid character 'x'", new(*json.SyntaxError)},
		{"not an object", `[]`, "filter: parse: json: cannot unmarshal array", new(*json.UnmarshalTypeError)},
		{"wrong group type", `{"filterGroup": {}}`, "cannot unmarshal object", new(*json.UnmarshalTypeError)},
		{"wrong field type", `{"filterGroup":[{"filters":[{"fieldName":1,"operator":"eq","value":"x"}]}]}`, "cannot unmarshal number", new(*json.UnmarshalTypeError)},
		{"number out of range", `{"filterGroup":[{"filters":[{"fieldName":"a","operator":"eq","value":1e400}]}]}`, "cannot unmarshal number 1e400", new(*json.UnmarshalTypeError)},
		{"unknown top-level field", `{"filterGroup":[], "extra": 1}`, `unknown field "extra"`, nil},
		{"unknown group field", `{"filterGroup":[{"filters":[], "and": []}]}`, `unknown field "and"`, nil},
		{"unknown condition field", `{"filterGroup":[{"filters":[{"fieldName":"a","operator":"eq","value":"x","not":true}]}]}`, `unknown field "not"`, nil},
		{"trailing data", `{} {}`, "filter: parse: trailing data after the filter object", nil},
		{"trailing garbage", `null x`, "filter: parse: trailing data after the filter object", nil},
		{"empty group", `{"filterGroup":[{"filters":[]}]}`, "filter: group 0 has no conditions", nil},
		{"null group", `{"filterGroup":[null]}`, "filter: group 0 has no conditions", nil},
		{"missing value", `{"filterGroup":[{"filters":[{"fieldName":"a","operator":"eq"}]}]}`,
			`filter: group 0, condition 0 ("a"): operator "eq" needs a string, number or bool, got null`, nil},
		{"invalid filter", `{"filterGroup":[{"filters":[{"fieldName":"a","operator":"eq","value":"x"}]},
			{"filters":[{"fieldName":"author.id","operator":"between","value":"x"}]}]}`,
			`filter: group 1, condition 0 ("author.id"): operator "between" needs a list of two values, got string`, nil},
	}
	for _, tc := range tests {
		f, err := filter.Parse([]byte(tc.json))
		if err == nil {
			t.Errorf("%s: Parse = %#v, want an error", tc.name, f)
			continue
		}
		if !errors.Is(err, filter.ErrInvalid) {
			t.Errorf("%s: Parse error %v does not wrap ErrInvalid", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse error %q does not contain %q", tc.name, err, tc.want)
		}
		if tc.jsonErr != nil && !errors.As(err, tc.jsonErr) {
			t.Errorf("%s: Parse error %v does not wrap a %T", tc.name, err, tc.jsonErr)
		}
		if !f.IsZero() {
			t.Errorf("%s: Parse returned %#v with its error, want the zero Filter", tc.name, f)
		}
	}
}
