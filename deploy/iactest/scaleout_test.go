package iactest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"gopkg.in/yaml.v3"
)

// The checks of scale-out fan-out in the IaC: the ranges queue, its
// dead-letter queue, the worker function and its event source mapping, and
// who may send and receive, in template.yaml and in fanout-workers.tf.

const fanoutTerraformPath = "../fanout-workers.tf"

// TestIaCScaleOutTemplate checks the scale-out block of the SAM template:
// the queue redrives to its dead-letter queue after as many receives as
// the functions are told (GQLAMBDA_RANGES_MAX_RECEIVE, so the last worker
// marks the range dead); its visibility timeout is at least six times the
// worker's timeout; the worker takes one range per invocation, reports
// batch item failures and is bounded by the RangesMaxConcurrency parameter,
// which the publishers also know (GQLAMBDA_RANGES_MAX_WORKERS); every
// function knows the queue; only the publishing functions' roles may send
// to it, and the worker's own policies grant no sqs:SendMessage.
func TestIaCScaleOutTemplate(t *testing.T) {
	tpl := loadTemplate(t)
	q := yget(tpl.resources["RangesQueue"], "Properties")
	if q == nil || yscalar(yget(tpl.resources["RangesQueue"], "Type")) != "AWS::SQS::Queue" {
		t.Fatal("no AWS::SQS::Queue RangesQueue")
	}
	dlqArn, err := tpl.value(yget(q, "RedrivePolicy", "deadLetterTargetArn"))
	if err != nil || dlqArn != "getatt(RangesDeadLetterQueue.Arn)" {
		t.Errorf("RangesQueue.RedrivePolicy.deadLetterTargetArn = %q (%v), want !GetAtt RangesDeadLetterQueue.Arn", dlqArn, err)
	}
	maxReceive := yscalar(yget(q, "RedrivePolicy", "maxReceiveCount"))
	if got := yscalar(yget(tpl.globals, "Environment", "Variables", "GQLAMBDA_RANGES_MAX_RECEIVE")); got != maxReceive {
		t.Errorf("Globals GQLAMBDA_RANGES_MAX_RECEIVE = %q, want the queue's maxReceiveCount %q", got, maxReceive)
	}

	var worker *samFunction
	for _, f := range tpl.functions() {
		if v, err := tpl.value(f.Env["GQLAMBDA_RANGES_QUEUE_URL"]); err != nil || v != "ref(RangesQueue)" {
			t.Errorf("function %s: GQLAMBDA_RANGES_QUEUE_URL = %q (%v), want !Ref RangesQueue", f.ID, v, err)
		}
		if yscalar(f.Env["GQLAMBDA_HANDLER"]) == "ranges" {
			worker = &f
		}
	}
	if worker == nil {
		t.Fatal("no function with GQLAMBDA_HANDLER=ranges")
	}
	timeout, _ := strconv.Atoi(yscalar(tpl.prop(*worker, "Timeout")))
	vis, _ := strconv.Atoi(yscalar(yget(q, "VisibilityTimeout")))
	if timeout <= 0 || vis < 6*timeout {
		t.Errorf("RangesQueue.VisibilityTimeout %d, want at least 6 × %s's Timeout %d", vis, worker.ID, timeout)
	}
	var sqsEvents int
	for name, ev := range yentries(yget(worker.Node, "Events")) {
		if yscalar(yget(ev, "Type")) != "SQS" {
			continue
		}
		sqsEvents++
		p := yget(ev, "Properties")
		if v, err := tpl.value(yget(p, "Queue")); err != nil || v != "getatt(RangesQueue.Arn)" {
			t.Errorf("%s.Events.%s.Queue = %q (%v), want !GetAtt RangesQueue.Arn", worker.ID, name, v, err)
		}
		if got := yscalar(yget(p, "BatchSize")); got != "1" {
			t.Errorf("%s.Events.%s.BatchSize = %q, want 1 (one range per invocation)", worker.ID, name, got)
		}
		if got, _ := tpl.values(yget(p, "FunctionResponseTypes")); !slices.Contains(got, "ReportBatchItemFailures") {
			t.Errorf("%s.Events.%s.FunctionResponseTypes = %q, want ReportBatchItemFailures", worker.ID, name, got)
		}
		if !isRef(yget(p, "ScalingConfig", "MaximumConcurrency"), "RangesMaxConcurrency") {
			t.Errorf("%s.Events.%s.ScalingConfig.MaximumConcurrency is not !Ref RangesMaxConcurrency", worker.ID, name)
		}
	}
	if sqsEvents != 1 {
		t.Errorf("%s: %d SQS events, want 1", worker.ID, sqsEvents)
	}
	if !isRef(yget(tpl.globals, "Environment", "Variables", "GQLAMBDA_RANGES_MAX_WORKERS"), "RangesMaxConcurrency") {
		t.Error("Globals GQLAMBDA_RANGES_MAX_WORKERS is not !Ref RangesMaxConcurrency")
	}
	if _, ok := tpl.params["RangesMaxConcurrency"]; !ok {
		t.Error("no parameter RangesMaxConcurrency")
	}
	stmts, err := tpl.statements(*worker)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		for _, a := range s.Actions {
			if globMatch(a, "sqs:SendMessage", true) {
				t.Errorf("%s's policies grant %s: the worker sends no ranges", worker.ID, a)
			}
		}
	}

	// The queue policy: sqs:SendMessage, to the publishers' roles only.
	var policies int
	for _, id := range tpl.resourcesOfType("AWS::SQS::QueuePolicy") {
		p := yget(tpl.resources[id], "Properties")
		if qs, _ := tpl.values(yget(p, "Queues")); !slices.Equal(qs, []string{"ref(RangesQueue)"}) {
			continue
		}
		policies++
		for _, s := range yitems(yget(p, "PolicyDocument", "Statement")) {
			actions, _ := tpl.values(yget(s, "Action"))
			principals, err := tpl.values(yget(s, "Principal", "AWS"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(actions, []string{"sqs:SendMessage"}) {
				t.Errorf("%s: actions %q, want only sqs:SendMessage", id, actions)
			}
			for _, pr := range principals {
				if pr == "getatt("+worker.ID+"Role.Arn)" {
					t.Errorf("%s lets the worker %s send ranges", id, worker.ID)
				}
				fn := strings.TrimSuffix(strings.TrimPrefix(pr, "getatt("), "Role.Arn)")
				if r := tpl.resources[fn]; r == nil || yscalar(yget(r, "Type")) != "AWS::Serverless::Function" {
					t.Errorf("%s: principal %s is not a function's role of the template", id, pr)
				}
			}
			if want := []string{"getatt(StreamFunctionRole.Arn)", "getatt(MessagesFunctionRole.Arn)"}; !containsAll(principals, want) {
				t.Errorf("%s: principals %q, want the stream functions' roles %q among them", id, principals, want)
			}
		}
	}
	if policies != 1 {
		t.Errorf("%d AWS::SQS::QueuePolicy on RangesQueue, want 1", policies)
	}
}

// isRef reports whether n is a Ref to name.
func isRef(n *yaml.Node, name string) bool {
	fn, arg := intrinsic(n)
	return fn == "Ref" && arg != nil && arg.Value == name
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// fanoutTF is fanout-workers.tf parsed with dynamodb.tf's variables, every
// resource attribute it references standing for itself ("arn(TYPE.NAME)"),
// and the functions it calls.
type fanoutTF struct {
	body *hclsyntax.Body
	ctx  *hcl.EvalContext
}

func loadFanoutTerraform(t *testing.T) *fanoutTF {
	t.Helper()
	vars := map[string]cty.Value{}
	var body *hclsyntax.Body
	for _, path := range []string{terraformPath, fanoutTerraformPath} {
		b := readHCL(t, path)
		for _, blk := range b.Blocks {
			if blk.Type == "variable" && blk.Body.Attributes["default"] != nil {
				v, diags := blk.Body.Attributes["default"].Expr.Value(nil)
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				vars[blk.Labels[0]] = v
			}
		}
		if path == fanoutTerraformPath {
			body = b
		}
	}
	symbolic := func(typ string, names []string, attrs ...string) cty.Value {
		m := map[string]cty.Value{}
		for _, n := range names {
			o := map[string]cty.Value{}
			for _, a := range attrs {
				o[a] = cty.StringVal(a + "(" + typ + "." + n + ")")
			}
			m[n] = cty.ObjectVal(o)
		}
		return cty.ObjectVal(m)
	}
	names := func(typ string) []string {
		var out []string
		for _, b := range hclBlocks(body, "resource", typ) {
			out = append(out, b.Labels[1])
		}
		return out
	}
	var docs []string
	for _, b := range hclBlocks(body, "data", "aws_iam_policy_document") {
		docs = append(docs, b.Labels[1])
	}
	docs = append(docs, "store")
	return &fanoutTF{body: body, ctx: &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":                 cty.ObjectVal(vars),
			"aws_sqs_queue":       symbolic("aws_sqs_queue", names("aws_sqs_queue"), "arn", "url"),
			"aws_iam_role":        symbolic("aws_iam_role", names("aws_iam_role"), "arn", "id"),
			"aws_lambda_function": symbolic("aws_lambda_function", names("aws_lambda_function"), "arn"),
			"aws_dynamodb_table":  symbolic("aws_dynamodb_table", []string{"connections", "subscriptions", "events"}, "name", "arn"),
			"data":                cty.ObjectVal(map[string]cty.Value{"aws_iam_policy_document": symbolic("data.aws_iam_policy_document", docs, "json")}),
		},
		Functions: map[string]function.Function{
			"jsonencode": stdlib.JSONEncodeFunc,
			"tostring":   stdlib.MakeToFunc(cty.String),
			"filebase64sha256": function.New(&function.Spec{Params: []function.Parameter{{Type: cty.String}}, Type: function.StaticReturnType(cty.String),
				Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
					return cty.StringVal("sha256(" + args[0].AsString() + ")"), nil
				}}),
		},
	}}
}

func (f *fanoutTF) value(t *testing.T, body *hclsyntax.Body, name string, typ cty.Type) cty.Value {
	t.Helper()
	a := body.Attributes[name]
	if a == nil {
		t.Fatalf("%s: no attribute %s", body.SrcRange, name)
	}
	v, diags := a.Expr.Value(f.ctx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	v, err := convert.Convert(v, typ)
	if err != nil {
		t.Fatalf("%s: %s: %v", a.SrcRange, name, err)
	}
	return v
}

func (f *fanoutTF) one(t *testing.T, typ, label string) *hclsyntax.Body {
	t.Helper()
	for _, b := range f.body.Blocks {
		if len(b.Labels) == 2 && b.Labels[0] == typ && b.Labels[1] == label {
			return b.Body
		}
	}
	t.Fatalf("%s: no %s %q", fanoutTerraformPath, typ, label)
	return nil
}

// statementsOf returns the statements of an aws_iam_policy_document.
func (f *fanoutTF) statementsOf(t *testing.T, name string) []iamStatement {
	t.Helper()
	doc := f.one(t, "aws_iam_policy_document", name)
	var out []iamStatement
	for _, s := range doc.Blocks {
		if s.Type != "statement" {
			continue
		}
		st := iamStatement{Effect: "Allow"}
		for _, v := range f.value(t, s.Body, "actions", cty.List(cty.String)).AsValueSlice() {
			st.Actions = append(st.Actions, v.AsString())
		}
		if s.Body.Attributes["resources"] != nil {
			for _, v := range f.value(t, s.Body, "resources", cty.List(cty.String)).AsValueSlice() {
				st.Resources = append(st.Resources, v.AsString())
			}
		}
		out = append(out, st)
	}
	return out
}

// TestIaCScaleOutTerraform checks fanout-workers.tf as the template is
// checked: names carry the fanout_workers_ prefix; the queue redrives to
// the dead-letter queue after var.fanout_workers_max_receive receives,
// which the worker is told; its visibility timeout is six times the
// worker's timeout; the event source mapping takes one range per
// invocation, reports batch item failures and is bounded by
// maximum_concurrency; the worker may read the queue but not send to it,
// and the publishers' policy grants sqs:SendMessage on the queue alone.
func TestIaCScaleOutTerraform(t *testing.T) {
	f := loadFanoutTerraform(t)
	for _, b := range f.body.Blocks {
		var name string
		switch {
		case (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2:
			name = b.Labels[1]
		case len(b.Labels) == 1:
			name = b.Labels[0]
		default:
			continue
		}
		if name != "fanout_workers" && !strings.HasPrefix(name, "fanout_workers_") {
			t.Errorf("%s %s: name without the fanout_workers_ prefix", b.Type, strings.Join(b.Labels, "."))
		}
	}
	q := f.one(t, "aws_sqs_queue", "fanout_workers_queue")
	var redrive struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(f.value(t, q, "redrive_policy", cty.String).AsString()), &redrive); err != nil {
		t.Fatal(err)
	}
	if redrive.DeadLetterTargetArn != "arn(aws_sqs_queue.fanout_workers_dlq)" || redrive.MaxReceiveCount < 1 {
		t.Errorf("redrive_policy = %+v, want the dead-letter queue's arn and a maxReceiveCount", redrive)
	}
	fn := f.one(t, "aws_lambda_function", "fanout_workers")
	timeout, _ := f.value(t, fn, "timeout", cty.Number).AsBigFloat().Int64()
	vis, _ := f.value(t, q, "visibility_timeout_seconds", cty.Number).AsBigFloat().Int64()
	if vis < 6*timeout {
		t.Errorf("visibility_timeout_seconds %d, want at least 6 × the worker's timeout %d", vis, timeout)
	}
	var env cty.Value
	for _, b := range fn.Blocks {
		if b.Type == "environment" {
			env = f.value(t, b.Body, "variables", cty.Map(cty.String))
		}
	}
	if env == cty.NilVal {
		t.Fatal("the worker function has no environment")
	}
	envMap := env.AsValueMap()
	for k, want := range map[string]string{"GQLAMBDA_HANDLER": "ranges", "GQLAMBDA_RANGES_MAX_RECEIVE": strconv.Itoa(redrive.MaxReceiveCount),
		"GQLAMBDA_RANGES_QUEUE_URL": "url(aws_sqs_queue.fanout_workers_queue)", "GQLAMBDA_SUBSCRIPTIONS_TABLE": "name(aws_dynamodb_table.subscriptions)"} {
		if got, ok := envMap[k]; !ok || got.AsString() != want {
			t.Errorf("worker environment %s = %v, want %q", k, got, want)
		}
	}

	esm := f.one(t, "aws_lambda_event_source_mapping", "fanout_workers")
	if got := f.value(t, esm, "event_source_arn", cty.String).AsString(); got != "arn(aws_sqs_queue.fanout_workers_queue)" {
		t.Errorf("event_source_arn = %q, want the queue's", got)
	}
	if got, _ := f.value(t, esm, "batch_size", cty.Number).AsBigFloat().Int64(); got != 1 {
		t.Errorf("batch_size = %d, want 1", got)
	}
	types := f.value(t, esm, "function_response_types", cty.List(cty.String)).AsValueSlice()
	if len(types) != 1 || types[0].AsString() != "ReportBatchItemFailures" {
		t.Errorf("function_response_types = %v, want [ReportBatchItemFailures]", types)
	}
	var maxConc int64
	for _, b := range esm.Blocks {
		if b.Type == "scaling_config" {
			maxConc, _ = f.value(t, b.Body, "maximum_concurrency", cty.Number).AsBigFloat().Int64()
		}
	}
	if maxConc < 2 || maxConc > 1000 {
		t.Errorf("scaling_config.maximum_concurrency = %d, want 2 to 1000 (Lambda's bounds)", maxConc)
	}
	if got := envMap["GQLAMBDA_RANGES_MAX_WORKERS"]; got.AsString() != strconv.FormatInt(maxConc, 10) {
		t.Errorf("worker GQLAMBDA_RANGES_MAX_WORKERS = %v, want the mapping's maximum concurrency %d", got, maxConc)
	}

	queue := "arn(aws_sqs_queue.fanout_workers_queue)"
	worker := f.statementsOf(t, "fanout_workers")
	for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} {
		if !iamAllowed(worker, a, queue) {
			t.Errorf("the worker's policy does not grant %s on the queue", a)
		}
	}
	for _, s := range worker {
		for _, a := range s.Actions {
			if strings.HasPrefix(a, "sqs:") && !slices.Equal(s.Resources, []string{queue}) {
				t.Errorf("the worker's %s is granted on %q, want the queue alone", a, s.Resources)
			}
		}
	}
	if iamAllowed(worker, "sqs:SendMessage", queue) {
		t.Error("the worker's policy grants sqs:SendMessage: it sends no ranges")
	}
	send := f.statementsOf(t, "fanout_workers_send")
	if len(send) != 1 || !slices.Equal(send[0].Actions, []string{"sqs:SendMessage"}) || !slices.Equal(send[0].Resources, []string{queue}) {
		t.Errorf("the publishers' policy: %+v, want sqs:SendMessage on the queue alone", send)
	}

	// The template and the Terraform agree.
	tpl := loadTemplate(t)
	if got := yscalar(yget(tpl.resources["RangesQueue"], "Properties", "RedrivePolicy", "maxReceiveCount")); got != fmt.Sprint(redrive.MaxReceiveCount) {
		t.Errorf("maxReceiveCount: template %s, Terraform %d", got, redrive.MaxReceiveCount)
	}
}
