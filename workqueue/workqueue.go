// Package workqueue sends the ranges of a split Publish to an Amazon SQS
// queue (gqlambda.RangeQueue), and moves messages back from its dead-letter
// queue to replay them.
//
// The queue's consumer is the worker function, gqlambda.Server.RangeHandler,
// run by Lambda's SQS event source mapping with ReportBatchItemFailures; the
// queue's redrive policy sends a range that failed maxReceiveCount times to
// the dead-letter queue, whose messages carry everything needed to deliver
// it again. Locally, localsqs serves the same API and runs the mapping.
package workqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/internal/backoff"
)

// API is the part of the SQS client (*sqs.Client of aws-sdk-go-v2) that
// the package uses.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// maxAttempts bounds how often SendRanges sends the entries SQS refused;
// it pauses between the attempts (full jitter, a bound that doubles from
// retryBase up to retryMax), since a refusal is most often throttling.
const (
	maxAttempts = 5
	retryBase   = 50 * time.Millisecond
	retryMax    = 2 * time.Second
)

// SQS is a gqlambda.RangeQueue on one SQS queue. It is safe for concurrent
// use.
type SQS struct {
	api API
	url string
}

var _ gqlambda.RangeQueue = (*SQS)(nil)

// New returns the queue at queueURL that client reaches.
func New(client API, queueURL string) *SQS { return &SQS{api: client, url: queueURL} }

// SendRanges sends tasks with SendMessageBatch, ten at a time, sending
// again (up to 5 attempts, after a pause that grows) the entries SQS
// reports as failed.
func (q *SQS) SendRanges(ctx context.Context, tasks []gqlambda.RangeTask) error {
	for len(tasks) > 0 {
		n := min(len(tasks), 10)
		entries := make([]sqstypes.SendMessageBatchRequestEntry, n)
		for i, t := range tasks[:n] {
			body, err := gqlambda.EncodeRangeTask(t)
			if err != nil {
				return err
			}
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: new(strconv.Itoa(t.Index)), MessageBody: new(string(body))}
		}
		if err := q.sendBatch(ctx, entries); err != nil {
			return err
		}
		tasks = tasks[n:]
	}
	return nil
}

func (q *SQS) sendBatch(ctx context.Context, entries []sqstypes.SendMessageBatchRequestEntry) error {
	for attempt := 1; ; attempt++ {
		out, err := q.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q.url, Entries: entries})
		if err != nil {
			return fmt.Errorf("workqueue: send %d messages: %w", len(entries), err)
		}
		if len(out.Failed) == 0 {
			return nil
		}
		failed := map[string]bool{}
		var errs []error
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = true
			errs = append(errs, fmt.Errorf("entry %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message)))
		}
		if attempt == maxAttempts {
			return fmt.Errorf("workqueue: %d of %d messages refused after %d attempts: %w", len(out.Failed), len(entries), attempt, errors.Join(errs...))
		}
		var again []sqstypes.SendMessageBatchRequestEntry
		for _, e := range entries {
			if failed[aws.ToString(e.Id)] {
				again = append(again, e)
			}
		}
		entries = again
		if !backoff.Sleep(ctx, backoff.Full(attempt-1, retryBase, retryMax)) {
			return fmt.Errorf("workqueue: %d of %d messages refused, not sent again: %w", len(out.Failed), len(entries), context.Cause(ctx))
		}
	}
}

// Redrive moves up to limit messages (0: all that are visible) from the
// queue at fromURL, a dead-letter queue, to the queue at toURL, and returns
// how many it moved: each is sent, then deleted. A worker that receives a
// replayed range delivers only to the subscriptions that earlier attempts
// did not reach (within ScaleOut.Window). On AWS, the console's or the
// API's StartMessageMoveTask does the same.
func Redrive(ctx context.Context, client API, fromURL, toURL string, limit int) (int, error) {
	moved := 0
	for limit <= 0 || moved < limit {
		n := 10
		if limit > 0 {
			n = min(n, limit-moved)
		}
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &fromURL, MaxNumberOfMessages: int32(n), WaitTimeSeconds: 1})
		if err != nil {
			return moved, fmt.Errorf("workqueue: redrive: receive: %w", err)
		}
		if len(out.Messages) == 0 {
			return moved, nil
		}
		send := &sqs.SendMessageBatchInput{QueueUrl: &toURL}
		del := &sqs.DeleteMessageBatchInput{QueueUrl: &fromURL}
		for i, m := range out.Messages {
			id := new(strconv.Itoa(i))
			send.Entries = append(send.Entries, sqstypes.SendMessageBatchRequestEntry{Id: id, MessageBody: m.Body})
			del.Entries = append(del.Entries, sqstypes.DeleteMessageBatchRequestEntry{Id: id, ReceiptHandle: m.ReceiptHandle})
		}
		sent, err := client.SendMessageBatch(ctx, send)
		if err != nil {
			return moved, fmt.Errorf("workqueue: redrive: send: %w", err)
		}
		// Only what was sent is deleted; the rest stays in the dead-letter
		// queue.
		failed := map[string]bool{}
		for _, f := range sent.Failed {
			failed[aws.ToString(f.Id)] = true
		}
		var keep []sqstypes.DeleteMessageBatchRequestEntry
		for _, e := range del.Entries {
			if !failed[aws.ToString(e.Id)] {
				keep = append(keep, e)
			}
		}
		if len(keep) > 0 {
			del.Entries = keep
			if _, err := client.DeleteMessageBatch(ctx, del); err != nil {
				return moved, fmt.Errorf("workqueue: redrive: delete: %w", err)
			}
		}
		moved += len(keep)
		if len(sent.Failed) > 0 {
			return moved, fmt.Errorf("workqueue: redrive: %d messages refused by %s", len(sent.Failed), toURL)
		}
	}
	return moved, nil
}
