package transportws_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/transportws"
)

// checkRoundTrip checks the codec property shared by both decoders: a frame
// is either rejected with a one-line *DecodeError and no message, or its
// message encodes to a canonical frame that decodes to an equal message and
// re-encodes to the same bytes.
func checkRoundTrip[M transportws.Message](t *testing.T, data []byte, decode func([]byte) (M, error)) {
	t.Helper()
	m, err := decode(data)
	if err != nil {
		if de, ok := errors.AsType[*transportws.DecodeError](err); !ok || de.Reason == "" || strings.ContainsAny(de.Reason, "\r\n") {
			t.Fatalf("error %q (%T) is not a one-line *DecodeError", err, err)
		}
		if !reflect.ValueOf(&m).Elem().IsNil() {
			t.Fatalf("decode returned %#v with error %v", m, err)
		}
		return
	}
	enc, err := transportws.Encode(m)
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
	again, err := transportws.Encode(back)
	if err != nil || !bytes.Equal(again, enc) {
		t.Fatalf("encoding is not canonical: %s then %s (%v)", enc, again, err)
	}
}

func FuzzDecodeClient(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, transportws.DecodeClient)
	})
}

func FuzzDecodeServer(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, transportws.DecodeServer)
	})
}

// FuzzReceive feeds every frame to a fresh and to an acknowledged connection
// and checks the invariants of the actions (see checkActions), and that the
// frame is refused with 4400 exactly when DecodeClient rejects it.
func FuzzReceive(f *testing.F) {
	var srv transportws.Server
	f.Fuzz(func(t *testing.T, frame []byte) {
		_, decodeErr := transportws.DecodeClient(frame)
		for _, state := range []protocol.State{{}, {Acknowledged: true}} {
			actions := srv.Receive(state, frame)
			checkActions(t, actions)
			last, isClose := actions[len(actions)-1].(protocol.Close)
			badRequest := isClose && last.Code == int(transportws.CloseBadRequest)
			if (decodeErr != nil) != badRequest {
				t.Fatalf("Receive(%+v, %q) = %s, DecodeClient error %v", state, frame, describe(actions), decodeErr)
			}
			if badRequest && len(actions) != 1 {
				t.Fatalf("Receive(%+v, %q) = %s: a 4400 close comes alone", state, frame, describe(actions))
			}
		}
	})
}
