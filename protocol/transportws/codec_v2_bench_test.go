//go:build goexperiment.jsonv2

package transportws_test

import (
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"

	"github.com/gqlambda/gqlambda/protocol/transportws"
)

// The encoding/json/v2 alternatives, which Go 1.26 builds only with
// GOEXPERIMENT=jsonv2. Run them with
//
//	GOEXPERIMENT=jsonv2 go test -run '^$' -bench Codec ./protocol/...
//
// Under the experiment encoding/json itself runs on v2, so the codec and
// jsonv1 numbers of such a run are not those of a default build.

func init() {
	benchDecoders = append(benchDecoders, benchDecoder{"jsonv2", decodeClientV2, false})
	benchEncoders = append(benchEncoders,
		benchEncoder{"jsonv2-marshal", appendNextMarshalV2},
		benchEncoder{"jsonv2-append", appendNextV2})
}

// v2Options keep the last of duplicate members, as DecodeClient does (a
// later object replaces an earlier one rather than merging into it), and
// decode an escaped lone surrogate as U+FFFD, as encoding/json does (frames
// are checked to be valid UTF-8 before). Member names are matched
// case-sensitively, v2's default.
var v2Options = jsonv2.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
	json.MergeWithLegacySemantics(true),
)

type v2Frame struct {
	Type    jsontext.Value `json:"type"`
	ID      jsontext.Value `json:"id"`
	Payload jsontext.Value `json:"payload"`
}

type v2Request struct {
	Query         jsontext.Value `json:"query"`
	Variables     jsontext.Value `json:"variables"`
	OperationName jsontext.Value `json:"operationName"`
	Extensions    jsontext.Value `json:"extensions"`
}

// v2 is jsonAPI for encoding/json/v2, decoding into structs.
var v2 = jsonAPI{
	frame: func(data []byte) (typ, id, payload []byte, syntaxErr, err error) {
		var f v2Frame
		err = jsonv2.Unmarshal(data, &f, v2Options)
		if err != nil {
			// Decoding into a struct stops at a value that is no object:
			// decoding into a jsontext.Value checks the rest.
			if _, ok := errors.AsType[*jsontext.SyntacticError](err); !ok {
				if e := jsonv2.Unmarshal(data, new(jsontext.Value), v2Options); e != nil {
					err = e
				}
			}
			if _, ok := errors.AsType[*jsontext.SyntacticError](err); ok {
				return nil, nil, nil, err, nil
			}
		}
		return f.Type, f.ID, f.Payload, nil, err
	},
	request: func(payload []byte) (query, vars, name, ext []byte, err error) {
		var r v2Request
		err = jsonv2.Unmarshal(payload, &r, v2Options)
		return r.Query, r.Variables, r.OperationName, r.Extensions, err
	},
	unmarshal: func(raw []byte, v any) error { return jsonv2.Unmarshal(raw, v, v2Options) },
}

// decodeClientV2 is DecodeClient written with encoding/json/v2. It differs
// in the words of the reasons that quote the JSON package's errors.
func decodeClientV2(data []byte) (transportws.ClientMessage, error) {
	return decodeClientWith(v2, data)
}

// v2NextFrame is a next frame for jsonv2.Marshal.
type v2NextFrame struct {
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	Payload jsontext.Value `json:"payload"`
}

// appendNextMarshalV2 marshals the frame with jsonv2.Marshal, which also
// validates the result; invalid UTF-8 in the id becomes U+FFFD, as with
// AppendNext.
func appendNextMarshalV2(dst []byte, id string, result []byte) []byte {
	if len(result) == 0 {
		result = []byte("{}")
	}
	frame, err := jsonv2.Marshal(v2NextFrame{Type: transportws.TypeNext, ID: id, Payload: result}, jsontext.AllowInvalidUTF8(true))
	if err != nil {
		panic(err)
	}
	return append(dst, frame...)
}

// appendNextV2 appends the frame by hand, escaping the id with
// jsontext.AppendQuote, which never allocates but escapes minimally: it
// leaves U+2028 and U+2029 as they are, where AppendNext escapes them.
func appendNextV2(dst []byte, id string, result []byte) []byte {
	dst = append(dst, `{"type":"next","id":`...)
	dst, _ = jsontext.AppendQuote(dst, id) // invalid UTF-8 becomes U+FFFD
	dst = append(dst, `,"payload":`...)
	if len(result) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, result...)
	}
	return append(dst, '}')
}
