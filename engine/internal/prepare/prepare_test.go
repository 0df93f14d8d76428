package prepare_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/internal/prepare"
)

func TestSelect(t *testing.T) {
	t.Parallel()
	name := func(s string) string { return s }
	tests := []struct {
		name    string
		ops     []string
		request string
		want    string
		wantErr string
	}{
		{"the only operation", []string{"A"}, "", "A", ""},
		{"the only anonymous operation", []string{""}, "", "", ""},
		{"by name", []string{"A", "B"}, "B", "B", ""},
		{"the only operation by name", []string{"A"}, "A", "A", ""},
		{"no name among several", []string{"A", "B"}, "", "", "Must provide operation name if query contains multiple operations."},
		{"unknown name", []string{"A", "B"}, "C", "", `Unknown operation named "C".`},
		{"a name the only operation does not have", []string{"A"}, "B", "", `Unknown operation named "B".`},
		{"no operations", nil, "", "", "Must provide operation name if query contains multiple operations."},
	}
	for _, tt := range tests {
		got, unselected := prepare.Select(tt.ops, tt.request, name)
		msg := ""
		if unselected != nil {
			msg = unselected.Message
		}
		if got != tt.want || msg != tt.wantErr {
			t.Errorf("%s: Select(%q, %q) = %q, %q; want %q, %q", tt.name, tt.ops, tt.request, got, msg, tt.want, tt.wantErr)
		}
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	var parses atomic.Int32
	parse := func(query string) *prepare.Document[string] {
		parses.Add(1)
		if strings.HasPrefix(query, "bad") {
			return &prepare.Document[string]{Errs: gqlambda.Errors{{Message: "invalid " + query}}}
		}
		return &prepare.Document[string]{Ops: []string{query}}
	}
	c := prepare.NewCache(2, parse)
	a := c.Get("a")
	if a2 := c.Get("a"); a2 != a || parses.Load() != 1 {
		t.Fatalf("a second Get parsed again (%d parses)", parses.Load())
	}
	if doc := c.Get("bad"); doc.Errs == nil || doc.Errs[0].Message != "invalid bad" {
		t.Fatalf("Get(bad) = %+v, want its errors", doc)
	}
	c.Get("b") // evicts a, the least recently used
	if n := c.Len(); n != 2 {
		t.Fatalf("Len() = %d, want 2", n)
	}
	if c.Get("a") == a || parses.Load() != 4 {
		t.Fatalf("an evicted document was not parsed again (%d parses)", parses.Load())
	}
}

func TestCacheDefaultSize(t *testing.T) {
	t.Parallel()
	c := prepare.NewCache(0, func(query string) *prepare.Document[int] { return &prepare.Document[int]{} })
	for i := range prepare.DefaultCacheSize + 1 {
		c.Get(strings.Repeat("q", i+1))
	}
	if n := c.Len(); n != prepare.DefaultCacheSize {
		t.Fatalf("Len() = %d, want %d", n, prepare.DefaultCacheSize)
	}
}
