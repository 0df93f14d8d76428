// Package wire is the JSON framing the GraphQL-over-WebSocket subprotocols
// of gqlambda share: both graphql-transport-ws (protocol/transportws) and the
// legacy graphql-ws (protocol/legacyws) exchange JSON objects with a "type",
// an optional "id" and an optional "payload".
//
// Decoding scans frames that encoding/json validated, without decoding what
// it does not need ([ScanObject], [Elements], [Unquote]), and checks the
// members both protocols define alike ([ParseFrame], [DecodeType],
// [DecodeID], [DecodeRequest]); what is wrong comes back as an [Invalid],
// which each protocol package reports as its own DecodeError.
//
// Encoding appends to a caller's buffer ([AppendString], [AppendHead], ...)
// and escapes strings as encoding/json does with HTML escaping off; the
// functions that append strings and heads do not allocate when the buffer has
// room.
//
// Nothing here knows a protocol's message types or rules: the callers pass
// the types they accept and decide what each message means.
package wire
