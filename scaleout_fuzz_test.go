package gqlambda_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/store"
)

// FuzzDecodeRangeTask: a message body either decodes to a task that
// encodes and decodes back equal, or is refused with an error wrapping
// store.ErrInvalidEvent.
func FuzzDecodeRangeTask(f *testing.F) {
	f.Add([]byte(`{"split":"s","index":3,"topic":"T","payload":{"message":"hi"},"range":{"shard":1,"after":"a","through":"b","size":9}}`))
	f.Add([]byte(`{"split":"s","index":0,"topic":"T","range":{"size":1}}`))
	f.Add([]byte(`{"split":"","topic":"T"}`))
	f.Add([]byte(`{"split":"s","index":-1,"topic":"T"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		task, err := gqlambda.DecodeRangeTask(body)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidEvent) {
				t.Fatalf("error does not wrap ErrInvalidEvent: %v", err)
			}
			return
		}
		enc, err := gqlambda.EncodeRangeTask(task)
		if err != nil {
			t.Fatalf("a decoded task does not encode: %v", err)
		}
		again, err := gqlambda.DecodeRangeTask(enc)
		if err != nil {
			t.Fatalf("an encoded task does not decode: %v", err)
		}
		if !reflect.DeepEqual(task.Range, again.Range) || task.Split != again.Split || task.Index != again.Index || task.Topic != again.Topic {
			t.Fatalf("round trip: %+v, then %+v", task, again)
		}
	})
}
