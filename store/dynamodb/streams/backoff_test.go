package streams_test

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/gqlambda/gqlambda/store/dynamodb/streams"
)

// downStream is a fakeStream whose calls fail with a refused connection
// while down is set, counting them.
type downStream struct {
	*fakeStream
	down  atomic.Bool
	calls atomic.Int64
}

func refused() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connect: connection refused", Addr: "127.0.0.1:1"}}
}

func (d *downStream) DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, o ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	if d.down.Load() {
		d.calls.Add(1)
		return nil, refused()
	}
	return d.fakeStream.DescribeStream(ctx, in, o...)
}

func (d *downStream) GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, o ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	if d.down.Load() {
		d.calls.Add(1)
		return nil, refused()
	}
	return d.fakeStream.GetRecords(ctx, in, o...)
}

// TestPollerBacksOff: while the Streams API refuses every call, the poller
// pauses longer after each failure (up to MaxBackoff) and says what is wrong
// once, at WARN; when it answers again, the poller says so once, at INFO,
// and reads on without losing a record.
func TestPollerBacksOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &downStream{fakeStream: &fakeStream{}}
		f.addShard("s", "", 1)
		var logs strings.Builder
		var mu sync.Mutex
		hlog := &handlerLog{}
		opts := fastOptions(hlog.handle)
		opts.PollInterval = 100 * time.Millisecond
		opts.ShardRefreshInterval = time.Second
		opts.MaxBackoff = 5 * time.Second
		opts.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
		p, err := streams.NewPoller(f, opts)
		if err != nil {
			t.Fatal(err)
		}
		start(t, p)
		f.waitFor(t, "the first record", func() bool { return len(hlog.handledSeqs()) == 1 })

		f.down.Store(true)
		time.Sleep(time.Minute)
		// At a fixed 100 ms poll interval the reader and the refreshes
		// would make about 660 calls; with backoff to 5 s, a few dozen.
		if calls := f.calls.Load(); calls > 50 || calls < 5 {
			t.Errorf("%d calls in a minute of refusals, want between 5 and 50 (backoff up to 5 s)", calls)
		}
		f.write("s", 2)
		f.down.Store(false)
		f.waitFor(t, "the records written during the outage", func() bool { return len(hlog.handledSeqs()) == 3 })
		time.Sleep(10 * time.Second)

		mu.Lock()
		out := logs.String()
		mu.Unlock()
		var warns, infos []string
		for l := range strings.SplitSeq(out, "\n") {
			switch {
			case strings.Contains(l, "level=WARN"):
				warns = append(warns, l)
			case strings.Contains(l, "level=INFO") && strings.Contains(l, "reading again"):
				infos = append(infos, l)
			}
		}
		// One WARN for each distinct failure: reading records, describing
		// the stream.
		if len(warns) == 0 || len(warns) > 2 {
			t.Errorf("%d WARN lines, want each distinct failure once:\n%s", len(warns), out)
		}
		if len(infos) == 0 || len(infos) > 2 {
			t.Errorf("%d INFO lines of recovery, want one per failing reader:\n%s", len(infos), out)
		}
		if got := hlog.handledSeqs(); !slices.Equal(got, []string{"000001", "000002", "000003"}) {
			t.Errorf("handled %v, want every record once", got)
		}
	})
}
