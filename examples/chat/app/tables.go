package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
)

// awaitTables creates the tables on DynamoDB Local at endpoint, waiting for
// it while it does not answer: it says so once, then tries again with a
// growing pause (up to 5 s) until it answers or ctx ends (a SIGTERM stops a
// chat that waits at once). Any other failure is returned.
func awaitTables(ctx context.Context, create func(context.Context) error, endpoint string, logger *slog.Logger) error {
	pause := 250 * time.Millisecond
	warned := false
	for {
		err := create(ctx)
		if err == nil {
			if warned {
				logger.InfoContext(ctx, "chat: DynamoDB answers: tables ready", slog.String("endpoint", endpoint))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, network := errors.AsType[net.Error](err); !network {
			return err
		}
		if !warned {
			logger.WarnContext(ctx, "chat: DynamoDB does not answer: waiting for it", slog.String("endpoint", endpoint), slog.String("error", err.Error()))
			warned = true
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}
