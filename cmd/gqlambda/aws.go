package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// defaultRegion is the region when neither -region nor AWS_REGION says.
const defaultRegion = "us-east-1"

// localKey is the access key and secret used with local endpoints when the
// environment has none: local emulators accept any.
const localKey = "local"

// dynamoFlags are the flags of the commands that reach DynamoDB.
type dynamoFlags struct {
	endpoint string
	region   string
}

// register defines -dynamodb and -region on fs.
func (d *dynamoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.endpoint, "dynamodb", "", "DynamoDB `URL`, such as DynamoDB Local's http://127.0.0.1:8000; default: AWS, with the default AWS configuration")
	fs.StringVar(&d.region, "region", "", "AWS `region`; default: AWS_REGION, else (with -dynamodb) us-east-1, else the AWS configuration's")
}

// validate checks the flags of command.
func (d *dynamoFlags) validate(command string) error {
	if d.endpoint != "" {
		if err := checkURL(d.endpoint); err != nil {
			return usageErrorf(command, "-dynamodb: %v", err)
		}
	}
	return nil
}

// client returns a DynamoDB client: for the endpoint of -dynamodb, with the
// environment's static credentials (or "local"); for AWS otherwise, with
// the default configuration.
func (c cli) dynamoClient(ctx context.Context, d dynamoFlags) (*dynamodb.Client, error) {
	if d.endpoint == "" {
		var opts []func(*config.LoadOptions) error
		if d.region != "" {
			opts = append(opts, config.WithRegion(d.region))
		}
		opts = append(opts, config.WithHTTPClient(c.httpClient()))
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("gqlambda: load the AWS configuration: %w", err)
		}
		return dynamodb.NewFromConfig(cfg), nil
	}
	key, secret := c.getenv("AWS_ACCESS_KEY_ID"), c.getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		key, secret = localKey, localKey
	}
	cfg := aws.Config{
		Region:      c.region(d.region),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, c.getenv("AWS_SESSION_TOKEN")),
		HTTPClient:  c.httpClient(),
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(d.endpoint) }), nil
}

// httpClient is the HTTP client of the command's AWS API calls, on its
// transport.
func (c cli) httpClient() *http.Client {
	if c.transport == nil {
		return &http.Client{}
	}
	return &http.Client{Transport: c.transport}
}

// region returns flag, else AWS_REGION, else us-east-1.
func (c cli) region(flag string) string {
	if flag != "" {
		return flag
	}
	if r := c.getenv("AWS_REGION"); r != "" {
		return r
	}
	return defaultRegion
}

// checkURL checks that s is an absolute http or https URL.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	return nil
}
