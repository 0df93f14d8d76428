package chatauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretsManagerAPI is the one call of the Secrets Manager client that
// [SecretsManagerSecret] makes.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// DefaultSecretRefresh is how long [SecretsManagerSecret] uses a secret
// before reading it again, so that a rotated secret is picked up.
const DefaultSecretRefresh = 5 * time.Minute

// SecretsManagerSecret returns the secret string of the Secrets Manager
// secret secretID (its ARN or name), read on first use and again once
// refresh (default DefaultSecretRefresh) has passed. While Secrets Manager
// fails, the secret read last is used for up to an hour more; a secret
// under MinSecretBytes is an error. Safe for concurrent use.
func SecretsManagerSecret(api SecretsManagerAPI, secretID string, refresh time.Duration) SecretFunc {
	if refresh <= 0 {
		refresh = DefaultSecretRefresh
	}
	var (
		mu     sync.Mutex
		secret []byte
		readAt time.Time
	)
	return func(ctx context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if secret != nil && time.Since(readAt) < refresh {
			return secret, nil
		}
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err == nil && out.SecretString == nil {
			err = errors.New("the secret has no SecretString")
		}
		if err == nil && len(*out.SecretString) < MinSecretBytes {
			err = ErrShortSecret
		}
		if err != nil {
			if secret != nil && time.Since(readAt) < time.Hour {
				return secret, nil
			}
			return nil, fmt.Errorf("chatauth: secret %s: %w", secretID, err)
		}
		secret, readAt = []byte(*out.SecretString), time.Now()
		return secret, nil
	}
}
