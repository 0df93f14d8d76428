package localsqs_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gqlambda/gqlambda/localsqs"
)

func newClient(t *testing.T) (*sqs.Client, *httptest.Server) {
	t.Helper()
	ts := httptest.NewServer(localsqs.New(nil))
	t.Cleanup(ts.Close)
	return sqs.New(sqs.Options{BaseEndpoint: aws.String(ts.URL), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}), ts
}

func mustQueue(t *testing.T, c *sqs.Client, name string, attrs map[string]string) (url, arn string) {
	t.Helper()
	ctx := t.Context()
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name, Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	return *q.QueueUrl, a.Attributes["QueueArn"]
}

func receive(t *testing.T, c *sqs.Client, url string, max int32, wait int32) []sqstypes.Message {
	t.Helper()
	out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: max, WaitTimeSeconds: wait,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"}})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

// TestQueueLifecycle drives the emulator with aws-sdk-go-v2's client (which
// checks the MD5 of every body): batch send, receive with visibility,
// redelivery after the visibility timeout with a growing receive count,
// ChangeMessageVisibility, DeleteMessageBatch, and redrive to the
// dead-letter queue after maxReceiveCount receives.
func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	dlqURL, dlqARN := mustQueue(t, c, "dlq", nil)
	url, _ := mustQueue(t, c, "work", map[string]string{"VisibilityTimeout": "2",
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"2"}`, dlqARN)})

	var entries []sqstypes.SendMessageBatchRequestEntry
	for i := range 3 {
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(fmt.Sprintf("body-%d", i))})
	}
	sent, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
	if err != nil || len(sent.Successful) != 3 || len(sent.Failed) != 0 {
		t.Fatalf("SendMessageBatch: want 3 sent, got %+v, %v", sent, err)
	}

	firstReceive := time.Now() // message 2's visibility timeout runs from here
	got := receive(t, c, url, 10, 0)
	if len(got) != 3 {
		t.Fatalf("first receive: want 3 messages, got %d", len(got))
	}
	if again := receive(t, c, url, 10, 0); len(again) != 0 {
		t.Fatalf("receive while every message is in flight: want none, got %d", len(again))
	}
	// Message 0 is deleted, message 1 made visible again at once, message 2
	// left to its visibility timeout.
	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: []sqstypes.DeleteMessageBatchRequestEntry{
		{Id: aws.String("a"), ReceiptHandle: got[0].ReceiptHandle}}})
	if err != nil || len(del.Successful) != 1 {
		t.Fatalf("DeleteMessageBatch: %+v, %v", del, err)
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: got[1].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatalf("ChangeMessageVisibility: %v", err)
	}
	second := receive(t, c, url, 10, 0)
	if len(second) != 1 || *second[0].Body != "body-1" || second[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("receive after ChangeMessageVisibility: want body-1 on its 2nd receive, got %+v", second)
	}
	third := receive(t, c, url, 10, 5) // long poll until message 2's timeout ends
	if len(third) != 1 || *third[0].Body != "body-2" || time.Since(firstReceive) < 1900*time.Millisecond {
		t.Fatalf("long poll: want body-2 after its 2 s visibility timeout, got %+v %v after the first receive", third, time.Since(firstReceive))
	}
	// Both have been received twice (maxReceiveCount): once their
	// visibility timeout ends, they go to the dead-letter queue.
	if after := receive(t, c, url, 10, 3); len(after) != 0 {
		t.Fatalf("receive after maxReceiveCount: want none, got %d", len(after))
	}
	dead := receive(t, c, dlqURL, 10, 0)
	if len(dead) != 2 {
		t.Fatalf("dead-letter queue: want 2 messages, got %d", len(dead))
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &dlqURL, ReceiptHandle: dead[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
}

// TestErrors: unknown queues, bad batches and unserved actions are refused
// with the error codes the SDK knows.
func TestErrors(t *testing.T) {
	t.Parallel()
	c, ts := newClient(t)
	ctx := t.Context()
	url, _ := mustQueue(t, c, "q", nil)
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(ts.URL + "/000000000000/missing"), MessageBody: aws.String("x")})
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Errorf("SendMessage to a missing queue: want QueueDoesNotExist, got %v", err)
	}
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("a"), MessageBody: aws.String("2")}}})
	var dup *sqstypes.BatchEntryIdsNotDistinct
	if !errors.As(err, &dup) {
		t.Errorf("batch with a repeated id: want BatchEntryIdsNotDistinct, got %v", err)
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(string(make([]byte, 300<<10)))})
	if err == nil {
		t.Error("a body over 256 KB: want an error, got nil")
	}
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: aws.String("nope"), VisibilityTimeout: 3})
	var notInflight *sqstypes.MessageNotInflight
	if !errors.As(err, &notInflight) {
		t.Errorf("ChangeMessageVisibility of an unknown handle: want MessageNotInflight, got %v", err)
	}
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "7"}})
	var exists *sqstypes.QueueNameExists
	if !errors.As(err, &exists) {
		t.Errorf("CreateQueue with other attributes: want QueueNameExists, got %v", err)
	}
	resp, err := http.Post(ts.URL, "application/x-www-form-urlencoded", bytes.NewBufferString("Action=ListQueues"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a query-protocol request: want 400, got %d", resp.StatusCode)
	}
}

// TestESM: the event source mapping stand-in invokes the handler with
// SQSEvents, deletes what succeeded, and receives again what the handler
// reported as failed, with its receive count, until maxReceiveCount sends
// it to the dead-letter queue.
func TestESM(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	ctx := t.Context()
	dlqURL, dlqARN := mustQueue(t, c, "dlq", nil)
	url, _ := mustQueue(t, c, "work", map[string]string{"VisibilityTimeout": "1",
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":3}`, dlqARN)})
	for _, body := range []string{"ok-1", "ok-2", "flaky", "poison"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	calls := map[string][]string{} // body → receive counts seen
	done := make(chan struct{})
	handler := func(_ context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
		var resp lambdaevents.SQSEventResponse
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ev.Records {
			calls[m.Body] = append(calls[m.Body], m.Attributes["ApproximateReceiveCount"])
			if m.Body == "poison" || m.Body == "flaky" && len(calls[m.Body]) < 2 {
				resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		if len(calls["poison"]) == 3 && len(calls["flaky"]) == 2 {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		return resp, nil
	}
	rctx, stop := context.WithCancel(ctx)
	esm := &localsqs.ESM{Client: c, QueueURL: url, BatchSize: 2, MaxConcurrency: 2, Handler: handler}
	var wg sync.WaitGroup
	wg.Go(func() { esm.Run(rctx) })
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler did not see 3 receives of poison and 2 of flaky within 30 s")
	}
	var dead []sqstypes.Message
	for deadline := time.Now().Add(10 * time.Second); len(dead) == 0 && time.Now().Before(deadline); {
		dead = receive(t, c, dlqURL, 10, 1)
	}
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{"ok-1": "[1]", "ok-2": "[1]", "flaky": "[1 2]", "poison": "[1 2 3]"}
	for body, w := range want {
		if got := fmt.Sprint(calls[body]); got != w {
			t.Errorf("%s: receive counts seen %s, want %s", body, got, w)
		}
	}
	if len(dead) != 1 || *dead[0].Body != "poison" {
		t.Errorf("dead-letter queue: want poison only, got %d messages", len(dead))
	}
}

// FuzzServeHTTP: any request body answers with a JSON answer and a status
// below 500, within the request.
func FuzzServeHTTP(f *testing.F) {
	for _, s := range []struct{ target, body string }{
		{"AmazonSQS.CreateQueue", `{"QueueName":"q","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"x\",\"maxReceiveCount\":1}"}}`},
		{"AmazonSQS.SendMessageBatch", `{"QueueUrl":"/q","Entries":[{"Id":"1","MessageBody":"x"}]}`},
		{"AmazonSQS.ReceiveMessage", `{"QueueUrl":"/q","MaxNumberOfMessages":10,"WaitTimeSeconds":0,"VisibilityTimeout":0}`},
		{"AmazonSQS.DeleteMessageBatch", `{"QueueUrl":"/q","Entries":[{"Id":"1","ReceiptHandle":"h"}]}`},
		{"AmazonSQS.ChangeMessageVisibility", `{"QueueUrl":"/q","ReceiptHandle":"h","VisibilityTimeout":5}`},
		{"AmazonSQS.Nope", `{}`},
	} {
		f.Add(s.target, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		srv := localsqs.New(nil)
		// A queue to act on.
		for _, b := range []string{`{"QueueName":"q"}`} {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewBufferString(b))
			r.Header.Set("X-Amz-Target", "AmazonSQS.CreateQueue")
			srv.ServeHTTP(httptest.NewRecorder(), r)
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("X-Amz-Target", target)
		ctx, cancel := context.WithTimeout(r.Context(), 100*time.Millisecond)
		defer cancel()
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r.WithContext(ctx))
		if w.Code >= 500 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if w.Body.Len() == 0 || w.Body.Bytes()[0] != '{' {
			t.Fatalf("answer is not a JSON object: %q", w.Body)
		}
	})
}

// TestBodyTimeout: a request whose body does not come is answered with 400
// once Options.BodyTimeout passes, and the deadline ends with the body: a
// long poll longer than it waits its whole time.
func TestBodyTimeout(t *testing.T) {
	ts := httptest.NewServer(localsqs.New(&localsqs.Options{BodyTimeout: 200 * time.Millisecond}))
	t.Cleanup(ts.Close)

	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: 100\r\n\r\n{")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a request without its body: want an answer, got %v after %v", err, time.Since(start))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || time.Since(start) > 2*time.Second {
		t.Errorf("a request without its body: want 400 within 2 s, got %d after %v", resp.StatusCode, time.Since(start))
	}

	c := sqs.New(sqs.Options{BaseEndpoint: aws.String(ts.URL), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	url, _ := mustQueue(t, c, "q", nil)
	start = time.Now()
	if got := receive(t, c, url, 1, 1); len(got) != 0 {
		t.Fatalf("empty queue: want no message, got %d", len(got))
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("long poll of 1 s with a body timeout of 200 ms: answered after %v", waited)
	}
}
