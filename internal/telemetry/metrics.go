package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Metric is one of the server's counters.
type Metric int

// The counters. Their EMF names are in metricNames, their OpenTelemetry
// names in instrumentNames; docs/operations.md says what each means.
const (
	Connections Metric = iota
	Disconnections
	Frames
	SubscriptionsStarted
	SubscriptionsEnded
	FanOuts
	Deliveries
	Gone
	Throttled
	Retries
	Failed
	Errors
	numCounters
)

// Distribution is one of the server's timings.
type Distribution int

// The timings.
const (
	FanOutDuration Distribution = iota
	PostLatency
	numDistributions
)

// metricNames are the EMF names of the counters, then of the timings.
var metricNames = [...]string{
	Connections:                          "Connections",
	Disconnections:                       "Disconnections",
	Frames:                               "Frames",
	SubscriptionsStarted:                 "SubscriptionsStarted",
	SubscriptionsEnded:                   "SubscriptionsEnded",
	FanOuts:                              "FanOuts",
	Deliveries:                           "Deliveries",
	Gone:                                 "Gone",
	Throttled:                            "Throttled",
	Retries:                              "Retries",
	Failed:                               "Failed",
	Errors:                               "Errors",
	numCounters + Metric(FanOutDuration): "FanOutDuration",
	numCounters + Metric(PostLatency):    "PostLatency",
}

// instrumentNames are the OpenTelemetry instrument names of the counters.
var instrumentNames = [numCounters]struct{ name, desc string }{
	Connections:          {"gqlambda.connections", "WebSocket connections accepted ($connect)"},
	Disconnections:       {"gqlambda.disconnections", "connections whose state was deleted: $disconnect, a server close, a gone client"},
	Frames:               {"gqlambda.frames", "$default frames handled"},
	SubscriptionsStarted: {"gqlambda.subscriptions.started", "subscriptions stored"},
	SubscriptionsEnded:   {"gqlambda.subscriptions.ended", "subscriptions deleted: completed by the client or the server, or with their connection"},
	FanOuts:              {"gqlambda.fanouts", "events fanned out (Publish, Complete, Deliver)"},
	Deliveries:           {"gqlambda.deliveries", "frames of a fan-out that API Gateway accepted"},
	Gone:                 {"gqlambda.gone", "posts of a fan-out to a connection that was gone (410)"},
	Throttled:            {"gqlambda.throttled", "attempts of a post answered with throttling (429)"},
	Retries:              {"gqlambda.retries", "attempts of a post repeated after a retryable failure"},
	Failed:               {"gqlambda.failed", "subscriptions of a fan-out that did not get the event"},
	Errors:               {"gqlambda.errors", "errors reported to Hooks.OnError"},
}

// instruments are the OpenTelemetry instruments of a meter.
type instruments struct {
	counters [numCounters]metric.Int64Counter
	fanOut   metric.Float64Histogram
	post     metric.Float64Histogram
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	m := mp.Meter(scope, metric.WithInstrumentationVersion(version))
	in := &instruments{}
	for i, n := range instrumentNames {
		c, err := m.Int64Counter(n.name, metric.WithDescription(n.desc), metric.WithUnit("{"+unitOf(Metric(i))+"}"))
		if err != nil {
			return nil, fmt.Errorf("telemetry: counter %s: %w", n.name, err)
		}
		in.counters[i] = c
	}
	var err error
	if in.fanOut, err = m.Float64Histogram("gqlambda.fanout.duration", metric.WithUnit("s"),
		metric.WithDescription("time from the start of a fan-out until every delivery settled")); err != nil {
		return nil, fmt.Errorf("telemetry: histogram gqlambda.fanout.duration: %w", err)
	}
	if in.post, err = m.Float64Histogram("gqlambda.post.duration", metric.WithUnit("s"),
		metric.WithDescription("time of one post to @connections during a fan-out, its retries and pacing included")); err != nil {
		return nil, fmt.Errorf("telemetry: histogram gqlambda.post.duration: %w", err)
	}
	return in, nil
}

// unitOf is the annotation of a counter's OpenTelemetry unit.
func unitOf(m Metric) string {
	switch m {
	case Connections, Disconnections:
		return "connection"
	case Frames:
		return "frame"
	case SubscriptionsStarted, SubscriptionsEnded, Failed:
		return "subscription"
	case FanOuts:
		return "event"
	case Deliveries, Gone:
		return "post"
	case Throttled, Retries:
		return "attempt"
	default:
		return "error"
	}
}

// Histogram buckets: bucket i holds durations in [base·r^i, base·r^(i+1)),
// from 10 µs to beyond four minutes in steps of 10%, so that a value read
// back from its bucket is within 5% of the one recorded.
const (
	histBase    = 10 * time.Microsecond
	histRatio   = 1.1
	histBuckets = 180
)

var logRatio = math.Log(histRatio)

// histogram counts durations in log-scale buckets. Safe for concurrent use,
// without locks.
type histogram struct {
	n      atomic.Int64
	counts [histBuckets]atomic.Int64
}

func bucketOf(d time.Duration) int {
	if d < histBase {
		return 0
	}
	i := int(math.Log(float64(d)/float64(histBase)) / logRatio)
	return min(i, histBuckets-1)
}

// bucketValue is the duration that represents bucket i, in milliseconds,
// rounded to three significant digits: the geometric middle of the bucket.
func bucketValue(i int) float64 {
	ms := float64(histBase) * math.Pow(histRatio, float64(i)+0.5) / float64(time.Millisecond)
	return roundSignificant(ms, 3)
}

func roundSignificant(v float64, digits int) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)].Add(1)
	h.n.Add(1)
}

// maxValues is the most values an EMF metric may carry: "Numeric array
// metric targets MUST NOT have more than 100 members."
const maxValues = 100

// values returns what the histogram holds as EMF values, in milliseconds
// and ascending: one value per recorded duration when there are at most
// 100 of them, or else the 100 percentiles of the 0.5th, 1.5th, ...
// 99.5th rank, each standing for one hundredth of them, so that CloudWatch's
// percentile statistics over the values still describe the distribution.
func (h *histogram) values() []float64 {
	n := h.n.Load()
	if n == 0 {
		return nil
	}
	var counts [histBuckets]int64
	total := int64(0)
	for i := range counts {
		counts[i] = h.counts[i].Load()
		total += counts[i]
	}
	out := make([]float64, 0, min(total, maxValues))
	if total <= maxValues {
		for i, c := range counts {
			for range c {
				out = append(out, bucketValue(i))
			}
		}
		return out
	}
	i, seen := 0, counts[0]
	for k := range maxValues {
		rank := (float64(k) + 0.5) * float64(total) / maxValues
		for float64(seen) <= rank && i < histBuckets-1 {
			i++
			seen += counts[i]
		}
		out = append(out, bucketValue(i))
	}
	return out
}

// Invocation collects the metrics of one Lambda invocation (one handled
// frame, one batch of records, one Publish outside a handler) for its EMF
// line. Safe for concurrent use.
type Invocation struct {
	t       *T
	touched atomic.Uint32 // bit m: counter m was added to
	counts  [numCounters]atomic.Int64
	// hists are made on first use: most frames time nothing.
	hists [numDistributions]atomic.Pointer[histogram]
}

// hist returns the histogram of dist, making it on first use.
func (inv *Invocation) hist(dist Distribution) *histogram {
	if h := inv.hists[dist].Load(); h != nil {
		return h
	}
	h := &histogram{}
	if inv.hists[dist].CompareAndSwap(nil, h) {
		return h
	}
	return inv.hists[dist].Load()
}

type invocationKey struct{}

func invocationFrom(ctx context.Context) *Invocation {
	inv, _ := ctx.Value(invocationKey{}).(*Invocation)
	return inv
}

func (inv *Invocation) add(m Metric, n int64) {
	inv.counts[m].Add(n)
	if bit := uint32(1) << m; inv.touched.Load()&bit == 0 {
		inv.touched.Or(bit)
	}
}

// emf writes EMF lines, to a writer, a logger, or both.
type emf struct {
	mu                   sync.Mutex
	w                    io.Writer    // nil: none
	log                  *slog.Logger // nil: none
	buf                  []byte
	namespace, service   []byte // JSON-encoded
	namespaceS, serviceS string
}

func newEMF(w io.Writer, log *slog.Logger, namespace, service string) *emf {
	ns, _ := json.Marshal(namespace)
	svc, _ := json.Marshal(service)
	return &emf{w: w, log: log, namespace: ns, service: svc, namespaceS: namespace, serviceS: service}
}

// emfDirective is a MetricDirective, as a logger's JSON handler encodes it.
type emfDirective struct {
	Namespace  string
	Dimensions [][]string
	Metrics    []emfMetric
}

type emfMetric struct{ Name, Unit string }

// logLine logs the invocation's EMF document as one record: its members
// are the record's attributes, so that a JSON handler writes an EMF
// document with the handler's own time, level and msg beside them.
func (e *emf) logLine(now time.Time, touched uint32, counts *[numCounters]atomic.Int64, values *[numDistributions][]float64) {
	d := emfDirective{Namespace: e.namespaceS, Dimensions: [][]string{{"Service"}}}
	attrs := make([]slog.Attr, 0, 2+int(numCounters)+int(numDistributions))
	for m := range numCounters {
		if touched&(1<<m) != 0 {
			d.Metrics = append(d.Metrics, emfMetric{metricNames[m], "Count"})
			attrs = append(attrs, slog.Int64(metricNames[m], counts[m].Load()))
		}
	}
	for dist := range numDistributions {
		if vs := values[dist]; len(vs) > 0 {
			name := metricNames[numCounters+Metric(dist)]
			d.Metrics = append(d.Metrics, emfMetric{name, "Milliseconds"})
			attrs = append(attrs, slog.Any(name, vs))
		}
	}
	attrs = append(attrs,
		slog.Group("_aws", slog.Int64("Timestamp", now.UnixMilli()), slog.Any("CloudWatchMetrics", []emfDirective{d})),
		slog.String("Service", e.serviceS))
	e.log.LogAttrs(context.Background(), slog.LevelInfo, "metrics", attrs...)
}

// Flush writes the invocation's EMF line, if it recorded anything. It is
// called once, when the invocation ends.
func (inv *Invocation) flush(now time.Time) error {
	e := inv.t.emf
	touched := inv.touched.Load()
	var values [numDistributions][]float64
	any := touched != 0
	for d := range values {
		if h := inv.hists[d].Load(); h != nil {
			values[d] = h.values()
		}
		any = any || len(values[d]) > 0
	}
	if !any {
		return nil
	}
	if e.log != nil {
		e.logLine(now, touched, &inv.counts, &values)
	}
	if e.w == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.buf[:0]
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":`...)
	b = append(b, e.namespace...)
	b = append(b, `,"Dimensions":[["Service"]],"Metrics":[`...)
	first := true
	def := func(name, unit string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"Name":"`...)
		b = append(b, name...)
		b = append(b, `","Unit":"`...)
		b = append(b, unit...)
		b = append(b, `"}`...)
	}
	for m := range numCounters {
		if touched&(1<<m) != 0 {
			def(metricNames[m], "Count")
		}
	}
	for d := range numDistributions {
		if len(values[d]) > 0 {
			def(metricNames[numCounters+Metric(d)], "Milliseconds")
		}
	}
	b = append(b, `]}]},"Service":`...)
	b = append(b, e.service...)
	for m := range numCounters {
		if touched&(1<<m) != 0 {
			b = append(b, `,"`...)
			b = append(b, metricNames[m]...)
			b = append(b, `":`...)
			b = strconv.AppendInt(b, inv.counts[m].Load(), 10)
		}
	}
	for d := range numDistributions {
		if vs := values[d]; len(vs) > 0 {
			b = append(b, `,"`...)
			b = append(b, metricNames[numCounters+Metric(d)]...)
			b = append(b, `":[`...)
			for i, v := range vs {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, v, 'g', -1, 64)
			}
			b = append(b, ']')
		}
	}
	b = append(b, "}\n"...)
	e.buf = b
	_, err := e.w.Write(b)
	return err
}
