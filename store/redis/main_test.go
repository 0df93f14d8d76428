package redis

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// quiet discards go-redis's own log lines (its pool reports every failed
// dial), which the failover test causes by the hundred.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}
