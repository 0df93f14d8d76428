package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/internal/emfcheck"
)

// TestNilAllocatesNothing runs every hook the server calls, as it calls
// them, on the nil *T of a server without telemetry: none may allocate.
func TestNilAllocatesNothing(t *testing.T) {
	var tel *T
	ctx := context.Background()
	err := errors.New("x")
	allocs := testing.AllocsPerRun(1000, func() {
		fctx, frame := tel.StartFrame(ctx, "$default", "conn", nil)
		tel.Count(fctx, Frames, 1)
		tel.Mark(fctx, Closed)
		tel.Fail(fctx, err)
		_ = tel.Tracing()
		frame.Connected(fctx, 200)
		frame.SetAttributes()
		pctx, fo := tel.StartFanout(fctx, "topic", false)
		jctx := fo.Dispatch(pctx)
		postCtx, p := fo.StartPost(jctx, "conn")
		fo.EndPost(postCtx, p, nil)
		fo.Failed(jctx)
		fo.Settle(jctx)
		fo.End(Result{Matched: 1}, nil)
		cctx, span := tel.Child(jctx, "store.GetConnection", trace.SpanKindClient)
		EndSpan(span, nil)
		bctx, inv := tel.Begin(cctx)
		uctx, u := tel.Start(bctx, "gqlambda sqs", trace.SpanKindConsumer, nil)
		u.Mark(Partial)
		u.End()
		inv.End()
		_ = tel.Parent(uctx)
		rctx, req := tel.StartRequest(uctx, "gqlambda HTTP POST", nil)
		tel.Count(rctx, Errors, 1)
		req.Answered(200)
		req.End()
		frame.End()
	})
	if allocs != 0 {
		t.Errorf("a nil *T allocates %v times per frame and fan-out, want 0", allocs)
	}
}

func TestNewWithNothingIsNil(t *testing.T) {
	tel, err := New(Options{Namespace: "n", Service: "s"})
	if err != nil || tel != nil {
		t.Fatalf("New(nothing) = %v, %v; want nil, nil", tel, err)
	}
}

func TestNewRefusesBadEMFNames(t *testing.T) {
	for _, o := range []Options{
		{EMF: &bytes.Buffer{}, Namespace: "", Service: "s"},
		{EMF: &bytes.Buffer{}, Namespace: strings.Repeat("n", 256), Service: "s"},
		{EMF: &bytes.Buffer{}, Namespace: "n", Service: ""},
		{EMF: &bytes.Buffer{}, Namespace: "n", Service: strings.Repeat("s", 1025)},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(namespace %d chars, service %d chars) succeeded", len(o.Namespace), len(o.Service))
		}
	}
}

// TestEMFLine records one invocation and checks its line against the
// specification and its counts exactly.
func TestEMFLine(t *testing.T) {
	var buf bytes.Buffer
	tel, err := New(Options{EMF: &buf, Namespace: "gqlambda", Service: `chat "prod"`})
	if err != nil {
		t.Fatal(err)
	}
	ctx, inv := tel.Begin(context.Background())
	if nested, inner := tel.Begin(ctx); inner != nil || nested != ctx {
		t.Fatal("Begin inside an invocation began another")
	}
	tel.Count(ctx, Connections, 1)
	tel.Count(ctx, SubscriptionsStarted, 2)
	tel.Count(ctx, SubscriptionsStarted, 1)
	tel.Count(ctx, Gone, 0) // counted, as zero
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 100 * time.Millisecond} {
		tel.observe(ctx, inv, PostLatency, d)
	}
	inv.End()

	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1:\n%s", len(lines), buf.String())
	}
	doc, err := emfcheck.Validate(lines[0])
	if err != nil {
		t.Fatalf("invalid EMF: %v\n%s", err, lines[0])
	}
	if d := doc.Directives; len(d) != 1 || d[0].Namespace != "gqlambda" || !slices.Equal(d[0].Dimensions[0], []string{"Service"}) {
		t.Errorf("directives = %+v", d)
	}
	if got := doc.Dimension("Service"); got != `chat "prod"` {
		t.Errorf("Service = %q", got)
	}
	want := map[string][]float64{"Connections": {1}, "SubscriptionsStarted": {3}, "Gone": {0}}
	for name, vs := range want {
		if !slices.Equal(doc.Values[name], vs) {
			t.Errorf("%s = %v, want %v", name, doc.Values[name], vs)
		}
	}
	lat := doc.Values["PostLatency"]
	if len(lat) != 3 || !within(lat[0], 1, 0.05) || !within(lat[1], 2, 0.05) || !within(lat[2], 100, 0.05) {
		t.Errorf("PostLatency = %v, want about [1 2 100]", lat)
	}
	if len(doc.Values) != 4 {
		t.Errorf("metrics %v, want only those recorded", doc.Values)
	}
	for _, m := range doc.Directives[0].Metrics {
		want := "Count"
		if m.Name == "PostLatency" {
			want = "Milliseconds"
		}
		if m.Unit != want {
			t.Errorf("%s: unit %s, want %s", m.Name, m.Unit, want)
		}
	}
}

// TestEMFLogger logs the documents through a slog JSON handler: each record
// is a valid EMF document with the same values as the writer's line.
func TestEMFLogger(t *testing.T) {
	var lines, logged bytes.Buffer
	tel, err := New(Options{EMF: &lines, EMFLogger: slog.New(slog.NewJSONHandler(&logged, nil)), Namespace: "gqlambda", Service: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, inv := tel.Begin(context.Background())
	tel.Count(ctx, Deliveries, 7)
	tel.Count(ctx, Failed, 0)
	tel.observe(ctx, inv, FanOutDuration, 30*time.Millisecond)
	inv.End()
	want, err := emfcheck.Validate(lines.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got, err := emfcheck.Validate(logged.Bytes())
	if err != nil {
		t.Fatalf("the logged record is not an EMF document: %v\n%s", err, logged.String())
	}
	if got.Dimension("Service") != "chat" || got.Directives[0].Namespace != "gqlambda" || got.Root["msg"] != "metrics" {
		t.Errorf("logged document %+v", got)
	}
	if len(got.Values) != 3 || len(want.Values) != 3 {
		t.Errorf("values: logged %v, written %v; want 3 metrics each", got.Values, want.Values)
	}
	for name, vs := range want.Values {
		if !slices.Equal(got.Values[name], vs) {
			t.Errorf("%s: logged %v, written %v", name, got.Values[name], vs)
		}
	}
}

func TestEMFNothingRecordedWritesNothing(t *testing.T) {
	var buf bytes.Buffer
	tel, _ := New(Options{EMF: &buf, Namespace: "n", Service: "s"})
	_, inv := tel.Begin(context.Background())
	inv.End()
	if buf.Len() != 0 {
		t.Errorf("wrote %q for an invocation that recorded nothing", buf.String())
	}
}

// TestEMFEveryMetric writes every counter and timing, over 100 samples,
// from many goroutines, and checks the line.
func TestEMFEveryMetric(t *testing.T) {
	var buf bytes.Buffer
	tel, _ := New(Options{EMF: &buf, Namespace: "n", Service: "s"})
	ctx, inv := tel.Begin(context.Background())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				tel.Count(ctx, Metric(i%int(numCounters)), 1)
				tel.observe(ctx, inv, Distribution(i%2), time.Duration(g*1000+i)*time.Microsecond)
			}
		})
	}
	wg.Wait()
	inv.End()
	doc, err := emfcheck.Validate(buf.Bytes())
	if err != nil {
		t.Fatalf("invalid EMF: %v\n%s", err, buf.String())
	}
	total := 0.0
	for m := range numCounters {
		total += doc.Values[metricNames[m]][0]
	}
	if total != 8000 {
		t.Errorf("counters sum to %v, want 8000", total)
	}
	for _, name := range []string{"FanOutDuration", "PostLatency"} {
		if n := len(doc.Values[name]); n != 100 {
			t.Errorf("%s: %d values, want 100", name, n)
		}
	}
}

func within(got, want, rel float64) bool { return math.Abs(got-want) <= rel*want }

// TestHistogramValues checks the values of a timing: one per sample up to
// 100 of them, then 100 that keep the distribution's percentiles.
func TestHistogramValues(t *testing.T) {
	var h histogram
	for i := 1; i <= 100; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	vs := h.values()
	if len(vs) != 100 || !slices.IsSorted(vs) {
		t.Fatalf("100 samples: %d values, sorted %v", len(vs), slices.IsSorted(vs))
	}
	for i, v := range vs {
		if !within(v, float64(i+1), 0.05) {
			t.Errorf("value %d = %v, want %d ±5%%", i, v, i+1)
		}
	}
	// 10,000 samples from 1 to 10,000 ms: the k-th value stands for the
	// (k+0.5)th percentile.
	var big histogram
	for i := 1; i <= 10000; i++ {
		big.record(time.Duration(i) * time.Millisecond)
	}
	vs = big.values()
	if len(vs) != 100 {
		t.Fatalf("10,000 samples: %d values, want 100", len(vs))
	}
	for _, k := range []int{0, 49, 89, 98, 99} {
		want := (float64(k) + 0.5) * 100
		if !within(vs[k], want, 0.1) {
			t.Errorf("value %d = %v, want the %.1fth percentile, %v ±10%%", k, vs[k], float64(k)+0.5, want)
		}
	}
	// Durations out of range land in the first and last buckets.
	var edge histogram
	edge.record(0)
	edge.record(time.Hour)
	if vs := edge.values(); len(vs) != 2 || vs[0] > 0.011 || vs[1] < 200000 {
		t.Errorf("edges = %v", vs)
	}
}

// TestFanoutBatches delivers 2,500 subscriptions in batches of 1,000 and
// checks the deliver spans and their counts.
func TestFanoutBatches(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tel, err := New(Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, fo := tel.StartFanout(context.Background(), "t", false)
	var wg sync.WaitGroup
	for i := range 2500 {
		jctx := fo.Dispatch(ctx)
		wg.Go(func() {
			defer fo.Settle(jctx)
			pctx, p := fo.StartPost(jctx, fmt.Sprint(i))
			if pt := gateway.ContextPostTrace(pctx); i%100 == 0 && pt != nil {
				pt.AttemptFailed(gateway.AttemptInfo{Attempt: 1, Status: 429, Throttled: true, Retry: true})
			}
			var err error
			switch {
			case i%500 == 1:
				err = gateway.ErrGone
			case i%500 == 2:
				err = errors.New("500")
				fo.Failed(jctx)
			}
			fo.EndPost(pctx, p, err)
		})
	}
	wg.Wait()
	fo.End(Result{Matched: 2500, Delivered: 2490, Gone: 5, Failed: 5}, nil)

	var batches []sdktrace.ReadOnlySpan
	var fan sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "gqlambda.deliver":
			batches = append(batches, s)
		case "gqlambda.publish":
			fan = s
		default:
			t.Errorf("unexpected span %s", s.Name())
		}
	}
	if fan == nil || len(batches) != 3 {
		t.Fatalf("spans: fan-out %v, %d deliver spans; want 1 and 3", fan != nil, len(batches))
	}
	slices.SortFunc(batches, func(a, b sdktrace.ReadOnlySpan) int {
		return int(attr(a, AttrBatch).AsInt64() - attr(b, AttrBatch).AsInt64())
	})
	wantSubs := []int64{1000, 1000, 500}
	var delivered, gone, failed, throttled int64
	for i, b := range batches {
		if b.Parent().SpanID() != fan.SpanContext().SpanID() {
			t.Errorf("deliver span %d is not a child of the fan-out", i)
		}
		if got := attr(b, AttrSubs).AsInt64(); got != wantSubs[i] {
			t.Errorf("deliver span %d: %d subscriptions, want %d", i, got, wantSubs[i])
		}
		delivered += attr(b, AttrDelivered).AsInt64()
		gone += attr(b, AttrGone).AsInt64()
		failed += attr(b, AttrFailed).AsInt64()
		throttled += attr(b, AttrThrottled).AsInt64()
	}
	if delivered != 2490 || gone != 5 || failed != 5 || throttled != 25 {
		t.Errorf("deliver spans sum to delivered %d gone %d failed %d throttled %d; want 2490 5 5 25", delivered, gone, failed, throttled)
	}
	if got := attr(fan, AttrThrottled).AsInt64(); got != 25 {
		t.Errorf("fan-out throttled = %d, want 25", got)
	}
	if got := attr(fan, AttrOutcome).AsString(); got != "partial" {
		t.Errorf("fan-out outcome = %q, want partial", got)
	}
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func TestParseXRay(t *testing.T) {
	tests := []struct {
		header          string
		ok, sampled     bool
		traceID, spanID string
	}{
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", true, true,
			"5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8"},
		{"Parent=53995c3f42cd8ad8; Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0;Lineage=a87bd80c:1|68fd508a:5", true, false,
			"5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8"},
		{"Root=1-5759E988-BD862E3FE1BE46A994272793;Parent=53995C3F42CD8AD8", true, false,
			"5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8"},
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", false, false, "", ""},
		{"Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8", false, false, "", ""},
		{"Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8", false, false, "", ""},
		{"Root=1-5759e988-bd862e3fe1be46a99427279g;Parent=53995c3f42cd8ad8", false, false, "", ""},
		{"Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8", false, false, "", ""},
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000", false, false, "", ""},
		{"", false, false, "", ""},
		{"garbage", false, false, "", ""},
	}
	for _, tt := range tests {
		sc, ok := ParseXRay(tt.header)
		if ok != tt.ok {
			t.Errorf("ParseXRay(%q) ok = %v, want %v", tt.header, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if sc.TraceID().String() != tt.traceID || sc.SpanID().String() != tt.spanID || sc.IsSampled() != tt.sampled || !sc.IsRemote() {
			t.Errorf("ParseXRay(%q) = %s/%s sampled %v remote %v", tt.header, sc.TraceID(), sc.SpanID(), sc.IsSampled(), sc.IsRemote())
		}
	}
}

// FuzzParseXRay checks that what ParseXRay accepts is valid and formats
// back to a header that parses to the same span context.
func FuzzParseXRay(f *testing.F) {
	f.Add("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	f.Add("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?;Lineage=x")
	f.Fuzz(func(t *testing.T, h string) {
		sc, ok := ParseXRay(h)
		if !ok {
			return
		}
		if !sc.IsValid() || !sc.IsRemote() {
			t.Fatalf("ParseXRay(%q) accepted an invalid span context", h)
		}
		again, ok := ParseXRay(FormatXRay(sc))
		if !ok || !again.Equal(sc) {
			t.Fatalf("ParseXRay(FormatXRay(%v)) = %v, %v", sc, again, ok)
		}
	})
}

// TestParentFromEnvironment continues the X-Ray trace of _X_AMZN_TRACE_ID
// when the context has none (aws-lambda-go sets the variable when it runs
// one invocation at a time), and prefers the context's header and a
// traceparent over it.
func TestParentFromEnvironment(t *testing.T) {
	t.Setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	rec := tracetest.NewSpanRecorder()
	tel, err := New(Options{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))})
	if err != nil {
		t.Fatal(err)
	}
	parentOf := func(ctx context.Context, header map[string]string) trace.SpanContext {
		var carrier propagation.TextMapCarrier
		if header != nil {
			carrier = propagation.MapCarrier(header)
		}
		_, f := tel.StartFrame(ctx, "$default", "c", carrier)
		f.End()
		ended := rec.Ended()
		return ended[len(ended)-1].Parent()
	}
	if p := parentOf(context.Background(), nil); p.TraceID().String() != "5759e988bd862e3fe1be46a994272793" || p.SpanID().String() != "53995c3f42cd8ad8" {
		t.Errorf("from the environment: parent %s/%s", p.TraceID(), p.SpanID())
	}
	//lint:ignore SA1029 the key aws-lambda-go uses
	ctx := context.WithValue(context.Background(), "x-amzn-trace-id", "Root=1-6759e988-bd862e3fe1be46a994272793;Parent=63995c3f42cd8ad8;Sampled=1")
	if p := parentOf(ctx, nil); p.TraceID().String() != "6759e988bd862e3fe1be46a994272793" {
		t.Errorf("the context's header is not preferred: parent trace %s", p.TraceID())
	}
	w3c := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	if p := parentOf(ctx, w3c); p.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("the traceparent is not preferred: parent trace %s", p.TraceID())
	}
	t.Setenv("_X_AMZN_TRACE_ID", "")
	if p := parentOf(context.Background(), nil); p.IsValid() {
		t.Errorf("without any trace context: parent %s, want none", p.TraceID())
	}
}
