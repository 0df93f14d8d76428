package streams_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/gqlambda/gqlambda/store/dynamodb/streams"
)

// fakeStream is an in-memory DynamoDB stream: shards of records, with
// iterators "shard|index".
type fakeStream struct {
	mu       sync.Mutex
	shards   []*fakeShard
	seq      int
	pageSize int
	iterLog  []string // "shard type seq" of every GetShardIterator
	// trims is how many of the next GetShardIterator calls fail with
	// TrimmedDataAccessException, as when the records asked for are gone.
	trims int
	// recordTrims does the same for the next GetRecords calls.
	recordTrims int
	// called holds a token after a call of the poller: see waitFor.
	called chan struct{}
}

type fakeShard struct {
	id, parent string
	seqs       []string
	closed     bool
}

// calledLocked leaves a token in f.called, with f.mu held.
func (f *fakeStream) calledLocked() {
	if f.called == nil {
		f.called = make(chan struct{}, 1)
	}
	select {
	case f.called <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds, checking it again after each call of the
// poller to f: what its handler did shows by the next call. It runs in a
// synctest bubble, where the poller's pauses and the 20 seconds of the
// timeout are the bubble's time, which passes only while every goroutine
// waits: no real time.
func (f *fakeStream) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	f.mu.Lock()
	if f.called == nil {
		f.called = make(chan struct{}, 1)
	}
	called := f.called
	f.mu.Unlock()
	timeout := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-called:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (f *fakeStream) shard(id string) *fakeShard {
	for _, s := range f.shards {
		if s.id == id {
			return s
		}
	}
	return nil
}

// addShard adds a shard with n records.
func (f *fakeStream) addShard(id, parent string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shards = append(f.shards, &fakeShard{id: id, parent: parent})
	f.appendLocked(id, n)
}

// write appends n records to shard id and returns their sequence numbers.
func (f *fakeStream) write(id string, n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.appendLocked(id, n)
}

func (f *fakeStream) appendLocked(id string, n int) []string {
	s := f.shard(id)
	var out []string
	for range n {
		f.seq++
		seq := fmt.Sprintf("%06d", f.seq)
		s.seqs = append(s.seqs, seq)
		out = append(out, seq)
	}
	return out
}

func (f *fakeStream) close(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shard(id).closed = true
}

func (f *fakeStream) iterators() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.iterLog)
}

func (f *fakeStream) DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calledLocked()
	start := 0
	if in.ExclusiveStartShardId != nil {
		start = slices.IndexFunc(f.shards, func(s *fakeShard) bool { return s.id == *in.ExclusiveStartShardId }) + 1
	}
	end := len(f.shards)
	if f.pageSize > 0 {
		end = min(end, start+f.pageSize)
	}
	desc := &types.StreamDescription{StreamArn: in.StreamArn, StreamStatus: types.StreamStatusEnabled}
	for _, s := range f.shards[start:end] {
		sh := types.Shard{ShardId: aws.String(s.id), SequenceNumberRange: &types.SequenceNumberRange{}}
		if s.parent != "" {
			sh.ParentShardId = aws.String(s.parent)
		}
		if len(s.seqs) > 0 {
			sh.SequenceNumberRange.StartingSequenceNumber = aws.String(s.seqs[0])
		}
		if s.closed && len(s.seqs) > 0 {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String(s.seqs[len(s.seqs)-1])
		}
		desc.Shards = append(desc.Shards, sh)
	}
	if end < len(f.shards) {
		desc.LastEvaluatedShardId = aws.String(f.shards[end-1].id)
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: desc}, nil
}

func (f *fakeStream) GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calledLocked()
	s := f.shard(aws.ToString(in.ShardId))
	if s == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no shard")}
	}
	f.iterLog = append(f.iterLog, strings.TrimSpace(fmt.Sprintf("%s %s %s", s.id, in.ShardIteratorType, aws.ToString(in.SequenceNumber))))
	if f.trims > 0 {
		f.trims--
		return nil, &types.TrimmedDataAccessException{Message: aws.String("trimmed")}
	}
	var i int
	switch in.ShardIteratorType {
	case types.ShardIteratorTypeTrimHorizon:
	case types.ShardIteratorTypeLatest:
		i = len(s.seqs)
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		i = slices.Index(s.seqs, aws.ToString(in.SequenceNumber))
		if i < 0 {
			return nil, fmt.Errorf("fake: no record %s in shard %s", aws.ToString(in.SequenceNumber), s.id)
		}
		if in.ShardIteratorType == types.ShardIteratorTypeAfterSequenceNumber {
			i++
		}
	default:
		return nil, fmt.Errorf("fake: iterator type %s", in.ShardIteratorType)
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(s.id + "|" + strconv.Itoa(i))}, nil
}

func (f *fakeStream) GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calledLocked()
	if f.recordTrims > 0 {
		f.recordTrims--
		return nil, &types.TrimmedDataAccessException{Message: aws.String("trimmed")}
	}
	id, index, _ := strings.Cut(aws.ToString(in.ShardIterator), "|")
	s := f.shard(id)
	i, err := strconv.Atoi(index)
	if s == nil || err != nil {
		return nil, fmt.Errorf("fake: bad iterator %q", aws.ToString(in.ShardIterator))
	}
	end := min(len(s.seqs), i+int(aws.ToInt32(in.Limit)))
	out := &dynamodbstreams.GetRecordsOutput{}
	for _, seq := range s.seqs[i:end] {
		out.Records = append(out.Records, types.Record{
			EventName: types.OperationTypeInsert,
			Dynamodb: &types.StreamRecord{
				SequenceNumber: aws.String(seq),
				Keys:           map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "k" + seq}},
			},
		})
	}
	if !s.closed || end < len(s.seqs) {
		out.NextShardIterator = aws.String(s.id + "|" + strconv.Itoa(end))
	}
	return out, nil
}

// handlerLog records the batches a handler received and lets a test decide
// which records fail.
type handlerLog struct {
	mu      sync.Mutex
	batches [][]string
	handled []string // sequence numbers handled successfully, in order
	fail    func(seq string, attempt int) bool
	err     func(batch int) error
	seen    map[string]int
}

func (l *handlerLog) handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]int{}
	}
	var seqs []string
	for _, r := range ev.Records {
		seqs = append(seqs, r.Change.SequenceNumber)
	}
	l.batches = append(l.batches, seqs)
	if l.err != nil {
		if err := l.err(len(l.batches)); err != nil {
			return events.DynamoDBEventResponse{}, err
		}
	}
	var resp events.DynamoDBEventResponse
	for i, seq := range seqs {
		l.seen[seq]++
		if l.fail != nil && l.fail(seq, l.seen[seq]) {
			for _, rest := range seqs[i:] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: rest})
			}
			return resp, nil
		}
		l.handled = append(l.handled, seq)
	}
	return resp, nil
}

func (l *handlerLog) handledSeqs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.handled)
}

func (l *handlerLog) batchList() [][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.batches)
}

// start runs p until the test ends, and checks that Run returns nil once
// its context is cancelled.
func start(t *testing.T, p *streams.Poller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
}

func fastOptions(h streams.Handler) streams.PollerOptions {
	return streams.PollerOptions{
		Handler:              h,
		StreamARN:            "arn:aws:dynamodb:local:000000000000:table/events/stream/1",
		PollInterval:         2 * time.Millisecond,
		RetryDelay:           time.Millisecond,
		ShardRefreshInterval: 10 * time.Millisecond,
		BatchSize:            3,
	}
}

// TestPollerShardLineage: every record is handled once; a child shard is
// read only after its parent was read to its end, and shards that appear
// later are found and read from their start.
func TestPollerShardLineage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeStream{pageSize: 1}
		f.addShard("s1", "", 5)   // 000001-000005
		f.addShard("s2", "s1", 2) // 000006-000007, waits for s1
		f.addShard("s3", "", 1)   // 000008
		log := &handlerLog{}
		p, err := streams.NewPoller(f, fastOptions(log.handle))
		if err != nil {
			t.Fatal(err)
		}
		start(t, p)
		f.waitFor(t, "s1 read", func() bool { return len(log.handledSeqs()) >= 6 })
		if slices.Contains(log.handledSeqs(), "000006") {
			t.Fatalf("child shard read before its parent was closed: %v", log.handledSeqs())
		}
		f.write("s1", 1) // 000009
		f.close("s1")
		f.write("s3", 1) // 000010
		f.waitFor(t, "s2 read", func() bool { return len(log.handledSeqs()) == 10 })
		f.close("s3")
		f.addShard("s4", "s3", 2) // 000011-000012, found by a later description
		f.write("s2", 1)          // 000013
		f.waitFor(t, "all records", func() bool { return len(log.handledSeqs()) == 13 })

		got := log.handledSeqs()
		sorted := slices.Sorted(slices.Values(got))
		if want := []string{"000001", "000002", "000003", "000004", "000005", "000006", "000007", "000008", "000009", "000010", "000011", "000012", "000013"}; !slices.Equal(sorted, want) {
			t.Fatalf("handled %v, want each record once", got)
		}
		before := func(a, b string) bool { return slices.Index(got, a) < slices.Index(got, b) }
		for _, pair := range [][2]string{{"000005", "000009"}, {"000009", "000006"}, {"000006", "000007"}, {"000007", "000013"}, {"000010", "000011"}} {
			if !before(pair[0], pair[1]) {
				t.Errorf("%s handled after %s: %v", pair[0], pair[1], got)
			}
		}
		for _, b := range log.batchList() {
			if len(b) > 3 {
				t.Errorf("batch of %d records over BatchSize 3", len(b))
			}
		}
	})
}

// TestPollerLatest: with LATEST, records written before Run are skipped and
// closed shards are not read.
func TestPollerLatest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeStream{}
		f.addShard("old", "", 2)
		f.close("old")
		f.addShard("open", "old", 2)
		log := &handlerLog{}
		opts := fastOptions(log.handle)
		opts.StartingPosition = types.ShardIteratorTypeLatest
		p, err := streams.NewPoller(f, opts)
		if err != nil {
			t.Fatal(err)
		}
		start(t, p)
		f.waitFor(t, "the LATEST iterator", func() bool { return slices.Contains(f.iterators(), "open LATEST") })
		fresh := f.write("open", 2)
		f.waitFor(t, "new records", func() bool { return len(log.handledSeqs()) == 2 })
		if got := log.handledSeqs(); !slices.Equal(got, fresh) {
			t.Errorf("handled %v, want only %v", got, fresh)
		}
		for _, it := range f.iterators() {
			if strings.HasPrefix(it, "old ") {
				t.Errorf("closed shard read: %s", it)
			}
		}
	})
}

// TestPollerRetries: a failed record is read again from its sequence
// number, the records before it are not; after MaxRetries it is skipped.
func TestPollerRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		maxRetries  int
		fail        func(seq string, attempt int) bool
		err         func(batch int) error
		wantHandled []string
		wantBatches [][]string
		wantIters   []string
	}{
		{
			name:        "fails once",
			fail:        func(seq string, attempt int) bool { return seq == "000002" && attempt == 1 },
			wantHandled: []string{"000001", "000002", "000003", "000004"},
			wantBatches: [][]string{{"000001", "000002", "000003"}, {"000002", "000003", "000004"}},
			wantIters:   []string{"s1 TRIM_HORIZON", "s1 AT_SEQUENCE_NUMBER 000002"},
		},
		{
			name:        "fails for good",
			maxRetries:  2,
			fail:        func(seq string, attempt int) bool { return seq == "000002" },
			wantHandled: []string{"000001", "000003", "000004"},
			wantBatches: [][]string{{"000001", "000002", "000003"}, {"000002", "000003", "000004"}, {"000002", "000003", "000004"}, {"000003", "000004"}},
			wantIters:   []string{"s1 TRIM_HORIZON", "s1 AT_SEQUENCE_NUMBER 000002", "s1 AT_SEQUENCE_NUMBER 000002", "s1 AFTER_SEQUENCE_NUMBER 000002"},
		},
		{
			name: "handler error fails the batch",
			err: func(batch int) error {
				if batch == 1 {
					return errors.New("crashed")
				}
				return nil
			},
			wantHandled: []string{"000001", "000002", "000003", "000004"},
			wantBatches: [][]string{{"000001", "000002", "000003"}, {"000001", "000002", "000003"}, {"000004"}},
			wantIters:   []string{"s1 TRIM_HORIZON", "s1 AT_SEQUENCE_NUMBER 000001"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := &fakeStream{}
				f.addShard("s1", "", 4)
				f.close("s1")
				log := &handlerLog{fail: tt.fail, err: tt.err}
				opts := fastOptions(log.handle)
				opts.MaxRetries = tt.maxRetries
				p, err := streams.NewPoller(f, opts)
				if err != nil {
					t.Fatal(err)
				}
				start(t, p)
				f.waitFor(t, "the shard read", func() bool { return slices.Contains(log.handledSeqs(), "000004") })
				if got := log.handledSeqs(); !slices.Equal(got, tt.wantHandled) {
					t.Errorf("handled %v, want %v", got, tt.wantHandled)
				}
				if got := log.batchList(); !slices.EqualFunc(got, tt.wantBatches, slices.Equal) {
					t.Errorf("batches %v, want %v", got, tt.wantBatches)
				}
				if got := f.iterators(); !slices.Equal(got, tt.wantIters) {
					t.Errorf("iterators %v, want %v", got, tt.wantIters)
				}
			})
		})
	}
}

// TestPollerUnknownFailure: a batch item failure naming no record of the
// batch fails the whole batch, as with Lambda.
func TestPollerUnknownFailure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeStream{}
		f.addShard("s1", "", 2)
		var mu sync.Mutex
		var calls [][]string
		h := func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			var seqs []string
			for _, r := range ev.Records {
				seqs = append(seqs, r.Change.SequenceNumber)
			}
			calls = append(calls, seqs)
			if len(calls) == 1 {
				return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: "nonsense"}}}, nil
			}
			return events.DynamoDBEventResponse{}, nil
		}
		p, err := streams.NewPoller(f, fastOptions(h))
		if err != nil {
			t.Fatal(err)
		}
		start(t, p)
		f.waitFor(t, "the retry", func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) >= 2 })
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"000001", "000002"}; !slices.Equal(calls[0], want) || !slices.Equal(calls[1], want) {
			t.Errorf("calls %v, want the whole batch twice", calls)
		}
	})
}

func TestNewPollerValidates(t *testing.T) {
	t.Parallel()
	h := func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return events.DynamoDBEventResponse{}, nil
	}
	tests := []struct {
		name string
		opts streams.PollerOptions
		want error
	}{
		{"no handler", streams.PollerOptions{StreamARN: "arn"}, streams.ErrNoHandler},
		{"no stream", streams.PollerOptions{Handler: h}, streams.ErrNoStream},
		{"table without client", streams.PollerOptions{Handler: h, Table: "events"}, streams.ErrNoStream},
		{"bad starting position", streams.PollerOptions{Handler: h, StreamARN: "arn", StartingPosition: types.ShardIteratorTypeAtTimestamp}, nil},
	}
	for _, tt := range tests {
		p, err := streams.NewPoller(&fakeStream{}, tt.opts)
		if err == nil || p != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, %v; want error %v", tt.name, p, err, tt.want)
		}
	}
	if _, err := streams.NewPoller(&fakeStream{}, streams.PollerOptions{Handler: h, Table: "events", TableClient: tableStub{}}); err != nil {
		t.Errorf("table and client: %v", err)
	}
}

// tableStub answers DescribeTable with its table, or its error.
type tableStub struct {
	table *dbtypes.TableDescription
	err   error
}

func (s tableStub) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return &dynamodb.DescribeTableOutput{Table: s.table}, s.err
}

func TestRunWithoutStream(t *testing.T) {
	t.Parallel()
	h := func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return events.DynamoDBEventResponse{}, nil
	}
	missing := errors.New("ResourceNotFoundException: table not found")
	tests := []struct {
		name  string
		table tableStub
		want  error
	}{
		{"no stream", tableStub{table: &dbtypes.TableDescription{TableName: aws.String("events")}}, streams.ErrStreamDisabled},
		{"stream disabled", tableStub{table: &dbtypes.TableDescription{
			LatestStreamArn:     aws.String("arn:old"),
			StreamSpecification: &dbtypes.StreamSpecification{StreamEnabled: aws.Bool(false)},
		}}, streams.ErrStreamDisabled},
		{"no table", tableStub{err: missing}, missing},
	}
	for _, tt := range tests {
		p, err := streams.NewPoller(&fakeStream{}, streams.PollerOptions{Handler: h, Table: "events", TableClient: tt.table})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(t.Context()); !errors.Is(err, tt.want) {
			t.Errorf("%s: Run = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestPollerTrimmed: records gone from the stream are reported as lost (at
// ERROR) only when the reader had a position after a record it handled; a
// reader that had read nothing of the shard yet lost nothing and says so
// quietly. Either way it goes on from the trim horizon.
func TestPollerTrimmed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		readFirst bool // handle records before the trim
		wantError bool
	}{
		{name: "at start", readFirst: false, wantError: false},
		{name: "after records were handled", readFirst: true, wantError: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeStream{}
				f.addShard("s", "", 0)
				var logs strings.Builder
				var mu sync.Mutex
				hlog := &handlerLog{}
				opts := fastOptions(hlog.handle)
				opts.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
				if !tt.readFirst {
					f.mu.Lock()
					f.trims = 1
					f.mu.Unlock()
				}
				p, err := streams.NewPoller(f, opts)
				if err != nil {
					t.Fatal(err)
				}
				start(t, p)
				if tt.readFirst {
					f.write("s", 2)
					f.waitFor(t, "the first records", func() bool { return len(hlog.handledSeqs()) == 2 })
					// The next read finds the records after the reader's
					// position gone.
					f.mu.Lock()
					f.recordTrims = 1
					f.mu.Unlock()
				}
				f.waitFor(t, "a TRIM_HORIZON iterator after the trim", func() bool {
					its := f.iterators()
					return len(its) >= 2 && strings.HasSuffix(its[len(its)-1], "TRIM_HORIZON")
				})
				mu.Lock()
				out := logs.String()
				mu.Unlock()
				if got := strings.Contains(out, "level=ERROR"); got != tt.wantError {
					t.Errorf("ERROR logged: %v, want %v; logs:\n%s", got, tt.wantError, out)
				}
			})
		})
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
