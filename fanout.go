package gqlambda

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/internal/telemetry"
	"github.com/gqlambda/gqlambda/store"
)

// This file is the fan-out flow: Publish, Complete and Deliver find the
// subscriptions of a topic, execute their documents with the payload and
// post the frames.

// PublishResult sums up what a [Server.Publish] or [Server.Complete] did.
// Matched = Delivered + Gone + Failed + Duplicates.
type PublishResult struct {
	// Matched counts the topic's subscriptions whose filter matched.
	Matched int
	// Filtered counts the topic's subscriptions whose filter did not match.
	Filtered int
	// Delivered counts frames API Gateway accepted.
	Delivered int
	// Gone counts subscriptions whose connection was gone (410); their
	// connections' state was deleted.
	Gone int
	// Failed counts subscriptions that did not get the event: executions
	// that failed, and posts that failed after every retry. Each failure was
	// passed to Hooks.OnError.
	Failed int
	// Duplicates counts subscriptions that [Server.Deliver] skipped because
	// the event, by its id, had reached them before (see
	// [Config.Redelivery]).
	Duplicates int
	// Stored reports that the event was written to Config.Events instead of
	// being delivered: every counter is then zero, and the event store's
	// stream delivers it later (see [Server.DynamoDBStreamHandler]).
	Stored bool
	// Split, for a Publish that Config.ScaleOut split over workers, reports
	// the split (every counter is then zero: the workers deliver); nil
	// otherwise.
	Split *Split
}

// Publish delivers an event to every subscription of topic whose filter
// matches payload: it finds them by key in the store (page by page), executes
// each one's document with the payload as root value (once per distinct
// document, variables and connection context), and posts `next` frames, at
// most Limits.FanOutConcurrency at a time. A connection that is gone (410) is
// deleted with its subscriptions; throttling and server errors are retried
// by the Sender. One slow or failing connection never holds up the others.
//
// payload is any value encoding/json can encode (or a json.RawMessage);
// filters and resolvers see it JSON-decoded (objects as map[string]any,
// numbers as float64) and must treat it as read-only.
//
// Publish returns once every delivery has settled: delivered, gone, or failed
// for good (see [PublishResult]). Its error reports what stopped it early (the
// store, the context, a missing Config.Sender); the result then counts what
// happened before. It is safe to call from any goroutine, any Lambda, and
// from resolvers and hooks.
//
// With Config.Events set, Publish only writes the event to that store and
// returns PublishResult{Stored: true}: the store's stream delivers it
// asynchronously (see [Server.DynamoDBStreamHandler]), and its error is the
// store's.
func (s *Server) Publish(ctx context.Context, topic string, payload any) (PublishResult, error) {
	return s.publish(ctx, topic, payload, false)
}

// Complete ends every subscription of topic whose filter matches payload
// (with a nil payload: every subscription of topic): each is deleted, its
// client receives `complete`, and its OnComplete hooks run. It returns like
// [Server.Publish]; Delivered counts the `complete` frames sent. With
// Config.Events set it is stored for asynchronous delivery like Publish.
func (s *Server) Complete(ctx context.Context, topic string, payload any) (PublishResult, error) {
	return s.publish(ctx, topic, payload, true)
}

// Deliver fans ev out now, as [Server.Publish] (or [Server.Complete] when
// ev.Complete is set) does without Config.Events, whatever Config.Events
// says. It is what stream and source handlers call for each event; it
// returns like Publish. An event that can never be delivered (no topic, a
// payload that is not JSON) is an error wrapping [store.ErrInvalidEvent],
// before anything is delivered.
//
// Deliver is idempotent per subscription for an event with an ID, when the
// store implements [store.DeliveryLog] (see [Config.Redelivery]): an event
// delivered again within the window reaches only the subscriptions it did
// not reach before (the others count as Duplicates), so a source that
// retries a record after a partial failure does not repeat what succeeded.
// A subscription another invocation is delivering the same event to at the
// same moment counts as Failed, with an error wrapping
// [ErrDeliveryInProgress]: retry the record later.
func (s *Server) Deliver(ctx context.Context, ev store.Event) (PublishResult, error) {
	p, err := decodePublication(ev.Topic, ev.Payload)
	if err != nil {
		return PublishResult{}, fmt.Errorf("gqlambda: %w %s: %w", store.ErrInvalidEvent, ev.ID, err)
	}
	p.id = ev.ID
	if s.scale != nil && !ev.Complete {
		if res, handled, err := s.publishSplit(ctx, &p, ev.Payload); handled {
			return res, err
		}
	}
	return s.fanOut(ctx, p, ev.Complete)
}

// publish is Publish (complete false) and Complete (complete true): the
// payload is encoded once, and either stored for the event store's stream or
// decoded once for a direct fan-out.
func (s *Server) publish(ctx context.Context, topic string, payload any, complete bool) (PublishResult, error) {
	raw, err := encodePayload(topic, payload)
	if err != nil {
		return PublishResult{}, err
	}
	if s.events != nil {
		return s.storeEvent(ctx, store.Event{ID: rand.Text(), Topic: topic, Payload: raw, Complete: complete, PublishedAt: s.now()})
	}
	p, err := decodePublication(topic, raw)
	if err != nil {
		return PublishResult{}, err
	}
	if s.scale != nil && !complete {
		if res, handled, err := s.publishSplit(ctx, &p, raw); handled {
			return res, err
		}
	}
	return s.fanOut(ctx, p, complete)
}

// storeEvent writes a Publish or Complete to the event store.
func (s *Server) storeEvent(ctx context.Context, ev store.Event) (PublishResult, error) {
	if err := s.events.PutEvent(ctx, ev); err != nil {
		return PublishResult{}, fmt.Errorf("gqlambda: store event for topic %q: %w", ev.Topic, &storeFailure{err})
	}
	s.log.DebugContext(ctx, "event stored", slog.String("topic", ev.Topic), slog.String("event_id", ev.ID), slog.Bool("complete", ev.Complete))
	return PublishResult{Stored: true}, nil
}

// publication is one event being fanned out.
type publication struct {
	topic string
	// value is the payload as JSON decodes it: what filters and resolvers see.
	value any
	// all is set for a Complete without payload: every subscription matches.
	all bool
	// id is the event's id when Deliver delivers it: the key of the
	// delivery log (dedup.go). Empty for Publish and Complete.
	id string
	// subs, when set, is what to deliver to instead of reading the topic's
	// subscriptions: a range of a split publish, or the subscriptions a
	// publish read to decide not to split (scaleout.go). log, when set, is
	// the delivery log instead of the store's (a range's).
	subs iter.Seq2[store.Subscription, error]
	log  store.DeliveryLog
}

// decodePublication builds the publication of topic with the JSON payload
// raw, as encodePayload encodes it.
func decodePublication(topic string, raw json.RawMessage) (publication, error) {
	if topic == "" {
		return publication{}, ErrEmptyTopic
	}
	p := publication{topic: topic}
	if len(raw) == 0 {
		p.all = true
		return p, nil
	}
	if err := json.Unmarshal(raw, &p.value); err != nil {
		return publication{}, fmt.Errorf("gqlambda: decode payload for topic %q: %w", topic, err)
	}
	return p, nil
}

// fanout is one Publish or Complete in progress.
type fanout struct {
	s        *Server
	pub      publication
	complete bool

	mu    sync.Mutex
	execs map[uint64]*execution // by execution key hash, chained

	gone sync.Map // connection ids whose state this fan-out deleted

	dedup *dedup // the delivery log's claims, nil without (dedup.go)

	tel *telemetry.Fanout // nil without telemetry

	delivered, goneN, failed, duplicates, rejected atomic.Int64
}

// execution is one run of a document shared by the subscriptions whose
// results are equal: same document, operation, variables, connection
// context, connection data and authorizer context (the execution key).
type execution struct {
	query, operationName                 string
	variables, context, data, authorizer []byte
	next                                 *execution // another key of the same hash

	once   sync.Once
	result []byte
	err    error
}

// matches reports whether sub has e's execution key.
func (e *execution) matches(sub *store.Subscription) bool {
	return e.query == sub.Query && e.operationName == sub.OperationName &&
		bytes.Equal(e.variables, sub.Variables) && bytes.Equal(e.context, sub.Context) &&
		bytes.Equal(e.data, sub.Data) && bytes.Equal(e.authorizer, sub.Authorizer)
}

// job is one subscription handed to a delivery goroutine, with the
// context to deliver it with (the fan-out's, or its telemetry's batch).
type job struct {
	ctx context.Context
	sub store.Subscription
}

// worker is the state of one delivery goroutine of a fan-out.
type worker struct {
	// last is the execution of the previous subscription this worker
	// delivered: subscriptions of one topic mostly share one, which is then
	// found without a lock or a hash.
	last *execution
}

func (s *Server) fanOut(ctx context.Context, p publication, complete bool) (PublishResult, error) {
	if s.sender == nil {
		return PublishResult{}, ErrNoSender
	}
	f := &fanout{s: s, pub: p, complete: complete, execs: make(map[uint64]*execution), dedup: s.newDedup(p, complete)}
	ctx, f.tel = s.tel.StartFanout(ctx, p.topic, complete)
	// Long-lived workers, started as the subscriptions come and at most
	// FanOutConcurrency of them, take the subscriptions from an unbuffered
	// channel: the store is read only as fast as they deliver, the first
	// delivery starts with the first subscription read, and no goroutine
	// is started per subscription.
	work := make(chan job)
	var wg sync.WaitGroup
	workers, maxWorkers := 0, s.limits.FanOutConcurrency
	if b, ok := s.sender.(gateway.Bounded); ok && b.MaxInFlight() > 0 {
		// More workers than the sender has posts in flight would only
		// wait for their turn, at the cost of their goroutines.
		maxWorkers = min(maxWorkers, b.MaxInFlight())
	}
	run := func() {
		var w worker
		for j := range work {
			if f.complete {
				f.completeOne(j.ctx, j.sub)
			} else {
				f.deliver(j.ctx, &w, j.sub)
			}
			f.tel.Settle(j.ctx)
		}
	}
	var res PublishResult
	var stopErr error
	for sub, err := range p.subscriptions(ctx, s.store) {
		if err != nil {
			stopErr = fmt.Errorf("gqlambda: read subscriptions of topic %q: %w", p.topic, err)
			break
		}
		if !p.all && !sub.Filter.Match(p.value) {
			res.Filtered++
			continue
		}
		res.Matched++
		j := job{ctx: f.tel.Dispatch(ctx), sub: sub}
		select {
		case work <- j:
			continue
		default: // every worker is busy
		}
		if workers < maxWorkers {
			workers++
			wg.Go(run)
		}
		work <- j
	}
	close(work)
	wg.Wait()
	res.Delivered = int(f.delivered.Load())
	res.Gone = int(f.goneN.Load())
	res.Failed = int(f.failed.Load())
	res.Duplicates = int(f.duplicates.Load())
	// Subscriptions whose predicate refused the event were counted as
	// matched by their stored filter.
	rejected := int(f.rejected.Load())
	res.Matched -= rejected
	res.Filtered += rejected
	if stopErr == nil {
		stopErr = ctx.Err()
	}
	f.tel.End(telemetry.Result{Matched: res.Matched, Filtered: res.Filtered, Delivered: res.Delivered,
		Gone: res.Gone, Failed: res.Failed, Duplicates: res.Duplicates}, stopErr)
	s.log.DebugContext(ctx, "fan-out done", slog.String("topic", p.topic), slog.Bool("complete", complete),
		slog.Int("matched", res.Matched), slog.Int("filtered", res.Filtered), slog.Int("delivered", res.Delivered),
		slog.Int("gone", res.Gone), slog.Int("failed", res.Failed), slog.Int("duplicates", res.Duplicates), slog.Int("workers", workers))
	return res, stopErr
}

// deliver executes sub for the event and posts the result.
func (f *fanout) deliver(ctx context.Context, w *worker, sub store.Subscription) {
	s := f.s
	if !f.admits(ctx, sub) {
		return
	}
	claimed, proceed := f.dedup.claim(ctx, f, sub)
	if !proceed {
		return
	}
	delivered := false
	if claimed {
		defer func() { f.dedup.finish(ctx, f, sub, delivered) }()
	}
	proto := s.protocols[sub.Protocol]
	if proto == nil {
		f.fail(ctx, sub, fmt.Errorf("unknown subprotocol %q", sub.Protocol))
		return
	}
	result, err := f.execute(ctx, w, &sub)
	if err != nil {
		f.fail(ctx, sub, fmt.Errorf("execute: %w", err))
		return
	}
	frame := proto.AppendNext(make([]byte, 0, len(result)+len(sub.ID)+40), sub.ID, result)
	tooLarge := len(frame) > s.limits.MaxOutgoingBytes
	if tooLarge {
		errs := s.tooLargeError(ctx, len(frame))
		if s.limits.EndOnOversizedResult {
			// The operation ends with an error telling why.
			frame = proto.AppendError(frame[:0], sub.ID, errs)
		} else {
			// This event's result is replaced by one that carries the
			// error; the subscription goes on with the next event.
			frame = proto.AppendNext(frame[:0], sub.ID, resultOfErrorList(errs))
		}
	}
	if !f.post(ctx, sub, frame) {
		return
	}
	delivered = true
	if tooLarge && !s.limits.EndOnOversizedResult {
		s.log.InfoContext(ctx, "result over the message limit: an error was sent in its place", slog.String("topic", f.pub.topic),
			slog.String("connection_id", sub.ConnectionID), slog.String("subscription_id", sub.ID))
	}
	if tooLarge && s.limits.EndOnOversizedResult {
		s.log.InfoContext(ctx, "result over the message limit: subscription ended", slog.String("topic", f.pub.topic),
			slog.String("connection_id", sub.ConnectionID), slog.String("subscription_id", sub.ID))
		if deleted, err := s.store.DeleteSubscription(ctx, sub.ConnectionID, sub.ID); err == nil {
			s.completed(ctx, deleted, CompletedByServer)
		}
	}
}

// completeOne ends sub for Complete: it deletes it (so that exactly one
// caller completes it), tells the client and runs the hooks.
func (f *fanout) completeOne(ctx context.Context, sub store.Subscription) {
	s := f.s
	deleted, err := s.store.DeleteSubscription(ctx, sub.ConnectionID, sub.ID)
	if errors.Is(err, store.ErrSubscriptionNotFound) {
		return // completed meanwhile by someone else
	}
	if err != nil {
		f.fail(ctx, sub, fmt.Errorf("delete: %w", err))
		return
	}
	if proto := s.protocols[sub.Protocol]; proto != nil {
		if frame := proto.AppendComplete(nil, sub.ID); len(frame) > 0 {
			f.post(ctx, sub, frame)
		} else {
			f.delivered.Add(1) // the protocol has no complete message: ended silently
		}
	} else {
		f.fail(ctx, sub, fmt.Errorf("unknown subprotocol %q", sub.Protocol))
	}
	s.completed(ctx, deleted, CompletedByServer)
}

// post sends frame to sub's connection and counts the outcome. It reports
// whether the frame was delivered.
func (f *fanout) post(ctx context.Context, sub store.Subscription, frame []byte) bool {
	pctx, tp := f.tel.StartPost(ctx, sub.ConnectionID)
	err := f.s.sender.Post(pctx, sub.Endpoint, sub.ConnectionID, frame)
	f.tel.EndPost(ctx, tp, err)
	switch {
	case err == nil:
		f.delivered.Add(1)
		return true
	case errors.Is(err, gateway.ErrGone):
		f.goneN.Add(1)
		if _, done := f.gone.LoadOrStore(sub.ConnectionID, struct{}{}); !done {
			f.s.cleanup(ctx, sub.ConnectionID, DisconnectInfo{Cause: Gone})
		}
		return false
	default:
		f.fail(ctx, sub, fmt.Errorf("post: %w", err))
		return false
	}
}

func (f *fanout) fail(ctx context.Context, sub store.Subscription, err error) {
	f.failed.Add(1)
	f.tel.Failed(ctx)
	f.s.reportError(ctx, fmt.Errorf("gqlambda: topic %q connection %s subscription %s: %w", f.pub.topic, sub.ConnectionID, sub.ID, err),
		slog.String("topic", f.pub.topic), slog.String("connection_id", sub.ConnectionID), slog.String("subscription_id", sub.ID))
}

// execute runs sub's document with the event's payload as root value; equal
// executions of one fan-out share one run unless ExecutePerConnection is set.
func (f *fanout) execute(ctx context.Context, w *worker, sub *store.Subscription) ([]byte, error) {
	if f.s.perConn {
		return f.s.executeSubscription(ctx, *sub, subscriptionConn(*sub), f.pub.value)
	}
	e := w.last
	if e == nil || !e.matches(sub) {
		e = f.execution(sub)
		w.last = e
	}
	e.once.Do(func() {
		c := subscriptionConn(*sub)
		c.ID = "" // one execution for several connections
		e.result, e.err = f.s.executeSubscription(ctx, *sub, c, f.pub.value)
	})
	return e.result, e.err
}

// execution returns the shared execution of sub's execution key, adding
// it on first use.
func (f *fanout) execution(sub *store.Subscription) *execution {
	var h maphash.Hash
	h.SetSeed(f.s.execSeed)
	h.WriteString(sub.Query)
	h.WriteByte(0)
	h.WriteString(sub.OperationName)
	h.WriteByte(0)
	h.Write(sub.Variables)
	h.WriteByte(0)
	h.Write(sub.Context)
	h.WriteByte(0)
	h.Write(sub.Data)
	h.WriteByte(0)
	h.Write(sub.Authorizer)
	key := h.Sum64()
	f.mu.Lock()
	defer f.mu.Unlock()
	for e := f.execs[key]; e != nil; e = e.next {
		if e.matches(sub) {
			return e
		}
	}
	e := &execution{query: sub.Query, operationName: sub.OperationName, variables: sub.Variables, context: sub.Context, data: sub.Data,
		authorizer: sub.Authorizer, next: f.execs[key]}
	f.execs[key] = e
	return e
}

// executeSubscription runs sub's document once with root as root value.
func (s *Server) executeSubscription(ctx context.Context, sub store.Subscription, c Conn, root any) ([]byte, error) {
	op, err := s.engine.Prepare(ctx, sub.Query, sub.OperationName)
	if err != nil {
		return nil, fmt.Errorf("prepare stored document: %w", err)
	}
	vars, err := decodeVariables(sub.Variables)
	if err != nil {
		return nil, err
	}
	ctx = withScope(ctx, scope{server: s, conn: c, hasConn: true})
	if ctx, err = s.buildContext(ctx, ContextRequest{Conn: c, Event: root}); err != nil {
		return nil, fmt.Errorf("Config.Context: %w", err)
	}
	result, err := op.Execute(ctx, vars, root)
	if err != nil {
		return nil, err
	}
	return s.clientResult(ctx, result), nil
}

// deliverInitial delivers an OnAfterSubscribe payload to sub alone.
func (s *Server) deliverInitial(ctx context.Context, sub store.Subscription, payload any) {
	raw, err := encodePayload(sub.Topics[0], payload)
	var p publication
	if err == nil {
		p, err = decodePublication(sub.Topics[0], raw)
	}
	if err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: connection %s subscription %s: initial event: %w", sub.ConnectionID, sub.ID, err),
			slog.String("connection_id", sub.ConnectionID), slog.String("subscription_id", sub.ID))
		return
	}
	f := &fanout{s: s, pub: p, execs: make(map[uint64]*execution)}
	f.deliver(ctx, &worker{}, sub)
}
