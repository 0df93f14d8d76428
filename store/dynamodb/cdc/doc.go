// Package cdc turns the changes of any DynamoDB table into gqlambda events:
// change data capture. A Lambda function subscribed to the table's stream
// decodes each record into a [Change] (INSERT, MODIFY or REMOVE, the keys
// and the old and new images as plain Go values, the table, the sequence
// number, the time, and whether DynamoDB's Time to Live deleted the item),
// maps it to zero or more events, and delivers them:
//
//	lambda.Start(srv.DynamoDBStreamHandler(cdc.Decoder(cdc.Mapping{Topic: "ORDERS"}.Map)))
//
// [Mapping] is the default mapping (the table's name, a fixed topic or an
// attribute of the item names the topic; the new image is the payload of
// inserts and modifications; a removal ends the matching subscriptions), and
// any func([Change]) ([]store.Event, error) is a mapping of one's own.
//
// The package also converts stream attribute values (every type: S, N, B,
// BOOL, NULL, M, L, SS, NS, BS) to JSON and to Go values, keeping numbers
// exact ([JSON], [Value], [Image], [ImageJSON]).
//
// It depends on aws-lambda-go's event types only, not on the AWS SDK, and
// holds no state: everything in it is safe for concurrent use. Locally,
// store/dynamodb/streams' Poller reads a table's stream as Lambda does, so
// the same decoder runs against DynamoDB Local.
package cdc
