package dynamodb

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// RecreatingClient is a DynamoDB client for local runs that creates the
// tables again when they are gone, as they are when DynamoDB Local restarts
// in memory: a call that fails with ResourceNotFoundException runs Create,
// then is tried once more. Create runs once at a time, and at most once a
// second; a call that finds the tables still missing after that fails with
// the error. It serves as the client of a [Store], of an [EventTable], of
// [CreateTables] and of a stream poller's table lookups. Production tables
// come from deploy/ and are never created by the application: use the plain
// client there.
//
// It embeds the client, so every other call goes to it unchanged. It is safe
// for concurrent use.
type RecreatingClient struct {
	*dynamodb.Client

	create func(ctx context.Context) error
	log    *slog.Logger

	mu   sync.Mutex
	last time.Time // when Create last ran
}

// NewRecreatingClient returns a RecreatingClient of client whose Create is
// create, typically CreateTables on client (not on the RecreatingClient)
// with the application's other tables. logger (nil: discard) gets a WARN
// each time the tables are created again.
func NewRecreatingClient(client *dynamodb.Client, create func(ctx context.Context) error, logger *slog.Logger) *RecreatingClient {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &RecreatingClient{Client: client, create: create, log: logger}
}

// recreateInterval is the least time between two runs of Create.
const recreateInterval = time.Second

// recreated runs Create after err, when err says a table is missing, and
// reports whether the call should be tried again.
func (r *RecreatingClient) recreated(ctx context.Context, err error) bool {
	if _, missing := errors.AsType[*types.ResourceNotFoundException](err); !missing {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.last) < recreateInterval {
		// Created a moment ago (by the call of another goroutine): try
		// again once, without creating them again.
		return !r.last.IsZero()
	}
	r.last = time.Now()
	r.log.WarnContext(ctx, "dynamodb: a table is missing (has DynamoDB Local restarted?): creating the tables again", slog.String("error", err.Error()))
	if cerr := r.create(ctx); cerr != nil {
		r.log.ErrorContext(ctx, "dynamodb: creating the tables again failed", slog.String("error", cerr.Error()))
		return false
	}
	return true
}

// again runs call, and once more when the tables had to be created again.
func again[O any](r *RecreatingClient, ctx context.Context, call func() (O, error)) (O, error) {
	out, err := call()
	if err != nil && r.recreated(ctx, err) {
		return call()
	}
	return out, err
}

// GetItem implements API.
func (r *RecreatingClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return again(r, ctx, func() (*dynamodb.GetItemOutput, error) { return r.Client.GetItem(ctx, in, opts...) })
}

// PutItem implements EventAPI.
func (r *RecreatingClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return again(r, ctx, func() (*dynamodb.PutItemOutput, error) { return r.Client.PutItem(ctx, in, opts...) })
}

// UpdateItem implements API.
func (r *RecreatingClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return again(r, ctx, func() (*dynamodb.UpdateItemOutput, error) { return r.Client.UpdateItem(ctx, in, opts...) })
}

// DeleteItem implements API.
func (r *RecreatingClient) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return again(r, ctx, func() (*dynamodb.DeleteItemOutput, error) { return r.Client.DeleteItem(ctx, in, opts...) })
}

// Query implements API.
func (r *RecreatingClient) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return again(r, ctx, func() (*dynamodb.QueryOutput, error) { return r.Client.Query(ctx, in, opts...) })
}

// BatchGetItem implements API.
func (r *RecreatingClient) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return again(r, ctx, func() (*dynamodb.BatchGetItemOutput, error) { return r.Client.BatchGetItem(ctx, in, opts...) })
}

// BatchWriteItem implements API.
func (r *RecreatingClient) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return again(r, ctx, func() (*dynamodb.BatchWriteItemOutput, error) { return r.Client.BatchWriteItem(ctx, in, opts...) })
}

// TransactWriteItems implements API.
func (r *RecreatingClient) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return again(r, ctx, func() (*dynamodb.TransactWriteItemsOutput, error) {
		return r.Client.TransactWriteItems(ctx, in, opts...)
	})
}

// DescribeTable implements TableAPI, and the table lookup of a stream
// poller, which then finds the stream of the table created again.
func (r *RecreatingClient) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return again(r, ctx, func() (*dynamodb.DescribeTableOutput, error) { return r.Client.DescribeTable(ctx, in, opts...) })
}

var (
	_ API      = (*RecreatingClient)(nil)
	_ EventAPI = (*RecreatingClient)(nil)
	_ TableAPI = (*RecreatingClient)(nil)
)
