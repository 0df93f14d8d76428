// Package prepare is what the engines share in preparing an operation: a
// bounded cache of parsed and validated documents, so that a warm Lambda
// parses each distinct document once, and the choice of the operation a
// request names.
package prepare

import (
	"fmt"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/internal/lru"
)

// DefaultCacheSize is how many documents a [Cache] holds when its size is not
// set.
const DefaultCacheSize = 1000

// Document is a parsed and validated GraphQL document: the errors that make
// it invalid, or its operations, of an engine's type O.
type Document[O any] struct {
	// Errs are the parse or validation errors; nil when the document is
	// valid.
	Errs gqlambda.Errors
	// Ops are the operations of a valid document, in document order.
	Ops []O
}

// Cache holds the documents of the most recently prepared queries. It is safe
// for concurrent use.
type Cache[O any] struct {
	docs  *lru.Cache[string, *Document[O]]
	parse func(query string) *Document[O]
}

// NewCache returns a cache of size documents, or [DefaultCacheSize] when size
// is not positive, that parses a query it does not hold with parse.
func NewCache[O any](size int, parse func(query string) *Document[O]) *Cache[O] {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Cache[O]{docs: lru.New[string, *Document[O]](size), parse: parse}
}

// Get returns the document of query, parsing it when the cache does not hold
// it. Concurrent calls for a query the cache does not hold may each parse it.
func (c *Cache[O]) Get(query string) *Document[O] {
	if doc, ok := c.docs.Get(query); ok {
		return doc
	}
	doc := c.parse(query)
	c.docs.Add(query, doc)
	return doc
}

// Len returns how many documents the cache holds.
func (c *Cache[O]) Len() int { return c.docs.Len() }

// Select returns the operation of ops, the operations of a valid document,
// that a request naming the operation name selects: the only operation when
// name is empty, otherwise the one nameOf names name. When the request
// selects none, it returns instead the GraphQL error to report, worded as
// graphql-js words it.
func Select[O any](ops []O, name string, nameOf func(O) string) (O, *gqlambda.Error) {
	var none O
	if name == "" {
		if len(ops) != 1 {
			return none, &gqlambda.Error{Message: "Must provide operation name if query contains multiple operations."}
		}
		return ops[0], nil
	}
	for _, op := range ops {
		if nameOf(op) == name {
			return op, nil
		}
	}
	return none, &gqlambda.Error{Message: fmt.Sprintf("Unknown operation named %q.", name)}
}
