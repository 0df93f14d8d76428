// Package dynamotest connects tests to DynamoDB Local, which
// scripts/dynamodb-local starts and announces in GQLAMBDA_DYNAMODB_ENDPOINT.
package dynamotest

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/gqlambda/gqlambda/internal/leakcheck"
)

// EnvEndpoint names the environment variable holding DynamoDB Local's URL.
const EnvEndpoint = "GQLAMBDA_DYNAMODB_ENDPOINT"

// Config returns an aws.Config for DynamoDB Local at the endpoint in
// GQLAMBDA_DYNAMODB_ENDPOINT. When the variable is unset the test is skipped
// (run it through scripts/test, which starts DynamoDB Local); when it is set
// and the server does not answer, the test fails.
func Config(t testing.TB) (aws.Config, string) {
	t.Helper()
	endpoint := os.Getenv(EnvEndpoint)
	if endpoint == "" {
		t.Skipf("%s is not set: run the tests through scripts/test, which starts DynamoDB Local", EnvEndpoint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		t.Fatalf("%s=%q: %v", EnvEndpoint, endpoint, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DynamoDB Local at %s (from %s) does not answer: %v", endpoint, EnvEndpoint, err)
	}
	resp.Body.Close()
	cfg := aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		// Keep-alive connections close when t ends, so that the packages'
		// goroutine-leak checks do not find them.
		HTTPClient: leakcheck.HTTPClient(t),
	}
	return cfg, endpoint
}

// Client returns a DynamoDB client for DynamoDB Local (see [Config]).
func Client(t testing.TB) *dynamodb.Client {
	t.Helper()
	cfg, endpoint := Config(t)
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// StreamsClient returns a DynamoDB Streams client for DynamoDB Local.
func StreamsClient(t testing.TB) *dynamodbstreams.Client {
	t.Helper()
	cfg, endpoint := Config(t)
	return dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// Prefix returns a prefix for table names that no other test (or run) uses:
// DynamoDB Local is shared by every test of a run.
func Prefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 60 {
		name = name[:60]
	}
	return "t-" + name + "-" + strings.ToLower(rand.Text()[:6]) + "-"
}
