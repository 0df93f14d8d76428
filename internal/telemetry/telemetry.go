// Package telemetry is the server's tracing and metrics: OpenTelemetry
// spans for handled frames, fan-outs and their store, engine and post
// calls; counters and timings for an OpenTelemetry meter and for CloudWatch
// Embedded Metric Format (EMF) lines written once per invocation.
//
// Everything hangs off a *T, which is nil when nothing is configured: every
// method of a nil *T, *Frame, *Fanout and *Invocation returns at once,
// without allocating, so that the server's hot paths cost nothing more when
// telemetry is off.
package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// scope is the instrumentation scope of the tracer and the meter.
const scope = "github.com/gqlambda/gqlambda"

// version is the instrumentation scope's version: the version of the
// telemetry's names (spans, attributes, metrics), raised when one changes.
const version = "1"

// DefaultBatchSize is how many subscriptions of a fan-out one deliver span
// covers by default.
const DefaultBatchSize = 1000

// maxErrorEvents bounds the errors recorded as events on one span.
const maxErrorEvents = 10

// Options configure a T. The zero value turns everything off.
type Options struct {
	// TracerProvider, when set, makes spans.
	TracerProvider trace.TracerProvider
	// MeterProvider, when set, records the counters and timings with its
	// meter.
	MeterProvider metric.MeterProvider
	// EMF, when set, receives one CloudWatch Embedded Metric Format line
	// per invocation that recorded anything.
	EMF io.Writer
	// EMFLogger, when set, logs the same documents, one record each whose
	// attributes are the document's members: with a JSON handler, each
	// record is an EMF document.
	EMFLogger *slog.Logger
	// Namespace is the CloudWatch namespace of the EMF metrics.
	Namespace string
	// Service is the value of the EMF lines' one dimension, Service.
	Service string
	// SpanPerPost makes one span per post of a fan-out, and spans of the
	// store and engine calls made for one subscription; by default a
	// fan-out has one deliver span per BatchSize subscriptions, with
	// counts.
	SpanPerPost bool
	// BatchSize is how many subscriptions one deliver span covers.
	BatchSize int
	// Logger receives failures to write EMF lines.
	Logger *slog.Logger
}

// T records the server's telemetry. A nil *T records nothing. A T is safe
// for concurrent use.
type T struct {
	tracer      trace.Tracer // nil: no spans
	inst        *instruments // nil: no meter
	emf         *emf         // nil: no EMF lines
	spanPerPost bool
	batchSize   int
	log         *slog.Logger
}

// New returns the T of o, or nil when o configures nothing.
func New(o Options) (*T, error) {
	if o.TracerProvider == nil && o.MeterProvider == nil && o.EMF == nil && o.EMFLogger == nil {
		return nil, nil
	}
	t := &T{spanPerPost: o.SpanPerPost, batchSize: o.BatchSize, log: o.Logger}
	if t.batchSize <= 0 {
		t.batchSize = DefaultBatchSize
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if o.TracerProvider != nil {
		t.tracer = o.TracerProvider.Tracer(scope, trace.WithInstrumentationVersion(version))
	}
	if o.MeterProvider != nil {
		in, err := newInstruments(o.MeterProvider)
		if err != nil {
			return nil, err
		}
		t.inst = in
	}
	if o.EMF != nil || o.EMFLogger != nil {
		if o.Namespace == "" || len(o.Namespace) > 255 {
			return nil, errors.New("telemetry: the EMF namespace must have 1 to 255 characters")
		}
		if o.Service == "" || len(o.Service) > 1024 {
			return nil, errors.New("telemetry: the EMF service dimension must have 1 to 1024 characters")
		}
		t.emf = newEMF(o.EMF, o.EMFLogger, o.Namespace, o.Service)
	}
	return t, nil
}

// Tracing reports whether t makes spans.
func (t *T) Tracing() bool { return t != nil && t.tracer != nil }

// Begin starts the metrics of an invocation, unless ctx already carries one
// (the invocation's metrics then go to that one's line). End the returned
// Invocation, which may be nil, when the invocation ends.
func (t *T) Begin(ctx context.Context) (context.Context, *Invocation) {
	if t == nil || t.emf == nil || invocationFrom(ctx) != nil {
		return ctx, nil
	}
	inv := &Invocation{t: t}
	return context.WithValue(ctx, invocationKey{}, inv), inv
}

// End writes the invocation's EMF line.
func (inv *Invocation) End() {
	if inv == nil {
		return
	}
	if err := inv.flush(time.Now()); err != nil {
		inv.t.log.Warn("telemetry: writing an EMF line failed", slog.String("error", err.Error()))
	}
}

// Count adds n to counter m.
func (t *T) Count(ctx context.Context, m Metric, n int64) {
	if t == nil {
		return
	}
	if t.inst != nil {
		t.inst.counters[m].Add(ctx, n)
	}
	if t.emf != nil {
		if inv := invocationFrom(ctx); inv != nil {
			inv.add(m, n)
		}
	}
}

// observe records duration d of timing dist.
func (t *T) observe(ctx context.Context, inv *Invocation, dist Distribution, d time.Duration) {
	if t.inst != nil {
		h := t.inst.post
		if dist == FanOutDuration {
			h = t.inst.fanOut
		}
		h.Record(ctx, d.Seconds())
	}
	if inv != nil {
		inv.hist(dist).record(d)
	}
}

// Outcome is how a unit of work (a frame, a fan-out, a store call) ended,
// the value of its span's gqlambda.outcome attribute. A later, graver
// outcome replaces an earlier one.
type Outcome int32

// The outcomes, least grave first.
const (
	OK Outcome = iota
	Partial
	Refused
	Closed
	GoneClient
	Error
)

var outcomeNames = [...]string{OK: "ok", Partial: "partial", Refused: "refused", Closed: "closed", GoneClient: "gone", Error: "error"}

func (o Outcome) String() string { return outcomeNames[o] }

// Attribute keys of the spans.
const (
	AttrConnectionID   = attribute.Key("gqlambda.connection_id")
	AttrSubscriptionID = attribute.Key("gqlambda.subscription_id")
	AttrRoute          = attribute.Key("gqlambda.route")
	AttrOperation      = attribute.Key("gqlambda.operation")
	AttrOperationID    = attribute.Key("gqlambda.operation_id")
	AttrOperationName  = attribute.Key("graphql.operation.name")
	AttrOperationType  = attribute.Key("graphql.operation.type")
	AttrTopic          = attribute.Key("gqlambda.topic")
	AttrTopics         = attribute.Key("gqlambda.topics")
	AttrOutcome        = attribute.Key("gqlambda.outcome")
	AttrStatus         = attribute.Key("http.response.status_code")
)

// unit is a span whose outcome the work under it may change.
type unit struct {
	frame   bool // the unit of a frame, whose outcome Mark sets
	span    trace.Span
	outcome atomic.Int32
	errs    atomic.Int32
}

type unitKey struct{}

func unitFrom(ctx context.Context) *unit {
	u, _ := ctx.Value(unitKey{}).(*unit)
	return u
}

func (u *unit) mark(o Outcome) {
	for {
		cur := u.outcome.Load()
		if int32(o) <= cur || u.outcome.CompareAndSwap(cur, int32(o)) {
			return
		}
	}
}

// end ends the unit's span with its outcome.
func (u *unit) end(attrs ...attribute.KeyValue) {
	o := Outcome(u.outcome.Load())
	u.span.SetAttributes(AttrOutcome.String(o.String()))
	u.span.SetAttributes(attrs...)
	if o == Error {
		u.span.SetStatus(codes.Error, "")
	}
	u.span.End()
}

// Mark sets the outcome of the frame ctx is in, if graver than what it was
// (and if ctx is not in a fan-out that the frame started).
func (t *T) Mark(ctx context.Context, o Outcome) {
	if t == nil || t.tracer == nil {
		return
	}
	if u := unitFrom(ctx); u != nil && u.frame {
		u.mark(o)
	}
}

// Fail counts an error reported to Hooks.OnError, and records it on the
// span of the unit of work ctx is in (at most 10 per span).
func (t *T) Fail(ctx context.Context, err error) {
	if t == nil {
		return
	}
	t.Count(ctx, Errors, 1)
	if t.tracer == nil {
		return
	}
	if u := unitFrom(ctx); u != nil {
		u.mark(Error)
		if u.errs.Add(1) <= maxErrorEvents {
			u.span.RecordError(err)
		}
	}
}

// Frame is one handled WebSocket frame. A nil *Frame records nothing.
type Frame struct {
	t   *T
	u   *unit // nil without tracing
	inv *Invocation
}

// StartFrame starts the span and the metrics of a frame of connection
// connectionID on route. header, when not nil, may carry a W3C
// traceparent (a $connect's headers).
func (t *T) StartFrame(ctx context.Context, route, connectionID string, header propagation.TextMapCarrier) (context.Context, *Frame) {
	if t == nil {
		return ctx, nil
	}
	f := &Frame{t: t}
	ctx, f.inv = t.Begin(ctx)
	switch route {
	case "$connect", "$disconnect":
	default:
		t.Count(ctx, Frames, 1)
	}
	if t.tracer != nil {
		ctx = t.parent(ctx, header)
		var span trace.Span
		ctx, span = t.tracer.Start(ctx, "gqlambda "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(AttrRoute.String(route), AttrConnectionID.String(connectionID)))
		f.u = &unit{frame: true, span: span}
		ctx = context.WithValue(context.WithValue(ctx, unitKey{}, f.u), frameKey{}, f)
	}
	return ctx, f
}

// StartRequest starts the span and the metrics of a GraphQL over HTTP
// request, named name; header may carry a W3C traceparent. End it with
// Answered and End.
func (t *T) StartRequest(ctx context.Context, name string, header propagation.TextMapCarrier) (context.Context, *Frame) {
	if t == nil {
		return ctx, nil
	}
	f := &Frame{t: t}
	ctx, f.inv = t.Begin(ctx)
	if t.tracer != nil {
		ctx = t.parent(ctx, header)
		var span trace.Span
		ctx, span = t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
		f.u = &unit{frame: true, span: span}
		ctx = context.WithValue(ctx, unitKey{}, f.u)
	}
	return ctx, f
}

// Answered records the status of the answer to a request.
func (f *Frame) Answered(status int) {
	if f == nil || f.u == nil {
		return
	}
	f.u.span.SetAttributes(AttrStatus.Int(status))
	if status >= 400 && status <= 499 {
		f.u.mark(Refused)
	} else if status >= 500 {
		f.u.mark(Error)
	}
}

// Connected records the answer to a $connect.
func (f *Frame) Connected(ctx context.Context, status int) {
	if f == nil {
		return
	}
	if status >= 200 && status <= 299 {
		f.t.Count(ctx, Connections, 1)
	}
	f.Answered(status)
}

// SetAttributes adds attributes to the frame's span.
func (f *Frame) SetAttributes(attrs ...attribute.KeyValue) {
	if f == nil || f.u == nil {
		return
	}
	f.u.span.SetAttributes(attrs...)
}

// FrameFrom returns the traced frame ctx is in, or nil.
func FrameFrom(ctx context.Context) *Frame {
	f, _ := ctx.Value(frameKey{}).(*Frame)
	return f
}

type frameKey struct{}

// End ends the frame's span and writes its invocation's EMF line.
func (f *Frame) End() {
	if f == nil {
		return
	}
	if f.u != nil {
		f.u.end()
	}
	f.inv.End()
}

// Child starts a span for a call under the span of ctx (a store or engine
// call), or returns a nil span: without tracing, without a span to be the
// parent, or inside a fan-out's deliveries when they are not traced one by
// one. End it with [EndSpan].
func (t *T) Child(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if t == nil || t.tracer == nil || ctx.Value(quietKey{}) != nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// EndSpan ends a span from Child, which may be nil, recording err.
func EndSpan(span trace.Span, err error, attrs ...attribute.KeyValue) {
	if span == nil {
		return
	}
	span.SetAttributes(attrs...)
	if err != nil {
		span.SetAttributes(AttrOutcome.String(Error.String()))
		span.RecordError(err)
		span.SetStatus(codes.Error, "")
	} else {
		span.SetAttributes(AttrOutcome.String(OK.String()))
	}
	span.End()
}

// quietKey marks a context in which Child makes no spans.
type quietKey struct{}

// traceContext is the W3C Trace Context propagator.
var traceContext propagation.TraceContext

// lambdaTraceKey is the key under which aws-lambda-go keeps the
// invocation's X-Ray trace header (Lambda-Runtime-Trace-Id) in the context.
const lambdaTraceKey = "x-amzn-trace-id"

// parent returns ctx with the parent of a new trace root: the span ctx
// already has (the caller's own instrumentation), else the W3C traceparent
// of header, else the X-Ray trace header of the Lambda invocation (from the
// context aws-lambda-go gives the handler, or the _X_AMZN_TRACE_ID
// environment variable), else none.
func (t *T) parent(ctx context.Context, header propagation.TextMapCarrier) context.Context {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	if header != nil {
		if c := traceContext.Extract(ctx, header); trace.SpanContextFromContext(c).IsValid() {
			return c
		}
	}
	h, _ := ctx.Value(lambdaTraceKey).(string)
	if h == "" {
		h = os.Getenv("_X_AMZN_TRACE_ID")
	}
	if sc, ok := ParseXRay(h); ok {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// Parent returns ctx with the parent of the spans of a handler that has no
// frame (a batch of stream or queue records): as for a frame.
func (t *T) Parent(ctx context.Context) context.Context {
	if t == nil || t.tracer == nil {
		return ctx
	}
	return t.parent(ctx, nil)
}

// Start starts a span of a unit of work whose outcome the work under it may
// change (a batch of records), under the span of ctx or the Lambda trace,
// with links to other traces (the records'). End it with Unit.End.
func (t *T) Start(ctx context.Context, name string, kind trace.SpanKind, links []trace.Link, attrs ...attribute.KeyValue) (context.Context, *Unit) {
	if t == nil || t.tracer == nil {
		return ctx, nil
	}
	ctx = t.parent(ctx, nil)
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...), trace.WithLinks(links...))
	u := &Unit{u: unit{span: span}}
	return context.WithValue(ctx, unitKey{}, &u.u), u
}

// Unit is a span from Start. A nil *Unit records nothing.
type Unit struct{ u unit }

// End ends the span.
func (u *Unit) End(attrs ...attribute.KeyValue) {
	if u == nil {
		return
	}
	u.u.end(attrs...)
}

// Mark sets the unit's outcome, if graver than what it was.
func (u *Unit) Mark(o Outcome) {
	if u == nil {
		return
	}
	u.u.mark(o)
}
