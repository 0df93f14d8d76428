package workqueue

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gqlambda/gqlambda"
)

// refusingAPI refuses every entry of the first refusals SendMessageBatch
// calls, as SQS does when it throttles, and records when each call came.
type refusingAPI struct {
	API
	refusals int
	calls    []time.Time
	sent     int
}

func (r *refusingAPI) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	r.calls = append(r.calls, time.Now())
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if len(r.calls) <= r.refusals {
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ThrottlingException"), Message: aws.String("slow down"), SenderFault: false})
		} else {
			r.sent++
			out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
		}
	}
	return out, nil
}

func tasks(n int) []gqlambda.RangeTask {
	ts := make([]gqlambda.RangeTask, n)
	for i := range ts {
		ts[i] = gqlambda.RangeTask{Index: i, Topic: "t", Split: "s" + strconv.Itoa(i)}
	}
	return ts
}

// TestSendRangesPausesBetweenAttempts: entries SQS refused are sent again
// after a pause, not at once, up to maxAttempts; a context that ends stops
// the pauses.
func TestSendRangesPausesBetweenAttempts(t *testing.T) {
	t.Run("refused twice, then sent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			api := &refusingAPI{refusals: 2}
			if err := New(api, "q").SendRanges(t.Context(), tasks(3)); err != nil {
				t.Fatal(err)
			}
			if len(api.calls) != 3 || api.sent != 3 {
				t.Fatalf("%d calls, %d sent; want 3 and 3", len(api.calls), api.sent)
			}
			// In the synctest bubble the clock moves only in the pauses:
			// three calls at one instant would mean none.
			if !api.calls[2].After(api.calls[0]) {
				t.Errorf("the attempts came at %v: no pause between them", api.calls)
			}
		})
	})
	t.Run("refused every time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			api := &refusingAPI{refusals: 100}
			err := New(api, "q").SendRanges(t.Context(), tasks(2))
			if err == nil || len(api.calls) != maxAttempts {
				t.Fatalf("err %v after %d calls; want an error after %d", err, len(api.calls), maxAttempts)
			}
		})
	})
	t.Run("context ends during a pause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			api := &refusingAPI{refusals: 100}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err := New(api, "q").SendRanges(ctx, tasks(1))
			if !errors.Is(err, context.Canceled) || len(api.calls) != 1 {
				t.Fatalf("err %v after %d calls; want context.Canceled after 1", err, len(api.calls))
			}
		})
	})
}
