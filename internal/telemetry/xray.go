package telemetry

import (
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// ParseXRay decodes an AWS X-Ray trace header, as Lambda passes it
// (Lambda-Runtime-Trace-Id, _X_AMZN_TRACE_ID) and as API Gateway and SQS
// carry it (X-Amzn-Trace-Id, AWSTraceHeader):
//
//	Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1
//
// into the remote span context it continues: the trace id is the Root's
// epoch and unique parts (32 hex digits), the span id its Parent, sampled
// when Sampled=1. Fields may come in any order; others (Lineage, Self) are
// ignored. It reports false for a header without a valid Root and Parent.
func ParseXRay(h string) (trace.SpanContext, bool) {
	var (
		tid     trace.TraceID
		sid     trace.SpanID
		root    bool
		parent  bool
		sampled bool
	)
	if len(h) > 512 {
		return trace.SpanContext{}, false
	}
	for field := range strings.SplitSeq(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			continue
		}
		switch k {
		case "Root":
			// 1-{8 hex digits: epoch}-{24 hex digits}
			if len(v) != 35 || v[0] != '1' || v[1] != '-' || v[10] != '-' {
				return trace.SpanContext{}, false
			}
			if !decodeHex(tid[:4], v[2:10]) || !decodeHex(tid[4:], v[11:]) {
				return trace.SpanContext{}, false
			}
			root = true
		case "Parent":
			if len(v) != 16 || !decodeHex(sid[:], v) {
				return trace.SpanContext{}, false
			}
			parent = true
		case "Sampled":
			sampled = v == "1"
		}
	}
	if !root || !parent {
		return trace.SpanContext{}, false
	}
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

// FormatXRay encodes sc as an X-Ray trace header, as ParseXRay decodes it.
func FormatXRay(sc trace.SpanContext) string {
	tid, sid := sc.TraceID(), sc.SpanID()
	t := hex.EncodeToString(tid[:])
	s := "Root=1-" + t[:8] + "-" + t[8:] + ";Parent=" + hex.EncodeToString(sid[:]) + ";Sampled="
	if sc.IsSampled() {
		return s + "1"
	}
	return s + "0"
}

// decodeHex decodes the lowercase or uppercase hex digits s into dst, which
// has room for exactly their bytes.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}
