package filter_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gqlambda/gqlambda/filter"
)

// decode returns the JSON text as a payload, as the server decodes events.
func decode(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}

func ExampleAll() {
	f := filter.All(
		filter.Where("chatId", filter.Eq, "42"),
		filter.Where("author.role", filter.In, []string{"admin", "mod"}),
	)
	if err := f.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Match(decode(`{"chatId": "42", "author": {"role": "mod"}}`)))
	fmt.Println(f.Match(decode(`{"chatId": "42", "author": {"role": "user"}}`)))
	fmt.Println(f.Match(decode(`{"chatId": 42, "author": {"role": "mod"}}`)))
	// Output:
	// true
	// false
	// false
}

func ExampleAny() {
	mine := filter.All(filter.Where("author.id", filter.Eq, "u1"))
	urgent := filter.All(filter.Where("priority", filter.Ge, 8))
	f := filter.Any(mine, urgent)
	fmt.Println(f.Match(decode(`{"author": {"id": "u1"}, "priority": 1}`)))
	fmt.Println(f.Match(decode(`{"author": {"id": "u2"}, "priority": 9}`)))
	fmt.Println(f.Match(decode(`{"author": {"id": "u2"}, "priority": 7}`)))
	// Output:
	// true
	// true
	// false
}

func ExampleEqual() {
	f := filter.Equal(map[string]any{
		"chatId": "1",
		"author": map[string]any{"id": "x"},
	})
	for _, c := range f.Groups[0].Conditions {
		fmt.Println(c.Field, c.Operator, c.Value)
	}
	fmt.Println(f.Match(decode(`{"chatId": "1", "author": {"id": "x", "name": "Xi"}, "text": "hi"}`)))
	fmt.Println(f.Match(decode(`{"chatId": "1", "author": {"id": "y"}}`)))
	// Output:
	// author.id eq x
	// chatId eq 1
	// true
	// false
}

func ExampleParse() {
	f, err := filter.Parse([]byte(`{"filterGroup": [
	  {"filters": [
	    {"fieldName": "price", "operator": "between", "value": [10, 20]},
	    {"fieldName": "tags", "operator": "containsAny", "value": ["sale", "new"]}
	  ]}
	]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Match(decode(`{"price": 15, "tags": ["new"]}`)))
	fmt.Println(f.Match(decode(`{"price": 25, "tags": ["new"]}`)))

	_, err = filter.Parse([]byte(`{"filterGroup": [{"filters": [{"fieldName": "price", "operator": "between", "value": 10}]}]}`))
	fmt.Println(errors.Is(err, filter.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// false
	// true
	// filter: group 0, condition 0 ("price"): operator "between" needs a list of two values, got number
}

func ExampleFilter_Normalize() {
	f := filter.All(filter.Where("level", filter.In, []int{1, 2}))
	data, _ := json.Marshal(f.Normalize())
	fmt.Println(string(data))
	fmt.Printf("%#v\n", f.Normalize().Groups[0].Conditions[0].Value)
	// Output:
	// {"filterGroup":[{"filters":[{"fieldName":"level","operator":"in","value":[1,2]}]}]}
	// []interface {}{1, 2}
}
