package app

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/throttle"
	"github.com/gqlambda/gqlambda/workqueue"
)

// scaleOutFromEnv configures scale-out fan-out on Lambda when
// GQLAMBDA_RANGES_QUEUE_URL is set (deploy/template.yaml sets it): a publish
// to a topic with more than GQLAMBDA_SCALE_OUT_THRESHOLD subscriptions is
// split into ranges sent to that queue, which the "ranges" function
// (GQLAMBDA_HANDLER=ranges) delivers, its workers together posting at most
// GQLAMBDA_POSTS_PER_SECOND (default 10,000) through the shared throttle.
// GQLAMBDA_RANGES_MAX_WORKERS is the queue's event source mapping's maximum
// concurrency, GQLAMBDA_RANGES_MAX_RECEIVE its redrive policy's
// maxReceiveCount. It returns the sender to use.
func scaleOutFromEnv(cfg aws.Config, st *dynamodb.Store, sender gateway.Sender, logger *slog.Logger) (*gqlambda.ScaleOut, gateway.Sender, error) {
	url := os.Getenv("GQLAMBDA_RANGES_QUEUE_URL")
	if url == "" {
		return nil, sender, nil
	}
	num := func(name string) (int, error) {
		v := os.Getenv(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s is %q: want a number", name, v)
		}
		return n, nil
	}
	var vals [4]int
	for i, name := range []string{"GQLAMBDA_SCALE_OUT_THRESHOLD", "GQLAMBDA_RANGES_MAX_WORKERS", "GQLAMBDA_RANGES_MAX_RECEIVE", "GQLAMBDA_POSTS_PER_SECOND"} {
		n, err := num(name)
		if err != nil {
			return nil, nil, err
		}
		vals[i] = n
	}
	if os.Getenv("GQLAMBDA_HANDLER") == "ranges" {
		sender = throttle.New(sender, st, &throttle.Options{Rate: vals[3], Logger: logger})
	}
	return &gqlambda.ScaleOut{
		Queue: workqueue.New(sqs.NewFromConfig(cfg), url), Threshold: vals[0], MaxWorkers: vals[1], MaxReceiveCount: vals[2],
	}, sender, nil
}
