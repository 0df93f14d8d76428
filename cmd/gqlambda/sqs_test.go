package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestSQSServeAndRedrive: sqs serve creates a queue and its dead-letter
// queue on a free port; sqs redrive moves a dead-letter message back.
func TestSQSServeAndRedrive(t *testing.T) {
	var out syncBuffer
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- cli{stdout: &out, stderr: &out, getenv: func(string) string { return "" }}.run(ctx,
			[]string{"sqs", "serve", "-addr", "127.0.0.1:0", "-queue", "work", "-dlq", "work-dlq", "-max-receive", "2"})
	}()
	var queueURL, dlqURL, endpoint string
	for deadline := time.Now().Add(10 * time.Second); queueURL == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for line := range strings.Lines(out.String()) {
			f := strings.Fields(line)
			if len(f) == 2 {
				switch f[0] {
				case "endpoint":
					endpoint = f[1]
				case "dlq":
					dlqURL = f[1]
				case "queue":
					queueURL = f[1]
				}
			}
		}
	}
	if queueURL == "" || dlqURL == "" {
		t.Fatalf("sqs serve printed no queue URLs:\n%s", out.String())
	}
	client := sqs.New(sqs.Options{BaseEndpoint: aws.String(endpoint), Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &dlqURL, MessageBody: aws.String("range")}); err != nil {
		t.Fatal(err)
	}
	var redrive bytes.Buffer
	if code := (cli{stdout: &redrive, stderr: &redrive, getenv: func(string) string { return "" }}).run(t.Context(),
		[]string{"sqs", "redrive", "-endpoint", endpoint, "-from", dlqURL, "-to", queueURL}); code != 0 || !strings.Contains(redrive.String(), "moved 1 messages") {
		t.Fatalf("sqs redrive: exit %d: %s", code, redrive.String())
	}
	got, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &queueURL})
	if err != nil || len(got.Messages) != 1 || *got.Messages[0].Body != "range" {
		t.Fatalf("the queue after redrive: %+v, %v", got, err)
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("sqs serve exited %d:\n%s", code, out.String())
	}
	if code := (cli{stdout: &redrive, stderr: &redrive, getenv: func(string) string { return "" }}).run(t.Context(), []string{"sqs", "nope"}); code != 2 {
		t.Errorf("unknown subcommand: want exit 2, got %d", code)
	}
}
