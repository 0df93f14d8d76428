package telemetry

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/gqlambda/gqlambda/gateway"
)

// Attribute keys of fan-out and deliver spans: what their subscriptions
// came to.
const (
	AttrComplete   = attribute.Key("gqlambda.complete")
	AttrBatch      = attribute.Key("gqlambda.batch")
	AttrBatches    = attribute.Key("gqlambda.batches")
	AttrSubs       = attribute.Key("gqlambda.subscriptions")
	AttrMatched    = attribute.Key("gqlambda.matched")
	AttrFiltered   = attribute.Key("gqlambda.filtered")
	AttrDelivered  = attribute.Key("gqlambda.delivered")
	AttrGone       = attribute.Key("gqlambda.gone")
	AttrFailed     = attribute.Key("gqlambda.failed")
	AttrDuplicates = attribute.Key("gqlambda.duplicates")
	AttrThrottled  = attribute.Key("gqlambda.throttled")
	AttrRetries    = attribute.Key("gqlambda.retries")
	AttrAttempt    = attribute.Key("gqlambda.attempt")
)

// Result is what a fan-out came to, as its PublishResult counts it.
type Result struct {
	Matched, Filtered, Delivered, Gone, Failed, Duplicates int
}

// Fanout is the telemetry of one fan-out: its span, a deliver span per
// batch of subscriptions, the timings of its posts and the throttling and
// retries its Sender reported. A nil *Fanout records nothing.
//
// Dispatch is called by the goroutine that reads the subscriptions, once
// per subscription handed to a delivery, and Settle once that delivery is
// over, with the context Dispatch returned; StartPost, EndPost and Failed
// by the deliveries, with that context; End once every delivery settled.
type Fanout struct {
	t     *T
	ctx   context.Context
	u     *unit // nil without tracing
	inv   *Invocation
	own   *Invocation // the invocation this fan-out began, to end
	start time.Time

	cur     *batch
	batches int

	throttled, retries atomic.Int64
}

// StartFanout starts the telemetry of a fan-out of topic (a Complete when
// complete is set). It begins an invocation's metrics unless ctx is in one.
func (t *T) StartFanout(ctx context.Context, topic string, complete bool) (context.Context, *Fanout) {
	if t == nil {
		return ctx, nil
	}
	f := &Fanout{t: t, start: time.Now()}
	ctx, f.own = t.Begin(ctx)
	f.inv = invocationFrom(ctx)
	if t.tracer != nil {
		name := "gqlambda.publish"
		if complete {
			name = "gqlambda.complete"
		}
		ctx = t.parent(ctx, nil)
		var span trace.Span
		ctx, span = t.tracer.Start(ctx, name, trace.WithAttributes(AttrTopic.String(topic), AttrComplete.Bool(complete)))
		f.u = &unit{span: span}
		ctx = context.WithValue(ctx, unitKey{}, f.u)
	}
	f.ctx = ctx
	return ctx, f
}

// batch is the deliveries of up to BatchSize consecutive subscriptions of
// a fan-out: they share a context, a deliver span and counters.
type batch struct {
	f    *Fanout
	ctx  context.Context
	u    *unit // nil without tracing
	subs int
	// pending counts the deliveries not yet settled, plus one until the
	// batch is full (or the fan-out read its last subscription).
	pending atomic.Int64

	delivered, gone, failed, throttled, retries atomic.Int64
	trace                                       gateway.PostTrace
}

type batchKey struct{}

func batchFrom(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b
}

// Dispatch counts one more subscription handed to a delivery and returns
// the context to deliver it with (ctx itself from a nil Fanout).
func (f *Fanout) Dispatch(ctx context.Context) context.Context {
	if f == nil {
		return ctx
	}
	if f.cur == nil || f.cur.subs == f.t.batchSize {
		f.seal()
		f.cur = f.newBatch()
	}
	f.cur.subs++
	f.cur.pending.Add(1)
	return f.cur.ctx
}

func (f *Fanout) newBatch() *batch {
	f.batches++
	b := &batch{f: f}
	b.pending.Store(1)
	b.trace.AttemptFailed = b.attemptFailed
	ctx := context.WithValue(gateway.WithPostTrace(f.ctx, &b.trace), batchKey{}, b)
	if f.t.tracer != nil {
		var span trace.Span
		ctx, span = f.t.tracer.Start(ctx, "gqlambda.deliver", trace.WithAttributes(AttrBatch.Int(f.batches)))
		b.u = &unit{span: span}
		ctx = context.WithValue(ctx, unitKey{}, b.u)
		if !f.t.spanPerPost {
			ctx = context.WithValue(ctx, quietKey{}, true)
		}
	}
	b.ctx = ctx
	return b
}

// seal marks the current batch full.
func (f *Fanout) seal() {
	if b := f.cur; b != nil {
		f.cur = nil
		b.settle()
	}
}

func (b *batch) settle() {
	if b.pending.Add(-1) == 0 {
		b.finish()
	}
}

// finish ends the batch once all its deliveries settled.
func (b *batch) finish() {
	th, re := b.throttled.Load(), b.retries.Load()
	b.f.throttled.Add(th)
	b.f.retries.Add(re)
	if b.u == nil {
		return
	}
	failed := b.failed.Load()
	if failed > 0 {
		b.u.mark(Partial)
	}
	b.u.end(AttrSubs.Int(b.subs), AttrDelivered.Int64(b.delivered.Load()), AttrGone.Int64(b.gone.Load()),
		AttrFailed.Int64(failed), AttrThrottled.Int64(th), AttrRetries.Int64(re))
}

func (b *batch) attemptFailed(info gateway.AttemptInfo) {
	if info.Throttled {
		b.throttled.Add(1)
	}
	if info.Retry {
		b.retries.Add(1)
	}
}

// Settle ends the delivery that Dispatch returned ctx for.
func (f *Fanout) Settle(ctx context.Context) {
	if f == nil {
		return
	}
	if b := batchFrom(ctx); b != nil {
		b.settle()
	}
}

// Post is one post of a fan-out in progress.
type Post struct {
	start time.Time
	span  trace.Span // nil unless spans are made per post
}

// StartPost starts timing a post to connectionID (and its span, with
// SpanPerPost). Post with the context it returns.
func (f *Fanout) StartPost(ctx context.Context, connectionID string) (context.Context, Post) {
	if f == nil {
		return ctx, Post{}
	}
	p := Post{start: time.Now()}
	if f.t.tracer != nil && f.t.spanPerPost {
		ctx, p.span = f.t.tracer.Start(ctx, "gqlambda.post", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(AttrConnectionID.String(connectionID)))
		b, span := batchFrom(ctx), p.span
		ctx = gateway.WithPostTrace(ctx, &gateway.PostTrace{AttemptFailed: func(info gateway.AttemptInfo) {
			if b != nil {
				b.attemptFailed(info)
			}
			span.AddEvent("attempt failed", trace.WithAttributes(AttrAttempt.Int(info.Attempt), AttrStatus.Int(info.Status),
				AttrThrottled.Bool(info.Throttled), attribute.Bool("gqlambda.retry", info.Retry)))
		}})
	}
	return ctx, p
}

// EndPost records the end of post p with its error: delivered, gone, or
// failed (a failure is counted by Failed, where the fan-out counts it).
func (f *Fanout) EndPost(ctx context.Context, p Post, err error) {
	if f == nil {
		return
	}
	f.t.observe(ctx, f.inv, PostLatency, time.Since(p.start))
	b := batchFrom(ctx)
	outcome := OK
	switch {
	case err == nil:
		if b != nil {
			b.delivered.Add(1)
		}
	case errors.Is(err, gateway.ErrGone):
		outcome = GoneClient
		if b != nil {
			b.gone.Add(1)
		}
	default:
		outcome = Error
	}
	if p.span == nil {
		return
	}
	p.span.SetAttributes(AttrOutcome.String(outcome.String()))
	if outcome == Error {
		p.span.RecordError(err)
		p.span.SetStatus(codes.Error, "")
	}
	p.span.End()
}

// Failed counts a subscription of the batch of ctx that did not get the
// event.
func (f *Fanout) Failed(ctx context.Context) {
	if f == nil {
		return
	}
	if b := batchFrom(ctx); b != nil {
		b.failed.Add(1)
	}
}

// End ends the fan-out once every delivery settled: its metrics (FanOuts,
// Deliveries, Gone, Failed, Throttled, Retries, FanOutDuration), its span
// with the counts of r, and the invocation it began, if any. err is what
// stopped it early, if anything.
func (f *Fanout) End(r Result, err error) {
	if f == nil {
		return
	}
	f.seal()
	d := time.Since(f.start)
	ctx := f.ctx
	th, re := f.throttled.Load(), f.retries.Load()
	for _, c := range [...]struct {
		m Metric
		n int64
	}{{FanOuts, 1}, {Deliveries, int64(r.Delivered)}, {Gone, int64(r.Gone)}, {Failed, int64(r.Failed)}, {Throttled, th}, {Retries, re}} {
		f.t.Count(ctx, c.m, c.n)
	}
	f.t.observe(ctx, f.inv, FanOutDuration, d)
	if f.u != nil {
		switch {
		case err != nil:
			f.u.mark(Error)
			f.u.span.RecordError(err)
		case r.Failed > 0:
			f.u.mark(Partial)
		}
		f.u.end(AttrMatched.Int(r.Matched), AttrFiltered.Int(r.Filtered), AttrDelivered.Int(r.Delivered),
			AttrGone.Int(r.Gone), AttrFailed.Int(r.Failed), AttrDuplicates.Int(r.Duplicates),
			AttrThrottled.Int64(th), AttrRetries.Int64(re), AttrBatches.Int(f.batches))
	}
	f.own.End()
}
