package filter_test

import (
	"testing"

	"github.com/gqlambda/gqlambda/filter"
)

// benchEvent is a chat message as the server decodes it.
func benchEvent() map[string]any {
	return map[string]any{
		"chatId": "chat-42",
		"text":   "hello, world",
		"seq":    1234.0,
		"author": map[string]any{
			"id":    "user-7",
			"role":  "mod",
			"score": 87.5,
			"profile": map[string]any{
				"lang": "en",
			},
		},
		"tags": []any{"greeting", "public", "en"},
	}
}

// benchFilters are filters on benchEvent, the scalar ones first; all match.
var benchFilters = []struct {
	name string
	f    filter.Filter
}{
	{"eq", filter.All(filter.Where("chatId", filter.Eq, "chat-42"))},
	{"eq_nested_3", filter.All(filter.Where("author.profile.lang", filter.Eq, "en"))},
	{"ne_missing", filter.All(filter.Where("author.banned", filter.Ne, true))},
	{"ge_number", filter.All(filter.Where("author.score", filter.Ge, 50))},
	{"between", filter.All(filter.Where("seq", filter.Between, []any{1000.0, 2000.0}))},
	{"in_5", filter.All(filter.Where("author.role", filter.In, []any{"owner", "admin", "editor", "writer", "mod"}))},
	{"contains_string", filter.All(filter.Where("text", filter.Contains, "world"))},
	{"beginsWith", filter.All(filter.Where("author.id", filter.BeginsWith, "user-"))},
	{"contains_list", filter.All(filter.Where("tags", filter.Contains, "public"))},
	{"containsAny", filter.All(filter.Where("tags", filter.ContainsAny, []any{"private", "en"}))},
	{"and_3", filter.All(
		filter.Where("chatId", filter.Eq, "chat-42"),
		filter.Where("author.role", filter.In, []any{"admin", "mod"}),
		filter.Where("author.score", filter.Gt, 10),
	)},
	{"or_10_last", func() filter.Filter {
		var fs []filter.Filter
		for range 9 {
			fs = append(fs, filter.All(filter.Where("chatId", filter.Eq, "other")))
		}
		return filter.Any(append(fs, filter.All(filter.Where("chatId", filter.Eq, "chat-42")))...)
	}()},
	{"normalized_go_values", filter.All(
		filter.Where("seq", filter.Ge, 1000),
		filter.Where("author.role", filter.In, []string{"admin", "mod"}),
	).Normalize()},
	{"go_values", filter.All(
		filter.Where("seq", filter.Ge, 1000),
		filter.Where("author.role", filter.In, []string{"admin", "mod"}),
	)},
}

func BenchmarkMatch(b *testing.B) {
	p := benchEvent()
	for _, bf := range benchFilters {
		b.Run(bf.name, func(b *testing.B) {
			if !bf.f.Match(p) {
				b.Fatal("filter does not match")
			}
			b.ReportAllocs()
			for b.Loop() {
				if !bf.f.Match(p) {
					b.Fatal("filter does not match")
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	data := []byte(`{"filterGroup":[{"filters":[
		{"fieldName":"chatId","operator":"eq","value":"chat-42"},
		{"fieldName":"author.role","operator":"in","value":["admin","mod"]},
		{"fieldName":"seq","operator":"between","value":[1000,2000]}]}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := filter.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	f := benchFilters[10].f
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
