package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gqlambda/gqlambda/localsqs"
	"github.com/gqlambda/gqlambda/workqueue"
)

const sqsUsage = `usage: gqlambda sqs serve [-addr HOST:PORT] [-queue NAME [-dlq NAME] [-max-receive N] [-visibility D]]
       gqlambda sqs redrive -endpoint URL -from DLQ_URL -to QUEUE_URL [-max N]

serve runs a local SQS endpoint (package localsqs: the JSON protocol as
aws-sdk-go-v2 calls it, visibility timeouts, long polling, redrive to a
dead-letter queue after maxReceiveCount receives) until interrupted. With
-queue it creates that queue and, with -dlq, its dead-letter queue, and
prints their URLs. Point SQS clients at it with their endpoint URL (any
credentials and region).

redrive moves the messages of a dead-letter queue back to its queue, as
SQS's StartMessageMoveTask does: a scale-out worker that receives a replayed
range delivers only to the subscriptions that earlier attempts did not reach.
-endpoint is the SQS endpoint (empty: AWS, with the environment's
credentials and region).
`

// sqs runs the sqs command.
func (c cli) sqs(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(c.stdout, sqsUsage)
		if len(args) == 0 {
			return usageErrorf("sqs", "no subcommand given")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return c.sqsServe(ctx, args[1:])
	case "redrive":
		return c.sqsRedrive(ctx, args[1:])
	}
	return usageErrorf("sqs", "unknown subcommand %q", args[0])
}

func (c cli) sqsServe(ctx context.Context, args []string) error {
	const name = "sqs serve"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9324", "listen `address`")
	queue := fs.String("queue", "", "create a queue of this `name`")
	dlq := fs.String("dlq", "", "create a dead-letter queue of this `name` for -queue")
	maxReceive := fs.Int("max-receive", 3, "the queue's maxReceiveCount (with -dlq)")
	visibility := fs.Duration("visibility", 30*time.Second, "the queue's visibility timeout")
	if err := c.parse(command{name: name, usage: sqsUsage}, fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf(name, "unexpected argument %q", fs.Arg(0))
	case *dlq != "" && *queue == "":
		return usageErrorf(name, "-dlq needs -queue")
	case *maxReceive < 1 || *maxReceive > 1000:
		return usageErrorf(name, "-max-receive %d is not 1 to 1000", *maxReceive)
	case *visibility < 0 || *visibility > 12*time.Hour:
		return usageErrorf(name, "-visibility %v is not 0 to 12h", *visibility)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("gqlambda sqs serve: %w", err)
	}
	// ReadTimeout bounds a slow request body; it outlasts the longest long
	// poll (20 s), whose wait starts once the body is read.
	hs := &http.Server{Handler: localsqs.New(nil), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	endpoint := "http://" + ln.Addr().String()
	fmt.Fprintf(c.stdout, "gqlambda sqs\n  endpoint  %s\n", endpoint)
	if *queue != "" {
		client := c.localSQS(endpoint)
		attrs := map[string]string{"VisibilityTimeout": fmt.Sprint(int(visibility.Seconds()))}
		if *dlq != "" {
			d, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: dlq})
			if err != nil {
				return fmt.Errorf("gqlambda sqs serve: create %s: %w", *dlq, err)
			}
			a, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: d.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
			if err != nil {
				return fmt.Errorf("gqlambda sqs serve: %w", err)
			}
			attrs["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, a.Attributes["QueueArn"], *maxReceive)
			fmt.Fprintf(c.stdout, "  dlq       %s\n", *d.QueueUrl)
		}
		q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: queue, Attributes: attrs})
		if err != nil {
			return fmt.Errorf("gqlambda sqs serve: create %s: %w", *queue, err)
		}
		fmt.Fprintf(c.stdout, "  queue     %s\n", *q.QueueUrl)
	}
	select {
	case err := <-served:
		return fmt.Errorf("gqlambda sqs serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func (c cli) sqsRedrive(ctx context.Context, args []string) error {
	const name = "sqs redrive"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "SQS endpoint `URL` (empty: AWS)")
	from := fs.String("from", "", "dead-letter queue `URL`")
	to := fs.String("to", "", "queue `URL` to move the messages to")
	limit := fs.Int("max", 0, "move at most this many messages (0: all)")
	if err := c.parse(command{name: name, usage: sqsUsage}, fs, args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usageErrorf(name, "-from and -to are required")
	}
	var client *sqs.Client
	if *endpoint != "" {
		client = c.localSQS(*endpoint)
	} else {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(c.httpClient()))
		if err != nil {
			return fmt.Errorf("gqlambda: load the AWS configuration: %w", err)
		}
		client = sqs.NewFromConfig(cfg)
	}
	moved, err := workqueue.Redrive(ctx, client, *from, *to, *limit)
	fmt.Fprintf(c.stdout, "moved %d messages\n", moved)
	return err
}

// localSQS returns an SQS client of a local endpoint, which takes any
// credentials.
func (c cli) localSQS(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{BaseEndpoint: aws.String(endpoint), Region: defaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider(localKey, localKey, ""), HTTPClient: c.httpClient()})
}
