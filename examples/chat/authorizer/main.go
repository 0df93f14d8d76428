// Command authorizer is the chat example's Lambda REQUEST authorizer on AWS
// (deploy/template.yaml's AuthorizerFunction, deploy/auth.tf's
// auth_authorizer): it verifies the HS256 token of a WebSocket $connect
// (query string parameter token) or of a GraphQL over HTTP request
// (Authorization: Bearer), signed with the secret string of the Secrets
// Manager secret CHAT_AUTH_SECRET_ARN names, and gives API Gateway the
// token's sub as principalId and {sub, name} as context: the identity the
// chat's resolvers read (see package chatauth).
//
// Run outside Lambda, it issues a token signed with the same secret, to try
// a deployed chat or to sign tokens from a script:
//
//	go run ./examples/chat/authorizer -sub u-1 -name Ann -secret-id ARN    # needs AWS credentials
//	CHAT_AUTH_SECRET=... go run ./examples/chat/authorizer -sub u-1 -name Ann
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/gqlambda/gqlambda/examples/chat/chatauth"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		if err := runLambda(context.Background(), logger); err != nil {
			logger.Error("authorizer", slog.String("error", err.Error()))
			os.Exit(1)
		}
		return
	}
	if err := issue(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "authorizer:", err)
		os.Exit(2)
	}
}

// runLambda serves the authorizer.
func runLambda(ctx context.Context, logger *slog.Logger) error {
	arn := os.Getenv("CHAT_AUTH_SECRET_ARN")
	if arn == "" {
		return errors.New("CHAT_AUTH_SECRET_ARN is not set")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	lambda.Start(chatauth.Authorizer(chatauth.AuthorizerOptions{
		Secret: chatauth.SecretsManagerSecret(secretsmanager.NewFromConfig(cfg), arn, chatauth.DefaultSecretRefresh),
		Logger: logger,
	}))
	return nil
}

// issue prints a token.
func issue(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("authorizer", flag.ContinueOnError)
	sub := flags.String("sub", "", "the user's id (sub claim); required")
	name := flags.String("name", "", "the name the chat shows as author")
	lifetime := flags.Duration("lifetime", time.Hour, "how long the token is valid (at most 24h)")
	secretID := flags.String("secret-id", "", "Secrets Manager secret (ARN or name) holding the signing secret; default: $CHAT_AUTH_SECRET")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *sub == "" {
		return errors.New("-sub is required")
	}
	var secret []byte
	if *secretID != "" {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("load AWS config: %w", err)
		}
		if secret, err = chatauth.SecretsManagerSecret(secretsmanager.NewFromConfig(cfg), *secretID, 0)(ctx); err != nil {
			return err
		}
	} else if secret = []byte(os.Getenv("CHAT_AUTH_SECRET")); len(secret) == 0 {
		return errors.New("give -secret-id, or the secret in CHAT_AUTH_SECRET")
	}
	token, err := chatauth.Issue(secret, *sub, *name, time.Now(), *lifetime)
	if err != nil {
		return err
	}
	fmt.Println(token)
	return nil
}
