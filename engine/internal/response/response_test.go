package response_test

import (
	"errors"
	"testing"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/internal/response"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	errs := gqlambda.Errors{{Message: "bad", Path: []any{"a", 0}}}
	ext := map[string]any{"cost": 1}
	tests := []struct {
		name string
		errs gqlambda.Errors
		data func([]byte) ([]byte, error)
		ext  map[string]any
		want string
	}{
		{"data only", nil, response.Raw([]byte(`{"a":1}`)), nil, `{"data":{"a":1}}`},
		{"null data", nil, response.Raw(nil), nil, `{"data":null}`},
		{"errors before data", errs, response.Raw([]byte(`null`)), nil, `{"errors":[{"message":"bad","path":["a",0]}],"data":null}`},
		{"a request error has no data", errs, nil, nil, `{"errors":[{"message":"bad","path":["a",0]}]}`},
		{"extensions last", errs, response.Raw([]byte(`{}`)), ext, `{"errors":[{"message":"bad","path":["a",0]}],"data":{},"extensions":{"cost":1}}`},
		{"extensions without errors", nil, response.Raw([]byte(`{}`)), ext, `{"data":{},"extensions":{"cost":1}}`},
		{"extensions without data", errs, nil, ext, `{"errors":[{"message":"bad","path":["a",0]}],"extensions":{"cost":1}}`},
		{"empty extensions are left out", nil, response.Raw([]byte(`{}`)), map[string]any{}, `{"data":{}}`},
	}
	for _, tt := range tests {
		got, err := response.Encode(0, tt.errs, tt.data, tt.ext)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: Encode = %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}
}

func TestEncodeFails(t *testing.T) {
	t.Parallel()
	failure := errors.New("cannot write")
	if _, err := response.Encode(0, nil, func([]byte) ([]byte, error) { return nil, failure }, nil); !errors.Is(err, failure) {
		t.Errorf("a failing data writer gives %v, want its error", err)
	}
	if _, err := response.Encode(0, nil, response.Raw(nil), map[string]any{"f": func() {}}); err == nil {
		t.Error("extensions encoding/json cannot encode gave no error")
	}
	if _, err := response.Encode(0, gqlambda.Errors{{Message: "x", Extensions: map[string]any{"c": make(chan int)}}}, nil, nil); err == nil {
		t.Error("errors encoding/json cannot encode gave no error")
	}
}
