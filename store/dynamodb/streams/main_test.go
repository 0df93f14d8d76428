package streams_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/internal/leakcheck"
)

// TestMain fails the tests when they leave goroutines running.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// localClient is dynamotest.Client on an HTTP client whose keep-alive
// connections are closed when t ends, so that the leak check does not find
// them.
func localClient(t *testing.T) *awsdynamodb.Client {
	t.Helper()
	cfg, endpoint := dynamotest.Config(t)
	cfg.HTTPClient = leakcheck.HTTPClient(t)
	return awsdynamodb.NewFromConfig(cfg, func(o *awsdynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// localStreamsClient is dynamotest.StreamsClient as localClient is
// dynamotest.Client.
func localStreamsClient(t *testing.T) *dynamodbstreams.Client {
	t.Helper()
	cfg, endpoint := dynamotest.Config(t)
	cfg.HTTPClient = leakcheck.HTTPClient(t)
	return dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(endpoint) })
}
