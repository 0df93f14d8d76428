package localsqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gqlambda/gqlambda/internal/backoff"
)

// API is the part of the SQS client (*sqs.Client of aws-sdk-go-v2) that an
// [ESM] uses.
type API interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// ESM stands in for Lambda's SQS event source mapping, with
// ReportBatchItemFailures on: MaxConcurrency pollers each receive up to
// BatchSize messages with a long poll, invoke Handler with them as an
// events.SQSEvent, and delete the messages it did not report as failed.
// Failed messages, and every message of a batch whose invocation returned
// an error, become visible again when their visibility timeout ends, and
// the queue's redrive policy moves them to its dead-letter queue after
// maxReceiveCount receives, as on AWS. It works against SQS itself as well
// as against [Server].
type ESM struct {
	// Client is the SQS client. Required.
	Client API
	// QueueURL is the queue read. Required.
	QueueURL string
	// QueueARN is the eventSourceARN of the records. Default: derived from
	// QueueURL.
	QueueARN string
	// BatchSize is the most messages of one invocation. Default 10.
	BatchSize int
	// MaxConcurrency is how many invocations run at once (the mapping's
	// ScalingConfig.MaximumConcurrency, per process here). Default 2.
	MaxConcurrency int
	// WaitTime is the long poll of each receive. Default 1 s.
	WaitTime time.Duration
	// Handler is the function's handler. Required.
	Handler func(context.Context, lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error)
	// Logger receives failed receives and invocations. Default: discard.
	Logger *slog.Logger
}

// Run polls until ctx ends, then returns nil once every invocation in
// progress has returned; a missing field is an error at once.
func (e *ESM) Run(ctx context.Context) error {
	if e.Client == nil || e.QueueURL == "" || e.Handler == nil {
		return errors.New("localsqs: ESM needs Client, QueueURL and Handler")
	}
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	batch := e.BatchSize
	if batch <= 0 {
		batch = 10
	}
	batch = min(batch, maxBatch)
	wait := e.WaitTime
	if wait <= 0 {
		wait = time.Second
	}
	arn := e.QueueARN
	if arn == "" {
		arn = "arn:aws:sqs:us-east-1:" + accountID + ":" + e.QueueURL[strings.LastIndexByte(e.QueueURL, '/')+1:]
	}
	n := e.MaxConcurrency
	if n <= 0 {
		n = 2
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { e.poll(ctx, log, batch, wait, arn) })
	}
	wg.Wait()
	return nil
}

func (e *ESM) poll(ctx context.Context, log *slog.Logger, batch int, wait time.Duration, arn string) {
	for ctx.Err() == nil {
		out, err := e.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    &e.QueueURL,
			MaxNumberOfMessages:         int32(batch),
			WaitTimeSeconds:             int32(max(1, wait/time.Second)),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "localsqs: receive failed", slog.String("error", err.Error()))
				backoff.Sleep(ctx, time.Second)
			}
			continue
		}
		if len(out.Messages) == 0 {
			continue
		}
		ev := lambdaevents.SQSEvent{Records: make([]lambdaevents.SQSMessage, len(out.Messages))}
		handles := map[string]string{}
		for i, m := range out.Messages {
			attrs := map[string]string{}
			for k, v := range m.Attributes {
				attrs[k] = v
			}
			ev.Records[i] = lambdaevents.SQSMessage{
				MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
				Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: attrs, EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: "us-east-1",
			}
			handles[aws.ToString(m.MessageId)] = aws.ToString(m.ReceiptHandle)
		}
		// An invocation runs to its end even when ctx ends, as Lambda lets
		// a running invocation finish.
		resp, err := e.invoke(context.WithoutCancel(ctx), ev)
		if err != nil {
			log.WarnContext(ctx, "localsqs: invocation failed; the batch is received again after its visibility timeout",
				slog.Int("messages", len(ev.Records)), slog.String("error", err.Error()))
			continue
		}
		for _, f := range resp.BatchItemFailures {
			delete(handles, f.ItemIdentifier)
		}
		if len(handles) == 0 {
			continue
		}
		in := &sqs.DeleteMessageBatchInput{QueueUrl: &e.QueueURL}
		i := 0
		for _, h := range handles {
			in.Entries = append(in.Entries, sqstypes.DeleteMessageBatchRequestEntry{Id: new(strconv.Itoa(i)), ReceiptHandle: new(h)})
			i++
		}
		if _, err := e.Client.DeleteMessageBatch(context.WithoutCancel(ctx), in); err != nil {
			log.WarnContext(ctx, "localsqs: delete failed; the messages are received again", slog.String("error", err.Error()))
		}
	}
}

// invoke calls the handler, turning a panic into an error as the Lambda
// runtime reports one.
func (e *ESM) invoke(ctx context.Context, ev lambdaevents.SQSEvent) (resp lambdaevents.SQSEventResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return e.Handler(ctx, ev)
}
