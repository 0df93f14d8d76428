// Package dynamodb is the DynamoDB implementation of [store.Store] and the
// event store that feeds the DynamoDB Streams handler, on aws-sdk-go-v2.
//
// Three tables (names configurable, see [Tables]):
//
//   - connections: key id. One item per connection: endpoint, protocol,
//     acknowledgement, the context OnConnectionInit returned, the
//     authorizer, times, ttl, and the ids and topics of the connection's
//     subscriptions (a map, which makes subscribe/disconnect races exact).
//   - subscriptions: key (pk, sk) = ("<topic>#<shard>", connection and
//     subscription id), one item per subscription and topic, read by topic
//     with a strongly consistent Query on the base table; index
//     byConnection (connectionId, sk), keys only, for clean-up.
//   - events: key id, stream NEW_IMAGE, the event store.
//
// Every item has ttl (Unix seconds), and items past it are ignored on read.
// See docs/dynamodb.md for the guarantees, capacity and IAM permissions.
package dynamodb
