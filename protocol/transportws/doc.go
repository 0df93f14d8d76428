// Package transportws is the graphql-transport-ws subprotocol (the GraphQL
// over WebSocket protocol of the graphql-ws library) for gqlambda: a pure wire
// codec and the server side of the protocol as a state machine.
//
// # Codec
//
// Every message of the protocol is one Go type: [ConnectionInit],
// [ConnectionAck], [Ping], [Pong], [Subscribe], [Next], [Error] and
// [Complete]. A message's direction is part of its type: client messages
// implement [ClientMessage], server messages implement [ServerMessage], and
// [Ping], [Pong] and [Complete] implement both. Both interfaces are sealed, so
// no other type can pose as a message.
//
// [DecodeClient] and [DecodeServer] parse one frame and apply the same rules
// as the reference implementation's validateMessage: an invalid frame is a
// [*DecodeError] whose reason is one line naming the problem. A frame of the
// other direction is invalid too (a client may not send next). [Encode]
// produces canonical compact JSON with "type" first, the bytes a decoded
// message re-encodes to.
//
// # Server
//
// [Server] implements [protocol.Server]: [Server.Receive] turns a client frame
// and the connection's [protocol.State] into [protocol.Action] values, and the
// outcome methods ([Server.Accept], [Server.Refuse], [Server.Reject],
// [Server.Duplicate], ...) turn the gqlambda server's decisions into frames and
// closes. [Server.AppendNext], [Server.AppendComplete] and [Server.AppendError]
// are the fan-out hot path: they append a frame to a caller's buffer without
// allocating.
//
// On API Gateway a close code never reaches the client (the connection is
// deleted and the client sees 1000), so wherever the protocol has a message
// that tells the client why, that message is sent before the close. The
// close codes still matter for the local gateway and for logs.
//
// Everything in this package is free of I/O and of shared mutable state: all
// functions and methods are safe for concurrent use.
package transportws
