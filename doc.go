// Package gqlambda serves GraphQL subscriptions, queries and mutations over
// API Gateway WebSocket APIs with AWS Lambda, speaking the
// graphql-transport-ws protocol of the graphql-ws client (and of Apollo
// Client, urql and Relay on top of it), the legacy subscriptions-transport-ws
// protocol and, when enabled, a plain dialect without subprotocol
// (protocol/plainws), and GraphQL over HTTP. Schemas come from graphql-go
// (engine/graphqlgo) or gqlgen (engine/gqlgen).
//
// There is no long-lived server: every WebSocket frame is one Lambda
// invocation of [Server.WebSocketHandler], and every message to a client is
// one call to API Gateway's @connections API (a gateway.Sender:
// gateway/apigw's Client on AWS, a localgateway.Gateway locally).
// Connections and subscriptions live in a store (package store: in memory for
// tests and local development, DynamoDB in production), so any number of
// Lambda instances serve one API.
//
// # The packages
//
// The root package is the server and depends only on the interfaces it
// uses: store.Store and store.EventStore (package store, with store/memory
// and store/dynamodb), gateway.Sender (package gateway, with gateway/apigw,
// gateway/gatewaytest and localgateway), the protocol codecs (protocol/...)
// and [Engine] (engine/graphqlgo, engine/gqlgen). It does not import the AWS
// SDK: the production pieces that do (gateway/apigw, store/dynamodb) are
// passed in by the program that builds the [Server]. Its files follow the
// flows: lambda.go decodes API Gateway's events, connection.go is the
// connection life cycle, message.go and operation.go the message loop,
// fanout.go the fan-out, dedup.go the delivery log of redeliveries,
// stream.go the stream handlers and what every source shares, sources.go the
// SQS, SNS, EventBridge and Kinesis handlers, http.go GraphQL over HTTP,
// json.go the JSON helpers they share.
//
// # The flows
//
//   - $connect negotiates the subprotocol, runs [Hooks.OnConnect] and stores
//     the connection; $disconnect deletes it with its subscriptions.
//   - $default frames run the protocol: connection_init (once;
//     [Hooks.OnConnectionInit] may refuse, and chooses the context to keep),
//     ping/pong, subscribe and complete. Queries and mutations run at once
//     and answer next + complete. Subscriptions run their subscribe phase —
//     the root field's subscribe resolver declares topics, a filter and hooks
//     (see [SubscribeOptions] and graphqlgo.Subscribe) — and are stored.
//   - [Server.Publish] (from any Lambda, or a resolver) finds a topic's
//     subscriptions by key, keeps those whose filter matches the payload,
//     executes each subscription's document with the payload as root value
//     (once per distinct document, variables and context), and posts next
//     frames with bounded concurrency. A client that is gone (410) is deleted
//     with its subscriptions; [Server.Complete] ends subscriptions. With
//     [Config.Events] set, Publish and Complete write the event to an event
//     store instead (store/dynamodb's events table), and
//     [Server.DynamoDBStreamHandler] fans it out from the table's stream
//     (with store/dynamodb's DecodeEventRecord).
//   - Events from other sources reach subscribers through the source
//     handlers: [Server.SQSHandler], [Server.SNSHandler],
//     [Server.EventBridgeHandler], [Server.KinesisHandler], and
//     [Server.DynamoDBStreamHandler] for any table's stream. Each maps a
//     record to events (a mapping of the user's, or the source's default),
//     delivers them with [Server.Deliver], reports what failed so that the
//     source retries it alone, and drops (and reports) what can never be
//     delivered. Every source delivers at least once; the store's delivery
//     log makes a redelivered event reach each subscription once (see
//     [Redelivery]).
//   - [Server.HTTPHandler], [Server.APIGatewayHandler] and
//     [Server.HTTPAPIHandler] serve queries and mutations over HTTP.
//   - [Server.Sweep], run on a schedule ([Server.SweepHandler]; locally
//     [Server.SweepEvery]), finds the connections idle for a while by key
//     in the store's activity index (store.ActivityIndex), asks API Gateway
//     about them, and removes those gone without a $disconnect; it closes
//     connections that never initialised and, with [Liveness].Ping, those
//     that stop answering pings.
//
// # Protocol errors on API Gateway
//
// graphql-transport-ws reports protocol violations with WebSocket close codes
// (4400, 4401, 4403, 4409, 4429, 4500). API Gateway cannot send close codes:
// deleting a connection closes it normally. The server therefore sends
// whatever protocol message can tell the client why (an `error` for the
// operation concerned) before it closes, and passes the intended code to
// the Sender's Close, so that a local gateway can deliver it.
//
// # Traces and metrics
//
// [Config.Telemetry] traces frames, fan-outs and batches of records with an
// OpenTelemetry TracerProvider (continuing the Lambda invocation's X-Ray
// trace), and counts connections, subscriptions, deliveries, gone clients,
// throttling, retries and failures for an OpenTelemetry MeterProvider and as
// CloudWatch Embedded Metric Format lines, one per invocation. With nothing
// set it records nothing and allocates nothing. docs/operations.md lists
// every span and metric.
//
// # Concurrency and failures
//
// A [Server] is safe for concurrent use, including several Lambda invocations
// at once in one process. Races between invocations of one connection
// (subscribe against $disconnect, two connection_init) are settled by the
// store's conditional writes. Failures without a caller to return them to go
// to [Hooks.OnError]; nothing is lost silently.
package gqlambda
