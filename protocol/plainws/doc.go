// Package plainws is the plain GraphQL-over-WebSocket dialect of the AWS
// sample "Using Apollo Server on AWS Lambda with Amazon EventBridge": no
// subprotocol, no connection_init, no operation ids. A client sends a
// GraphQL request as it would POST it over HTTP,
//
//	{"query": "subscription { chat(chatId: \"lobby\") }", "variables": {}}
//
// and receives every result as the sample's response handler sends it: the
// value of the operation's root field under "data",
//
//	{"data": "Bonjour"}
//
// for a result with one root field and no errors (the sample's chat
// subscription), the bare execution result otherwise ({"data": {...},
// "errors": [...]}), or, for a request that failed before execution,
// {"errors": [...]}. The
// gqlambda server speaks it to connections that offer no subprotocol when
// its Config.PlainProtocol is set, so the sample's clients run unchanged;
// graphql-ws clients always offer a subprotocol and never get it.
//
// Without operation ids, a client cannot stop one subscription: it
// subscribes until it disconnects. The server names each operation after
// its request ([OperationID]), so the same subscription sent twice is one
// subscription; queries and mutations are answered with their result alone,
// and a subscription ended by the server gets no message.
//
// # Codec
//
// The client sends one message, [Request] (a [ClientMessage]); the server
// sends [Result] and [Errors] ([ServerMessage]s). Both interfaces are
// sealed. [DecodeClient] and [DecodeServer] parse one frame, and an invalid
// frame is a [*DecodeError] whose reason is one line; [Encode] produces
// canonical compact JSON, the bytes a decoded message re-encodes to.
//
// # Server
//
// [Server] implements protocol.Server: [Server.Receive] turns a client frame
// into a protocol.Start, or into an errors message that keeps the
// connection open; the outcome methods turn the gqlambda server's decisions
// into frames. Everything in this package is free of I/O and of shared
// mutable state: all functions and methods are safe for concurrent use, and
// none panics, whatever the input.
package plainws
