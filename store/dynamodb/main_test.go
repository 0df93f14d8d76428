package dynamodb

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/internal/leakcheck"
)

// TestMain fails the tests when they leave goroutines running.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// LocalClient is dynamotest.Client on an HTTP client whose keep-alive
// connections are closed when t ends, so that the leak check does not find
// them.
func LocalClient(t testing.TB) *awsdynamodb.Client {
	t.Helper()
	cfg, endpoint := dynamotest.Config(t)
	cfg.HTTPClient = leakcheck.HTTPClient(t)
	return awsdynamodb.NewFromConfig(cfg, func(o *awsdynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}
