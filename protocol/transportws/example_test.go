package transportws_test

import (
	"errors"
	"fmt"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/transportws"
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
	var srv transportws.Server
	var state protocol.State // a new connection

	// Subscribing before connection_ack is refused; the error message tells
	// the client why, since API Gateway drops the close code.
	printActions(srv.Receive(state, []byte(`{"type":"subscribe","id":"1","payload":{"query":"subscription { tick }"}}`)))

	// connection_init asks the gqlambda server to run its hook, whose
	// decision comes back through Accept or Refuse.
	printActions(srv.Receive(state, []byte(`{"type":"connection_init","payload":{"token":"t"}}`)))
	state, actions := srv.Accept(state, nil)
	printActions(actions)

	// Once acknowledged, subscribe starts an operation.
	printActions(srv.Receive(state, []byte(`{"type":"subscribe","id":"1","payload":{"query":"subscription { tick }"}}`)))

	// A server message from a client is an invalid message.
	printActions(srv.Receive(state, []byte(`{"type":"next","id":"1","payload":{}}`)))

	// Output:
	// send {"type":"error","id":"1","payload":[{"message":"Unauthorized"}]}
	// close 4401 Unauthorized
	// init {"token":"t"}
	// send {"type":"connection_ack"}
	// start 1 "subscription { tick }"
	// close 4400 Invalid message received: "next" is a server message, a client may not send it
}

func ExampleDecodeClient() {
	m, err := transportws.DecodeClient([]byte(`{"id":"7","type":"subscribe","payload":{"query":"query Q { a }","operationName":"Q","variables":{"n":1}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	switch m := m.(type) {
	case transportws.Subscribe:
		fmt.Println(m.ID, m.Payload.OperationName, m.Payload.Variables)
	}
	frame, _ := transportws.Encode(m)
	fmt.Printf("%s\n", frame)

	_, err = transportws.DecodeClient([]byte(`{"type":"subscribe","id":"","payload":{"query":"{ a }"}}`))
	var de *transportws.DecodeError
	if errors.As(err, &de) {
		fmt.Println(de.Type, "-", de.Reason)
	}

	// Output:
	// 7 Q map[n:1]
	// {"type":"subscribe","id":"7","payload":{"query":"query Q { a }","operationName":"Q","variables":{"n":1}}}
	// subscribe - "subscribe" message "id" must not be empty
}

func ExampleServer_AppendNext() {
	var srv transportws.Server
	buf := make([]byte, 0, 256) // reused for every delivery
	buf = srv.AppendNext(buf[:0], "1", []byte(`{"data":{"tick":1}}`))
	fmt.Printf("%s\n", buf)
	buf = srv.AppendComplete(buf[:0], "1")
	fmt.Printf("%s\n", buf)
	// Output:
	// {"type":"next","id":"1","payload":{"data":{"tick":1}}}
	// {"type":"complete","id":"1"}
}
