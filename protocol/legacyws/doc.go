// Package legacyws is the legacy GraphQL over WebSocket protocol of Apollo's
// subscriptions-transport-ws library (Sec-WebSocket-Protocol "graphql-ws")
// for gqlambda: a pure wire codec and the server side of the protocol as a
// state machine. The behaviour follows subscriptions-transport-ws 0.11.0, its
// server (the reference server) and its client (the reference client); the
// protocol's predecessor (init, subscription_start, subscription_end, ...),
// which that server still translates, is not supported.
//
// # Codec
//
// Every message of the protocol is one Go type. A client sends
// [ConnectionInit], [Start], [Stop] and [ConnectionTerminate] (implementing
// [ClientMessage]); a server sends [ConnectionAck], [ConnectionError],
// [KeepAlive], [Data], [Error] and [Complete] (implementing
// [ServerMessage]). Both interfaces are sealed, so no other type can pose as
// a message.
//
// [DecodeClient] and [DecodeServer] parse one frame: an invalid frame is a
// [*DecodeError] whose reason is one line naming the problem. A frame of the
// other direction is invalid too (a client may not send data). [Encode]
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
// The legacy protocol differs from graphql-transport-ws in ways that shape
// the server:
//
//   - It has no close codes. A frame the server cannot use is answered with a
//     connection_error or an error message, as the reference server answers
//     it, and the connection stays open. Only a repeated connection_init, a
//     refused connection_init and a server failure close the connection, each
//     after a connection_error saying why (on API Gateway the close code never
//     reaches the client); the codes are those graphql-transport-ws uses for
//     the same situations (see [CloseCode]).
//   - The client does not wait for connection_ack before it sends start, so a
//     start handled before the acknowledgement is stored fails alone, with an
//     error message, instead of closing the connection.
//   - The client never pings, and the server's ka heartbeat is optional;
//     [Server] sends none (see [Server]).
//
// Everything in this package is free of I/O and of shared mutable state: all
// functions and methods are safe for concurrent use.
package legacyws
