// Package streams reads a DynamoDB table's stream and hands its records to
// a stream handler, such as gqlambda's Server.DynamoDBStreamHandler, the way
// AWS Lambda's event source mapping does.
//
// In AWS, the event source mapping of the Lambda subscribed to the events
// table's stream does this job: it polls every shard, batches records into
// events.DynamoDBEvent values, invokes the function, and retries from the
// lowest failed sequence number when the function reports batch item
// failures. Nothing of this package runs there.
//
// The [Poller] is for local runs and tests, against DynamoDB Local or a real
// table: it reproduces what the function sees (one batch per GetRecords
// call, records of one shard in order, parent shards before their
// children), and what the event source mapping does with its answer
// (ReportBatchItemFailures, a bounded number of retries), so that a local
// pipeline (Publish → events table → stream → handler → clients) behaves as
// the deployed one does.
package streams
