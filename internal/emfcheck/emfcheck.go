// Package emfcheck validates CloudWatch Embedded Metric Format documents
// against the format's specification ("Specification: Embedded metric
// format", Amazon CloudWatch User Guide), for the tests of the lines the
// server writes. Each rule it checks quotes the specification.
package emfcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Limits of the specification and of its JSON schema.
const (
	// "embedded metric format ... its maximum size is limited to 1MB";
	// older versions of the page say 256 KB: the stricter applies here.
	MaxDocumentBytes = 256 << 10
	// "This array MUST NOT contain more than 100 MetricDefinition
	// objects."
	MaxMetricsPerDirective = 100
	// "A DimensionSet MUST NOT contain more than 30 dimension keys."
	MaxDimensionsPerSet = 30
	// "Numeric array metric targets MUST NOT have more than 100 members."
	MaxValues = 100
	// "The target member MUST have a string value. This value MUST NOT
	// contain more than 1024 characters."
	MaxDimensionValue = 1024
	// The schema: a DimensionReference has 1 to 250 characters, a
	// Namespace and a metric Name 1 to 1024.
	MaxDimensionName = 250
	MaxNamespace     = 1024
	MaxMetricName    = 1024
)

// Units are the values a MetricDefinition's Unit may take (the schema's
// pattern).
var Units = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true,
	"Megabits": true, "Gigabits": true, "Terabits": true, "Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true,
	"Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// Document is a valid EMF document, as CloudWatch would read it.
type Document struct {
	Timestamp time.Time
	// Directives are its MetricDirectives, in order.
	Directives []Directive
	// Values are the values of its metrics, by name: one value for a
	// number, each member for an array.
	Values map[string][]float64
	// Root is every member of the root node.
	Root map[string]any
}

// Directive is one MetricDirective.
type Directive struct {
	Namespace  string
	Dimensions [][]string
	// Metrics are the names of its metrics, with their units ("None" when
	// not given).
	Metrics []Metric
}

// Metric is one MetricDefinition.
type Metric struct {
	Name, Unit        string
	StorageResolution int
}

// Dimension returns the value of dimension name, from the root node.
func (d *Document) Dimension(name string) string {
	s, _ := d.Root[name].(string)
	return s
}

// Validate checks that line is one EMF document and returns it. A trailing
// newline (the end of a log line) is allowed.
func Validate(line []byte) (*Document, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	if len(line) > MaxDocumentBytes {
		return nil, fmt.Errorf("document of %d bytes, over %d", len(line), MaxDocumentBytes)
	}
	// "The LogEvent message MUST be a valid JSON object with no additional
	// data at the beginning or end of the LogEvent message string."
	if len(line) == 0 || line[0] != '{' {
		return nil, errors.New("not a JSON object at the start of the line")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.InputOffset() != int64(len(line)) {
		return nil, errors.New("data after the JSON object")
	}
	if err := checkDuplicateKeys(line); err != nil {
		return nil, err
	}
	doc := &Document{Root: root, Values: map[string][]float64{}}

	// "The Embedded Metric Format document MUST contain the following
	// top-level member on the root node. This is a Metadata object":
	// _aws, an object with CloudWatchMetrics and Timestamp.
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return nil, errors.New(`root: no "_aws" object`)
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		return nil, errors.New("_aws.Timestamp: missing or not a number")
	}
	// "Values MUST be expressed as the number of milliseconds after Jan 1,
	// 1970 00:00:00 UTC" (an integer in the schema).
	ms, err := ts.Int64()
	if err != nil {
		return nil, fmt.Errorf("_aws.Timestamp %s: not an integer", ts)
	}
	doc.Timestamp = time.UnixMilli(ms)
	if doc.Timestamp.Year() < 2000 || doc.Timestamp.Year() > 2200 {
		return nil, fmt.Errorf("_aws.Timestamp %d: not milliseconds since the epoch of a plausible time", ms)
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok {
		return nil, errors.New("_aws.CloudWatchMetrics: missing or not an array")
	}
	for k := range aws {
		switch k {
		case "Timestamp", "CloudWatchMetrics", "LogGroupName", "LogStreamName":
		default:
			// "Unless otherwise noted, objects defined by this
			// specification MUST NOT contain any additional members."
			return nil, fmt.Errorf("_aws: unknown member %q", k)
		}
	}
	for i, raw := range directives {
		d, err := directive(raw, root, doc.Values)
		if err != nil {
			return nil, fmt.Errorf("_aws.CloudWatchMetrics[%d]: %w", i, err)
		}
		doc.Directives = append(doc.Directives, d)
	}
	return doc, nil
}

// directive checks one MetricDirective against the root node, and adds
// the values of its metrics to values.
func directive(raw any, root map[string]any, values map[string][]float64) (Directive, error) {
	var d Directive
	obj, ok := raw.(map[string]any)
	if !ok {
		return d, errors.New("not an object")
	}
	for k := range obj {
		if k != "Namespace" && k != "Dimensions" && k != "Metrics" {
			return d, fmt.Errorf("unknown member %q", k)
		}
	}
	// "Namespace — A string representing the CloudWatch namespace for the
	// metric."
	ns, ok := obj["Namespace"].(string)
	if !ok || ns == "" || len(ns) > MaxNamespace {
		return d, errors.New("member Namespace: missing, not a string, or not 1 to 1024 characters")
	}
	d.Namespace = ns
	// "Dimensions — A DimensionSet array."
	sets, ok := obj["Dimensions"].([]any)
	if !ok {
		return d, errors.New("member Dimensions: missing or not an array")
	}
	for i, rawSet := range sets {
		set, ok := rawSet.([]any)
		if !ok {
			return d, fmt.Errorf("member Dimensions[%d]: not an array", i)
		}
		if len(set) > MaxDimensionsPerSet {
			return d, fmt.Errorf("member Dimensions[%d]: %d dimension keys, over %d", i, len(set), MaxDimensionsPerSet)
		}
		var names []string
		for _, rawName := range set {
			name, ok := rawName.(string)
			if !ok || name == "" || len(name) > MaxDimensionName {
				return d, fmt.Errorf("member Dimensions[%d]: a key that is not a string of 1 to 250 characters", i)
			}
			// "The values within this array MUST also be members on the
			// root-node" and "The target member MUST have a string value.
			// This value MUST NOT contain more than 1024 characters."
			v, present := root[name]
			if !present {
				return d, fmt.Errorf("dimension %q: no such member on the root node", name)
			}
			s, ok := v.(string)
			if !ok {
				return d, fmt.Errorf("dimension %q: the root member is not a string", name)
			}
			if len(s) > MaxDimensionValue {
				return d, fmt.Errorf("dimension %q: value of %d characters, over %d", name, len(s), MaxDimensionValue)
			}
			names = append(names, name)
		}
		d.Dimensions = append(d.Dimensions, names)
	}
	// "Metrics — An array of MetricDefinition objects. This array MUST NOT
	// contain more than 100 MetricDefinition objects."
	metrics, ok := obj["Metrics"].([]any)
	if !ok {
		return d, errors.New("member Metrics: missing or not an array")
	}
	if len(metrics) > MaxMetricsPerDirective {
		return d, fmt.Errorf("member Metrics: %d definitions, over %d", len(metrics), MaxMetricsPerDirective)
	}
	for i, rawDef := range metrics {
		m, err := metricDefinition(rawDef)
		if err != nil {
			return d, fmt.Errorf("member Metrics[%d]: %w", i, err)
		}
		// "Valid targets MUST be members on the root node and cannot be
		// nested objects" and "A metric target MUST be a numeric value or
		// an array of numeric values. Numeric array metric targets MUST
		// NOT have more than 100 members."
		v, present := root[m.Name]
		if !present {
			return d, fmt.Errorf("metric %q: no such member on the root node", m.Name)
		}
		vs, err := numeric(v)
		if err != nil {
			return d, fmt.Errorf("metric %q: %w", m.Name, err)
		}
		values[m.Name] = vs
		d.Metrics = append(d.Metrics, m)
	}
	return d, nil
}

// metricDefinition checks one MetricDefinition: "Name — A reference value
// to a metric Target member", "Unit — An OPTIONAL string value
// representing the unit of measure", "StorageResolution — An OPTIONAL
// integer value ... Values SHOULD be valid CloudWatch supported
// resolutions, 1 or 60."
func metricDefinition(raw any) (Metric, error) {
	m := Metric{Unit: "None", StorageResolution: 60}
	obj, ok := raw.(map[string]any)
	if !ok {
		return m, errors.New("not an object")
	}
	for k := range obj {
		if k != "Name" && k != "Unit" && k != "StorageResolution" {
			return m, fmt.Errorf("unknown member %q", k)
		}
	}
	name, ok := obj["Name"].(string)
	if !ok || name == "" || len(name) > MaxMetricName {
		return m, errors.New("member Name: missing, not a string, or not 1 to 1024 characters")
	}
	m.Name = name
	if u, present := obj["Unit"]; present {
		s, ok := u.(string)
		if !ok || !Units[s] {
			return m, fmt.Errorf("member Unit %v: not one of the units CloudWatch accepts", u)
		}
		m.Unit = s
	}
	if r, present := obj["StorageResolution"]; present {
		n, ok := r.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil || (i != 1 && i != 60) {
			return m, fmt.Errorf("StorageResolution %v: not 1 or 60", r)
		}
		m.StorageResolution = int(i)
	}
	return m, nil
}

// numeric returns the values of a metric target: a number, or an array of
// at most 100 numbers.
func numeric(v any) ([]float64, error) {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("value %s: %w", v, err)
		}
		return []float64{f}, nil
	case []any:
		if len(v) > MaxValues {
			return nil, fmt.Errorf("%d values, over %d", len(v), MaxValues)
		}
		if len(v) == 0 {
			return nil, errors.New("an empty array: no value to record")
		}
		out := make([]float64, 0, len(v))
		for _, e := range v {
			n, ok := e.(json.Number)
			if !ok {
				return nil, fmt.Errorf("array member %v: not a number", e)
			}
			f, err := n.Float64()
			if err != nil {
				return nil, fmt.Errorf("value %s: %w", n, err)
			}
			out = append(out, f)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("value of type %T: not a number or an array of numbers", v)
	}
}

// checkDuplicateKeys refuses a document whose objects repeat a member:
// which one a reader keeps is undefined (RFC 8259: "The names within an
// object SHOULD be unique").
func checkDuplicateKeys(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end (the decode before reported syntax errors)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: t == '{', keys: map[string]bool{}, key: t == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.obj && top.key {
				if top.keys[t] {
					return fmt.Errorf("member %q repeated in one object", strings.ToValidUTF8(t, "?"))
				}
				top.keys[t] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.obj {
			top.key = true
		}
	}
}
