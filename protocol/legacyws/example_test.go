package legacyws_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
)

// printActions prints actions one a line, frames as text.
func printActions(actions []protocol.Action) {
	for _, a := range actions {
		switch a := a.(type) {
		case protocol.Send:
			fmt.Printf("send %s\n", a.Frame)
		case protocol.Close:
			fmt.Printf("close %d %s\n", a.Code, a.Reason)
		case protocol.Init:
			fmt.Printf("init %s\n", a.Payload)
		case protocol.Start:
			fmt.Printf("start %s %q\n", a.ID, a.Request.Query)
		default:
			fmt.Printf("%T %+v\n", a, a)
		}
	}
}

func ExampleServer_Receive() {
	var srv legacyws.Server
	var state protocol.State // a new connection

	// connection_init asks the gqlambda server to run its hook, whose
	// decision comes back through Accept or Refuse.
	printActions(srv.Receive(state, []byte(`{"type":"connection_init","payload":{"authToken":"t"}}`)))

	// The client does not wait for connection_ack: a start handled before the
	// acknowledgement fails alone, and the connection stays open.
	printActions(srv.Receive(state, []byte(`{"id":"1","type":"start","payload":{"query":"subscription { tick }"}}`)))

	state, actions := srv.Accept(state, nil)
	printActions(actions)

	// Once acknowledged, start starts an operation and stop stops it.
	printActions(srv.Receive(state, []byte(`{"id":"2","type":"start","payload":{"query":"subscription { tick }"}}`)))
	printActions(srv.Receive(state, []byte(`{"id":"2","type":"stop"}`)))

	// A frame the server cannot use is answered as the reference server
	// answers it, without closing the connection.
	printActions(srv.Receive(state, []byte(`{"type":"data","id":"2","payload":{}}`)))
	printActions(srv.Receive(state, []byte(`not json`)))

	printActions(srv.Receive(state, []byte(`{"type":"connection_terminate","payload":null}`)))

	// Output:
	// init {"authToken":"t"}
	// send {"type":"error","id":"1","payload":{"message":"Unauthorized","errors":[{"message":"Unauthorized"}]}}
	// send {"type":"connection_ack"}
	// start 2 "subscription { tick }"
	// protocol.Stop {ID:2}
	// send {"type":"error","id":"2","payload":{"message":"Invalid message type!","errors":[{"message":"Invalid message type!"}]}}
	// send {"type":"connection_error","payload":{"message":"message is not valid JSON: invalid character 'o' in literal null (expecting 'u')"}}
	// protocol.Terminate {}
}

func ExampleServer_Refuse() {
	var srv legacyws.Server
	printActions(srv.Refuse())
	// Output:
	// send {"type":"connection_error","payload":{"message":"Forbidden"}}
	// close 4403 Forbidden
}

func ExampleDecodeClient() {
	m, err := legacyws.DecodeClient([]byte(`{"id":"7","type":"start","payload":{"query":"query Q { a }","operationName":"Q","variables":{"n":1}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	switch m := m.(type) {
	case legacyws.Start:
		fmt.Println(m.ID, m.Payload.OperationName, m.Payload.Variables)
	}
	frame, _ := legacyws.Encode(m)
	fmt.Printf("%s\n", frame)

	_, err = legacyws.DecodeClient([]byte(`{"id":"8","type":"start","payload":{"query":{"kind":"Document"}}}`))
	var de *legacyws.DecodeError
	if errors.As(err, &de) {
		fmt.Println(de.Type, de.ID, "-", de.Reason)
	}

	// Output:
	// 7 Q map[n:1]
	// {"type":"start","id":"7","payload":{"query":"query Q { a }","operationName":"Q","variables":{"n":1}}}
	// start 8 - "start" payload "query" must be a string, got object
}

func ExampleServer_AppendError() {
	var srv legacyws.Server
	buf := make([]byte, 0, 256) // reused for every delivery
	buf = srv.AppendNext(buf[:0], "1", []byte(`{"data":{"tick":1}}`))
	fmt.Printf("%s\n", buf)
	buf = srv.AppendError(buf[:0], "1", []json.RawMessage{
		json.RawMessage(`{"message":"a"}`),
		json.RawMessage(`{"message":"b"}`),
	})
	fmt.Printf("%s\n", buf)

	// Clients read every error back, as the reference client does.
	m, _ := legacyws.DecodeServer(buf)
	fmt.Printf("%s\n", m.(legacyws.Error).Errors())
	// Output:
	// {"type":"data","id":"1","payload":{"data":{"tick":1}}}
	// {"type":"error","id":"1","payload":{"message":"a","errors":[{"message":"a"},{"message":"b"}]}}
	// [{"message":"a"} {"message":"b"}]
}
