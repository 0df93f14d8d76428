package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/internal/backoff"
	"github.com/gqlambda/gqlambda/store"
)

// Errors of the limits of the table layout. They are wrapped with the
// operation that hit them.
var (
	// ErrTooManyTopics: a subscription has more distinct topics than the 99
	// one transaction can write along with its connection.
	ErrTooManyTopics = errors.New("dynamodb: too many topics")
	// ErrTooManySubscriptions: the connection item, which lists the
	// subscriptions of its connection, would exceed DynamoDB's 400 KB item
	// size.
	ErrTooManySubscriptions = errors.New("dynamodb: the connection has too many subscriptions")
)

// Defaults of [Options].
const (
	defaultMaxAttempts = 8
	baseDelay          = 20 * time.Millisecond // first backoff bound
	maxDelay           = time.Second           // largest backoff bound
)

// claimTimeout is how long a DeleteConnection's claim on a connection item
// holds. A claim older than that was left by a deleter that crashed, and the
// next DeleteConnection takes it over.
const claimTimeout = 30 * time.Second

// claimTTL is how far the Time to Live of a claimed connection item is set
// ahead, so that DynamoDB does not delete the item, and with it the claim,
// while the deletion runs; an item whose deleter crashed still goes in time.
const claimTTL = time.Hour

// defaultFirstPage is the default of Options.FirstPageSize.
const defaultFirstPage = 64

// readAhead is how many subscriptions TopicSubscriptions reads ahead of the
// loop, over every shard.
const readAhead = 64

// API is the part of the DynamoDB client (*dynamodb.Client of
// aws-sdk-go-v2) that a [Store] uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Options configures a [Store]. The zero value, and a nil *Options, give the
// defaults.
type Options struct {
	// Tables names the tables; a zero field takes its default. Ignored when
	// TableNames is set.
	Tables Tables

	// TableNames, when set, resolves the table names on first use, as a
	// function that reads them from its configuration at cold start would.
	// Its result is kept for the life of the Store; an error is returned by
	// the call that needed the names, and the next call tries again.
	TableNames func(ctx context.Context) (Tables, error)

	// Shards is the number of key shards of each topic: the subscriptions of
	// a topic are spread over that many partition keys, read in parallel by
	// TopicSubscriptions. It must stay the same for the life of a table's
	// data. Default 1.
	Shards int

	// PageSize is the largest Limit of the Queries of TopicSubscriptions.
	// Default 0: DynamoDB's own, pages of up to 1 MB.
	PageSize int32

	// FirstPageSize is the Limit of the first Query of each shard of
	// TopicSubscriptions, kept small so that a fan-out starts posting after
	// one short read instead of a page of up to 1 MB. Each later page may
	// be four times as large as the one before, up to PageSize, so that the
	// fan-out, which delivers a page while the next one is read, does not
	// wait for a 1 MB page after a page of 64. Default 64; with a PageSize
	// below it, PageSize.
	FirstPageSize int32

	// MaxAttempts bounds the attempts of a request that DynamoDB partly
	// refused: unprocessed items and keys of batch requests, and
	// transactions cancelled by a conflicting one. Retries wait a random
	// time, growing from 20 ms to 1 s, and stop when the context is done.
	// Default 8.
	MaxAttempts int

	// Now is the clock that decides whether a record has expired. It must be
	// safe for concurrent use. Default: time.Now.
	Now func() time.Time

	// Logger receives debug records about retries and clean-ups. Default:
	// discard.
	Logger *slog.Logger
}

// Store is a [store.Store] on DynamoDB. Create it with [New]; the zero value
// is not usable. It is safe for concurrent use, and any number of Stores, in
// any number of processes, may share the tables.
//
// Each connection item lists its subscriptions (their topics, key shard and
// revision) in a map, and every write that must be atomic is a conditional
// write of that item, alone or in a transaction with the subscription items:
//
//   - CreateSubscription puts one item per topic, each on condition that its
//     key is free, then adds the map entry on condition that the connection
//     is live and the entry absent; when that is refused, it deletes the
//     items it put.
//   - DeleteSubscription removes the entry on condition that it is the one
//     it read, and deletes the items: of concurrent deletions one wins.
//   - DeleteConnection first claims the connection item (it sets
//     deletingAt), which fails every later subscription write of the
//     connection, so the map it claimed lists exactly the subscriptions it
//     deletes and returns. The connection item goes last.
//
// Subscriptions whose connection item is gone (DynamoDB's Time to Live
// deleted it before a $disconnect came) are found through the byConnection
// index; a conditional delete of the subscription's first item decides which
// caller gets each of them.
//
// Times are kept to the millisecond. Expired records are treated as absent,
// and DynamoDB's Time to Live deletes them later.
type Store struct {
	api         API
	shards      int
	pageSize    int32
	firstPage   int32
	maxAttempts int
	now         func() time.Time
	log         *slog.Logger

	resolve func(ctx context.Context) (Tables, error) // nil: tables holds the static names
	tables  atomic.Pointer[Tables]                    // the resolved names
	mu      sync.Mutex                                // serialises resolve
}

var _ store.Store = (*Store)(nil)

// New returns a Store on the tables that client reaches. opts may be nil.
// The tables must exist, laid out as [TableDefinitions] describes.
func New(client API, opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Store{
		api:         client,
		shards:      max(o.Shards, 1),
		pageSize:    max(o.PageSize, 0),
		firstPage:   o.FirstPageSize,
		maxAttempts: o.MaxAttempts,
		now:         o.Now,
		log:         o.Logger,
		resolve:     o.TableNames,
	}
	if s.maxAttempts <= 0 {
		s.maxAttempts = defaultMaxAttempts
	}
	if s.firstPage <= 0 {
		s.firstPage = defaultFirstPage
	}
	if s.pageSize > 0 {
		s.firstPage = min(s.firstPage, s.pageSize)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.resolve == nil {
		t := o.Tables.withDefaults()
		s.tables.Store(&t)
	}
	return s
}

// tableNames returns the names of the tables, resolving them on first use.
func (s *Store) tableNames(ctx context.Context) (Tables, error) {
	if t := s.tables.Load(); t != nil {
		return *t, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tables.Load(); t != nil {
		return *t, nil
	}
	t, err := s.resolve(ctx)
	if err != nil {
		return Tables{}, fmt.Errorf("resolve table names: %w", err)
	}
	t = t.withDefaults()
	s.tables.Store(&t)
	return t, nil
}

// begin checks the context and resolves the table names: the start of
// every method.
func (s *Store) begin(ctx context.Context) (Tables, error) {
	if err := ctx.Err(); err != nil {
		return Tables{}, err
	}
	return s.tableNames(ctx)
}

// pause waits before the retry of a request whose attempt number attempt
// (from 0) failed with cause. It returns cause when the attempts are
// exhausted, and the context's error when it is done first.
func (s *Store) pause(ctx context.Context, attempt int, op string, cause error) error {
	if attempt+1 >= s.maxAttempts {
		return fmt.Errorf("%w (after %d attempts)", cause, attempt+1)
	}
	// Full jitter: a random time up to a bound that doubles from
	// baseDelay to maxDelay.
	d := backoff.Full(attempt, baseDelay, maxDelay)
	s.log.LogAttrs(ctx, slog.LevelDebug, "dynamodb: retrying",
		slog.String("op", op), slog.Int("attempt", attempt+1),
		slog.Duration("delay", d), slog.Any("error", cause))
	if !backoff.Sleep(ctx, d) {
		return ctx.Err()
	}
	return nil
}

// newRev returns a fresh random token: the revision that ties a
// subscription's entry in its connection's map to its items, or the token of
// a DeleteConnection's claim.
func newRev() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}

// Cancellation reason codes of TransactionCanceledException.
const (
	reasonNone              = "None"
	reasonConditionalFailed = "ConditionalCheckFailed"
)

// retryableReasons are the cancellation reasons a transaction is retried
// for: it was cancelled by a concurrent request or by throttling, not by its
// own conditions.
var retryableReasons = map[string]bool{
	"TransactionConflict":           true,
	"ThrottlingError":               true,
	"ProvisionedThroughputExceeded": true,
	"RequestLimitExceeded":          true,
}

// cancellation returns the reason code and the old item (when DynamoDB
// returned it) of transaction item i, if err is a cancelled transaction.
func cancellation(err error, i int) (code string, old item, ok bool) {
	tc, ok := errors.AsType[*types.TransactionCanceledException](err)
	if !ok || i >= len(tc.CancellationReasons) {
		return "", nil, false
	}
	r := tc.CancellationReasons[i]
	code = reasonNone
	if r.Code != nil {
		code = *r.Code
	}
	return code, r.Item, true
}

// retryable reports whether err is a conflict with a concurrent transaction
// or throttling that a retry may overcome.
func retryable(err error) bool {
	if _, ok := errors.AsType[*types.TransactionConflictException](err); ok {
		return true
	}
	if _, ok := errors.AsType[*types.TransactionInProgressException](err); ok {
		return true
	}
	tc, ok := errors.AsType[*types.TransactionCanceledException](err)
	if !ok {
		return false
	}
	found := false
	for _, r := range tc.CancellationReasons {
		switch code := deref(r.Code); {
		case code == "" || code == reasonNone:
		case retryableReasons[code]:
			found = true
		default:
			return false // cancelled by its own conditions or validation
		}
	}
	return found
}

// conditionFailed returns the ConditionalCheckFailedException of err.
func conditionFailed(err error) (*types.ConditionalCheckFailedException, bool) {
	return errors.AsType[*types.ConditionalCheckFailedException](err)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// transact runs a transaction, retrying it while it is cancelled by
// conflicts or throttling.
func (s *Store) transact(ctx context.Context, op string, items []types.TransactWriteItem) error {
	for attempt := 0; ; attempt++ {
		// A new input each time: the client fills in an idempotency token,
		// which its own retries of one attempt share, and which a new
		// attempt must not reuse.
		_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil || !retryable(err) {
			return err
		}
		if err := s.pause(ctx, attempt, op, err); err != nil {
			return err
		}
	}
}

// write runs a single-item write, retrying it while it conflicts with a
// transaction.
func (s *Store) write(ctx context.Context, op string, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !retryable(err) {
			return err
		}
		if err := s.pause(ctx, attempt, op, err); err != nil {
			return err
		}
	}
}

// getItem reads one item with a strongly consistent read. It returns nil
// when the item does not exist.
func (s *Store) getItem(ctx context.Context, table string, key item) (item, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: new(true)})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// batchGet reads the items of keys with strongly consistent reads, 100 keys
// a request, retrying unprocessed keys. Missing items are left out.
func (s *Store) batchGet(ctx context.Context, table string, keys []item) ([]item, error) {
	const perRequest = 100
	var out []item
	for start := 0; start < len(keys); start += perRequest {
		req := map[string]types.KeysAndAttributes{table: {
			Keys:           keys[start:min(start+perRequest, len(keys))],
			ConsistentRead: new(true),
		}}
		for attempt := 0; ; attempt++ {
			res, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, err
			}
			out = append(out, res.Responses[table]...)
			left := res.UnprocessedKeys[table]
			if len(left.Keys) == 0 {
				break
			}
			if err := s.pause(ctx, attempt, "batch get", fmt.Errorf("%d keys unprocessed", len(left.Keys))); err != nil {
				return nil, err
			}
			req = map[string]types.KeysAndAttributes{table: left}
		}
	}
	return out, nil
}

// batchDelete deletes the items of keys, 25 a request, retrying unprocessed
// items. It returns an error if some are left after the attempts.
func (s *Store) batchDelete(ctx context.Context, table string, keys []item) error {
	const perRequest = 25
	for start := 0; start < len(keys); start += perRequest {
		var reqs []types.WriteRequest
		for _, k := range keys[start:min(start+perRequest, len(keys))] {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
		}
		for attempt := 0; ; attempt++ {
			res, err := s.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
			if err != nil {
				return err
			}
			reqs = res.UnprocessedItems[table]
			if len(reqs) == 0 {
				break
			}
			if err := s.pause(ctx, attempt, "batch delete", fmt.Errorf("%d deletions unprocessed", len(reqs))); err != nil {
				return err
			}
		}
	}
	return nil
}
