package redis_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/store/redis"
)

// A store on one server, or a Sentinel-managed failover group, with short
// timeouts: while the primary is unreachable, calls fail within about a
// second instead of using up the Lambda invocation.
func ExampleNew() {
	rdb := goredis.NewClient(&goredis.Options{
		Addr:         "127.0.0.1:6379",
		DialTimeout:  500 * time.Millisecond,
		ReadTimeout:  500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
		MaxRetries:   1,
	})
	st := redis.New(rdb, &redis.Options{KeyPrefix: "chat:"})
	_ = st // Config.Store of gqlambda.New
}

// ElastiCache Serverless (or a cluster-mode ElastiCache or MemoryDB
// cluster) with in-transit encryption and IAM authentication: the
// function's role signs a token for the cache's IAM-enabled user, and
// go-redis asks for a fresh one for every connection it opens.
func Example_elastiCacheIAM() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		panic(err)
	}
	const cache, user = "my-cache", "my-iam-user" // the cache's name and the ElastiCache user id
	rdb := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:     []string{"my-cache-abc123.serverless.euw1.cache.amazonaws.com:6379"},
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12},
		CredentialsProviderContext: func(ctx context.Context) (string, string, error) {
			token, err := elastiCacheToken(ctx, awsCfg, cache, user, true)
			return user, token, err
		},
		DialTimeout:  time.Second,
		ReadTimeout:  500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
	})
	st := redis.New(rdb, &redis.Options{Shards: 4}) // a busy topic over four slots
	_ = st
}

// elastiCacheToken returns an IAM authentication token for user of the
// cache named cache: a SigV4-presigned "connect" request to the cache, valid
// for 15 minutes, without its scheme.
func elastiCacheToken(ctx context.Context, cfg aws.Config, cache, user string, serverless bool) (string, error) {
	q := url.Values{"Action": {"connect"}, "User": {user}, "X-Amz-Expires": {"900"}}
	if serverless {
		q.Set("ResourceType", "ServerlessCache")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cache+"/?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", err
	}
	const emptyBody = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" // SHA-256 of nothing
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, creds, req, emptyBody, "elasticache", cfg.Region, time.Now())
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(signed, "http://"), nil
}
