package gqlambda

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"iter"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/gqlambda/gqlambda/internal/telemetry"
	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/store"
)

// This file connects the server to its telemetry (internal/telemetry):
// the configuration, and the spans of store and engine calls.

// Telemetry configures the server's traces and metrics. The zero value
// records nothing and costs nothing: no span, no metric, no allocation.
// See docs/operations.md for every span, attribute and metric.
type Telemetry struct {
	// TracerProvider, when set, traces the server with OpenTelemetry: a
	// span per handled WebSocket frame ("gqlambda $connect", "gqlambda
	// $default", ...), per fan-out ("gqlambda.publish",
	// "gqlambda.complete") and per batch of records of a stream or queue,
	// with child spans for the store and engine calls, and, within a
	// fan-out, one "gqlambda.deliver" span per BatchSize subscriptions
	// carrying the counts of its posts (see SpanPerPost). Attributes name
	// the connection, the operation, the topic and the outcome. A span
	// without a parent continues the trace of the invocation: a W3C
	// traceparent header of a $connect, else the X-Ray trace header Lambda
	// gives the invocation. The server uses no global provider.
	// Default: nil, no spans.
	TracerProvider trace.TracerProvider

	// MeterProvider, when set, records the server's counters and timings
	// (gqlambda.deliveries, gqlambda.post.duration, ...) with an
	// OpenTelemetry meter. Default: nil.
	MeterProvider metric.MeterProvider

	// Metrics, when set, receives the same counters and timings as
	// CloudWatch Embedded Metric Format lines: one JSON line per
	// invocation (a handled frame, a batch of records, a Publish made
	// outside a handler) that counted anything, written when it ends. On
	// Lambda, os.Stdout: CloudWatch Logs turns the lines into metrics with
	// no agent or collector. Writes are serialised. Default: nil.
	Metrics io.Writer

	// MetricsLogger, when set, logs the same documents at level Info, one
	// record each ("metrics") whose attributes are the document's members:
	// give it a logger with a slog.JSONHandler on stdout, and each record is
	// an EMF document (the handler's time, level and msg are members
	// CloudWatch ignores), in the same stream as the program's JSON logs.
	// Attributes the logger adds (With) must not be named like a metric or
	// Service. Default: nil.
	MetricsLogger *slog.Logger

	// Namespace is the CloudWatch namespace of the metrics. Default:
	// "gqlambda".
	Namespace string

	// Service is the value of the metrics' one dimension, Service.
	// Default: the Lambda function's name (AWS_LAMBDA_FUNCTION_NAME), else
	// "gqlambda".
	Service string

	// SpanPerPost traces every post of a fan-out (a "gqlambda.post" span
	// with an event per failed attempt) and the store and engine calls made
	// for each subscription. Default: false, so that a fan-out to 10,000
	// subscribers makes 10 deliver spans, not 10,000.
	SpanPerPost bool

	// BatchSize is how many subscriptions of a fan-out one deliver span
	// covers. Default: 1,000.
	BatchSize int
}

// newTelemetry builds the server's telemetry from cfg, nil when it asks for
// none.
func newTelemetry(cfg Config) (*telemetry.T, error) {
	tc := cfg.Telemetry
	return telemetry.New(telemetry.Options{
		TracerProvider: tc.TracerProvider,
		MeterProvider:  tc.MeterProvider,
		EMF:            tc.Metrics,
		EMFLogger:      tc.MetricsLogger,
		Namespace:      cmp.Or(tc.Namespace, "gqlambda"),
		Service:        cmp.Or(tc.Service, os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), "gqlambda"),
		SpanPerPost:    tc.SpanPerPost,
		BatchSize:      tc.BatchSize,
		Logger:         cfg.Logger,
	})
}

// describeFrame names the operation of a $default frame on its span: the
// message kind its actions carry out first, and for a subscribe its
// operation id and name.
func describeFrame(ctx context.Context, actions []protocol.Action) {
	f := telemetry.FrameFrom(ctx)
	if f == nil {
		return
	}
	for _, a := range actions {
		switch a := a.(type) {
		case protocol.Init:
			f.SetAttributes(telemetry.AttrOperation.String("connection_init"))
		case protocol.Ping:
			f.SetAttributes(telemetry.AttrOperation.String("ping"))
		case protocol.Pong:
			f.SetAttributes(telemetry.AttrOperation.String("pong"))
		case protocol.Start:
			f.SetAttributes(telemetry.AttrOperation.String("subscribe"), telemetry.AttrOperationID.String(a.ID))
			if a.Request.OperationName != "" {
				f.SetAttributes(telemetry.AttrOperationName.String(a.Request.OperationName))
			}
		case protocol.Stop:
			f.SetAttributes(telemetry.AttrOperation.String("complete"), telemetry.AttrOperationID.String(a.ID))
		case protocol.Terminate:
			f.SetAttributes(telemetry.AttrOperation.String("terminate"))
		case protocol.Close:
			f.SetAttributes(telemetry.AttrOperation.String("invalid"))
		default:
			continue
		}
		return
	}
}

// headerCarrier reads a W3C traceparent from the headers of an API Gateway
// event, whose names may come in any case.
type headerCarrier map[string]string

func (h headerCarrier) Get(key string) string {
	if v, ok := h[key]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func (h headerCarrier) Set(string, string) {}

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// tracedStore makes a span of every store call under a traced frame or
// fan-out.
type tracedStore struct {
	s   store.Store
	tel *telemetry.T
}

var _ store.Store = tracedStore{}

func (t tracedStore) span(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return t.tel.Child(ctx, "store."+op, trace.SpanKindClient, attrs...)
}

func (t tracedStore) CreateConnection(ctx context.Context, c store.Connection) error {
	ctx, span := t.span(ctx, "CreateConnection", telemetry.AttrConnectionID.String(c.ID))
	err := t.s.CreateConnection(ctx, c)
	telemetry.EndSpan(span, err)
	return err
}

func (t tracedStore) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	ctx, span := t.span(ctx, "GetConnection", telemetry.AttrConnectionID.String(id))
	c, err := t.s.GetConnection(ctx, id)
	telemetry.EndSpan(span, err)
	return c, err
}

func (t tracedStore) AcknowledgeConnection(ctx context.Context, id string, c json.RawMessage) error {
	ctx, span := t.span(ctx, "AcknowledgeConnection", telemetry.AttrConnectionID.String(id))
	err := t.s.AcknowledgeConnection(ctx, id, c)
	telemetry.EndSpan(span, err)
	return err
}

func (t tracedStore) DeleteConnection(ctx context.Context, id string) (store.Connection, []store.Subscription, error) {
	ctx, span := t.span(ctx, "DeleteConnection", telemetry.AttrConnectionID.String(id))
	c, subs, err := t.s.DeleteConnection(ctx, id)
	telemetry.EndSpan(span, err, telemetry.AttrSubs.Int(len(subs)))
	return c, subs, err
}

func (t tracedStore) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	ctx, span := t.span(ctx, "CreateSubscription", telemetry.AttrConnectionID.String(sub.ConnectionID),
		telemetry.AttrSubscriptionID.String(sub.ID), telemetry.AttrTopics.StringSlice(sub.Topics))
	err := t.s.CreateSubscription(ctx, sub)
	telemetry.EndSpan(span, err)
	return err
}

// CreateBoundedSubscription forwards to the store's, or to its
// CreateSubscription when it has none (store.BoundedSubscriptions).
func (t tracedStore) CreateBoundedSubscription(ctx context.Context, sub store.Subscription, limit int) error {
	ctx, span := t.span(ctx, "CreateSubscription", telemetry.AttrConnectionID.String(sub.ConnectionID),
		telemetry.AttrSubscriptionID.String(sub.ID), telemetry.AttrTopics.StringSlice(sub.Topics))
	err := createBounded(t.s, ctx, sub, limit)
	telemetry.EndSpan(span, err)
	return err
}

func (t tracedStore) GetSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	ctx, span := t.span(ctx, "GetSubscription", telemetry.AttrConnectionID.String(connectionID), telemetry.AttrSubscriptionID.String(id))
	sub, err := t.s.GetSubscription(ctx, connectionID, id)
	telemetry.EndSpan(span, err)
	return sub, err
}

func (t tracedStore) DeleteSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	ctx, span := t.span(ctx, "DeleteSubscription", telemetry.AttrConnectionID.String(connectionID), telemetry.AttrSubscriptionID.String(id))
	sub, err := t.s.DeleteSubscription(ctx, connectionID, id)
	telemetry.EndSpan(span, err)
	return sub, err
}

// TopicSubscriptions makes one span of the whole read, with the number of
// subscriptions read.
func (t tracedStore) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		ctx, span := t.span(ctx, "TopicSubscriptions", telemetry.AttrTopic.String(topic))
		n := 0
		var failed error
		defer func() { telemetry.EndSpan(span, failed, telemetry.AttrSubs.Int(n)) }()
		for sub, err := range t.s.TopicSubscriptions(ctx, topic) {
			if err != nil {
				failed = err
			} else {
				n++
			}
			if !yield(sub, err) {
				return
			}
		}
	}
}

// tracedEngine makes spans of the engine's work under a traced frame or
// fan-out: prepare, execute and the subscribe phase.
type tracedEngine struct {
	e   Engine
	tel *telemetry.T
}

func (t tracedEngine) Prepare(ctx context.Context, query, operationName string) (Operation, error) {
	_, span := t.tel.Child(ctx, "graphql.prepare", trace.SpanKindInternal)
	op, err := t.e.Prepare(ctx, query, operationName)
	if err != nil {
		telemetry.EndSpan(span, err)
		return nil, err
	}
	telemetry.EndSpan(span, nil, telemetry.AttrOperationType.String(string(op.Type())))
	return tracedOperation{op: op, tel: t.tel}, nil
}

type tracedOperation struct {
	op  Operation
	tel *telemetry.T
}

func (t tracedOperation) Type() OperationType { return t.op.Type() }

func (t tracedOperation) Execute(ctx context.Context, variables map[string]any, root any) ([]byte, error) {
	ctx, span := t.tel.Child(ctx, "graphql.execute", trace.SpanKindInternal, telemetry.AttrOperationType.String(string(t.op.Type())))
	res, err := t.op.Execute(ctx, variables, root)
	telemetry.EndSpan(span, err)
	return res, err
}

func (t tracedOperation) Subscribe(ctx context.Context, variables map[string]any) (Declaration, error) {
	ctx, span := t.tel.Child(ctx, "graphql.subscribe", trace.SpanKindInternal)
	decl, err := t.op.Subscribe(ctx, variables)
	telemetry.EndSpan(span, err)
	return decl, err
}

// traceBatch starts the metrics and the span of a batch of source records
// (an SQS, SNS, EventBridge, Kinesis or DynamoDB Streams invocation); the
// function it returns ends them, once failed holds the records to retry.
//
// The span links to the traces the records carry (SQS messages sent by a
// traced publisher), at most 128.
func (s *Server) traceBatch(ctx context.Context, source string, recs []sourceRecord, failed *[]string) (context.Context, func()) {
	ctx, inv := s.tel.Begin(ctx)
	var links []trace.Link
	if s.tel.Tracing() {
		for _, r := range recs {
			if sc, ok := telemetry.ParseXRay(r.trace); ok && len(links) < 128 {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
	}
	ctx, u := s.tel.Start(ctx, "gqlambda "+source, trace.SpanKindConsumer, links, attrRecords.Int(len(recs)))
	return ctx, func() {
		if len(*failed) > 0 {
			u.Mark(telemetry.Partial)
		}
		u.End(attrFailedRecords.Int(len(*failed)))
		inv.End()
	}
}

// Attributes of a batch of records' span.
const (
	attrRecords       = attribute.Key("gqlambda.records")
	attrFailedRecords = attribute.Key("gqlambda.records.failed")
)
