package legacyws_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
)

// The files in testdata/frames and testdata/reference-replies.json are real
// frames of subscriptions-transport-ws 0.11.0 (with graphql 15.11.0 and ws
// 7.5.14, on Node.js 20). They were captured once by a Node.js script, run
// outside this repository, that started the library's SubscriptionServer on a
// ws server whose sockets recorded every frame in both directions, and drove
// it with the library's SubscriptionClient:
//
//   - a client with connectionParams {authToken, x-client} ran a subscription
//     with variables and operationName, a query given as a parsed document
//     (which the client prints), a subscription failing validation, one with
//     a syntax error, a query with extensions, and a subscription it then
//     unsubscribed from, and closed (stop, then connection_terminate);
//   - a client whose onConnect answer is false (connection_error);
//   - a client whose connectionParams function throws (the client then sends
//     connection_error itself);
//   - a client with default options, whose start went out before the
//     server's connection_ack (the reference client does not wait for it);
//   - a plain ws socket sending frames the server does not accept, recording
//     each with the server's reply (reference-replies.json).
//
// client-*.json files are frames the client sent, server-*.json files frames
// the server sent. Both are kept byte for byte as captured.

// capturedFrames is what each captured frame decodes to.
var capturedFrames = map[string]legacyws.Message{
	"client-connection_init.json":         legacyws.ConnectionInit{Payload: raw(`{"authToken":"secret","x-client":"capture"}`)},
	"client-connection_init-default.json": legacyws.ConnectionInit{Payload: raw(`{}`)},
	"client-start.json": legacyws.Start{ID: "1", Payload: protocol.Request{
		Query: "subscription Ticks($n: Int) { tick(n: $n) }", OperationName: "Ticks", Variables: map[string]any{"n": 2.0},
	}},
	"client-start-document.json": legacyws.Start{ID: "2", Payload: protocol.Request{Query: "{\n  hello\n}\n"}},
	"client-start-extensions.json": legacyws.Start{ID: "5", Payload: protocol.Request{
		Query: "query Q { hello }", OperationName: "Q", Variables: map[string]any{},
		Extensions: map[string]any{"persistedQuery": map[string]any{"version": 1.0, "sha256Hash": "abc"}},
	}},
	"client-stop.json":                   legacyws.Stop{ID: "6"},
	"client-connection_terminate.json":   legacyws.ConnectionTerminate{},
	"server-connection_ack.json":         legacyws.ConnectionAck{},
	"server-ka.json":                     legacyws.KeepAlive{},
	"server-data.json":                   legacyws.Data{ID: "1", Payload: raw(`{"data":{"tick":1}}`)},
	"server-data-errors.json":            legacyws.Data{ID: "3", Payload: raw(`{"errors":[{"message":"Cannot query field \"nope\" on type \"Subscription\".","locations":[{"line":1,"column":16}]}]}`)},
	"server-complete.json":               legacyws.Complete{ID: "1"},
	"server-error.json":                  legacyws.Error{ID: "4", Payload: raw(`{"message":"Syntax Error: Expected Name, found <EOF>."}`)},
	"server-error-invalid-type.json":     legacyws.Error{Payload: raw(`{"message":"Invalid message type!"}`)},
	"server-connection_error.json":       legacyws.ConnectionError{Payload: raw(`{"message":"Prohibited connection!"}`)},
	"server-connection_error-parse.json": legacyws.ConnectionError{Payload: raw(`{"message":"Unexpected token 'o', \"not json\" is not valid JSON"}`)},
}

func TestCapturedFrames(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob(filepath.Join("testdata", "frames", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	var want []string
	for name := range capturedFrames {
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("testdata/frames holds %v, the test knows %v", names, want)
	}
	var srv legacyws.Server
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("testdata", "frames", name))
			if err != nil {
				t.Fatal(err)
			}
			var m legacyws.Message
			if strings.HasPrefix(name, "client-") {
				m, err = legacyws.DecodeClient(data)
			} else {
				m, err = legacyws.DecodeServer(data)
			}
			if err != nil {
				t.Fatalf("decode %s: %v", data, err)
			}
			if !reflect.DeepEqual(m, capturedFrames[name]) {
				t.Fatalf("decode %s\n got %#v\nwant %#v", data, m, capturedFrames[name])
			}
			if _, ok := m.(legacyws.ClientMessage); ok {
				// Every frame the client sends is one the server acts on.
				for _, state := range []protocol.State{fresh, acked} {
					actions := srv.Receive(state, data)
					checkActions(t, actions)
					if _, isSend := actions[0].(protocol.Send); isSend && state.Acknowledged && m.Type() != legacyws.TypeConnectionInit {
						t.Errorf("Receive(acked, %s) = %s, want an action", data, describe(actions))
					}
				}
			}
		})
	}
}

// referenceDeviations are the frames Server answers differently from the
// reference server, each with the answer Server gives.
var referenceDeviations = map[string][]protocol.Action{
	// The reference server ignores a stop without id; Server tells the client
	// what was wrong (clients ignore errors for no operation).
	`{"type":"stop"}`: {send(errorFrame("", `\"stop\" message has no \"id\"`))},
	// The reference server reruns onConnect and acknowledges again; Server
	// does not rerun the connection_init hook on a live connection.
	`{"type":"connection_init","payload":{}}`: {
		send(connectionErrorFrame("Too many initialisation requests")),
		closeWith(legacyws.CloseTooManyInitialisationRequests, "Too many initialisation requests"),
	},
}

// TestReferenceReplies checks that Server answers every frame the reference
// server does not accept with a message of the same type, for the same
// operation, and that DecodeServer accepts the reference server's replies.
func TestReferenceReplies(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "reference-replies.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pairs []struct {
		State string  `json:"state"`
		Frame string  `json:"frame"`
		Reply *string `json:"reply"`
	}
	if err := json.Unmarshal(data, &pairs); err != nil {
		t.Fatal(err)
	}
	if len(pairs) < 10 {
		t.Fatalf("found %d pairs, want at least 10", len(pairs))
	}
	var srv legacyws.Server
	deviations := 0
	for _, p := range pairs {
		state := fresh
		if p.State == "acked" {
			state = acked
		}
		got := srv.Receive(state, []byte(p.Frame))
		checkActions(t, got)
		if want, ok := referenceDeviations[p.Frame]; ok {
			deviations++
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Receive(%s, %s)\n got %s\nwant %s", p.State, p.Frame, describe(got), describe(want))
			}
			continue
		}
		if p.Reply == nil {
			t.Errorf("the reference server did not answer %s; the test expects a deviation", p.Frame)
			continue
		}
		ref, err := legacyws.DecodeServer([]byte(*p.Reply))
		if err != nil {
			t.Errorf("DecodeServer(%s) of a reference reply: %v", *p.Reply, err)
			continue
		}
		s, ok := got[0].(protocol.Send)
		if len(got) != 1 || !ok {
			t.Errorf("Receive(%s, %s) = %s, want one Send like %s", p.State, p.Frame, describe(got), *p.Reply)
			continue
		}
		ours, err := legacyws.DecodeServer(s.Frame)
		if err != nil {
			t.Fatal(err)
		}
		if ours.Type() != ref.Type() || messageID(ours) != messageID(ref) {
			t.Errorf("Receive(%s, %s) = %s, the reference server answers %s", p.State, p.Frame, s.Frame, *p.Reply)
		}
		if strings.Contains(*p.Reply, "Invalid message type!") && !strings.Contains(string(s.Frame), `"message":"Invalid message type!"`) {
			t.Errorf("Receive(%s, %s) = %s, want the reference server's words", p.State, p.Frame, s.Frame)
		}
	}
	if deviations != len(referenceDeviations) {
		t.Errorf("met %d of %d documented deviations", deviations, len(referenceDeviations))
	}
}
