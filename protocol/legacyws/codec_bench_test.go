package legacyws_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
)

// This file measures the package's codec against the same decoding and
// encoding written with the standard library, on the frames a connection
// exchanges most: BenchmarkCodecDecode decodes four client frames with
// DecodeClient and with the alternatives, BenchmarkCodecNext appends data
// frames with Server.AppendNext and with the alternatives. The legacy
// protocol has no ping and no complete from a client: connection_terminate
// and stop, the frames of that size it does have, stand in for them. The
// variants are sub-benchmarks named impl=...; codec_v2_bench_test.go adds
// encoding/json/v2 ones when built with GOEXPERIMENT=jsonv2.
// docs/protocol-codec.md holds the numbers.

// benchQuery is a subscription document of about 200 bytes.
const benchQuery = "subscription OnMessageAdded($room: ID!, $first: Int) {\n  messageAdded(room: $room, first: $first) {\n    id\n    text\n    createdAt\n    pinned\n    author {\n      id\n      name\n      avatarUrl\n    }\n  }\n}"

// benchFrames are the client frames BenchmarkCodecDecode decodes.
var benchFrames = []struct{ name, frame string }{
	{"start", `{"id":"1","type":"start","payload":{"query":` + strconv.Quote(benchQuery) + `,"variables":{"room":"general","first":20},"operationName":"OnMessageAdded"}}`},
	{"connection_init", `{"type":"connection_init","payload":{"authToken":"eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo"}}`},
	{"connection_terminate", `{"type":"connection_terminate","payload":null}`},
	{"stop", `{"id":"1","type":"stop"}`},
}

// benchDecoder is an implementation of DecodeClient.
type benchDecoder struct {
	name   string
	decode func([]byte) (legacyws.ClientMessage, error)
	// foldsNames reports an implementation that matches member names
	// case-insensitively, as encoding/json does decoding into a struct, and
	// so breaks a rule of DecodeClient: it is measured only as the bound of
	// what encoding/json could do.
	foldsNames bool
}

// benchDecoders are the implementations BenchmarkCodecDecode compares.
var benchDecoders = []benchDecoder{
	{"codec", legacyws.DecodeClient, false},
	{"jsonv1", decodeClientV1, false},
	{"jsonv1-struct", decodeClientV1Struct, true},
}

func BenchmarkCodecDecode(b *testing.B) {
	if n := len(benchQuery); n < 190 || n > 210 {
		b.Fatalf("query is %d bytes, want about 200", n)
	}
	for _, f := range benchFrames {
		frame := []byte(f.frame)
		want, err := legacyws.DecodeClient(frame)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range benchDecoders {
			b.Run("frame="+f.name+"/impl="+d.name, func(b *testing.B) {
				if got, err := d.decode(frame); err != nil || !reflect.DeepEqual(got, want) {
					b.Fatalf("%s decodes %#v, %v; want %#v", d.name, got, err, want)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(frame)))
				for b.Loop() {
					if _, err := d.decode(frame); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchID is the operation id of the data frames BenchmarkCodecNext appends.
const benchID = "2d1b7a6e-5c3f-4f57-9a55-0c0f6b7f1c2e"

// benchResults are the frames BenchmarkCodecNext appends: encoded
// execution results of about 80 bytes and 2 KB for a UUID, and the small
// one for an id that needs escaping.
var benchResults = []struct {
	name   string
	id     string
	result []byte
}{
	{"80B", benchID, []byte(`{"data":{"messageAdded":{"id":"m-41","text":"hello","author":{"name":"Ada L."}}}}`)},
	{"2KB", benchID, bigResult()},
	{"80B-escaped-id", "op \"é\" \\ \n 😀", []byte(`{"data":{"messageAdded":{"id":"m-41","text":"hello","author":{"name":"Ada L."}}}}`)},
}

// bigResult returns a 2,000-byte execution result: a page of 16 messages.
func bigResult() []byte {
	b := []byte(`{"data":{"messages":[`)
	for i := range 16 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"m-`...)
		b = strconv.AppendInt(b, int64(1000+i), 10)
		b = append(b, `","text":"a message of some length, as a chat sends them","author":{"id":"u-7","name":"Ada"}}`...)
	}
	b = append(b, "]}}"...)
	if pad := 2000 - len(b); pad > 0 { // a padding member keeps the size exact
		b = append(b[:len(b)-1], `,"x":"`...)
		b = append(b, strings.Repeat("x", max(pad-7, 0))...)
		b = append(b, `"}`...)
	}
	return b
}

// benchEncoder is an implementation of Server.AppendNext: it appends to dst
// and returns it, maybe reallocated.
type benchEncoder struct {
	name   string
	append func(dst []byte, id string, result []byte) []byte
}

// benchEncoders are the implementations BenchmarkCodecNext compares.
var benchEncoders = []benchEncoder{
	{"codec", legacyws.Server{}.AppendNext},
	{"jsonv1-marshal", appendNextMarshalV1},
	{"jsonv1-append", appendNextV1},
}

func BenchmarkCodecNext(b *testing.B) {
	if n := len(benchResults[0].result); n < 70 || n > 90 {
		b.Fatalf("small result is %d bytes, want about 80", n)
	}
	if n := len(benchResults[1].result); n != 2000 {
		b.Fatalf("big result is %d bytes, want 2000", n)
	}
	for _, r := range benchResults {
		want := legacyws.Server{}.AppendNext(nil, r.id, r.result)
		for _, e := range benchEncoders {
			b.Run("result="+r.name+"/impl="+e.name, func(b *testing.B) {
				buf := make([]byte, 0, 4096)
				if got := e.append(buf[:0], r.id, r.result); !bytes.Equal(got, want) {
					b.Fatalf("%s appends %s, want %s", e.name, got, want)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(r.result)))
				for b.Loop() {
					buf = e.append(buf[:0], r.id, r.result)
				}
			})
		}
	}
}

// TestCodecAlternatives checks that the alternatives the benchmarks measure
// decode as DecodeClient does, on the benchmark frames, the client fixtures
// and the seed corpus of FuzzDecodeClient, and append frames that decode as
// those of AppendNext do, so that the benchmarks compare like with like.
func TestCodecAlternatives(t *testing.T) {
	t.Parallel()
	frames := corpus(t)
	if len(frames) < 40 {
		t.Fatalf("found %d frames, want at least 40", len(frames))
	}
	for _, frame := range frames {
		for _, d := range benchDecoders[1:] {
			if !d.foldsNames {
				checkSameDecode(t, d, frame)
			}
		}
	}
	// The frames must decode alike; the bytes may differ where escaping
	// may (and does, between encoding/json and its v1 on top of v2).
	for _, id := range []string{benchID, "1", "a\"b\\c\n<>&\u2028\x01", "a\xffb"} {
		for _, r := range benchResults {
			want, err := legacyws.DecodeServer(legacyws.Server{}.AppendNext(nil, id, r.result))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range benchEncoders[1:] {
				frame := e.append(nil, id, r.result)
				if got, err := legacyws.DecodeServer(frame); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s(%q) appends a frame that decodes to %#v, %v; want %#v", e.name, id, got, err, want)
				}
			}
		}
	}
}

// FuzzCodecAlternatives checks that the alternatives decode every frame as
// DecodeClient does.
func FuzzCodecAlternatives(f *testing.F) {
	for _, frame := range corpus(f) {
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, d := range benchDecoders[1:] {
			if !d.foldsNames {
				checkSameDecode(t, d, frame)
			}
		}
	})
}

// checkSameDecode checks that d, an alternative to DecodeClient, returns the
// same message for frame, or an error with the same type and reason. The
// reasons that quote the JSON package's own error, whose words are the
// package's, only have to start alike for an encoding/json/v2 alternative.
func checkSameDecode(t *testing.T, d benchDecoder, frame []byte) {
	t.Helper()
	want, wantErr := legacyws.DecodeClient(frame)
	got, err := d.decode(frame)
	if wantErr != nil {
		we, _ := errors.AsType[*legacyws.DecodeError](wantErr)
		ge, ok := errors.AsType[*legacyws.DecodeError](err)
		same := ok && got == nil && ge.Type == we.Type && ge.ID == we.ID
		if strings.HasPrefix(d.name, "jsonv2") && we.Err != nil {
			prefix, _, _ := strings.Cut(we.Reason, ": ")
			same = same && strings.HasPrefix(ge.Reason, prefix) && ge.Err != nil
		} else {
			same = same && ge.Reason == we.Reason && reflect.TypeOf(ge.Err) == reflect.TypeOf(we.Err)
		}
		if !same {
			t.Fatalf("%s(%q) = %#v, %v; DecodeClient fails with %#v", d.name, frame, got, err, we)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s(%q) = %#v, %v; DecodeClient gives %#v", d.name, frame, got, err, want)
	}
}

// corpus returns the benchmark frames, the client fixtures and the seed
// corpus of FuzzDecodeClient.
func corpus(tb testing.TB) [][]byte {
	var frames [][]byte
	for _, f := range benchFrames {
		frames = append(frames, []byte(f.frame))
	}
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "frames", "client-*.json"))
	for _, path := range fixtures {
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		frames = append(frames, data)
	}
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeClient", "*"))
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		// A seed file is "go test fuzz v1" and one line []byte("...").
		_, line, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
		lit, ok := strings.CutPrefix(line, "[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")")
		s, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			tb.Fatalf("%s: cannot read the seed %q", path, line)
		}
		frames = append(frames, []byte(s))
	}
	return frames
}

// The alternatives decode with the standard library alone, following the
// rules of DecodeClient to the letter, reasons included. A jsonAPI is what
// they need of a JSON package; decodeClientWith holds the rules.

// jsonAPI finds the members of frames and decodes values with one JSON
// package. Absent members are nil.
type jsonAPI struct {
	// frame returns the "type", "id" and "payload" members of data, or a
	// syntax error when data is not JSON. For JSON that is not an object it
	// returns anything but a syntax error.
	frame func(data []byte) (typ, id, payload []byte, syntaxErr, err error)
	// request returns the members of payload, a JSON object, that a
	// GraphQL request may have.
	request func(payload []byte) (query, vars, name, ext []byte, err error)
	// unmarshal decodes raw, one valid JSON value, into v.
	unmarshal func(raw []byte, v any) error
}

// v1 is jsonAPI for encoding/json. json.Unmarshal into a map keeps the last
// of duplicate members and matches names case-sensitively, as DecodeClient
// does; decoding into a struct would match them case-insensitively.
var v1 = jsonAPI{
	frame: func(data []byte) (typ, id, payload []byte, syntaxErr, err error) {
		var m map[string]json.RawMessage
		err = json.Unmarshal(data, &m)
		if _, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, nil, nil, err, nil
		}
		return m["type"], m["id"], m["payload"], nil, err
	},
	request: func(payload []byte) (query, vars, name, ext []byte, err error) {
		var m map[string]json.RawMessage
		err = json.Unmarshal(payload, &m)
		return m["query"], m["variables"], m["operationName"], m["extensions"], err
	},
	unmarshal: json.Unmarshal,
}

// v1Struct is jsonAPI for encoding/json decoding into structs, which match
// member names case-insensitively: {"type":"ping","TYPE":"pong"} is a pong.
var v1Struct = jsonAPI{
	frame: func(data []byte) (typ, id, payload []byte, syntaxErr, err error) {
		var f struct {
			Type    json.RawMessage `json:"type"`
			ID      json.RawMessage `json:"id"`
			Payload json.RawMessage `json:"payload"`
		}
		err = json.Unmarshal(data, &f)
		if _, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, nil, nil, err, nil
		}
		return f.Type, f.ID, f.Payload, nil, err
	},
	request: func(payload []byte) (query, vars, name, ext []byte, err error) {
		var r struct {
			Query         json.RawMessage `json:"query"`
			Variables     json.RawMessage `json:"variables"`
			OperationName json.RawMessage `json:"operationName"`
			Extensions    json.RawMessage `json:"extensions"`
		}
		err = json.Unmarshal(payload, &r)
		return r.Query, r.Variables, r.OperationName, r.Extensions, err
	},
	unmarshal: json.Unmarshal,
}

// decodeClientV1Struct is decodeClientV1 decoding into structs.
func decodeClientV1Struct(data []byte) (legacyws.ClientMessage, error) {
	return decodeClientWith(v1Struct, data)
}

// decodeClientV1 is DecodeClient written with encoding/json.
func decodeClientV1(data []byte) (legacyws.ClientMessage, error) {
	return decodeClientWith(v1, data)
}

// altInvalid returns the DecodeError for a frame of type typ.
func altInvalid(typ, reason string, err error) *legacyws.DecodeError {
	return &legacyws.DecodeError{Type: typ, Reason: reason, Err: err}
}

// kindOf names the kind of the JSON value raw, valid JSON, starts with.
func kindOf(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	}
	return "number"
}

// quoteType quotes a message type for a reason, cut to 32 bytes.
func quoteType(typ string) string {
	if len(typ) <= 32 {
		return strconv.Quote(typ)
	}
	cut := 32
	for cut > 0 && !utf8.RuneStart(typ[cut]) {
		cut--
	}
	return strconv.Quote(typ[:cut]) + "..."
}

// allTypes are the message types of the protocol.
var allTypes = []string{
	legacyws.TypeConnectionInit, legacyws.TypeStart, legacyws.TypeStop, legacyws.TypeConnectionTerminate,
	legacyws.TypeConnectionAck, legacyws.TypeConnectionError, legacyws.TypeKeepAlive, legacyws.TypeData,
	legacyws.TypeError, legacyws.TypeComplete,
}

// decodeClientWith decodes data as DecodeClient does, with api.
func decodeClientWith(api jsonAPI, data []byte) (legacyws.ClientMessage, error) {
	if len(data) == 0 {
		return nil, altInvalid("", "message is empty", nil)
	}
	if !utf8.Valid(data) {
		return nil, altInvalid("", "message is not valid UTF-8", nil)
	}
	rawType, rawID, rawPayload, syntaxErr, _ := api.frame(data)
	if syntaxErr != nil {
		return nil, altInvalid("", "message is not valid JSON: "+syntaxErr.Error(), syntaxErr)
	}
	if k := kindOf(data); k != "object" {
		return nil, altInvalid("", "message must be a JSON object, got "+k, nil)
	}
	m, bad := decodeMessageWith(api, rawType, rawID, rawPayload)
	if bad != nil {
		if kindOf(rawID) == "string" { // the id of a frame that is an object
			_ = api.unmarshal(rawID, &bad.ID)
		}
		return nil, bad
	}
	return m, nil
}

// decodeMessageWith decodes a client message from the members of a frame.
func decodeMessageWith(api jsonAPI, rawType, rawID, rawPayload []byte) (legacyws.ClientMessage, *legacyws.DecodeError) {
	typ, bad := altType(api, rawType)
	if bad != nil {
		return nil, bad
	}
	switch typ {
	case legacyws.TypeConnectionInit:
		payload, bad := altOptionalPayload(typ, rawPayload)
		if bad != nil {
			return nil, bad
		}
		return legacyws.ConnectionInit{Payload: payload}, nil
	case legacyws.TypeStart:
		id, bad := altID(api, typ, rawID)
		if bad != nil {
			return nil, bad
		}
		req, bad := altRequest(api, typ, rawPayload)
		if bad != nil {
			return nil, bad
		}
		return legacyws.Start{ID: id, Payload: req}, nil
	case legacyws.TypeStop:
		id, bad := altID(api, typ, rawID)
		if bad != nil {
			return nil, bad
		}
		return legacyws.Stop{ID: id}, nil
	case legacyws.TypeConnectionTerminate:
		return legacyws.ConnectionTerminate{}, nil
	}
	return nil, altInvalid(typ, quoteType(typ)+" is a server message, a client may not send it", nil)
}

// altType returns the message type raw, the "type" member, names.
func altType(api jsonAPI, raw []byte) (string, *legacyws.DecodeError) {
	if raw == nil {
		return "", altInvalid("", `message has no "type"`, nil)
	}
	for _, t := range allTypes { // the usual spelling needs no decoding
		if len(raw) == len(t)+2 && raw[0] == '"' && string(raw[1:len(raw)-1]) == t {
			return t, nil
		}
	}
	if k := kindOf(raw); k != "string" {
		return "", altInvalid("", `message "type" must be a string, got `+k, nil)
	}
	var s string
	if err := api.unmarshal(raw, &s); err != nil {
		return "", altInvalid("", `message "type" cannot be decoded: `+err.Error(), err)
	}
	for _, t := range allTypes {
		if s == t {
			return t, nil
		}
	}
	if s == "" {
		return "", altInvalid("", `message "type" is empty`, nil)
	}
	return "", altInvalid("", "unknown message type "+quoteType(s), nil)
}

// altID returns the non-empty string id raw, the "id" member, holds.
func altID(api jsonAPI, typ string, raw []byte) (string, *legacyws.DecodeError) {
	if raw == nil {
		return "", altInvalid(typ, quoteType(typ)+` message has no "id"`, nil)
	}
	if k := kindOf(raw); k != "string" {
		return "", altInvalid(typ, quoteType(typ)+` message "id" must be a string, got `+k, nil)
	}
	var id string
	if err := api.unmarshal(raw, &id); err != nil {
		return "", altInvalid(typ, quoteType(typ)+` message "id" cannot be decoded: `+err.Error(), err)
	}
	if id == "" {
		return "", altInvalid(typ, quoteType(typ)+` message "id" must not be empty`, nil)
	}
	return id, nil
}

// compact returns raw, valid JSON that the JSON package copied out of the
// frame, without insignificant white space.
func compact(raw []byte) json.RawMessage {
	if !bytes.ContainsAny(raw, " \t\r\n") {
		return raw
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// altOptionalPayload returns the payload raw holds: nil when absent or null.
func altOptionalPayload(typ string, raw []byte) (json.RawMessage, *legacyws.DecodeError) {
	if raw == nil {
		return nil, nil
	}
	switch k := kindOf(raw); k {
	case "null":
		return nil, nil
	case "object":
		return compact(raw), nil
	default:
		return nil, altInvalid(typ, quoteType(typ)+` message "payload" must be an object or null, got `+k, nil)
	}
}

// altRequest decodes the GraphQL request in raw, the "payload" member.
func altRequest(api jsonAPI, typ string, raw []byte) (protocol.Request, *legacyws.DecodeError) {
	var req protocol.Request
	if raw == nil {
		return req, altInvalid(typ, quoteType(typ)+` message has no "payload"`, nil)
	}
	if k := kindOf(raw); k != "object" {
		return req, altInvalid(typ, quoteType(typ)+` message "payload" must be an object, got `+k, nil)
	}
	bad := func(reason string, err error) (protocol.Request, *legacyws.DecodeError) {
		return protocol.Request{}, altInvalid(typ, quoteType(typ)+" payload "+reason, err)
	}
	q, vars, name, ext, err := api.request(raw)
	if err != nil {
		return bad("cannot be decoded: "+err.Error(), err)
	}
	if q == nil {
		return bad(`has no "query"`, nil)
	}
	if k := kindOf(q); k != "string" {
		return bad(`"query" must be a string, got `+k, nil)
	}
	if err := api.unmarshal(q, &req.Query); err != nil {
		return bad(`"query" cannot be decoded: `+err.Error(), err)
	}
	if vars != nil {
		switch k := kindOf(vars); k {
		case "null":
		case "object":
			if err := api.unmarshal(vars, &req.Variables); err != nil {
				return bad(`"variables" cannot be decoded: `+err.Error(), err)
			}
		default:
			return bad(`"variables" must be an object or null, got `+k, nil)
		}
	}
	if name != nil {
		switch k := kindOf(name); k {
		case "null":
		case "string":
			if err := api.unmarshal(name, &req.OperationName); err != nil {
				return bad(`"operationName" cannot be decoded: `+err.Error(), err)
			}
		default:
			return bad(`"operationName" must be a string or null, got `+k, nil)
		}
	}
	if ext != nil {
		switch k := kindOf(ext); k {
		case "null":
		case "object":
			if err := api.unmarshal(ext, &req.Extensions); err != nil {
				return bad(`"extensions" cannot be decoded: `+err.Error(), err)
			}
		default:
			return bad(`"extensions" must be an object or null, got `+k, nil)
		}
	}
	return req, nil
}

// v1DataFrame is a data frame for json.Marshal.
type v1DataFrame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// appendNextMarshalV1 marshals the frame with json.Marshal, which also
// validates and compacts the result, and escapes <, > and & in strings.
func appendNextMarshalV1(dst []byte, id string, result []byte) []byte {
	if len(result) == 0 {
		result = []byte("{}")
	}
	frame, err := json.Marshal(v1DataFrame{Type: legacyws.TypeData, ID: id, Payload: result})
	if err != nil {
		panic(err)
	}
	return append(dst, frame...)
}

// appendNextV1 appends the frame by hand, leaving the escaping of the id to
// encoding/json: as is when it holds only printable ASCII other than " and
// \, otherwise through an Encoder without HTML escaping, which is how
// AppendNext escapes it.
func appendNextV1(dst []byte, id string, result []byte) []byte {
	dst = append(dst, `{"type":"data","id":`...)
	dst = v1AppendString(dst, id)
	dst = append(dst, `,"payload":`...)
	if len(result) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, result...)
	}
	return append(dst, '}')
}

// v1AppendString appends s as a JSON string, escaped by encoding/json with
// HTML escaping off.
func v1AppendString(dst []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b := bytes.NewBuffer(dst)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	out := b.Bytes()
	return out[:len(out)-1] // Encode ends with a newline
}
