// Package response encodes GraphQL responses the way the engines deliver
// them.
package response

import (
	"encoding/json"

	"github.com/gqlambda/gqlambda"
)

// Encode returns the GraphQL response holding errs, the data that appendData
// appends and extensions, in that order (errors first, as graphql-js writes
// them). An entry is left out when it has nothing: "errors" when errs is
// empty, "data" when appendData is nil (a request error, which stops before
// execution), "extensions" when extensions is empty. size is the capacity
// the encoding starts with.
func Encode(size int, errs gqlambda.Errors, appendData func(dst []byte) ([]byte, error), extensions map[string]any) ([]byte, error) {
	dst := make([]byte, 0, size)
	dst = append(dst, '{')
	sep := false
	if len(errs) > 0 {
		b, err := json.Marshal(errs)
		if err != nil {
			return nil, err
		}
		dst = append(dst, `"errors":`...)
		dst = append(dst, b...)
		sep = true
	}
	if appendData != nil {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"data":`...)
		var err error
		if dst, err = appendData(dst); err != nil {
			return nil, err
		}
		sep = true
	}
	if len(extensions) > 0 {
		b, err := json.Marshal(extensions)
		if err != nil {
			return nil, err
		}
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"extensions":`...)
		dst = append(dst, b...)
	}
	return append(dst, '}'), nil
}

// Raw returns an appendData for [Encode] that appends data, an encoded JSON
// value, as is, or null when data is nil.
func Raw(data []byte) func(dst []byte) ([]byte, error) {
	return func(dst []byte) ([]byte, error) {
		if data == nil {
			return append(dst, "null"...), nil
		}
		return append(dst, data...), nil
	}
}
