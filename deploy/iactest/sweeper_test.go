package iactest

// The tests in this file check the sweeper (docs/liveness.md) in the SAM
// template and in deploy/sweeper.tf: a function running the sweeper
// handler on a schedule, one sweep at a time, with the time a sweep needs,
// allowed to page the connections table's activity index and to ask about,
// close and ping connections.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/gqlambda/gqlambda/store/dynamodb"
)

const sweeperTerraformPath = "../sweeper.tf"

// minSweeperTimeout is the least function timeout that lets a sweep run its
// whole Liveness.MaxDuration (50 s by default) and finish.
const minSweeperTimeout = 60

// maxSweepInterval bounds the schedule: a gone connection is removed within
// IdleAfter plus one interval.
const maxSweepInterval = 5 * time.Minute

// rateExpr is a rate expression of EventBridge (Scheduler).
var rateExpr = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours)\)$`)

// checkRate checks a schedule expression: a rate of at most
// maxSweepInterval.
func checkRate(t *testing.T, what, expr string) {
	t.Helper()
	m := rateExpr.FindStringSubmatch(expr)
	if m == nil {
		t.Errorf("%s: schedule %q: want rate(N minutes)", what, expr)
		return
	}
	n, _ := strconv.Atoi(m[1])
	d := time.Duration(n) * time.Minute
	if strings.HasPrefix(m[2], "hour") {
		d = time.Duration(n) * time.Hour
	}
	if d <= 0 || d > maxSweepInterval {
		t.Errorf("%s: schedule %q: want an interval between 1 minute and %v", what, expr, maxSweepInterval)
	}
}

// checkLivenessEnv checks the durations and the boolean the sweeper reads
// from its environment.
func checkLivenessEnv(t *testing.T, what string, env map[string]string) {
	t.Helper()
	for _, k := range []string{"GQLAMBDA_IDLE_AFTER", "GQLAMBDA_INIT_TIMEOUT"} {
		if v, ok := env[k]; ok {
			if d, err := time.ParseDuration(v); err != nil || d <= 0 {
				t.Errorf("%s: %s = %q: want a positive Go duration", what, k, v)
			}
		}
	}
	if v, ok := env["GQLAMBDA_PING"]; ok {
		if _, err := strconv.ParseBool(v); err != nil {
			t.Errorf("%s: GQLAMBDA_PING = %q: want true or false", what, v)
		}
	}
}

// TestIaCTemplateSweeper checks the template's sweeper function.
func TestIaCTemplateSweeper(t *testing.T) {
	tpl := loadTemplate(t)
	_, ids, err := tpl.tables()
	if err != nil {
		t.Fatal(err)
	}
	names := iacNames(tpl.params["TablePrefix"])
	var found []samFunction
	for _, f := range tpl.functions() {
		if yscalar(f.Env["GQLAMBDA_HANDLER"]) == "sweeper" {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d functions with GQLAMBDA_HANDLER=sweeper, want 1", len(found))
	}
	f := found[0]
	env := map[string]string{}
	for k, v := range f.Env {
		env[k] = yscalar(v)
	}
	checkLivenessEnv(t, f.ID, env)
	if n, err := strconv.Atoi(yscalar(tpl.prop(f, "Timeout"))); err != nil || n < minSweeperTimeout {
		t.Errorf("function %s: Timeout %q, want at least %d seconds", f.ID, yscalar(tpl.prop(f, "Timeout")), minSweeperTimeout)
	}
	if got := yscalar(yget(f.Node, "ReservedConcurrentExecutions")); got != "1" {
		t.Errorf("function %s: ReservedConcurrentExecutions %q, want 1 (one sweep at a time)", f.ID, got)
	}

	// Invoked on a schedule, and only so.
	schedules := 0
	for name, ev := range yentries(yget(f.Node, "Events")) {
		typ := yscalar(yget(ev, "Type"))
		if typ != "ScheduleV2" && typ != "Schedule" {
			t.Errorf("function %s: event %s of type %s, want only schedules", f.ID, name, typ)
			continue
		}
		schedules++
		checkRate(t, f.ID+" event "+name, yscalar(yget(ev, "Properties", "ScheduleExpression")))
		if typ == "ScheduleV2" {
			if got := yscalar(yget(ev, "Properties", "RetryPolicy", "MaximumRetryAttempts")); got != "0" {
				t.Errorf("function %s: event %s: RetryPolicy.MaximumRetryAttempts %q, want 0 (the next sweep does it again)", f.ID, name, got)
			}
		}
	}
	if schedules == 0 {
		t.Errorf("function %s: no schedule invokes it", f.ID)
	}

	// It pages the activity index; every function may (they share the
	// store's policy), and the sweeper must.
	stmts, err := tpl.statements(f)
	if err != nil {
		t.Fatal(err)
	}
	index := "getatt(" + ids[names.Connections] + ".Arn)/index/" + dynamodb.IndexByActivity
	for _, d := range missingGrants(stmts, []string{"dynamodb:Query"}, []string{index}) {
		t.Errorf("function %s: %s", f.ID, d)
	}
}

// sweeperTerraform parses deploy/sweeper.tf and returns its body and an
// evaluation context: its variables' defaults and dynamodb.tf's, the tables,
// and stand-ins for the data sources.
func sweeperTerraform(t *testing.T) (*hclsyntax.Body, *hcl.EvalContext) {
	t.Helper()
	body := readHCL(t, sweeperTerraformPath)
	tables := loadTerraform(t)
	vars := map[string]cty.Value{}
	for k, v := range tables.ctx.Variables["var"].AsValueMap() {
		vars[k] = v
	}
	for _, b := range hclBlocks(body, "variable") {
		if a := b.Body.Attributes["default"]; a != nil {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			vars[b.Labels[0]] = v
		}
	}
	one := func(attrs map[string]cty.Value) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{"sweeper": cty.ObjectVal(attrs)})
	}
	return body, &hcl.EvalContext{Variables: map[string]cty.Value{
		"var":                cty.ObjectVal(vars),
		"aws_dynamodb_table": tables.ctx.Variables["aws_dynamodb_table"],
		"data": cty.ObjectVal(map[string]cty.Value{
			"aws_partition":       one(map[string]cty.Value{"partition": cty.StringVal("aws")}),
			"aws_region":          one(map[string]cty.Value{"name": cty.StringVal("region")}),
			"aws_caller_identity": one(map[string]cty.Value{"account_id": cty.StringVal("account")}),
		}),
	}}
}

// refersTo reports whether attribute name of body refers to ref.
func refersTo(body *hclsyntax.Body, name, ref string) bool {
	a := body.Attributes[name]
	if a == nil {
		return false
	}
	for _, r := range refs(a) {
		if r == ref || strings.HasPrefix(r, ref+".") {
			return true
		}
	}
	return false
}

// TestIaCTerraformSweeper checks deploy/sweeper.tf: its names carry the
// sweeper_ prefix; the function runs the sweeper handler with the tables
// of dynamodb.tf, one at a time, long enough; a schedule invokes it without
// retries; its role has the store's policy (which covers the activity
// index) and the @connections calls of a sweep.
func TestIaCTerraformSweeper(t *testing.T) {
	body, ctx := sweeperTerraform(t)

	for _, b := range body.Blocks {
		name := ""
		switch {
		case (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2:
			name = b.Labels[1]
		case (b.Type == "variable" || b.Type == "output") && len(b.Labels) == 1:
			name = b.Labels[0]
		case b.Type == "locals":
			for k := range b.Body.Attributes {
				if !strings.HasPrefix(k, "sweeper_") {
					t.Errorf("%s: local %s: want the sweeper_ prefix", sweeperTerraformPath, k)
				}
			}
			continue
		}
		if name != "sweeper" && !strings.HasPrefix(name, "sweeper_") {
			t.Errorf("%s: %s %q: want the name sweeper or the sweeper_ prefix", sweeperTerraformPath, b.Type, strings.Join(b.Labels, "."))
		}
	}

	eval := func(b *hclsyntax.Body, name string, typ cty.Type) cty.Value {
		t.Helper()
		a := b.Attributes[name]
		if a == nil {
			t.Fatalf("%s: %s: attribute %s missing", sweeperTerraformPath, b.SrcRange, name)
		}
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("%s: %s: %v", sweeperTerraformPath, name, diags)
		}
		v, err := convert.Convert(v, typ)
		if err != nil {
			t.Fatalf("%s: %s: %v", sweeperTerraformPath, name, err)
		}
		return v
	}

	fns := hclBlocks(body, "resource", "aws_lambda_function", "sweeper")
	if len(fns) != 1 {
		t.Fatalf("%s: %d aws_lambda_function.sweeper, want 1", sweeperTerraformPath, len(fns))
	}
	fn := fns[0].Body
	if n, _ := eval(fn, "timeout", cty.Number).AsBigFloat().Int64(); n < minSweeperTimeout {
		t.Errorf("aws_lambda_function.sweeper: timeout %d, want at least %d", n, minSweeperTimeout)
	}
	if n, _ := eval(fn, "reserved_concurrent_executions", cty.Number).AsBigFloat().Int64(); n != 1 {
		t.Errorf("aws_lambda_function.sweeper: reserved_concurrent_executions %d, want 1", n)
	}
	for attr, want := range map[string]string{"runtime": "provided.al2023", "handler": "bootstrap"} {
		if got := eval(fn, attr, cty.String).AsString(); got != want {
			t.Errorf("aws_lambda_function.sweeper: %s %q, want %q", attr, got, want)
		}
	}
	envs := hclBlocks(fn, "environment")
	if len(envs) != 1 {
		t.Fatalf("aws_lambda_function.sweeper: %d environment blocks, want 1", len(envs))
	}
	vars := envs[0].Body.Attributes["variables"]
	if vars == nil {
		t.Fatal("aws_lambda_function.sweeper: no environment variables")
	}
	obj, ok := vars.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatal("aws_lambda_function.sweeper: environment variables are not an object literal")
	}
	env, envRefs := map[string]string{}, map[string][]string{}
	for _, item := range obj.Items {
		k, diags := item.KeyExpr.Value(nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		for _, tr := range item.ValueExpr.Variables() {
			if tr.RootName() == "aws_dynamodb_table" {
				envRefs[k.AsString()] = append(envRefs[k.AsString()], tr.RootName()+"."+tr[1].(hcl.TraverseAttr).Name)
				continue
			}
		}
		if v, diags := item.ValueExpr.Value(ctx); !diags.HasErrors() {
			if s, err := convert.Convert(v, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
				env[k.AsString()] = s.AsString()
			}
		}
	}
	if env["GQLAMBDA_HANDLER"] != "sweeper" {
		t.Errorf("aws_lambda_function.sweeper: GQLAMBDA_HANDLER %q, want sweeper", env["GQLAMBDA_HANDLER"])
	}
	for k, table := range map[string]string{
		"GQLAMBDA_CONNECTIONS_TABLE":   "aws_dynamodb_table.connections",
		"GQLAMBDA_SUBSCRIPTIONS_TABLE": "aws_dynamodb_table.subscriptions",
		"GQLAMBDA_EVENTS_TABLE":        "aws_dynamodb_table.events",
	} {
		if got := envRefs[k]; len(got) != 1 || got[0] != table {
			t.Errorf("aws_lambda_function.sweeper: %s refers to %q, want %s's name", k, got, table)
		}
	}
	checkLivenessEnv(t, "aws_lambda_function.sweeper", env)

	scheds := hclBlocks(body, "resource", "aws_scheduler_schedule", "sweeper")
	if len(scheds) != 1 {
		t.Fatalf("%s: %d aws_scheduler_schedule.sweeper, want 1", sweeperTerraformPath, len(scheds))
	}
	checkRate(t, "aws_scheduler_schedule.sweeper", eval(scheds[0].Body, "schedule_expression", cty.String).AsString())
	targets := hclBlocks(scheds[0].Body, "target")
	if len(targets) != 1 || !refersTo(targets[0].Body, "arn", "aws_lambda_function.sweeper") {
		t.Fatalf("aws_scheduler_schedule.sweeper: want one target, aws_lambda_function.sweeper")
	}
	retries := hclBlocks(targets[0].Body, "retry_policy")
	if len(retries) != 1 {
		t.Errorf("aws_scheduler_schedule.sweeper: no retry_policy (the default retries 185 times)")
	} else if n, _ := eval(retries[0].Body, "maximum_retry_attempts", cty.Number).AsBigFloat().Int64(); n != 0 {
		t.Errorf("aws_scheduler_schedule.sweeper: maximum_retry_attempts %d, want 0", n)
	}

	// The role: the store's policy, and the @connections calls.
	rolePolicies := map[string]bool{}
	for _, rp := range hclBlocks(body, "resource", "aws_iam_role_policy") {
		if !refersTo(rp.Body, "role", "aws_iam_role.sweeper") {
			continue
		}
		for _, r := range refs(rp.Body.Attributes["policy"]) {
			rolePolicies[r] = true
		}
	}
	for _, want := range []string{"data.aws_iam_policy_document.store.json", "data.aws_iam_policy_document.sweeper_connections.json"} {
		if !rolePolicies[want] {
			t.Errorf("aws_iam_role.sweeper: no aws_iam_role_policy with %s", want)
		}
	}
	docs := hclBlocks(body, "data", "aws_iam_policy_document", "sweeper_connections")
	if len(docs) != 1 {
		t.Fatalf("%s: %d data.aws_iam_policy_document.sweeper_connections, want 1", sweeperTerraformPath, len(docs))
	}
	var stmts []iamStatement
	for _, s := range hclBlocks(docs[0].Body, "statement") {
		var st iamStatement
		st.Effect = "Allow"
		for _, v := range eval(s.Body, "actions", cty.List(cty.String)).AsValueSlice() {
			st.Actions = append(st.Actions, v.AsString())
		}
		for _, v := range eval(s.Body, "resources", cty.List(cty.String)).AsValueSlice() {
			st.Resources = append(st.Resources, v.AsString())
		}
		stmts = append(stmts, st)
	}
	var want []string
	for _, m := range []string{"GET", "DELETE", "POST"} {
		want = append(want, "arn:aws:execute-api:region:account:/prod/"+m+"/@connections/c0nnect10n1d=")
	}
	for _, d := range missingGrants(stmts, []string{"execute-api:ManageConnections"}, want) {
		t.Errorf("data.aws_iam_policy_document.sweeper_connections: %s", d)
	}

	// The store's policy of dynamodb.tf covers the activity index.
	store, err := loadTerraform(t).policy("store")
	if err != nil {
		t.Fatal(err)
	}
	_, labels, err := loadTerraform(t).tables()
	if err != nil {
		t.Fatal(err)
	}
	names := iacNames(ctx.Variables["var"].GetAttr("table_prefix").AsString())
	index := "arn(" + labels[names.Connections] + ")/index/" + dynamodb.IndexByActivity
	for _, d := range missingGrants(store, []string{"dynamodb:Query"}, []string{index}) {
		t.Errorf("%s: data.aws_iam_policy_document.store: %s", terraformPath, d)
	}
}
