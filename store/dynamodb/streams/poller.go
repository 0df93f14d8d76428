package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"

	"github.com/gqlambda/gqlambda/internal/backoff"
)

// StreamsAPI is the part of the DynamoDB Streams client that a [Poller]
// uses.
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// TableAPI is the part of the DynamoDB client that a [Poller] uses to find a
// table's stream.
type TableAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Handler handles one batch of stream records and reports the records it
// failed, as a Lambda function subscribed to a DynamoDB stream with
// ReportBatchItemFailures does. gqlambda's Server.DynamoDBStreamHandler is
// one.
type Handler func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// PollerOptions configure a [Poller]. The zero value of a field takes its
// default; Handler and the stream (StreamARN, or Table and TableClient) are
// required.
type PollerOptions struct {
	// Handler receives the records.
	Handler Handler

	// StreamARN is the stream to read.
	StreamARN string
	// Table, with TableClient, names the table whose latest stream to read,
	// when StreamARN is empty. Run looks it up with DescribeTable.
	Table string
	// TableClient looks Table's stream up.
	TableClient TableAPI

	// StartingPosition is where reading starts in the shards that exist when
	// Run starts: types.ShardIteratorTypeTrimHorizon (the oldest record
	// kept, up to 24 hours old) or types.ShardIteratorTypeLatest (records
	// written from now on; closed shards are skipped). Shards created later
	// are always read from their start. Default TRIM_HORIZON, which loses
	// nothing written before Run started; on a table that already holds
	// events, it delivers again those of the last 24 hours.
	StartingPosition types.ShardIteratorType
	// PollInterval is the pause after a GetRecords call that returned
	// nothing. Default 250ms.
	PollInterval time.Duration
	// BatchSize is the most records per GetRecords call, hence per handler
	// call; at most 1000. Default 100.
	BatchSize int
	// MaxRetries is how many times a failed record is handed again to the
	// handler before it is logged and skipped, like the event source
	// mapping's MaximumRetryAttempts. Default 10; negative: retry until it
	// succeeds.
	MaxRetries int
	// RetryDelay is the pause before the first retry; it doubles with every
	// retry of one record, up to 30 seconds. Default 500ms.
	RetryDelay time.Duration
	// ShardRefreshInterval is how often the stream is described again to
	// find new shards. While no shard is open it is described every
	// PollInterval. Default 10s.
	ShardRefreshInterval time.Duration
	// MaxBackoff bounds the pause after calls of the Streams API that keep
	// failing: it starts at PollInterval and doubles with each failure in a
	// row, with jitter, up to MaxBackoff. Default 20s.
	MaxBackoff time.Duration

	// Logger receives the poller's logs. Default: discard.
	Logger *slog.Logger
}

// Defaults of [PollerOptions].
const (
	DefaultPollInterval         = 250 * time.Millisecond
	DefaultBatchSize            = 100
	DefaultMaxRetries           = 10
	DefaultRetryDelay           = 500 * time.Millisecond
	DefaultShardRefreshInterval = 10 * time.Second
	DefaultMaxBackoff           = 20 * time.Second

	maxBatchSize  = 1000
	maxRetryDelay = 30 * time.Second
)

// Sentinel errors of [NewPoller] and [Poller.Run].
var (
	// ErrNoHandler: PollerOptions.Handler is nil.
	ErrNoHandler = errors.New("streams: PollerOptions.Handler is required")
	// ErrNoStream: neither PollerOptions.StreamARN nor Table and
	// TableClient are set.
	ErrNoStream = errors.New("streams: PollerOptions.StreamARN, or Table and TableClient, are required")
	// ErrStreamDisabled: the table has no stream.
	ErrStreamDisabled = errors.New("streams: the table has no stream")
)

// Poller reads a DynamoDB stream and hands its records to a [Handler] as
// Lambda's event source mapping does (see the package documentation): each
// shard is read by its own goroutine, its records in order, one batch per
// GetRecords call; a shard's children are read once it is closed and read to
// its end; the stream is described again from time to time to find new
// shards. When the handler reports batch item failures (or returns an
// error, which fails the whole batch), the shard is read again from the
// lowest failed sequence number after a backoff, up to MaxRetries times.
// The handler is called concurrently for different shards.
type Poller struct {
	client StreamsAPI
	opts   PollerOptions
	log    *slog.Logger
}

// NewPoller validates opts and returns a Poller reading with client.
func NewPoller(client StreamsAPI, opts PollerOptions) (*Poller, error) {
	if opts.Handler == nil {
		return nil, ErrNoHandler
	}
	if opts.StreamARN == "" && (opts.Table == "" || opts.TableClient == nil) {
		return nil, ErrNoStream
	}
	switch opts.StartingPosition {
	case "":
		opts.StartingPosition = types.ShardIteratorTypeTrimHorizon
	case types.ShardIteratorTypeTrimHorizon, types.ShardIteratorTypeLatest:
	default:
		return nil, fmt.Errorf("streams: starting position %q: want TRIM_HORIZON or LATEST", opts.StartingPosition)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	opts.BatchSize = min(opts.BatchSize, maxBatchSize)
	if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.ShardRefreshInterval <= 0 {
		opts.ShardRefreshInterval = DefaultShardRefreshInterval
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{client: client, opts: opts, log: log}, nil
}

// Run reads the stream until ctx is cancelled, then waits for the handler
// calls under way and returns nil. It returns an error when it cannot find
// the stream at its start (the table or stream does not exist, the table
// has no stream). Later failures of the Streams API are retried with
// exponential backoff (PollInterval doubling up to MaxBackoff) and logged
// once each: a WARN for each distinct failure, then an INFO when reading
// works again. When the stream is gone (its table was deleted and created
// again, or DynamoDB Local restarted empty), a Poller configured with a
// Table looks the table's stream up again, with the same backoff, and reads
// the new stream from its start. Run one Run of a Poller at a time.
func (p *Poller) Run(ctx context.Context) error {
	arn, err := p.streamARN(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	shards, err := p.describe(ctx, arn)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	h := &health{log: p.log}
	first := true
	for {
		p.read(ctx, h, arn, shards, first)
		if ctx.Err() != nil {
			return nil
		}
		// The stream is gone: find the table's new one.
		first = false
		arn, shards = p.rediscover(ctx, h, arn)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// rediscover looks up the stream to read after the stream old was found
// gone, with backoff, until it finds one or ctx ends. A Poller given a
// StreamARN can only describe that stream again.
func (p *Poller) rediscover(ctx context.Context, h *health, old string) (string, []types.Shard) {
	for fails := 0; ; fails++ {
		arn, err := p.streamARN(ctx)
		if err == nil && arn == old && p.opts.StreamARN == "" {
			err = fmt.Errorf("streams: table %s still names the stream that is gone", p.opts.Table)
		}
		var shards []types.Shard
		if err == nil {
			shards, err = p.describe(ctx, arn)
		}
		if ctx.Err() != nil {
			return "", nil
		}
		if err == nil {
			if arn != old {
				p.log.InfoContext(ctx, "reading the table's new stream", slog.String("stream_arn", arn), slog.String("previous", old))
			}
			h.ok(ctx)
			return arn, shards
		}
		h.fail(ctx, "find the stream", err)
		backoff.Sleep(ctx, p.backoff(fails))
	}
}

// read reads the stream arn from shards until ctx is cancelled (it returns
// once every reader stopped) or the stream is gone.
func (p *Poller) read(ctx context.Context, h *health, arn string, shards []types.Shard, first bool) {
	log := p.log.With(slog.String("stream_arn", arn))
	c := &coordinator{p: p, arn: arn, log: log, health: h, shards: map[string]*shardState{}, done: make(chan string)}
	defer c.wg.Wait()
	// Cancelled first (deferred last): the readers stop, then are waited for.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.add(shards, first)
	c.startReady(ctx)
	timer := time.NewTimer(c.refreshInterval())
	defer timer.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-c.done:
			c.shards[id].done = true
			c.running--
		case <-timer.C:
		}
		// A closed shard's children may be listed only now: describe at once.
		shards, err := p.describe(ctx, arn)
		switch {
		case err == nil:
			h.ok(ctx)
			fails = 0
			c.add(shards, false)
		case ctx.Err() != nil:
			return
		case isErr[*types.ResourceNotFoundException](err):
			h.fail(ctx, "describe stream", err)
			return // the stream is gone; cancel stops its readers
		default:
			h.fail(ctx, "describe stream", err)
			fails++
		}
		c.startReady(ctx)
		if fails > 0 {
			timer.Reset(p.backoff(fails - 1))
		} else {
			timer.Reset(c.refreshInterval())
		}
	}
}

// backoff is the pause after fails+1 failures in a row: PollInterval
// doubled with each, up to MaxBackoff, with jitter (half to all of it).
func (p *Poller) backoff(fails int) time.Duration {
	d := backoff.Ceiling(fails, p.opts.PollInterval, p.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// health says once what is wrong with reading the stream: a WARN for each
// distinct failure (by operation and error code) of an outage, DEBUG for
// its repetitions, and an INFO when a call succeeds again, which ends the
// outage. It is shared by the readers of a Run.
type health struct {
	log *slog.Logger

	mu       sync.Mutex
	reported map[string]bool // the failures of this outage said at WARN
	failures int             // failed calls since the last success
	since    time.Time
}

// fail records a failed call of op.
func (h *health) fail(ctx context.Context, op string, err error) {
	key := op + ": " + failureKind(err)
	h.mu.Lock()
	if h.failures == 0 {
		h.since = time.Now()
		h.reported = make(map[string]bool)
	}
	h.failures++
	repeated := h.reported[key]
	h.reported[key] = true
	h.mu.Unlock()
	if repeated {
		h.log.DebugContext(ctx, "stream: "+op+" failed again", slog.String("error", err.Error()))
		return
	}
	h.log.WarnContext(ctx, "stream: "+op+" failed; retrying with backoff", slog.String("error", err.Error()))
}

// ok records a successful call.
func (h *health) ok(ctx context.Context) {
	h.mu.Lock()
	failures, since := h.failures, h.since
	h.reported, h.failures = nil, 0
	h.mu.Unlock()
	if failures > 0 {
		h.log.InfoContext(ctx, "stream: reading again", slog.Int("failed_calls", failures),
			slog.Duration("after", time.Since(since).Round(time.Millisecond)))
	}
}

// failureKind tells failures apart for health: the AWS error code, a
// network error, or the error's type.
func failureKind(err error) string {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorCode()
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return "network"
	}
	return fmt.Sprintf("%T", err)
}

// streamARN returns the configured stream, or looks the table's up.
func (p *Poller) streamARN(ctx context.Context) (string, error) {
	if p.opts.StreamARN != "" {
		return p.opts.StreamARN, nil
	}
	out, err := p.opts.TableClient.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(p.opts.Table)})
	if err != nil {
		return "", fmt.Errorf("streams: describe table %s: %w", p.opts.Table, err)
	}
	if out.Table == nil || aws.ToString(out.Table.LatestStreamArn) == "" ||
		out.Table.StreamSpecification != nil && !aws.ToBool(out.Table.StreamSpecification.StreamEnabled) {
		return "", fmt.Errorf("%w: %s", ErrStreamDisabled, p.opts.Table)
	}
	return aws.ToString(out.Table.LatestStreamArn), nil
}

// describe lists every shard of the stream, page by page.
func (p *Poller) describe(ctx context.Context, arn string) ([]types.Shard, error) {
	var shards []types.Shard
	var start *string
	for {
		out, err := p.client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), ExclusiveStartShardId: start})
		if err != nil {
			return nil, fmt.Errorf("streams: describe stream %s: %w", arn, err)
		}
		if out.StreamDescription == nil {
			return shards, nil
		}
		shards = append(shards, out.StreamDescription.Shards...)
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return shards, nil
		}
	}
}

// coordinator tracks the shards of one Run; only Run's goroutine uses it.
type coordinator struct {
	p       *Poller
	arn     string
	log     *slog.Logger
	health  *health
	shards  map[string]*shardState
	running int
	done    chan string // shard ids whose readers finished
	wg      sync.WaitGroup
}

type shardState struct {
	parent  string
	start   position
	started bool
	done    bool
}

// add records shards not seen before. Shards of the first description
// start at the starting position; later ones at their start.
func (c *coordinator) add(shards []types.Shard, first bool) {
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if id == "" || c.shards[id] != nil {
			continue
		}
		st := &shardState{parent: aws.ToString(sh.ParentShardId), start: position{typ: types.ShardIteratorTypeTrimHorizon}}
		if first && c.p.opts.StartingPosition == types.ShardIteratorTypeLatest {
			closed := sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
			st.start.typ = types.ShardIteratorTypeLatest
			st.done = closed // nothing will be written to it any more
			st.parent = ""   // LATEST does not wait for older records
		}
		c.shards[id] = st
	}
}

// startReady starts a reader for every shard whose parent is read to its
// end (or unknown: trimmed from the stream), oldest first.
func (c *coordinator) startReady(ctx context.Context) {
	ids := make([]string, 0, len(c.shards))
	for id, st := range c.shards {
		if st.started || st.done {
			continue
		}
		if parent := c.shards[st.parent]; parent != nil && !parent.done {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		st := c.shards[id]
		st.started = true
		c.running++
		r := &shardReader{p: c.p, arn: c.arn, shard: id, pos: st.start, health: c.health, log: c.log.With(slog.String("shard_id", id))}
		c.wg.Go(func() {
			r.run(ctx)
			select {
			case c.done <- id:
			case <-ctx.Done():
			}
		})
	}
}

// refreshInterval is how long to wait before describing the stream again.
func (c *coordinator) refreshInterval() time.Duration {
	if c.running == 0 {
		return c.p.opts.PollInterval
	}
	return c.p.opts.ShardRefreshInterval
}

// position is where a shard iterator starts.
type position struct {
	typ types.ShardIteratorType
	seq string // for AT_ and AFTER_SEQUENCE_NUMBER
}

// shardReader reads one shard to its end.
type shardReader struct {
	p      *Poller
	arn    string
	shard  string
	log    *slog.Logger
	health *health
	fails  int // calls that failed in a row

	pos     position // where to read again from, should the iterator be lost
	iter    *string  // nil: get one at pos
	failSeq string   // the record that failed last
	retries int      // how many times failSeq failed
}

// run reads the shard until it is closed and read to its end, or ctx is
// cancelled.
func (r *shardReader) run(ctx context.Context) {
	opts := r.p.opts
	r.log.DebugContext(ctx, "reading shard", slog.String("from", string(r.pos.typ)))
	for ctx.Err() == nil {
		if r.iter == nil {
			if gone := r.getIterator(ctx); gone {
				return
			}
			if r.iter == nil {
				continue
			}
		}
		out, err := r.p.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: r.iter, Limit: aws.Int32(int32(opts.BatchSize))})
		if err != nil {
			if gone := r.recordsFailed(ctx, err); gone {
				return
			}
			continue
		}
		r.succeeded(ctx)
		if len(out.Records) > 0 && !r.handle(ctx, out.Records) {
			continue // read again from r.pos
		}
		if out.NextShardIterator == nil {
			r.log.DebugContext(ctx, "shard closed and read to its end")
			return
		}
		r.iter = out.NextShardIterator
		if len(out.Records) == 0 {
			backoff.Sleep(ctx, opts.PollInterval)
		}
	}
}

// getIterator sets r.iter to an iterator at r.pos. When it cannot, it
// leaves r.iter nil (after a pause) and reports whether the shard is gone.
func (r *shardReader) getIterator(ctx context.Context) (gone bool) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(r.arn), ShardId: aws.String(r.shard), ShardIteratorType: r.pos.typ}
	if r.pos.seq != "" {
		in.SequenceNumber = aws.String(r.pos.seq)
	}
	out, err := r.p.client.GetShardIterator(ctx, in)
	switch {
	case err == nil && out.ShardIterator != nil:
		r.iter = out.ShardIterator
		r.succeeded(ctx)
	case err == nil:
		r.failed(ctx, "get shard iterator", errors.New("no iterator returned"))
	case ctx.Err() != nil:
	case isErr[*types.TrimmedDataAccessException](err):
		r.trimmed(ctx)
		r.pos = position{typ: types.ShardIteratorTypeTrimHorizon}
	case isErr[*types.ResourceNotFoundException](err):
		r.log.DebugContext(ctx, "shard not found: stopped reading it", slog.String("error", err.Error()))
		return true
	default:
		r.failed(ctx, "get shard iterator", err)
	}
	return false
}

// failed reports a failed call and pauses, longer with each failure in a
// row.
func (r *shardReader) failed(ctx context.Context, op string, err error) {
	r.health.fail(ctx, op, err)
	backoff.Sleep(ctx, r.p.backoff(r.fails))
	r.fails++
}

// succeeded records a call that worked.
func (r *shardReader) succeeded(ctx context.Context) {
	if r.fails > 0 {
		r.fails = 0
		r.health.ok(ctx)
	}
}

// trimmed reports that the records after the reader's position are no longer
// in the stream. Only a position after a record the reader handled means
// records were lost; a reader that had read nothing of the shard yet (it
// starts at the trim horizon or the latest record) lost nothing, and says so
// quietly instead of with a false alarm at every start.
func (r *shardReader) trimmed(ctx context.Context) {
	if r.pos.seq == "" {
		r.log.DebugContext(ctx, "the shard's oldest records are gone: reading from the trim horizon")
		return
	}
	r.log.ErrorContext(ctx, "records trimmed from the stream before they were read: lost", slog.String("from", r.pos.seq))
}

// recordsFailed deals with a failed GetRecords, and reports whether the
// shard is gone.
func (r *shardReader) recordsFailed(ctx context.Context, err error) (gone bool) {
	switch {
	case ctx.Err() != nil:
	case isErr[*types.ExpiredIteratorException](err):
		r.iter = nil
	case isErr[*types.TrimmedDataAccessException](err):
		r.trimmed(ctx)
		r.iter, r.pos = nil, position{typ: types.ShardIteratorTypeTrimHorizon}
	case isErr[*types.ResourceNotFoundException](err):
		r.log.DebugContext(ctx, "shard not found: stopped reading it", slog.String("error", err.Error()))
		return true
	default:
		r.failed(ctx, "get records", err)
		if _, network := errors.AsType[net.Error](err); !network {
			// The iterator may be what is wrong (a server that restarted
			// does not know it): get a new one at the same position.
			r.iter = nil
		}
	}
	return false
}

// handle hands records to the handler. It reports true when the reader may
// go on with the next iterator, false when the shard must be read again
// from r.pos (after a failure, once the backoff passed).
func (r *shardReader) handle(ctx context.Context, recs []types.Record) bool {
	batch := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, 0, len(recs))}
	for _, rec := range recs {
		ev, err := convertRecord(r.arn, rec)
		if err != nil {
			r.log.ErrorContext(ctx, "record skipped: it cannot be converted", slog.String("error", err.Error()))
			continue
		}
		batch.Records = append(batch.Records, ev)
	}
	var last string
	if d := recs[len(recs)-1].Dynamodb; d != nil {
		last = aws.ToString(d.SequenceNumber)
	}
	failed := -1
	if len(batch.Records) > 0 {
		resp, err := r.p.opts.Handler(ctx, batch)
		if ctx.Err() != nil {
			return false // stopping: the records were not necessarily handled
		}
		failed = lowestFailure(batch.Records, resp, err)
	}
	if failed < 0 {
		r.pos = position{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: last}
		r.failSeq, r.retries = "", 0
		return true
	}

	seq := batch.Records[failed].Change.SequenceNumber
	if seq == r.failSeq {
		r.retries++
	} else {
		r.failSeq, r.retries = seq, 1
	}
	r.iter = nil
	maxRetries := r.p.opts.MaxRetries
	if maxRetries >= 0 && r.retries > maxRetries {
		r.log.ErrorContext(ctx, "record skipped: it failed on every retry", slog.String("sequence_number", seq), slog.Int("retries", maxRetries))
		r.pos = position{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: seq}
		r.failSeq, r.retries = "", 0
		return false
	}
	delay := min(r.p.opts.RetryDelay<<min(r.retries-1, 16), maxRetryDelay)
	r.log.WarnContext(ctx, "batch item failure: reading the shard again from the failed record",
		slog.String("sequence_number", seq), slog.Int("retry", r.retries), slog.Duration("delay", delay))
	r.pos = position{typ: types.ShardIteratorTypeAtSequenceNumber, seq: seq}
	backoff.Sleep(ctx, delay)
	return false
}

// lowestFailure returns the index of the first record to retry, or -1. An
// error, or a failure naming no record of the batch, fails the whole batch,
// as with Lambda.
func lowestFailure(recs []events.DynamoDBEventRecord, resp events.DynamoDBEventResponse, err error) int {
	if err != nil {
		return 0
	}
	lowest := -1
	for _, f := range resp.BatchItemFailures {
		i := slices.IndexFunc(recs, func(r events.DynamoDBEventRecord) bool {
			return f.ItemIdentifier != "" && r.Change.SequenceNumber == f.ItemIdentifier
		})
		if i < 0 {
			return 0
		}
		if lowest < 0 || i < lowest {
			lowest = i
		}
	}
	return lowest
}

func isErr[E error](err error) bool {
	_, ok := errors.AsType[E](err)
	return ok
}
