package iactest

// The tests in this file check the observability resources of deploy/: the
// dashboard and alarms of template.yaml (its Observability* block) and of
// observability.tf. Every metric they read must be one the library writes:
// emittedMetrics runs a server and collects the names of its EMF lines.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/graphql-go/graphql"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"gopkg.in/yaml.v3"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway/gatewaytest"
	"github.com/gqlambda/gqlambda/store/memory"
)

const observabilityTFPath = "../observability.tf"

// lockedBuffer collects EMF lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// emittedMetrics runs a server with EMF lines on through a connection's
// whole life (connect, init, two subscriptions, a publish that reaches one
// and fails for the other, a disconnect) and a publish to a gone
// connection, and returns the names of the metrics its lines carried, each
// with the namespace and Service they came with.
func emittedMetrics(t *testing.T) (names map[string]bool, namespace, service string) {
	t.Helper()
	schema, err := graphql.NewSchema(graphql.SchemaConfig{
		Query: graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
			"ok": &graphql.Field{Type: graphql.Boolean},
		}}),
		Subscription: graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
			"news": &graphql.Field{
				Type:      graphql.String,
				Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{"NEWS"}}),
				Resolve:   func(p graphql.ResolveParams) (any, error) { return fmt.Sprint(p.Source), nil },
			},
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := gatewaytest.NewRecorder()
	rec.Hook = func(_ context.Context, _, connectionID string, frame []byte) error {
		if connectionID == "failing" && bytes.Contains(frame, []byte(`"next"`)) {
			return errors.New("injected failure")
		}
		return nil
	}
	var out lockedBuffer
	srv, err := gqlambda.New(gqlambda.Config{
		Engine:    graphqlgo.New(schema, nil),
		Store:     memory.New(nil),
		Sender:    rec,
		Telemetry: gqlambda.Telemetry{Metrics: &out, Service: "stack"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	event := func(id, eventType, route, body string) events.APIGatewayWebsocketProxyRequest {
		ev := events.APIGatewayWebsocketProxyRequest{Body: body}
		ev.RequestContext = events.APIGatewayWebsocketProxyRequestContext{ConnectionID: id, EventType: eventType, RouteKey: route,
			DomainName: "abc.execute-api.eu-west-1.amazonaws.com", Stage: "prod"}
		ev.Headers = map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"}
		return ev
	}
	for _, id := range []string{"ok", "failing", "vanished"} {
		for _, ev := range []events.APIGatewayWebsocketProxyRequest{
			event(id, "CONNECT", "$connect", ""),
			event(id, "MESSAGE", "$default", `{"type":"connection_init"}`),
			event(id, "MESSAGE", "$default", `{"type":"subscribe","id":"1","payload":{"query":"subscription { news }"}}`),
		} {
			if resp, err := srv.WebSocketHandler(ctx, ev); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s %s: %d %v", ev.RequestContext.RouteKey, id, resp.StatusCode, err)
			}
		}
	}
	rec.SetGone("vanished")
	if res, err := srv.Publish(ctx, "NEWS", "hello"); err != nil || res.Delivered != 1 || res.Failed != 1 || res.Gone != 1 {
		t.Fatalf("Publish = %+v, %v", res, err)
	}
	if _, err := srv.WebSocketHandler(ctx, event("ok", "DISCONNECT", "$disconnect", "")); err != nil {
		t.Fatal(err)
	}
	names = map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(out.b.String()), "\n") {
		var doc struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
			Service string
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		for _, d := range doc.AWS.CloudWatchMetrics {
			namespace, service = d.Namespace, doc.Service
			for _, m := range d.Metrics {
				names[m.Name] = true
			}
		}
	}
	return names, namespace, service
}

// expandRows expands the shorthand of a CloudWatch dashboard's metric rows:
// "." repeats the value of the previous row at that position, and a row
// that starts with "..." repeats the previous row's values up to those it
// gives. A trailing object (rendering options) is dropped.
func expandRows(rows []any) ([][]string, error) {
	var out [][]string
	var prev []string
	for i, r := range rows {
		items, ok := r.([]any)
		if !ok {
			return nil, fmt.Errorf("metrics[%d]: not an array", i)
		}
		var vals []string
		for _, it := range items {
			switch v := it.(type) {
			case string:
				vals = append(vals, v)
			case map[string]any:
			default:
				return nil, fmt.Errorf("metrics[%d]: value %v", i, it)
			}
		}
		var row []string
		switch {
		case len(vals) > 0 && vals[0] == "...":
			if prev == nil || len(vals)-1 > len(prev) {
				return nil, fmt.Errorf("metrics[%d]: ... without a previous row to repeat", i)
			}
			row = append(slices.Clone(prev[:len(prev)-(len(vals)-1)]), vals[1:]...)
		default:
			for j, v := range vals {
				if v == "." {
					if j >= len(prev) {
						return nil, fmt.Errorf("metrics[%d]: . without a previous value", i)
					}
					v = prev[j]
				}
				row = append(row, v)
			}
		}
		out = append(out, row)
		prev = row
	}
	return out, nil
}

// dashboardCheck checks a dashboard body: every metric of namespace is one
// the library writes, with the Service dimension service; the Lambda rows
// name the functions; the alarm widget lists the alarms. It returns the
// functions whose Errors the dashboard shows.
func dashboardCheck(t *testing.T, body string, emitted map[string]bool, namespace, service string, alarms []string) []string {
	t.Helper()
	var dash struct {
		Widgets []struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal([]byte(body), &dash); err != nil {
		t.Fatalf("dashboard body is not JSON: %v\n%s", err, body)
	}
	var functions, shown []string
	var gotAlarms []string
	for i, w := range dash.Widgets {
		switch w.Type {
		case "alarm":
			for _, a := range w.Properties["alarms"].([]any) {
				gotAlarms = append(gotAlarms, a.(string))
			}
		case "metric":
			raw, _ := w.Properties["metrics"].([]any)
			rows, err := expandRows(raw)
			if err != nil {
				t.Fatalf("widget %d: %v", i, err)
			}
			for _, r := range rows {
				if len(r) != 4 {
					t.Errorf("widget %d: metric %v: want namespace, name and one dimension", i, r)
					continue
				}
				switch r[0] {
				case namespace:
					if !emitted[r[1]] {
						t.Errorf("widget %d: metric %s is not one the library writes (%v)", i, r[1], sortedKeys(emitted))
					}
					if r[2] != "Service" || r[3] != service {
						t.Errorf("widget %d: metric %s has dimension %s=%s, want Service=%s", i, r[1], r[2], r[3], service)
					}
					shown = append(shown, r[1])
				case "AWS/Lambda":
					if r[2] != "FunctionName" {
						t.Errorf("widget %d: Lambda metric %v: want the FunctionName dimension", i, r)
					}
					if r[1] == "Errors" {
						functions = append(functions, r[3])
					}
				default:
					t.Errorf("widget %d: metric of namespace %s", i, r[0])
				}
			}
		default:
			t.Errorf("widget %d: type %q", i, w.Type)
		}
	}
	slices.Sort(gotAlarms)
	if want := slices.Sorted(slices.Values(alarms)); !slices.Equal(gotAlarms, want) {
		t.Errorf("alarm widget lists %v, want %v", gotAlarms, want)
	}
	for _, m := range []string{"Deliveries", "Gone", "Failed", "Throttled", "Retries", "PostLatency", "FanOutDuration", "Connections", "SubscriptionsStarted", "SubscriptionsEnded"} {
		if !slices.Contains(shown, m) {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
	slices.Sort(functions)
	return functions
}

func sortedKeys(m map[string]bool) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

// alarmSpec is what the SAM and Terraform alarms on one library metric
// must agree on.
type alarmSpec struct {
	Metric, Statistic, Comparison, MissingData string
	Period, Evaluations, Datapoints            int
	Threshold                                  float64
}

// samObservability is the SAM template's observability block.
func TestObservabilitySAM(t *testing.T) {
	emitted, namespace, _ := emittedMetrics(t)
	tpl := loadTemplate(t)

	// The block is contiguous in Resources.
	src, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	var order []string
	for name := range yentries(yget(doc.Content[0], "Resources")) {
		order = append(order, name)
	}
	first := slices.IndexFunc(order, func(n string) bool { return strings.HasPrefix(n, "Observability") })
	if first < 0 {
		t.Fatal("no Observability* resources in template.yaml")
	}
	n := 0
	for _, name := range order {
		if strings.HasPrefix(name, "Observability") {
			n++
		}
	}
	for _, name := range order[first : first+n] {
		if !strings.HasPrefix(name, "Observability") {
			t.Errorf("%s sits inside the Observability block of template.yaml", name)
		}
	}

	// The functions write their metrics with the Service the alarms read.
	service, err := tpl.value(yget(tpl.globals, "Environment", "Variables", "GQLAMBDA_METRICS_SERVICE"))
	if err != nil {
		t.Fatalf("Globals GQLAMBDA_METRICS_SERVICE: %v", err)
	}
	topic := "ref(ObservabilityAlarmTopic)"
	if typ := yget(tpl.resources["ObservabilityAlarmTopic"], "Type"); typ == nil || typ.Value != "AWS::SNS::Topic" {
		t.Fatal("ObservabilityAlarmTopic is not an AWS::SNS::Topic")
	}
	alarmNames := tpl.resourcesOfType("AWS::CloudWatch::Alarm")
	if want := []string{"ObservabilityFailedDeliveriesAlarm", "ObservabilityLambdaErrorsAlarm", "ObservabilityThrottlingAlarm"}; !slices.Equal(alarmNames, want) {
		t.Fatalf("alarms %v, want %v", alarmNames, want)
	}
	for _, name := range alarmNames {
		p := yget(tpl.resources[name], "Properties")
		for _, key := range []string{"AlarmActions", "OKActions"} {
			if got, err := tpl.values(yget(p, key)); err != nil || !slices.Equal(got, []string{topic}) {
				t.Errorf("%s %s = %v, %v; want the alarm topic", name, key, got, err)
			}
		}
		if v := yget(p, "TreatMissingData"); v == nil || v.Value != "notBreaching" {
			t.Errorf("%s: TreatMissingData is not notBreaching: with no traffic there is no data", name)
		}
	}
	for name, metric := range map[string]string{"ObservabilityThrottlingAlarm": "Throttled", "ObservabilityFailedDeliveriesAlarm": "Failed"} {
		spec := samAlarm(t, tpl, name, namespace, service)
		if spec.Metric != metric || !emitted[spec.Metric] {
			t.Errorf("%s reads %s, want %s, a metric the library writes (%v)", name, spec.Metric, metric, sortedKeys(emitted))
		}
	}

	// The Lambda errors alarm sums the errors of every function.
	functions := tpl.resourcesOfType("AWS::Serverless::Function")
	var refs []string
	for i, f := range functions {
		refs = append(refs, "ref("+f+")")
		functions[i] = "ref(" + f + ")"
	}
	p := yget(tpl.resources["ObservabilityLambdaErrorsAlarm"], "Properties")
	var expr string
	var ids, covered []string
	for _, q := range yitems(yget(p, "Metrics")) {
		id := yget(q, "Id").Value
		if r := yget(q, "ReturnData"); r != nil && r.Value == "true" {
			expr = yget(q, "Expression").Value
			continue
		}
		m := yget(q, "MetricStat", "Metric")
		if yget(m, "Namespace").Value != "AWS/Lambda" || yget(m, "MetricName").Value != "Errors" || yget(q, "MetricStat", "Stat").Value != "Sum" {
			t.Errorf("ObservabilityLambdaErrorsAlarm %s: not the Sum of AWS/Lambda Errors", id)
		}
		dims := yitems(yget(m, "Dimensions"))
		if len(dims) != 1 || yget(dims[0], "Name").Value != "FunctionName" {
			t.Fatalf("ObservabilityLambdaErrorsAlarm %s: want one dimension, FunctionName", id)
		}
		fn, err := tpl.value(yget(dims[0], "Value"))
		if err != nil {
			t.Fatal(err)
		}
		ids, covered = append(ids, id), append(covered, fn)
	}
	terms := regexp.MustCompile(`\s*\+\s*`).Split(strings.TrimSpace(expr), -1)
	slices.Sort(terms)
	slices.Sort(ids)
	if !slices.Equal(terms, ids) {
		t.Errorf("ObservabilityLambdaErrorsAlarm expression %q does not sum its metrics %v", expr, ids)
	}
	slices.Sort(covered)
	if !slices.Equal(covered, refs) {
		t.Errorf("ObservabilityLambdaErrorsAlarm covers %v, want every function of the template %v: add the new function's Errors to its Metrics and to the dashboard", covered, refs)
	}

	// The dashboard.
	dp := yget(tpl.resources["ObservabilityDashboard"], "Properties")
	body, err := tpl.value(yget(dp, "DashboardBody"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(ref|getatt)\(([A-Za-z0-9]+)`).FindAllStringSubmatch(body, -1) {
		if tpl.resources[m[2]] == nil {
			t.Errorf("the dashboard names %s, not a resource of the template", m[2])
		}
	}
	var alarmArns []string
	for _, a := range alarmNames {
		alarmArns = append(alarmArns, "getatt("+a+".Arn)")
	}
	if shown := dashboardCheck(t, body, emitted, namespace, service, alarmArns); !slices.Equal(shown, functions) {
		t.Errorf("the dashboard shows the errors of %v, want every function %v", shown, functions)
	}
}

// samAlarm reads an alarm on one library metric and checks its namespace
// and dimension.
func samAlarm(t *testing.T, tpl *samTemplate, name, namespace, service string) alarmSpec {
	t.Helper()
	p := yget(tpl.resources[name], "Properties")
	str := func(k string) string {
		if v := yget(p, k); v != nil {
			return v.Value
		}
		return ""
	}
	num := func(k string) (n int) {
		fmt.Sscan(str(k), &n)
		return n
	}
	if str("Namespace") != namespace {
		t.Errorf("%s: namespace %q, want the library's %q", name, str("Namespace"), namespace)
	}
	dims := yitems(yget(p, "Dimensions"))
	if len(dims) != 1 || yget(dims[0], "Name").Value != "Service" {
		t.Fatalf("%s: want one dimension, Service", name)
	}
	if v, err := tpl.value(yget(dims[0], "Value")); err != nil || v != service {
		t.Errorf("%s: Service = %q, %v; want %q, what the functions write", name, v, err, service)
	}
	spec := alarmSpec{Metric: str("MetricName"), Statistic: str("Statistic"), Comparison: str("ComparisonOperator"),
		MissingData: str("TreatMissingData"), Period: num("Period"), Evaluations: num("EvaluationPeriods"), Datapoints: num("DatapointsToAlarm")}
	fmt.Sscan(str("Threshold"), &spec.Threshold)
	return spec
}

// tfObservability is observability.tf, parsed, with what its expressions
// need: the variables' defaults (function names overridden with two), a
// region, the alarms' ARNs and HCL's functions.
type tfObservability struct {
	body *hclsyntax.Body
	ctx  *hcl.EvalContext
}

var tfFunctions = []string{"chat-websocket", "chat-stream"}

func loadObservabilityTF(t *testing.T) *tfObservability {
	t.Helper()
	body := readHCL(t, observabilityTFPath)
	vars, alarms := map[string]cty.Value{}, map[string]cty.Value{}
	for _, b := range body.Blocks {
		switch {
		case b.Type == "variable":
			v, diags := b.Body.Attributes["default"].Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			vars[b.Labels[0]] = v
		case b.Type == "resource" && b.Labels[0] == "aws_cloudwatch_metric_alarm":
			alarms[b.Labels[1]] = cty.ObjectVal(map[string]cty.Value{"arn": cty.StringVal("arn(" + b.Labels[1] + ")")})
		}
	}
	var fns []cty.Value
	for _, f := range tfFunctions {
		fns = append(fns, cty.StringVal(f))
	}
	vars["observability_function_names"] = cty.ListVal(fns)
	// observability_lambda_errors has count = 1 with function names.
	alarms["observability_lambda_errors"] = cty.TupleVal([]cty.Value{alarms["observability_lambda_errors"]})
	return &tfObservability{body: body, ctx: &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":                         cty.ObjectVal(vars),
			"aws_cloudwatch_metric_alarm": cty.ObjectVal(alarms),
			"data": cty.ObjectVal(map[string]cty.Value{"aws_region": cty.ObjectVal(map[string]cty.Value{
				"observability": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("region")})})}),
		},
		Functions: map[string]function.Function{
			"jsonencode": stdlib.JSONEncodeFunc, "concat": stdlib.ConcatFunc, "length": stdlib.LengthFunc, "join": stdlib.JoinFunc,
		},
	}}
}

func (f *tfObservability) eval(t *testing.T, body *hclsyntax.Body, name string) cty.Value {
	t.Helper()
	a := body.Attributes[name]
	if a == nil {
		return cty.NilVal
	}
	v, diags := a.Expr.Value(f.ctx)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	return v
}

func (f *tfObservability) resource(typ, name string) *hclsyntax.Body {
	for _, b := range hclBlocks(f.body, "resource", typ, name) {
		return b.Body
	}
	return nil
}

// TestObservabilityTerraform checks observability.tf: its names, its alarms
// against the SAM template's, and its dashboard.
func TestObservabilityTerraform(t *testing.T) {
	emitted, namespace, _ := emittedMetrics(t)
	tf := loadObservabilityTF(t)
	for _, b := range tf.body.Blocks {
		if len(b.Labels) == 0 {
			continue // locals, checked below
		}
		if name := b.Labels[len(b.Labels)-1]; !strings.HasPrefix(name, "observability") {
			t.Errorf("%s %v: not prefixed observability_ (the file shares its module with the others of deploy/)", b.Type, b.Labels)
		}
	}
	for name, attrs := range hclAttributes(tf.body, "locals") {
		if !strings.HasPrefix(name, "observability_") {
			t.Errorf("local %s: not prefixed observability_ (%v)", name, attrs)
		}
	}
	tpl := loadTemplate(t)
	service := tf.eval(t, hclBlocks(tf.body, "variable", "observability_service")[0].Body, "default").AsString()
	if ns := tf.eval(t, hclBlocks(tf.body, "variable", "observability_namespace")[0].Body, "default").AsString(); ns != namespace {
		t.Errorf("default namespace %q, want the library's %q", ns, namespace)
	}
	for tfName, samName := range map[string]string{"observability_throttling": "ObservabilityThrottlingAlarm", "observability_failed_deliveries": "ObservabilityFailedDeliveriesAlarm"} {
		body := tf.resource("aws_cloudwatch_metric_alarm", tfName)
		if body == nil {
			t.Fatalf("no aws_cloudwatch_metric_alarm.%s", tfName)
		}
		num := func(k string) int {
			v := tf.eval(t, body, k)
			if v == cty.NilVal {
				return 0
			}
			i, _ := v.AsBigFloat().Int64()
			return int(i)
		}
		got := alarmSpec{
			Metric: tf.eval(t, body, "metric_name").AsString(), Statistic: tf.eval(t, body, "statistic").AsString(),
			Comparison: tf.eval(t, body, "comparison_operator").AsString(), MissingData: tf.eval(t, body, "treat_missing_data").AsString(),
			Period: num("period"), Evaluations: num("evaluation_periods"), Datapoints: num("datapoints_to_alarm"),
		}
		got.Threshold, _ = tf.eval(t, body, "threshold").AsBigFloat().Float64()
		want := samAlarm(t, tpl, samName, namespace, "stack")
		if got != want {
			t.Errorf("aws_cloudwatch_metric_alarm.%s = %+v, want what %s says: %+v", tfName, got, samName, want)
		}
		if ns := tf.eval(t, body, "namespace").AsString(); ns != namespace {
			t.Errorf("%s: namespace %q", tfName, ns)
		}
		if !emitted[got.Metric] {
			t.Errorf("%s reads %s, not a metric the library writes", tfName, got.Metric)
		}
		if dims := body.Attributes["dimensions"]; dims == nil || !strings.Contains(string(dims.Expr.Range().SliceBytes(mustRead(t, observabilityTFPath))), "observability_dims") {
			t.Errorf("%s: dimensions are not local.observability_dims (Service)", tfName)
		}
	}
	if dims := hclAttributes(tf.body, "locals")["observability_dims"]; !strings.Contains(dims, "Service = var.observability_service") {
		t.Errorf("local.observability_dims = %s, want { Service = var.observability_service }", dims)
	}

	// The Lambda errors alarm sums one metric query per function.
	le := tf.resource("aws_cloudwatch_metric_alarm", "observability_lambda_errors")
	var sum string
	var perFunction *hclsyntax.Block
	for _, b := range le.Blocks {
		switch {
		case b.Type == "metric_query":
			sum = tf.eval(t, b.Body, "expression").AsString()
		case b.Type == "dynamic" && b.Labels[0] == "metric_query":
			perFunction = b
		}
	}
	if sum != "f0 + f1" || perFunction == nil {
		t.Fatalf("observability_lambda_errors: sum %q and a dynamic metric_query %v; want f0 + f1 over two functions", sum, perFunction != nil)
	}
	for i, fn := range tfFunctions {
		ctx := tf.ctx.NewChild()
		ctx.Variables = map[string]cty.Value{"metric_query": cty.ObjectVal(map[string]cty.Value{"key": cty.NumberIntVal(int64(i)), "value": cty.StringVal(fn)})}
		content := hclBlocks(perFunction.Body, "content")[0].Body
		metric := hclBlocks(content, "metric")[0].Body
		child := &tfObservability{body: tf.body, ctx: ctx}
		if id := child.eval(t, content, "id").AsString(); id != fmt.Sprintf("f%d", i) {
			t.Errorf("metric query %d: id %s", i, id)
		}
		dims := child.eval(t, metric, "dimensions").AsValueMap()
		if child.eval(t, metric, "namespace").AsString() != "AWS/Lambda" || child.eval(t, metric, "metric_name").AsString() != "Errors" ||
			child.eval(t, metric, "stat").AsString() != "Sum" || dims["FunctionName"].AsString() != fn {
			t.Errorf("metric query %d: not the Sum of AWS/Lambda Errors of %s", i, fn)
		}
	}

	// The dashboard.
	raw := tf.eval(t, tf.resource("aws_cloudwatch_dashboard", "observability"), "dashboard_body")
	var body string
	if err := json.Unmarshal(mustJSON(t, raw), &body); err != nil {
		t.Fatal(err)
	}
	alarms := []string{"arn(observability_failed_deliveries)", "arn(observability_lambda_errors)", "arn(observability_throttling)"}
	if shown := dashboardCheck(t, body, emitted, namespace, service, alarms); !slices.Equal(shown, slices.Sorted(slices.Values(tfFunctions))) {
		t.Errorf("the dashboard shows the errors of %v, want %v", shown, tfFunctions)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t *testing.T, v cty.Value) []byte {
	t.Helper()
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hclAttributes returns the source text of the attributes of the blocks of
// type typ.
func hclAttributes(body *hclsyntax.Body, typ string) map[string]string {
	src := mustReadNoT(observabilityTFPath)
	out := map[string]string{}
	for _, b := range hclBlocks(body, typ) {
		for name, a := range b.Body.Attributes {
			out[name] = string(a.Expr.Range().SliceBytes(src))
		}
	}
	return out
}

func mustReadNoT(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}
