package gqlambda

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/store"
)

// This file is scale-out fan-out: a Publish to a topic with more
// subscriptions than one invocation should deliver is split into ranges of
// the store's keys, each sent as one message to a queue (SQS, whose event
// source mapping runs the workers), and each delivered by a worker through
// the same fan-out as a direct Publish. See docs/scale-out.md.

// Defaults of [ScaleOut], measured as docs/scale-out.md tells.
const (
	// DefaultScaleOutThreshold is the default of ScaleOut.Threshold,
	// where the split's measured fixed cost equals a direct delivery: in
	// the 100,000-subscription bench the first post came 3.4 s after the
	// publish (the first 20 ranges walked and sent), the time one
	// invocation takes to post to about 20,000 subscriptions at the
	// 7,200 posts/s measured for a direct Publish (docs/benchmarks.md).
	DefaultScaleOutThreshold = 20000
	// DefaultRangeSize is the default of ScaleOut.RangeSize: 1,000
	// subscriptions, about 0.1 s of posts at the account rate, one page of
	// a DynamoDB Query, and 8 KB of settled keys in the range's record.
	DefaultRangeSize = 1000
	// DefaultRangeLease is the default of ScaleOut.Lease.
	DefaultRangeLease = 2 * time.Minute
	// DefaultMaxReceiveCount is the default of ScaleOut.MaxReceiveCount.
	DefaultMaxReceiveCount = 5
	// DefaultCheckpointInterval is the default of ScaleOut.CheckpointInterval.
	DefaultCheckpointInterval = time.Second
)

// ErrRangeInProgress: another worker holds the range (its lease has not
// ended). The message is retried later.
var ErrRangeInProgress = errors.New("gqlambda: the range is being delivered by another worker")

// ErrScaleOutStore: Config.ScaleOut needs a store with the optional
// capabilities store.RangeReader and store.SplitLog.
var ErrScaleOutStore = errors.New("gqlambda: Config.ScaleOut needs a store that implements store.RangeReader and store.SplitLog (store/memory, store/dynamodb and store/redis do)")

// RangeQueue is where a split Publish sends its ranges: a queue whose
// consumer calls [Server.RangeHandler]. workqueue.SQS is the SQS
// implementation.
type RangeQueue interface {
	// SendRanges sends every task as one message, or fails: a task it
	// reports as failed after sending others is sent again by no one.
	SendRanges(ctx context.Context, tasks []RangeTask) error
}

// RangeTask is one message of a split Publish: everything a worker needs to
// deliver one range, and to replay it from a dead-letter queue.
type RangeTask struct {
	// Split is the split's id, Index the range's number within it.
	Split string `json:"split"`
	Index int    `json:"index"`
	// Topic and Payload are the event.
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// Range is the range's keys in the store.
	Range store.Range `json:"range"`
}

// maxRangeTask bounds the encoded size of a task: SQS's message limit.
const maxRangeTask = 256 << 10

// EncodeRangeTask returns the message body of t.
func EncodeRangeTask(t RangeTask) ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("gqlambda: encode range task: %w", err)
	}
	if len(b) > maxRangeTask {
		return nil, fmt.Errorf("gqlambda: encode range task: %d bytes, over the queue's %d (a payload that large cannot be sent to a client either)", len(b), maxRangeTask)
	}
	return b, nil
}

// DecodeRangeTask decodes a message body that EncodeRangeTask made. A body
// that is not one is an error wrapping [store.ErrInvalidEvent].
func DecodeRangeTask(body []byte) (RangeTask, error) {
	var t RangeTask
	if len(body) > maxRangeTask {
		return RangeTask{}, fmt.Errorf("gqlambda: %w: range task of %d bytes", store.ErrInvalidEvent, len(body))
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return RangeTask{}, fmt.Errorf("gqlambda: %w: range task: %w", store.ErrInvalidEvent, err)
	}
	switch {
	case t.Split == "":
		return RangeTask{}, fmt.Errorf("gqlambda: %w: range task without split id", store.ErrInvalidEvent)
	case t.Topic == "":
		return RangeTask{}, fmt.Errorf("gqlambda: %w: range task without topic", store.ErrInvalidEvent)
	case t.Index < 0 || t.Range.Shard < 0:
		return RangeTask{}, fmt.Errorf("gqlambda: %w: range task with negative index or shard", store.ErrInvalidEvent)
	case len(t.Payload) > 0 && !json.Valid(t.Payload):
		return RangeTask{}, fmt.Errorf("gqlambda: %w: range task payload is not JSON", store.ErrInvalidEvent)
	}
	return t, nil
}

// ScaleOut configures scale-out fan-out (Config.ScaleOut): Publish splits
// a topic with more than Threshold subscriptions into ranges and sends them
// to Queue, whose consumer ([Server.RangeHandler]) delivers each. The store
// must implement [store.RangeReader] and [store.SplitLog].
type ScaleOut struct {
	// Queue receives the ranges. Required.
	Queue RangeQueue
	// Threshold is how many subscriptions a topic may have and still be
	// delivered by the publishing invocation itself. Default
	// DefaultScaleOutThreshold.
	Threshold int
	// RangeSize is how many subscriptions one range holds at most.
	// Default DefaultRangeSize.
	RangeSize int
	// MaxWorkers is how many workers run at most, the event source
	// mapping's maximum concurrency; it is what [Split] reports as
	// Workers. Default 0: as many as ranges.
	MaxWorkers int
	// Lease is how long a worker's claim of a range keeps others from
	// delivering it; each checkpoint extends it. A worker that crashed
	// leaves the range to the next delivery of its message once the lease
	// ended. It must exceed CheckpointInterval plus one post with every
	// retry. Default DefaultRangeLease.
	Lease time.Duration
	// Window is how long the records of a split are kept: replays from the
	// dead-letter queue within it deliver only what was not delivered.
	// Default: Redelivery.Window, else 24 hours.
	Window time.Duration
	// MaxReceiveCount is the queue's redrive policy's maxReceiveCount: a
	// worker whose delivery of a range fails on that receive marks the
	// range dead (it goes to the dead-letter queue). Default
	// DefaultMaxReceiveCount.
	MaxReceiveCount int
	// CheckpointInterval is how often a worker records the subscriptions
	// it settled, so that a worker that crashes leaves at most that much
	// to be delivered twice. Default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// OnComplete, when set, is called by the worker that ends the last
	// range of a split (done or dead), and by Publish when every range
	// ended before it sealed the split. It may be called more than once
	// for one split when a worker retries.
	OnComplete func(ctx context.Context, st store.SplitStatus)
}

// Split is what a split Publish reports ([PublishResult.Split]).
type Split struct {
	// ID names the split: [Server.WaitSplit] and store.SplitLog.GetSplit
	// take it.
	ID string
	// Ranges is how many ranges were sent; Subscriptions how many keys they
	// held.
	Ranges, Subscriptions int
	// Workers is how many workers will deliver them at most: the smaller of
	// Ranges and ScaleOut.MaxWorkers.
	Workers int
	// Pending is how many ranges were not done when Publish returned.
	Pending int
}

// scaleOut is the server's resolved ScaleOut.
type scaleOut struct {
	ScaleOut
	ranges store.RangeReader
	splits store.SplitLog
}

// configureScaleOut checks and completes cfg; st is the unbounded store.
func (s *Server) configureScaleOut(cfg *ScaleOut) error {
	if cfg == nil {
		return nil
	}
	rr, ok1 := s.store.(store.RangeReader)
	sl, ok2 := s.store.(store.SplitLog)
	if !ok1 || !ok2 {
		return fmt.Errorf("%w (got %T)", ErrScaleOutStore, s.store)
	}
	if cfg.Queue == nil {
		return errors.New("gqlambda: ScaleOut.Queue is required")
	}
	so := &scaleOut{ScaleOut: *cfg, ranges: rr, splits: sl}
	so.Threshold = orDefault(so.Threshold, DefaultScaleOutThreshold)
	so.RangeSize = orDefault(so.RangeSize, DefaultRangeSize)
	so.MaxReceiveCount = orDefault(so.MaxReceiveCount, DefaultMaxReceiveCount)
	if so.Lease <= 0 {
		so.Lease = DefaultRangeLease
	}
	if so.CheckpointInterval <= 0 {
		so.CheckpointInterval = DefaultCheckpointInterval
	}
	if so.Window <= 0 {
		so.Window = max(s.window, DefaultRedeliveryWindow)
	}
	s.scale = so
	return nil
}

// subscriptions returns what a fan-out of p delivers to: its range, or
// every subscription of its topic.
func (p publication) subscriptions(ctx context.Context, st store.Store) iter.Seq2[store.Subscription, error] {
	if p.subs != nil {
		return p.subs
	}
	return st.TopicSubscriptions(ctx, p.topic)
}

// publishSplit splits a Publish of p (payload raw) when its topic has more
// than Threshold subscriptions. handled is false when it has not, and the
// caller delivers directly: to p.subs when publishSplit set it, which it
// does for a topic of at most one range (RangeSize), read once, in full,
// before anything else; a larger topic's keys are walked to count them, as
// the split needs them anyway. An event with an id (Deliver) is split
// under that id: a source that delivers it again after its split was
// sealed gets the split's status, and one that delivers it again before
// resends its ranges under the same keys, which workers find done or
// settled.
func (s *Server) publishSplit(ctx context.Context, p *publication, raw json.RawMessage) (res PublishResult, handled bool, err error) {
	so := s.scale
	if p.id != "" {
		st, err := call(s.bounded(), ctx, func(ctx context.Context) (store.SplitStatus, error) { return so.splits.GetSplit(ctx, p.id) })
		if err != nil {
			return PublishResult{}, true, fmt.Errorf("gqlambda: split of event %s: %w", p.id, err)
		}
		if st.Sealed() {
			return PublishResult{Split: &Split{ID: p.id, Ranges: st.Ranges, Workers: so.workers(st.Ranges), Pending: st.Pending()}}, true, nil
		}
	}
	// Most topics are small: one read decides and delivers. Reading more
	// before deciding would delay a large topic's split by what it reads.
	if subs, over := s.readUpTo(ctx, p.topic, min(so.RangeSize, so.Threshold)); !over {
		p.subs = subs
		return PublishResult{}, false, nil
	}
	var (
		buffered []RangeTask
		split    *Split
		count    int
	)
	send := func(tasks []RangeTask) error {
		sctx, cancel := context.WithTimeout(ctx, s.limits.StoreTimeout)
		defer cancel()
		if err := so.Queue.SendRanges(sctx, tasks); err != nil {
			return fmt.Errorf("gqlambda: send %d ranges of split %s of topic %q: %w", len(tasks), split.ID, p.topic, err)
		}
		split.Ranges += len(tasks)
		return nil
	}
	topicRanges := boundedSeq(s.bounded(), ctx, func(ctx context.Context) iter.Seq2[store.Range, error] {
		return so.ranges.TopicRanges(ctx, p.topic, so.RangeSize)
	})
	for r, err := range topicRanges {
		if err != nil {
			if split == nil {
				return PublishResult{}, true, fmt.Errorf("gqlambda: split topic %q: %w", p.topic, err)
			}
			return PublishResult{Split: split}, true, fmt.Errorf("gqlambda: split %s of topic %q: %w", split.ID, p.topic, err)
		}
		count += r.Size
		buffered = append(buffered, RangeTask{Index: len(buffered), Topic: p.topic, Payload: raw, Range: r})
		if split == nil {
			if count <= so.Threshold {
				continue
			}
			split = &Split{ID: p.id}
			if split.ID == "" {
				split.ID = rand.Text()
			}
			for i := range buffered {
				buffered[i].Split = split.ID
			}
		}
		buffered[len(buffered)-1].Split = split.ID
		if len(buffered)-split.Ranges >= sendBatch {
			if err := send(buffered[split.Ranges:]); err != nil {
				return PublishResult{Split: split}, true, err
			}
			// The sent tasks are not needed again: keep only the count.
			clear(buffered[:split.Ranges])
		}
	}
	if split == nil {
		return PublishResult{}, false, nil
	}
	if len(buffered) > split.Ranges {
		if err := send(buffered[split.Ranges:]); err != nil {
			return PublishResult{Split: split}, true, err
		}
	}
	split.Subscriptions = count
	split.Workers = so.workers(split.Ranges)
	st, err := call(s.bounded(), ctx, func(ctx context.Context) (store.SplitStatus, error) {
		return so.splits.SealSplit(ctx, split.ID, split.Ranges, s.now().Add(so.Window))
	})
	if err != nil {
		return PublishResult{Split: split}, true, fmt.Errorf("gqlambda: seal split %s of topic %q: %w", split.ID, p.topic, err)
	}
	split.Pending = st.Pending()
	if st.Complete() && so.OnComplete != nil {
		so.OnComplete(ctx, st)
	}
	s.log.InfoContext(ctx, "publish split", slog.String("topic", p.topic), slog.String("split", split.ID),
		slog.Int("ranges", split.Ranges), slog.Int("subscriptions", count), slog.Int("workers", split.Workers))
	return PublishResult{Split: split}, true, nil
}

// readUpTo reads the subscriptions of topic until it has more than limit.
// over is false when the topic has at most limit: subs then yields them
// all, from memory, and then the read's error if it failed (the fan-out
// delivers what was read and reports the error, as it does when a direct
// read fails). When over, the read stopped after limit+1 and subs is nil.
func (s *Server) readUpTo(ctx context.Context, topic string, limit int) (subs iter.Seq2[store.Subscription, error], over bool) {
	var (
		read    []store.Subscription
		readErr error
	)
	for sub, err := range s.store.TopicSubscriptions(ctx, topic) {
		if err != nil {
			readErr = err
			break
		}
		if len(read) == limit {
			return nil, true
		}
		read = append(read, sub)
	}
	return func(yield func(store.Subscription, error) bool) {
		for _, sub := range read {
			if !yield(sub, nil) {
				return
			}
		}
		if readErr != nil {
			yield(store.Subscription{}, readErr)
		}
	}, false
}

// workers is how many workers deliver ranges at most.
func (so *scaleOut) workers(ranges int) int {
	if so.MaxWorkers > 0 {
		return min(ranges, so.MaxWorkers)
	}
	return ranges
}

// sendBatch is how many ranges Publish sends at once: SQS's
// SendMessageBatch takes 10 messages.
const sendBatch = 10

// WaitSplit waits until every range of split id is done or dead and
// returns its status; poll is how often it reads it (0: 200 ms). It returns
// the last status read with the context's error when ctx ends first.
func (s *Server) WaitSplit(ctx context.Context, id string, poll time.Duration) (store.SplitStatus, error) {
	if s.scale == nil {
		return store.SplitStatus{}, errors.New("gqlambda: WaitSplit needs Config.ScaleOut")
	}
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var last store.SplitStatus
	for {
		st, err := call(s.bounded(), ctx, func(ctx context.Context) (store.SplitStatus, error) { return s.scale.splits.GetSplit(ctx, id) })
		if err == nil {
			last = st
			if st.Complete() {
				return st, nil
			}
		} else if ctx.Err() == nil {
			s.log.WarnContext(ctx, "read split status", slog.String("split", id), slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// RangeHandler returns the handler of the worker function: a Lambda
// function whose SQS event source mapping reads the queue of
// ScaleOut.Queue (with ReportBatchItemFailures). It delivers the range of
// each message, one message after another, and reports as batch item
// failures the messages to receive again: a range with subscriptions still
// to deliver (posts that failed after every retry, a store error), one that
// another worker holds, and one that failed for good (on its
// MaxReceiveCount-th receive; it is marked dead and the queue moves it to
// its dead-letter queue). A message that is no range task is reported
// through Hooks.OnError and dropped. The server needs Config.ScaleOut.
func (s *Server) RangeHandler() func(context.Context, lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	return func(ctx context.Context, batch lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
		var resp lambdaevents.SQSEventResponse
		if s.scale == nil {
			return resp, errors.New("gqlambda: RangeHandler needs Config.ScaleOut")
		}
		for _, msg := range batch.Records {
			task, err := DecodeRangeTask([]byte(msg.Body))
			if err != nil {
				s.reportError(ctx, fmt.Errorf("gqlambda: message %s: %w", msg.MessageId, err), slog.String("message_id", msg.MessageId))
				continue
			}
			receives, _ := strconv.Atoi(msg.Attributes["ApproximateReceiveCount"])
			if _, err := s.DeliverRange(ctx, task, receives); err != nil {
				s.log.WarnContext(ctx, "range not done", slog.String("split", task.Split), slog.Int("range", task.Index),
					slog.String("message_id", msg.MessageId), slog.String("error", err.Error()))
				resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
			}
		}
		return resp, nil
	}
}

// DeliverRange delivers the range of task, its receives-th delivery by the
// queue (0 when unknown): it claims the range, fans the event out to the
// range's subscriptions but those that earlier attempts settled, records
// what it settled as it goes and at the end, and ends the range done, or
// released, or (on the MaxReceiveCount-th receive) dead. It returns an error
// when the range is not done: the caller delivers it again later. A range
// done before returns a zero result and no error.
func (s *Server) DeliverRange(ctx context.Context, task RangeTask, receives int) (PublishResult, error) {
	so := s.scale
	if so == nil {
		return PublishResult{}, errors.New("gqlambda: DeliverRange needs Config.ScaleOut")
	}
	if s.sender == nil {
		return PublishResult{}, ErrNoSender
	}
	p, err := decodePublication(task.Topic, task.Payload)
	if err != nil {
		return PublishResult{}, fmt.Errorf("gqlambda: %w %s/%d: %w", store.ErrInvalidEvent, task.Split, task.Index, err)
	}
	k := store.RangeKey{Split: task.Split, Index: task.Index}
	token := rand.Text()
	now := s.now()
	claim, err := call(s.bounded(), ctx, func(ctx context.Context) (store.RangeClaim, error) {
		return so.splits.ClaimRange(ctx, k, token, now.Add(so.Lease), now.Add(so.Window))
	})
	switch {
	case err != nil:
		return PublishResult{}, fmt.Errorf("gqlambda: claim range %d of split %s: %w", k.Index, k.Split, err)
	case claim.Status == store.AlreadyDelivered:
		s.log.DebugContext(ctx, "range done before: skipped", slog.String("split", k.Split), slog.Int("range", k.Index))
		return PublishResult{}, nil
	case claim.Status != store.Claimed:
		return PublishResult{}, fmt.Errorf("gqlambda: range %d of split %s: %w", k.Index, k.Split, ErrRangeInProgress)
	}

	tr := &rangeTracker{settled: claim.Settled}
	fctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	p.id = k.Split
	p.subs = s.boundedRange(fctx, task)
	p.log = tr
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() { s.checkpoint(fctx, stop, done, k, token, tr) })
	res, ferr := s.fanOut(fctx, p, false)
	close(done)
	wg.Wait()
	if cause := context.Cause(fctx); ferr == nil && cause != nil && ctx.Err() == nil {
		ferr = cause
	}

	state := store.RangeDone
	switch {
	case ferr == nil && res.Failed == 0:
	case receives >= so.MaxReceiveCount:
		state = store.RangeDead
	default:
		state = store.RangeReleased
	}
	settled := tr.take()
	st, err := call(s.bounded(), context.WithoutCancel(ctx), func(ctx context.Context) (store.SplitStatus, error) {
		return so.splits.EndRange(ctx, k, token, state, settled, res.Delivered, res.Gone, s.now().Add(so.Window))
	})
	if err != nil {
		return res, errors.Join(ferr, fmt.Errorf("gqlambda: end range %d of split %s: %w", k.Index, k.Split, err))
	}
	s.log.DebugContext(ctx, "range ended", slog.String("split", k.Split), slog.Int("range", k.Index), slog.Int("state", int(state)),
		slog.Int("delivered", res.Delivered), slog.Int("duplicates", res.Duplicates), slog.Int("failed", res.Failed),
		slog.Int("ranges_done", st.Done), slog.Int("ranges_dead", st.Dead), slog.Int("ranges", st.Ranges))
	if state != store.RangeReleased && st.Complete() && so.OnComplete != nil {
		so.OnComplete(ctx, st)
	}
	switch {
	case state == store.RangeDone:
		return res, nil
	case ferr != nil:
		return res, ferr
	case state == store.RangeDead:
		return res, fmt.Errorf("gqlambda: range %d of split %s: %d subscriptions failed on receive %d: the range is dead", k.Index, k.Split, res.Failed, receives)
	}
	return res, fmt.Errorf("gqlambda: range %d of split %s: %d subscriptions failed: released for a retry", k.Index, k.Split, res.Failed)
}

// boundedRange reads task's range with the deadline of Limits.StoreTimeout
// on each subscription read (and so on each page), as the server's store
// bounds TopicSubscriptions: a store that hangs fails the range instead of
// holding the worker until its function times out.
func (s *Server) boundedRange(ctx context.Context, task RangeTask) iter.Seq2[store.Subscription, error] {
	return boundedSeq(s.bounded(), ctx, func(ctx context.Context) iter.Seq2[store.Subscription, error] {
		return s.scale.ranges.RangeSubscriptions(ctx, task.Topic, task.Range)
	})
}

// checkpoint records, every CheckpointInterval until done is closed, what
// tr settled, extending the claim's lease. A lost claim stops the fan-out
// (stop) with an error wrapping store.ErrRangeLost.
func (s *Server) checkpoint(ctx context.Context, stop context.CancelCauseFunc, done <-chan struct{}, k store.RangeKey, token string, tr *rangeTracker) {
	so := s.scale
	t := time.NewTicker(so.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		settled := tr.take()
		_, err := call(s.bounded(), ctx, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, so.splits.SettleRange(ctx, k, token, settled, s.now().Add(so.Lease))
		})
		switch {
		case errors.Is(err, store.ErrRangeLost):
			stop(fmt.Errorf("gqlambda: range %d of split %s: %w", k.Index, k.Split, err))
			return
		case err != nil:
			tr.giveBack(settled) // recorded with the next checkpoint or at the end
			s.log.WarnContext(ctx, "checkpoint of a range failed", slog.String("split", k.Split), slog.Int("range", k.Index), slog.String("error", err.Error()))
		}
	}
}

// rangeTracker is the delivery log of one attempt at a range: it skips
// the subscriptions earlier attempts settled and collects those this one
// delivered, for the next checkpoint. It is the [store.DeliveryLog] of the
// range's fan-out.
type rangeTracker struct {
	settled map[uint64]struct{} // read-only

	mu      sync.Mutex
	pending []uint64
}

var _ store.DeliveryLog = (*rangeTracker)(nil)

func (tr *rangeTracker) ClaimDelivery(_ context.Context, d store.Delivery, _ string, _, _ time.Time) (store.ClaimStatus, error) {
	if _, ok := tr.settled[store.SettledKey(d.ConnectionID, d.SubscriptionID)]; ok {
		return store.AlreadyDelivered, nil
	}
	return store.Claimed, nil
}

func (tr *rangeTracker) FinishDelivery(_ context.Context, d store.Delivery, _ string, delivered bool) error {
	if delivered {
		tr.mu.Lock()
		tr.pending = append(tr.pending, store.SettledKey(d.ConnectionID, d.SubscriptionID))
		tr.mu.Unlock()
	}
	return nil
}

// take returns and forgets what was settled since the last take.
func (tr *rangeTracker) take() []uint64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := tr.pending
	tr.pending = nil
	return out
}

// giveBack returns settled keys whose recording failed.
func (tr *rangeTracker) giveBack(settled []uint64) {
	tr.mu.Lock()
	tr.pending = append(tr.pending, settled...)
	tr.mu.Unlock()
}
