package legacyws_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
)

// checkRoundTrip checks the codec property shared by both decoders: a frame
// is either rejected with a one-line *DecodeError and no message, or its
// message encodes to a canonical frame that decodes to an equal message and
// re-encodes to the same bytes.
func checkRoundTrip[M legacyws.Message](t *testing.T, data []byte, decode func([]byte) (M, error)) {
	t.Helper()
	m, err := decode(data)
	if err != nil {
		if de, ok := errors.AsType[*legacyws.DecodeError](err); !ok || de.Reason == "" || strings.ContainsAny(de.Reason, "\r\n") {
			t.Fatalf("error %q (%T) is not a one-line *DecodeError", err, err)
		}
		if !reflect.ValueOf(&m).Elem().IsNil() {
			t.Fatalf("decode returned %#v with error %v", m, err)
		}
		return
	}
	enc, err := legacyws.Encode(m)
	if err != nil {
		t.Fatalf("Encode(%#v) of a decoded message: %v", m, err)
	}
	back, err := decode(enc)
	if err != nil {
		t.Fatalf("decode(Encode(m)) = %v\nframe %q\nencoded %s", err, data, enc)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip changed the message\nframe %q\n got %#v\nwant %#v", data, back, m)
	}
	again, err := legacyws.Encode(back)
	if err != nil || !bytes.Equal(again, enc) {
		t.Fatalf("encoding is not canonical: %s then %s (%v)", enc, again, err)
	}
}

func FuzzDecodeClient(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, legacyws.DecodeClient)
	})
}

func FuzzDecodeServer(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, legacyws.DecodeServer)
		if m, err := legacyws.DecodeServer(data); err == nil {
			if e, ok := m.(legacyws.Error); ok {
				for _, ge := range e.Errors() {
					if !json.Valid(ge) {
						t.Fatalf("Errors() of %s holds invalid JSON %q", data, ge)
					}
				}
			}
		}
	})
}

// FuzzReceive feeds every frame to a fresh and to an acknowledged connection
// and checks the invariants of the actions (see checkActions) and the rules
// of Receive against oracles that do not use the package's decoder: which
// frames earn a connection_error, which an error message, and for which id.
func FuzzReceive(f *testing.F) {
	var srv legacyws.Server
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, decodeErr := legacyws.DecodeClient(frame)
		for _, state := range []protocol.State{fresh, acked} {
			actions := srv.Receive(state, frame)
			checkActions(t, actions)
			if decodeErr != nil {
				checkInvalidReply(t, frame, decodeErr, actions)
				continue
			}
			checkValidReply(t, state, m, actions)
		}
	})
}

// checkInvalidReply checks the answer to a frame DecodeClient rejected with
// decodeErr: one Send, of a connection_error when the reference server could
// not parse the frame or it is a connection_init, otherwise of an error
// message for the frame's string id.
func checkInvalidReply(t *testing.T, frame []byte, decodeErr error, actions []protocol.Action) {
	t.Helper()
	de := decodeErrorOf(t, decodeErr)
	s, ok := actions[0].(protocol.Send)
	if len(actions) != 1 || !ok {
		t.Fatalf("Receive(%q) = %s, want one Send for an invalid frame", frame, describe(actions))
	}
	reply, err := legacyws.DecodeServer(s.Frame)
	if err != nil {
		t.Fatalf("reply %s: %v", s.Frame, err)
	}
	unparsable := len(frame) == 0 || !utf8.Valid(frame) || !json.Valid(frame) || string(bytes.Trim(frame, " \t\r\n")) == "null"
	wantConnectionError := unparsable || de.Type == legacyws.TypeConnectionInit
	switch reply := reply.(type) {
	case legacyws.ConnectionError:
		if !wantConnectionError {
			t.Fatalf("Receive(%q) = %s, want an error message", frame, s.Frame)
		}
	case legacyws.Error:
		if wantConnectionError {
			t.Fatalf("Receive(%q) = %s, want a connection_error", frame, s.Frame)
		}
		if want := stringID(frame); reply.ID != want {
			t.Fatalf("Receive(%q) = %s, want the error for id %q", frame, s.Frame, want)
		}
		msg := "Invalid message type!"
		if de.Type == legacyws.TypeStart || de.Type == legacyws.TypeStop {
			msg = de.Reason
		}
		errs := reply.Errors()
		var got struct{ Message string }
		if len(errs) != 1 || json.Unmarshal(errs[0], &got) != nil || got.Message != msg {
			t.Fatalf("Receive(%q) = %s, want the message %q", frame, s.Frame, msg)
		}
	default:
		t.Fatalf("Receive(%q) = %s, want a connection_error or an error", frame, s.Frame)
	}
}

// stringID returns the "id" of frame, a JSON object, when it is a non-empty
// string, as encoding/json reads it; otherwise "".
func stringID(frame []byte) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(frame, &obj) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(obj["id"], &id) != nil {
		return ""
	}
	return id
}

// checkValidReply checks the answer to message m, which a client sent on a
// connection in state.
func checkValidReply(t *testing.T, state protocol.State, m legacyws.ClientMessage, actions []protocol.Action) {
	t.Helper()
	var want []protocol.Action
	switch m := m.(type) {
	case legacyws.ConnectionInit:
		want = []protocol.Action{protocol.Init{Payload: m.Payload}}
		if state.Acknowledged {
			want = []protocol.Action{
				send(connectionErrorFrame("Too many initialisation requests")),
				closeWith(legacyws.CloseTooManyInitialisationRequests, "Too many initialisation requests"),
			}
		}
	case legacyws.Start:
		want = []protocol.Action{protocol.Start{ID: m.ID, Request: m.Payload}}
		if !state.Acknowledged {
			want = []protocol.Action{protocol.Send{Frame: legacyws.Server{}.AppendError(nil, m.ID, []json.RawMessage{json.RawMessage(`{"message":"Unauthorized"}`)})}}
		}
	case legacyws.Stop:
		want = []protocol.Action{protocol.Stop{ID: m.ID}}
	case legacyws.ConnectionTerminate:
		want = []protocol.Action{protocol.Terminate{}}
	default:
		t.Fatalf("DecodeClient returned %T", m)
	}
	if !reflect.DeepEqual(actions, want) {
		t.Fatalf("Receive(%+v, %#v)\n got %s\nwant %s", state, m, describe(actions), describe(want))
	}
}
