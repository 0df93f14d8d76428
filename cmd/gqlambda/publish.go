package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

const publishUsage = `usage: gqlambda publish [-dynamodb URL] [-region REGION] [-events-table NAME] [-complete] TOPIC [JSON | -]

Write an event for TOPIC to the events table, as gqlambda's Server.Publish
(or, with -complete, Server.Complete) does when Config.Events is set, and
print the event's id. JSON is the payload ("-": read it from the standard
input); without it every subscription of the topic matches, so that
-complete without JSON ends all of them.

The stream handler delivers the event (Server.DynamoDBStreamHandler): on AWS
the event source mapping of the events table's stream invokes it; locally a
poller of the stream must run (the chat example's -dynamodb mode runs one).
`

// publishOptions are the flags and arguments of publish.
type publishOptions struct {
	dynamo   dynamoFlags
	table    string
	complete bool
	topic    string
	payload  json.RawMessage // nil: no payload
}

// parsePublish parses the command line of publish; the payload "-" is read
// from stdin.
func (c cli) parsePublish(args []string) (publishOptions, error) {
	const name = "publish"
	var o publishOptions
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	o.dynamo.register(fs)
	fs.StringVar(&o.table, "events-table", dynamodb.DefaultEventsTable, "events table `name`")
	fs.BoolVar(&o.complete, "complete", false, "complete the matching subscriptions instead of publishing")
	if err := c.parse(command{name: name, usage: publishUsage}, fs, args); err != nil {
		return o, err
	}
	if err := o.dynamo.validate(name); err != nil {
		return o, err
	}
	switch fs.NArg() {
	case 0:
		return o, usageErrorf(name, "no topic given")
	case 1, 2:
	default:
		return o, usageErrorf(name, "unexpected argument %q after the payload", fs.Arg(2))
	}
	if o.topic = fs.Arg(0); o.topic == "" {
		return o, usageErrorf(name, "empty topic")
	}
	if o.table == "" {
		return o, usageErrorf(name, "empty -events-table")
	}
	if fs.NArg() == 1 {
		return o, nil
	}
	raw := []byte(fs.Arg(1))
	if fs.Arg(1) == "-" {
		var err error
		if raw, err = io.ReadAll(c.stdin); err != nil {
			return o, fmt.Errorf("gqlambda: read the payload from the standard input: %w", err)
		}
	}
	raw = bytes.TrimSpace(raw)
	if !json.Valid(raw) {
		return o, usageErrorf(name, "the payload is not JSON: %.80q", raw)
	}
	o.payload = raw
	return o, nil
}

// publish runs `gqlambda publish`.
func (c cli) publish(ctx context.Context, args []string) error {
	o, err := c.parsePublish(args)
	if err != nil {
		return err
	}
	client, err := c.dynamoClient(ctx, o.dynamo)
	if err != nil {
		return err
	}
	ev := store.Event{ID: rand.Text(), Topic: o.topic, Payload: o.payload, Complete: o.complete, PublishedAt: time.Now()}
	if err := dynamodb.NewEventTable(client, &dynamodb.EventOptions{Table: o.table}).PutEvent(ctx, ev); err != nil {
		if _, missing := errors.AsType[*types.ResourceNotFoundException](err); missing && o.dynamo.endpoint != "" {
			// A typo must not create tables; a restarted DynamoDB Local
			// (in memory) has lost them: say how to get them back.
			return fmt.Errorf("gqlambda: the events table %s does not exist (DynamoDB Local keeps its tables in memory: after a restart, run gqlambda tables create -dynamodb %s): %w", o.table, o.dynamo.endpoint, err)
		}
		return fmt.Errorf("gqlambda: %w", err)
	}
	fmt.Fprintln(c.stdout, ev.ID)
	return nil
}
