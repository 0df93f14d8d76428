package iactest

// The tests in this file check that the infrastructure as code in deploy/
// (the SAM template and the Terraform file) defines the tables of
// TableDefinitions and grants what the store's DynamoDB calls need. They
// read the files only: nothing is deployed.

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"gopkg.in/yaml.v3"

	"github.com/gqlambda/gqlambda/store/dynamodb"
)

const (
	templatePath  = "../template.yaml"
	terraformPath = "../dynamodb.tf"
	// storeDir is the directory of package dynamodb, whose source
	// TestIaCPolicyCoversStoreCalls reads.
	storeDir = "../../store/dynamodb"
)

// storeActions are the IAM actions the store's DynamoDB calls need on the
// tables and the index: what FunctionPolicy in deploy/template.yaml and
// data.aws_iam_policy_document.store in deploy/dynamodb.tf grant, no more.
// TransactWriteItems is authorised by the per-item actions (PutItem,
// UpdateItem, DeleteItem, ConditionCheckItem) and TransactGetItems by
// GetItem. TestIaCPolicyCoversStoreCalls derives the actions from the
// source of package dynamodb (store/dynamodb) and fails when one is missing
// here.
func storeActions() []string {
	return []string{
		"dynamodb:BatchGetItem",
		"dynamodb:BatchWriteItem",
		"dynamodb:ConditionCheckItem",
		"dynamodb:DeleteItem",
		"dynamodb:GetItem",
		"dynamodb:PutItem",
		"dynamodb:Query",
		"dynamodb:UpdateItem",
	}
}

// streamActions are what reading the events table's stream needs. SAM adds
// them to the stream function's role (AWSLambdaDynamoDBExecutionRole);
// deploy/dynamodb.tf grants them in data.aws_iam_policy_document.stream_read.
func streamActions() []string {
	return []string{
		"dynamodb:DescribeStream",
		"dynamodb:GetRecords",
		"dynamodb:GetShardIterator",
		"dynamodb:ListStreams",
	}
}

// tableOps are the DynamoDB operations of CreateTables (and its waiter).
// They create tables for DynamoDB Local, tests and quick starts; deployments
// create the tables from deploy/, so the functions are not granted them.
func tableOps() []string {
	return []string{"CreateTable", "DeleteTable", "DescribeTable", "DescribeTimeToLive", "ListTables", "UpdateTable", "UpdateTimeToLive"}
}

// opActions maps a DynamoDB operation to the IAM actions that authorise it.
func opActions(op string) []string {
	switch op {
	case "TransactWriteItems":
		return []string{"dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
	case "TransactGetItems":
		return []string{"dynamodb:GetItem"}
	}
	return []string{"dynamodb:" + op}
}

// ---------------------------------------------------------------- the model

// iacKeys is a key schema.
type iacKeys struct{ Hash, Range string }

func (k iacKeys) String() string {
	if k.Range == "" {
		return "HASH " + k.Hash
	}
	return "HASH " + k.Hash + ", RANGE " + k.Range
}

// iacIndex is a global secondary index.
type iacIndex struct {
	Keys       iacKeys
	Projection string
	NonKey     string // sorted, comma-separated non-key attributes
}

// iacTable is what the comparison looks at in a table, whichever file it came
// from.
type iacTable struct {
	Name           string
	Attributes     map[string]string // name: type
	Keys           iacKeys
	Indexes        map[string]iacIndex
	BillingMode    string
	StreamEnabled  bool
	StreamViewType string
	TTLAttribute   string
	TTLEnabled     bool
}

// clone returns a deep copy of t.
func (t iacTable) clone() iacTable {
	t.Attributes = maps.Clone(t.Attributes)
	t.Indexes = maps.Clone(t.Indexes)
	return t
}

// iacWantTables converts TableDefinitions to the model. CreateTables enables
// Time to Live on AttrTTL on every table, so every table wants it.
func iacWantTables(t *testing.T, names dynamodb.Tables) []iacTable {
	t.Helper()
	var out []iacTable
	for _, def := range dynamodb.TableDefinitions(names) {
		name := aws.ToString(def.TableName)
		if len(def.LocalSecondaryIndexes) > 0 || def.ProvisionedThroughput != nil || def.SSESpecification != nil || def.TableClass != "" {
			t.Fatalf("table %s: TableDefinitions sets a property this test does not compare (local indexes, provisioned throughput, SSE or table class): extend iac_test.go and deploy/", name)
		}
		tb := iacTable{
			Name:         name,
			Attributes:   map[string]string{},
			Indexes:      map[string]iacIndex{},
			BillingMode:  string(def.BillingMode),
			TTLAttribute: dynamodb.AttrTTL,
			TTLEnabled:   true,
		}
		if tb.BillingMode == "" {
			tb.BillingMode = string(types.BillingModeProvisioned)
		}
		for _, a := range def.AttributeDefinitions {
			tb.Attributes[aws.ToString(a.AttributeName)] = string(a.AttributeType)
		}
		tb.Keys = sdkKeys(t, name, def.KeySchema)
		for _, gsi := range def.GlobalSecondaryIndexes {
			ix := iacIndex{Keys: sdkKeys(t, name, gsi.KeySchema)}
			if p := gsi.Projection; p != nil {
				ix.Projection = string(p.ProjectionType)
				ix.NonKey = joinSorted(p.NonKeyAttributes)
			}
			tb.Indexes[aws.ToString(gsi.IndexName)] = ix
		}
		if s := def.StreamSpecification; s != nil && aws.ToBool(s.StreamEnabled) {
			tb.StreamEnabled = true
			tb.StreamViewType = string(s.StreamViewType)
		}
		out = append(out, tb)
	}
	return out
}

func sdkKeys(t *testing.T, tableName string, ks []types.KeySchemaElement) iacKeys {
	t.Helper()
	var k iacKeys
	for _, e := range ks {
		if err := k.set(string(e.KeyType), aws.ToString(e.AttributeName)); err != nil {
			t.Fatalf("table %s: %v", tableName, err)
		}
	}
	return k
}

func (k *iacKeys) set(keyType, attr string) error {
	switch keyType {
	case "HASH":
		k.Hash = attr
	case "RANGE":
		k.Range = attr
	default:
		return fmt.Errorf("key type %q of %s", keyType, attr)
	}
	return nil
}

func joinSorted(s []string) string {
	return strings.Join(slices.Sorted(slices.Values(s)), ",")
}

// diffTable reports how got differs from want, one line per property, each
// naming the table, the property, what TableDefinitions wants and what the
// file has.
func diffTable(want, got iacTable) []string {
	var d []string
	add := func(property string, w, g any) {
		d = append(d, fmt.Sprintf("table %s: %s: want %v, got %v", want.Name, property, w, g))
	}
	if want.Name != got.Name {
		add("name", want.Name, got.Name)
	}
	if w, g := attrList(want.Attributes), attrList(got.Attributes); w != g {
		add("attribute definitions", w, g)
	}
	if want.Keys != got.Keys {
		add("key schema", want.Keys, got.Keys)
	}
	for _, name := range slices.Sorted(maps.Keys(want.Indexes)) {
		w := want.Indexes[name]
		g, ok := got.Indexes[name]
		if !ok {
			add("global secondary index "+name, "present", "missing")
			continue
		}
		if w.Keys != g.Keys {
			add("global secondary index "+name+" key schema", w.Keys, g.Keys)
		}
		if w.Projection != g.Projection {
			add("global secondary index "+name+" projection type", w.Projection, g.Projection)
		}
		if w.NonKey != g.NonKey {
			add("global secondary index "+name+" non-key attributes", w.NonKey, g.NonKey)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got.Indexes)) {
		if _, ok := want.Indexes[name]; !ok {
			add("global secondary index "+name, "absent", "present")
		}
	}
	if want.BillingMode != got.BillingMode {
		add("billing mode", want.BillingMode, got.BillingMode)
	}
	if want.StreamEnabled != got.StreamEnabled {
		add("stream enabled", want.StreamEnabled, got.StreamEnabled)
	}
	if want.StreamViewType != got.StreamViewType {
		add("stream view type", orNone(want.StreamViewType), orNone(got.StreamViewType))
	}
	if want.TTLAttribute != got.TTLAttribute {
		add("time to live attribute", orNone(want.TTLAttribute), orNone(got.TTLAttribute))
	}
	if want.TTLEnabled != got.TTLEnabled {
		add("time to live enabled", want.TTLEnabled, got.TTLEnabled)
	}
	return d
}

// diffTables compares every wanted table with the table of the same name in
// got, and reports tables in got that TableDefinitions does not have.
func diffTables(want []iacTable, got map[string]iacTable) []string {
	var d []string
	seen := map[string]bool{}
	for _, w := range want {
		seen[w.Name] = true
		g, ok := got[w.Name]
		if !ok {
			d = append(d, fmt.Sprintf("table %s: missing (tables defined: %s)", w.Name, strings.Join(slices.Sorted(maps.Keys(got)), ", ")))
			continue
		}
		d = append(d, diffTable(w, g)...)
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if !seen[name] {
			d = append(d, fmt.Sprintf("table %s: defined, but not in TableDefinitions", name))
		}
	}
	return d
}

func attrList(m map[string]string) string {
	var s []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		s = append(s, name+":"+m[name])
	}
	return "[" + strings.Join(s, " ") + "]"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// iacNames returns the table names under prefix, the way both files build
// them from their prefix parameter.
func iacNames(prefix string) dynamodb.Tables { return dynamodb.PrefixedTables(prefix) }

// checkDefaultPrefix checks that a file's default prefix gives the default
// table names of the code.
func checkDefaultPrefix(t *testing.T, file, prefix string) {
	t.Helper()
	got, want := iacNames(prefix), dynamodb.Tables{
		Connections:   dynamodb.DefaultConnectionsTable,
		Subscriptions: dynamodb.DefaultSubscriptionsTable,
		Events:        dynamodb.DefaultEventsTable,
	}
	if got != want {
		t.Errorf("%s: default table prefix %q gives the tables %+v, want the defaults %+v", file, prefix, got, want)
	}
}

// ------------------------------------------------------------------ IAM model

// iamStatement is one IAM policy statement.
type iamStatement struct {
	Effect    string
	Actions   []string
	Resources []string
}

// globMatch reports whether value matches the IAM pattern (* and ?).
func globMatch(pattern, value string, foldCase bool) bool {
	var b strings.Builder
	if foldCase {
		b.WriteString("(?i)")
	}
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()).MatchString(value)
}

func matchesAny(patterns []string, value string, foldCase bool) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return globMatch(p, value, foldCase) })
}

// iamAllowed reports whether stmts allow action on resource.
func iamAllowed(stmts []iamStatement, action, resource string) bool {
	allow := false
	for _, s := range stmts {
		if !matchesAny(s.Actions, action, true) || !matchesAny(s.Resources, resource, false) {
			continue
		}
		if s.Effect == "Deny" {
			return false
		}
		allow = true
	}
	return allow
}

// missingGrants lists each pair of actions and resources that stmts do not
// allow.
func missingGrants(stmts []iamStatement, actions, resources []string) []string {
	var d []string
	for _, a := range actions {
		for _, r := range resources {
			if !iamAllowed(stmts, a, r) {
				d = append(d, fmt.Sprintf("%s on %s is not allowed", a, r))
			}
		}
	}
	return d
}

// extraGrants lists the actions with prefix that stmts allow beyond want
// (wildcards included): least privilege.
func extraGrants(stmts []iamStatement, prefix string, want []string) []string {
	var d []string
	for _, s := range stmts {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Actions {
			if !strings.HasPrefix(strings.ToLower(a), strings.ToLower(prefix)) {
				continue
			}
			if !slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(w, a) }) {
				d = append(d, fmt.Sprintf("%s is allowed, but the store does not need it", a))
			}
		}
	}
	return d
}

// ------------------------------------------------------------- SAM template

// samTemplate is a parsed CloudFormation template. Intrinsic functions are
// kept as yaml nodes and resolved symbolically by value: a reference to a
// resource becomes "ref(Name)", an attribute "getatt(Name.Attr)", a
// parameter its default.
type samTemplate struct {
	params    map[string]string
	resources map[string]*yaml.Node
	globals   *yaml.Node // Globals.Function, or nil
}

func loadTemplate(t *testing.T) *samTemplate {
	t.Helper()
	src, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplate(src)
	if err != nil {
		t.Fatalf("%s: %v", templatePath, err)
	}
	return tpl
}

func parseTemplate(src []byte) (*samTemplate, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a YAML mapping")
	}
	root := doc.Content[0]
	if tr := yget(root, "Transform"); tr == nil || tr.Value != "AWS::Serverless-2016-10-31" {
		return nil, fmt.Errorf("Transform is not AWS::Serverless-2016-10-31")
	}
	tpl := &samTemplate{params: map[string]string{}, resources: map[string]*yaml.Node{}, globals: yget(root, "Globals", "Function")}
	for name, p := range yentries(yget(root, "Parameters")) {
		if d := yget(p, "Default"); d != nil {
			tpl.params[name] = d.Value
		}
	}
	for name, r := range yentries(yget(root, "Resources")) {
		tpl.resources[name] = r
	}
	if len(tpl.resources) == 0 {
		return nil, fmt.Errorf("no Resources")
	}
	return tpl, nil
}

// yget follows path through nested mappings; nil when one is missing.
func yget(n *yaml.Node, path ...string) *yaml.Node {
	for _, k := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// yentries yields the keys and values of a mapping node.
func yentries(n *yaml.Node) iter.Seq2[string, *yaml.Node] {
	return func(yield func(string, *yaml.Node) bool) {
		if n == nil || n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !yield(n.Content[i].Value, n.Content[i+1]) {
				return
			}
		}
	}
}

// yitems returns a sequence's elements; a scalar is a sequence of one.
func yitems(n *yaml.Node) []*yaml.Node {
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.SequenceNode:
		return n.Content
	}
	return []*yaml.Node{n}
}

// resourcesOfType returns the logical ids of the resources of type typ,
// sorted.
func (tpl *samTemplate) resourcesOfType(typ string) []string {
	var ids []string
	for id, r := range tpl.resources {
		if n := yget(r, "Type"); n != nil && n.Value == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// intrinsic returns the function name ("Ref", "Fn::Sub", ...) and argument of
// an intrinsic function in short (!Ref x) or long ({Ref: x}) form.
func intrinsic(n *yaml.Node) (string, *yaml.Node) {
	if tag := n.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		name := strings.TrimPrefix(tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		return name, n
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		if k := n.Content[0].Value; k == "Ref" || strings.HasPrefix(k, "Fn::") {
			arg := *n.Content[1]
			arg.Tag = ""
			if arg.Kind == yaml.ScalarNode {
				arg.Tag = "!!str"
			}
			return k, &arg
		}
	}
	return "", nil
}

// cfnPseudo holds stand-ins for the pseudo parameters.
func cfnPseudo(name string) (string, bool) {
	v, ok := map[string]string{
		"AWS::Partition": "aws", "AWS::Region": "region", "AWS::AccountId": "account",
		"AWS::StackName": "stack", "AWS::URLSuffix": "amazonaws.com",
	}[name]
	return v, ok
}

func (tpl *samTemplate) ref(name string) string {
	if v, ok := tpl.params[name]; ok {
		return v
	}
	if v, ok := cfnPseudo(name); ok {
		return v
	}
	return "ref(" + name + ")"
}

var cfnSubVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// value resolves a scalar or an intrinsic function to a string.
func (tpl *samTemplate) value(n *yaml.Node) (string, error) {
	if n == nil {
		return "", fmt.Errorf("missing value")
	}
	fn, arg := intrinsic(n)
	switch fn {
	case "":
		if n.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("line %d: not a scalar", n.Line)
		}
		return n.Value, nil
	case "Ref":
		return tpl.ref(arg.Value), nil
	case "Fn::GetAtt":
		if arg.Kind == yaml.SequenceNode {
			parts := make([]string, 0, len(arg.Content))
			for _, p := range arg.Content {
				parts = append(parts, p.Value)
			}
			return "getatt(" + strings.Join(parts, ".") + ")", nil
		}
		return "getatt(" + arg.Value + ")", nil
	case "Fn::Sub":
		if arg.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("line %d: only the string form of Fn::Sub is supported", n.Line)
		}
		return cfnSubVar.ReplaceAllStringFunc(arg.Value, func(m string) string {
			name := m[2 : len(m)-1]
			switch {
			case strings.HasPrefix(name, "!"):
				return "${" + name[1:] + "}"
			case strings.Contains(name, ".") && !strings.HasPrefix(name, "AWS::"):
				return "getatt(" + name + ")"
			}
			return tpl.ref(name)
		}), nil
	}
	return "", fmt.Errorf("line %d: intrinsic function %s is not supported", n.Line, fn)
}

func (tpl *samTemplate) values(n *yaml.Node) ([]string, error) {
	var out []string
	for _, it := range yitems(n) {
		v, err := tpl.value(it)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func yamlBool(n *yaml.Node) (bool, error) {
	if n == nil {
		return false, nil
	}
	return strconv.ParseBool(n.Value)
}

// tables returns the AWS::DynamoDB::Table resources by table name, and
// their logical ids by table name.
func (tpl *samTemplate) tables() (map[string]iacTable, map[string]string, error) {
	out, ids := map[string]iacTable{}, map[string]string{}
	for _, id := range tpl.resourcesOfType("AWS::DynamoDB::Table") {
		tb, err := tpl.parseTable(yget(tpl.resources[id], "Properties"))
		if err != nil {
			return nil, nil, fmt.Errorf("resource %s: %w", id, err)
		}
		out[tb.Name], ids[tb.Name] = tb, id
	}
	return out, ids, nil
}

func (tpl *samTemplate) parseTable(p *yaml.Node) (iacTable, error) {
	var tb iacTable
	var err error
	if tb.Name, err = tpl.value(yget(p, "TableName")); err != nil {
		return tb, fmt.Errorf("TableName: %w", err)
	}
	tb.Attributes = map[string]string{}
	for _, a := range yitems(yget(p, "AttributeDefinitions")) {
		tb.Attributes[yget(a, "AttributeName").Value] = yget(a, "AttributeType").Value
	}
	if tb.Keys, err = cfnKeys(yget(p, "KeySchema")); err != nil {
		return tb, err
	}
	tb.Indexes = map[string]iacIndex{}
	for _, g := range yitems(yget(p, "GlobalSecondaryIndexes")) {
		ix := iacIndex{Projection: yscalar(yget(g, "Projection", "ProjectionType"))}
		if ix.Keys, err = cfnKeys(yget(g, "KeySchema")); err != nil {
			return tb, err
		}
		var nonKey []string
		for _, a := range yitems(yget(g, "Projection", "NonKeyAttributes")) {
			nonKey = append(nonKey, a.Value)
		}
		ix.NonKey = joinSorted(nonKey)
		tb.Indexes[yscalar(yget(g, "IndexName"))] = ix
	}
	tb.BillingMode = yscalar(yget(p, "BillingMode"))
	if tb.BillingMode == "" {
		tb.BillingMode = string(types.BillingModeProvisioned)
	}
	// In CloudFormation a StreamSpecification enables the stream.
	if v := yscalar(yget(p, "StreamSpecification", "StreamViewType")); v != "" {
		tb.StreamEnabled, tb.StreamViewType = true, v
	}
	tb.TTLAttribute = yscalar(yget(p, "TimeToLiveSpecification", "AttributeName"))
	if tb.TTLEnabled, err = yamlBool(yget(p, "TimeToLiveSpecification", "Enabled")); err != nil {
		return tb, fmt.Errorf("TimeToLiveSpecification.Enabled: %w", err)
	}
	return tb, nil
}

func yscalar(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

func cfnKeys(n *yaml.Node) (iacKeys, error) {
	var k iacKeys
	for _, e := range yitems(n) {
		if err := k.set(yscalar(yget(e, "KeyType")), yscalar(yget(e, "AttributeName"))); err != nil {
			return k, err
		}
	}
	return k, nil
}

// samFunction is an AWS::Serverless::Function with the Globals applied.
type samFunction struct {
	ID   string
	Env  map[string]*yaml.Node
	Node *yaml.Node // Properties
}

// prop returns the function's property, or the global one.
func (tpl *samTemplate) prop(f samFunction, name string) *yaml.Node {
	if n := yget(f.Node, name); n != nil {
		return n
	}
	return yget(tpl.globals, name)
}

func (tpl *samTemplate) functions() []samFunction {
	var fs []samFunction
	for _, id := range tpl.resourcesOfType("AWS::Serverless::Function") {
		f := samFunction{ID: id, Env: map[string]*yaml.Node{}, Node: yget(tpl.resources[id], "Properties")}
		// SAM merges the Globals' environment variables with the function's.
		for k, v := range yentries(yget(tpl.globals, "Environment", "Variables")) {
			f.Env[k] = v
		}
		for k, v := range yentries(yget(f.Node, "Environment", "Variables")) {
			f.Env[k] = v
		}
		fs = append(fs, f)
	}
	return fs
}

// statements returns the policy statements of a function's Policies: managed
// policies of the template referenced with Ref, and inline documents.
func (tpl *samTemplate) statements(f samFunction) ([]iamStatement, error) {
	var out []iamStatement
	for i, p := range yitems(yget(f.Node, "Policies")) {
		doc := p
		if fn, arg := intrinsic(p); fn == "Ref" {
			r := tpl.resources[arg.Value]
			if r == nil || yscalar(yget(r, "Type")) != "AWS::IAM::ManagedPolicy" {
				return nil, fmt.Errorf("Policies[%d]: Ref %s is not an AWS::IAM::ManagedPolicy of the template", i, arg.Value)
			}
			doc = yget(r, "Properties", "PolicyDocument")
		}
		if yget(doc, "Statement") == nil {
			return nil, fmt.Errorf("Policies[%d] (line %d): not a policy document or a Ref to an AWS::IAM::ManagedPolicy; this test cannot read what it grants", i, p.Line)
		}
		for _, s := range yitems(yget(doc, "Statement")) {
			if yget(s, "NotAction") != nil || yget(s, "NotResource") != nil {
				return nil, fmt.Errorf("line %d: NotAction and NotResource are not supported", s.Line)
			}
			actions, err := tpl.values(yget(s, "Action"))
			if err != nil {
				return nil, err
			}
			resources, err := tpl.values(yget(s, "Resource"))
			if err != nil {
				return nil, err
			}
			out = append(out, iamStatement{Effect: yscalar(yget(s, "Effect")), Actions: actions, Resources: resources})
		}
	}
	return out, nil
}

// ----------------------------------------------------------------- Terraform

// tfFile is a parsed Terraform file and the context its expressions are
// evaluated in: var.* holds the variables' defaults, and each
// aws_dynamodb_table.NAME has symbolic arn ("arn(NAME)") and stream_arn
// ("stream_arn(NAME)") attributes.
type tfFile struct {
	body *hclsyntax.Body
	ctx  *hcl.EvalContext
}

func loadTerraform(t *testing.T) *tfFile {
	t.Helper()
	src, err := os.ReadFile(terraformPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseTerraform(src, terraformPath)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// readHCL parses the Terraform file at path, without evaluating it.
func readHCL(t *testing.T, path string) *hclsyntax.Body {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		t.Fatalf("%s: not HCL native syntax", path)
	}
	return body
}

func parseTerraform(src []byte, filename string) (*tfFile, error) {
	file, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		return nil, fmt.Errorf("%s: not HCL native syntax", filename)
	}
	vars, tables := map[string]cty.Value{}, map[string]cty.Value{}
	for _, b := range body.Blocks {
		switch {
		case b.Type == "variable" && len(b.Labels) == 1:
			if a := b.Body.Attributes["default"]; a != nil {
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() {
					return nil, diags
				}
				vars[b.Labels[0]] = v
			}
		case b.Type == "resource" && len(b.Labels) == 2 && b.Labels[0] == "aws_dynamodb_table":
			name := b.Labels[1]
			tables[name] = cty.ObjectVal(map[string]cty.Value{
				"arn":        cty.StringVal("arn(" + name + ")"),
				"stream_arn": cty.StringVal("stream_arn(" + name + ")"),
			})
		}
	}
	return &tfFile{body: body, ctx: &hcl.EvalContext{Variables: map[string]cty.Value{
		"var":                cty.ObjectVal(vars),
		"aws_dynamodb_table": cty.ObjectVal(tables),
	}}}, nil
}

// hclBlocks returns the blocks of body of type typ whose labels start with
// labels.
func hclBlocks(body *hclsyntax.Body, typ string, labels ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ && len(b.Labels) >= len(labels) && slices.Equal(b.Labels[:len(labels)], labels) {
			out = append(out, b)
		}
	}
	return out
}

// eval evaluates the attribute name of body to a value of type typ; ok is
// false when the attribute is absent.
func (f *tfFile) eval(body *hclsyntax.Body, name string, typ cty.Type) (v cty.Value, ok bool, err error) {
	a := body.Attributes[name]
	if a == nil {
		return cty.NilVal, false, nil
	}
	v, diags := a.Expr.Value(f.ctx)
	if diags.HasErrors() {
		return cty.NilVal, true, diags
	}
	if v, err = convert.Convert(v, typ); err != nil {
		return cty.NilVal, true, fmt.Errorf("%s: %s: %w", a.SrcRange, name, err)
	}
	if !v.IsWhollyKnown() || v.IsNull() {
		return cty.NilVal, true, fmt.Errorf("%s: %s is null or unknown", a.SrcRange, name)
	}
	return v, true, nil
}

func (f *tfFile) str(body *hclsyntax.Body, name string) (string, error) {
	v, ok, err := f.eval(body, name, cty.String)
	if !ok || err != nil {
		return "", err
	}
	return v.AsString(), nil
}

func (f *tfFile) boolean(body *hclsyntax.Body, name string) (bool, error) {
	v, ok, err := f.eval(body, name, cty.Bool)
	if !ok || err != nil {
		return false, err
	}
	return v.True(), nil
}

func (f *tfFile) strs(body *hclsyntax.Body, name string) ([]string, error) {
	v, ok, err := f.eval(body, name, cty.List(cty.String))
	if !ok || err != nil {
		return nil, err
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out, nil
}

// tables returns the aws_dynamodb_table resources by table name, and their
// resource names by table name.
func (f *tfFile) tables() (map[string]iacTable, map[string]string, error) {
	out, labels := map[string]iacTable{}, map[string]string{}
	for _, b := range hclBlocks(f.body, "resource", "aws_dynamodb_table") {
		tb, err := f.parseTable(b.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("aws_dynamodb_table.%s: %w", b.Labels[1], err)
		}
		out[tb.Name], labels[tb.Name] = tb, b.Labels[1]
	}
	return out, labels, nil
}

func (f *tfFile) parseTable(body *hclsyntax.Body) (iacTable, error) {
	tb := iacTable{Attributes: map[string]string{}, Indexes: map[string]iacIndex{}}
	var errs []error
	str := func(b *hclsyntax.Body, name string) string {
		s, err := f.str(b, name)
		if err != nil {
			errs = append(errs, err)
		}
		return s
	}
	tb.Name = str(body, "name")
	tb.BillingMode = str(body, "billing_mode")
	if tb.BillingMode == "" {
		tb.BillingMode = string(types.BillingModeProvisioned) // the provider's default
	}
	tb.Keys = iacKeys{Hash: str(body, "hash_key"), Range: str(body, "range_key")}
	for _, a := range hclBlocks(body, "attribute") {
		tb.Attributes[str(a.Body, "name")] = str(a.Body, "type")
	}
	for _, g := range hclBlocks(body, "global_secondary_index") {
		ix := iacIndex{Keys: iacKeys{Hash: str(g.Body, "hash_key"), Range: str(g.Body, "range_key")}, Projection: str(g.Body, "projection_type")}
		// Newer providers describe index keys with key_schema blocks.
		for _, k := range hclBlocks(g.Body, "key_schema") {
			if err := ix.Keys.set(str(k.Body, "key_type"), str(k.Body, "attribute_name")); err != nil {
				errs = append(errs, err)
			}
		}
		nonKey, err := f.strs(g.Body, "non_key_attributes")
		if err != nil {
			errs = append(errs, err)
		}
		ix.NonKey = joinSorted(nonKey)
		tb.Indexes[str(g.Body, "name")] = ix
	}
	var err error
	if tb.StreamEnabled, err = f.boolean(body, "stream_enabled"); err != nil {
		errs = append(errs, err)
	}
	tb.StreamViewType = str(body, "stream_view_type")
	for _, ttl := range hclBlocks(body, "ttl") {
		tb.TTLAttribute = str(ttl.Body, "attribute_name")
		if tb.TTLEnabled, err = f.boolean(ttl.Body, "enabled"); err != nil {
			errs = append(errs, err)
		}
	}
	return tb, errors.Join(errs...)
}

// policy returns the statements of data.aws_iam_policy_document.NAME.
func (f *tfFile) policy(name string) ([]iamStatement, error) {
	docs := hclBlocks(f.body, "data", "aws_iam_policy_document", name)
	if len(docs) != 1 {
		return nil, fmt.Errorf("data.aws_iam_policy_document.%s: %d definitions, want 1", name, len(docs))
	}
	var out []iamStatement
	for _, s := range hclBlocks(docs[0].Body, "statement") {
		if s.Body.Attributes["not_actions"] != nil || s.Body.Attributes["not_resources"] != nil {
			return nil, fmt.Errorf("%s: not_actions and not_resources are not supported", s.DefRange())
		}
		effect, err := f.str(s.Body, "effect")
		if err != nil {
			return nil, err
		}
		if effect == "" {
			effect = "Allow"
		}
		actions, err := f.strs(s.Body, "actions")
		if err != nil {
			return nil, err
		}
		resources, err := f.strs(s.Body, "resources")
		if err != nil {
			return nil, err
		}
		out = append(out, iamStatement{Effect: effect, Actions: actions, Resources: resources})
	}
	return out, nil
}

// refs returns the references (a.b.c) of an attribute's expression.
func refs(a *hclsyntax.Attribute) []string {
	var out []string
	for _, tr := range a.Expr.Variables() {
		var parts []string
		for _, step := range tr {
			switch s := step.(type) {
			case hcl.TraverseRoot:
				parts = append(parts, s.Name)
			case hcl.TraverseAttr:
				parts = append(parts, s.Name)
			}
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out
}

// refers reports whether an attribute's expression refers to ref (such as
// aws_lambda_function.auth_authorizer.invoke_arn, indexes left out).
func refers(b *hclsyntax.Body, name, ref string) bool {
	a := b.Attributes[name]
	if a == nil {
		return false
	}
	return slices.Contains(refs(a), ref)
}

// outputReferences reports whether an output's value refers to the traversal
// ref (such as data.aws_iam_policy_document.store.json).
func (f *tfFile) outputReferences(ref string) bool {
	for _, o := range hclBlocks(f.body, "output") {
		if refers(o.Body, "value", ref) {
			return true
		}
	}
	return false
}

// -------------------------------------------------------------------- tests

// TestIaCTemplateTables checks the tables of deploy/template.yaml against
// TableDefinitions.
func TestIaCTemplateTables(t *testing.T) {
	tpl := loadTemplate(t)
	prefix, ok := tpl.params["TablePrefix"]
	if !ok {
		t.Fatalf("%s: no TablePrefix parameter with a default", templatePath)
	}
	checkDefaultPrefix(t, templatePath, prefix)
	got, ids, err := tpl.tables()
	if err != nil {
		t.Fatalf("%s: %v", templatePath, err)
	}
	// The template deploys the chat example, which has a table of its own.
	for name, id := range ids {
		if id == "ChatMessagesTable" {
			delete(got, name)
		}
	}
	for _, d := range diffTables(iacWantTables(t, iacNames(prefix)), got) {
		t.Errorf("%s: %s", templatePath, d)
	}
}

// TestIaCTerraformTables checks the tables of deploy/dynamodb.tf against
// TableDefinitions.
func TestIaCTerraformTables(t *testing.T) {
	tf := loadTerraform(t)
	v := tf.ctx.Variables["var"]
	if !v.Type().IsObjectType() || !v.Type().HasAttribute("table_prefix") {
		t.Fatalf("%s: no variable table_prefix with a default", terraformPath)
	}
	prefix := v.GetAttr("table_prefix").AsString()
	checkDefaultPrefix(t, terraformPath, prefix)
	got, _, err := tf.tables()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffTables(iacWantTables(t, iacNames(prefix)), got) {
		t.Errorf("%s: %s", terraformPath, d)
	}
}

// TestIaCDiffReportsDifferences proves that the comparison the two tests
// above rely on catches each kind of difference, and names the table, the
// property, what is wanted and what was found.
func TestIaCDiffReportsDifferences(t *testing.T) {
	want := iacWantTables(t, dynamodb.Tables{})
	byName := func(ts []iacTable) map[string]iacTable {
		m := map[string]iacTable{}
		for _, tb := range ts {
			m[tb.Name] = tb.clone()
		}
		return m
	}
	if d := diffTables(want, byName(want)); len(d) != 0 {
		t.Fatalf("identical tables: got differences %q", d)
	}
	subs, events := dynamodb.DefaultSubscriptionsTable, dynamodb.DefaultEventsTable
	tests := []struct {
		name   string
		mutate func(map[string]iacTable)
		want   string // the one difference reported
	}{
		{"attribute type", func(m map[string]iacTable) { m[subs].Attributes[dynamodb.AttrSK] = "N" },
			"table gqlambda-subscriptions: attribute definitions: want [connectionId:S pk:S sk:S], got [connectionId:S pk:S sk:N]"},
		{"attribute missing", func(m map[string]iacTable) { delete(m[subs].Attributes, dynamodb.AttrConnectionID) },
			"table gqlambda-subscriptions: attribute definitions: want [connectionId:S pk:S sk:S], got [pk:S sk:S]"},
		{"range key", func(m map[string]iacTable) { tb := m[subs]; tb.Keys.Range = ""; m[subs] = tb },
			"table gqlambda-subscriptions: key schema: want HASH pk, RANGE sk, got HASH pk"},
		{"index projection", func(m map[string]iacTable) {
			ix := m[subs].Indexes[dynamodb.IndexByConnection]
			ix.Projection = "ALL"
			m[subs].Indexes[dynamodb.IndexByConnection] = ix
		}, "table gqlambda-subscriptions: global secondary index byConnection projection type: want KEYS_ONLY, got ALL"},
		{"index keys", func(m map[string]iacTable) {
			ix := m[subs].Indexes[dynamodb.IndexByConnection]
			ix.Keys.Range = ""
			m[subs].Indexes[dynamodb.IndexByConnection] = ix
		}, "table gqlambda-subscriptions: global secondary index byConnection key schema: want HASH connectionId, RANGE sk, got HASH connectionId"},
		{"index missing", func(m map[string]iacTable) { delete(m[subs].Indexes, dynamodb.IndexByConnection) },
			"table gqlambda-subscriptions: global secondary index byConnection: want present, got missing"},
		{"extra index", func(m map[string]iacTable) {
			m[events].Indexes["byTopic"] = iacIndex{Keys: iacKeys{Hash: "topic"}, Projection: "ALL"}
		},
			"table gqlambda-events: global secondary index byTopic: want absent, got present"},
		{"billing mode", func(m map[string]iacTable) { tb := m[events]; tb.BillingMode = "PROVISIONED"; m[events] = tb },
			"table gqlambda-events: billing mode: want PAY_PER_REQUEST, got PROVISIONED"},
		{"stream view type", func(m map[string]iacTable) { tb := m[events]; tb.StreamViewType = "NEW_AND_OLD_IMAGES"; m[events] = tb },
			"table gqlambda-events: stream view type: want NEW_IMAGE, got NEW_AND_OLD_IMAGES"},
		{"stream disabled", func(m map[string]iacTable) { tb := m[events]; tb.StreamEnabled = false; m[events] = tb },
			"table gqlambda-events: stream enabled: want true, got false"},
		{"ttl attribute", func(m map[string]iacTable) { tb := m[events]; tb.TTLAttribute = "expires"; m[events] = tb },
			"table gqlambda-events: time to live attribute: want ttl, got expires"},
		{"ttl disabled", func(m map[string]iacTable) { tb := m[subs]; tb.TTLEnabled = false; m[subs] = tb },
			"table gqlambda-subscriptions: time to live enabled: want true, got false"},
		{"table missing", func(m map[string]iacTable) { delete(m, events) },
			"table gqlambda-events: missing (tables defined: gqlambda-connections, gqlambda-subscriptions)"},
		{"extra table", func(m map[string]iacTable) { m["gqlambda-other"] = iacTable{Name: "gqlambda-other"} },
			"table gqlambda-other: defined, but not in TableDefinitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := byName(want)
			tt.mutate(got)
			d := diffTables(want, got)
			if len(d) != 1 || d[0] != tt.want {
				t.Errorf("differences %q, want [%q]", d, tt.want)
			}
		})
	}
}

// TestIaCTemplateFunctions checks that the template's functions are the
// four handlers of one binary and name the template's tables.
func TestIaCTemplateFunctions(t *testing.T) {
	tpl := loadTemplate(t)
	_, ids, err := tpl.tables()
	if err != nil {
		t.Fatal(err)
	}
	names := iacNames(tpl.params["TablePrefix"])
	tableEnv := map[string]string{
		"GQLAMBDA_CONNECTIONS_TABLE":   ids[names.Connections],
		"GQLAMBDA_SUBSCRIPTIONS_TABLE": ids[names.Subscriptions],
		"GQLAMBDA_EVENTS_TABLE":        ids[names.Events],
	}
	handlers := map[string]string{}
	for _, f := range tpl.functions() {
		for env, id := range tableEnv {
			n := f.Env[env]
			if n == nil {
				t.Errorf("function %s: environment variable %s is not set", f.ID, env)
				continue
			}
			if got, err := tpl.value(n); err != nil || got != "ref("+id+")" {
				t.Errorf("function %s: %s = %s (%v), want !Ref %s", f.ID, env, got, err, id)
			}
		}
		h := yscalar(f.Env["GQLAMBDA_HANDLER"])
		if prev, dup := handlers[h]; dup {
			t.Errorf("functions %s and %s: both GQLAMBDA_HANDLER=%q", prev, f.ID, h)
		}
		handlers[h] = f.ID
		for prop, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": "../examples/chat"} {
			if got := yscalar(tpl.prop(f, prop)); got != want {
				t.Errorf("function %s: %s = %q, want %q", f.ID, prop, got, want)
			}
		}
		if got := yscalar(yget(tpl.resources[f.ID], "Metadata", "BuildMethod")); got != "go1.x" {
			t.Errorf("function %s: Metadata.BuildMethod = %q, want go1.x", f.ID, got)
		}
	}
	if got := slices.Sorted(maps.Keys(handlers)); !slices.Equal(got, []string{"http", "messages", "ranges", "stream", "sweeper", "websocket"}) {
		t.Errorf("GQLAMBDA_HANDLER values %q, want [http messages ranges stream sweeper websocket]", got)
	}
}

// streamConsumers are the template's tables whose stream a function
// consumes, by logical id, with the GQLAMBDA_HANDLER of that function and
// the stream view types its handler can work with: the events table's
// stream handler reads new images (DecodeEventRecord), and the chat's change
// data capture maps each new message's item.
var streamConsumers = map[string]struct {
	handler string
	views   []string
}{
	"EventsTable":       {"stream", []string{"NEW_IMAGE", "NEW_AND_OLD_IMAGES"}},
	"ChatMessagesTable": {"messages", []string{"NEW_IMAGE", "NEW_AND_OLD_IMAGES"}},
}

// TestIaCTemplateStreamConsumers checks the event source mappings of the
// tables' streams: each stream of streamConsumers has one consumer, the
// handler that reads it, reporting batch item failures, with bounded retries
// and an on-failure destination; and no other stream is consumed.
func TestIaCTemplateStreamConsumers(t *testing.T) {
	tpl := loadTemplate(t)
	_, ids, err := tpl.tables()
	if err != nil {
		t.Fatal(err)
	}
	if id := ids[iacNames(tpl.params["TablePrefix"]).Events]; id != "EventsTable" {
		t.Fatalf("the events table's logical id is %q, want EventsTable", id)
	}
	consumers := map[string][]string{} // table → functions
	for _, f := range tpl.functions() {
		for name, ev := range yentries(yget(f.Node, "Events")) {
			if yscalar(yget(ev, "Type")) != "DynamoDB" {
				continue
			}
			p := yget(ev, "Properties")
			where := fmt.Sprintf("function %s: event %s", f.ID, name)
			stream, err := tpl.value(yget(p, "Stream"))
			table, ok := strings.CutSuffix(strings.TrimPrefix(stream, "getatt("), ".StreamArn)")
			want, known := streamConsumers[table]
			if err != nil || !ok || !known {
				t.Errorf("%s: Stream = %s (%v), want the StreamArn of one of %q", where, stream, err, slices.Sorted(maps.Keys(streamConsumers)))
				continue
			}
			consumers[table] = append(consumers[table], f.ID)
			var responseTypes []string
			for _, n := range yitems(yget(p, "FunctionResponseTypes")) {
				responseTypes = append(responseTypes, n.Value)
			}
			if !slices.Contains(responseTypes, "ReportBatchItemFailures") {
				t.Errorf("%s: FunctionResponseTypes = %q, want ReportBatchItemFailures (the handler reports the records it failed)", where, responseTypes)
			}
			if got := yscalar(yget(p, "StartingPosition")); got != "LATEST" {
				t.Errorf("%s: StartingPosition = %q, want LATEST", where, got)
			}
			if n, err := strconv.Atoi(yscalar(yget(p, "MaximumRetryAttempts"))); err != nil || n < 0 {
				t.Errorf("%s: MaximumRetryAttempts = %q, want a finite number", where, yscalar(yget(p, "MaximumRetryAttempts")))
			}
			dest, err := tpl.value(yget(p, "DestinationConfig", "OnFailure", "Destination"))
			if err != nil || !strings.HasPrefix(dest, "getatt(") {
				t.Errorf("%s: DestinationConfig.OnFailure.Destination = %q (%v), want the ARN of a queue of the template", where, dest, err)
			}
			if h := yscalar(f.Env["GQLAMBDA_HANDLER"]); h != want.handler {
				t.Errorf("%s: GQLAMBDA_HANDLER = %q, want %s", where, h, want.handler)
			}
		}
	}
	for _, table := range slices.Sorted(maps.Keys(streamConsumers)) {
		if len(consumers[table]) != 1 {
			t.Errorf("functions consuming %s's stream: %q, want exactly one", table, consumers[table])
		}
		view := yscalar(yget(tpl.resources[table], "Properties", "StreamSpecification", "StreamViewType"))
		if !slices.Contains(streamConsumers[table].views, view) {
			t.Errorf("%s: StreamSpecification.StreamViewType = %q, want one of %q", table, view, streamConsumers[table].views)
		}
	}
}

// TestIaCTemplateWebSocketRoutes checks the WebSocket API's wiring: every
// frame takes $default, and $connect, $disconnect and $default proxy to the
// websocket handler, which API Gateway may invoke.
func TestIaCTemplateWebSocketRoutes(t *testing.T) {
	tpl := loadTemplate(t)
	var handler string
	for _, f := range tpl.functions() {
		if yscalar(f.Env["GQLAMBDA_HANDLER"]) == "websocket" {
			handler = f.ID
		}
	}
	var apis []string
	for _, id := range tpl.resourcesOfType("AWS::ApiGatewayV2::Api") {
		if yscalar(yget(tpl.resources[id], "Properties", "ProtocolType")) == "WEBSOCKET" {
			apis = append(apis, id)
		}
	}
	if handler == "" || len(apis) != 1 {
		t.Fatalf("%s: websocket handler %q, WEBSOCKET APIs %q: want one of each", templatePath, handler, apis)
	}
	api := apis[0]
	if got := yscalar(yget(tpl.resources[api], "Properties", "RouteSelectionExpression")); got != "$request.body.action" {
		t.Errorf("%s: RouteSelectionExpression = %q, want $request.body.action (no frame has it, so every frame takes $default)", api, got)
	}
	routes := map[string]string{} // route key: target
	for _, id := range tpl.resourcesOfType("AWS::ApiGatewayV2::Route") {
		p := yget(tpl.resources[id], "Properties")
		if v, _ := tpl.value(yget(p, "ApiId")); v != "ref("+api+")" {
			continue
		}
		target, err := tpl.value(yget(p, "Target"))
		if err != nil {
			t.Errorf("%s: Target: %v", id, err)
		}
		routes[yscalar(yget(p, "RouteKey"))] = target
	}
	if got := slices.Sorted(maps.Keys(routes)); !slices.Equal(got, []string{"$connect", "$default", "$disconnect"}) {
		t.Errorf("%s: routes %q, want [$connect $default $disconnect]", api, got)
	}
	for _, key := range slices.Sorted(maps.Keys(routes)) {
		target := routes[key]
		integration, ok := strings.CutPrefix(target, "integrations/ref(")
		integration = strings.TrimSuffix(integration, ")")
		p := yget(tpl.resources[integration], "Properties")
		uri, _ := tpl.value(yget(p, "IntegrationUri"))
		if !ok || yscalar(yget(p, "IntegrationType")) != "AWS_PROXY" || !strings.Contains(uri, "/functions/getatt("+handler+".Arn)/invocations") {
			t.Errorf("route %s: target %s is not an AWS_PROXY integration of %s (type %q, uri %q)", key, target, handler, yscalar(yget(p, "IntegrationType")), uri)
		}
	}
	invocable := false
	for _, id := range tpl.resourcesOfType("AWS::Lambda::Permission") {
		p := yget(tpl.resources[id], "Properties")
		fn, _ := tpl.value(yget(p, "FunctionName"))
		source, _ := tpl.value(yget(p, "SourceArn"))
		invocable = invocable || fn == "ref("+handler+")" && yscalar(yget(p, "Principal")) == "apigateway.amazonaws.com" &&
			yscalar(yget(p, "Action")) == "lambda:InvokeFunction" && strings.Contains(source, "ref("+api+")")
	}
	if !invocable {
		t.Errorf("no AWS::Lambda::Permission lets %s invoke %s", api, handler)
	}
}

// TestIaCTemplatePolicy checks that every function of the template may make
// the store's DynamoDB calls on the tables and the index, no other DynamoDB
// call, and manage the WebSocket stage's connections.
func TestIaCTemplatePolicy(t *testing.T) {
	tpl := loadTemplate(t)
	_, ids, err := tpl.tables()
	if err != nil {
		t.Fatal(err)
	}
	names := iacNames(tpl.params["TablePrefix"])
	resources := []string{
		"getatt(" + ids[names.Connections] + ".Arn)",
		"getatt(" + ids[names.Subscriptions] + ".Arn)",
		"getatt(" + ids[names.Subscriptions] + ".Arn)/index/" + dynamodb.IndexByConnection,
		"getatt(" + ids[names.Events] + ".Arn)",
	}
	apis := tpl.resourcesOfType("AWS::ApiGatewayV2::Api")
	var connections []string
	for _, api := range apis {
		if yscalar(yget(tpl.resources[api], "Properties", "ProtocolType")) != "WEBSOCKET" {
			continue
		}
		for _, st := range tpl.resourcesOfType("AWS::ApiGatewayV2::Stage") {
			p := yget(tpl.resources[st], "Properties")
			if v, _ := tpl.value(yget(p, "ApiId")); v != "ref("+api+")" {
				continue
			}
			stage, err := tpl.value(yget(p, "StageName"))
			if err != nil {
				t.Fatalf("%s: StageName: %v", st, err)
			}
			for _, method := range []string{"POST", "GET", "DELETE"} {
				connections = append(connections, fmt.Sprintf("arn:aws:execute-api:region:account:ref(%s)/%s/%s/@connections/c0nnect10n1d=", api, stage, method))
			}
		}
	}
	if len(connections) == 0 {
		t.Fatalf("%s: no stage of a WEBSOCKET AWS::ApiGatewayV2::Api", templatePath)
	}
	fs := tpl.functions()
	if len(fs) == 0 {
		t.Fatalf("%s: no AWS::Serverless::Function", templatePath)
	}
	for _, f := range fs {
		stmts, err := tpl.statements(f)
		if err != nil {
			t.Errorf("function %s: %v", f.ID, err)
			continue
		}
		for _, d := range missingGrants(stmts, storeActions(), resources) {
			t.Errorf("function %s: %s", f.ID, d)
		}
		for _, d := range extraGrants(stmts, "dynamodb:", storeActions()) {
			t.Errorf("function %s: %s", f.ID, d)
		}
		for _, d := range missingGrants(stmts, []string{"execute-api:ManageConnections"}, connections) {
			t.Errorf("function %s: %s", f.ID, d)
		}
	}
}

// TestIaCTerraformPolicy checks the policy documents of deploy/dynamodb.tf:
// the store's DynamoDB calls on the tables and the index and no other, the
// events stream's reads, and that both documents are outputs.
func TestIaCTerraformPolicy(t *testing.T) {
	tf := loadTerraform(t)
	_, labels, err := tf.tables()
	if err != nil {
		t.Fatal(err)
	}
	names := iacNames(tf.ctx.Variables["var"].GetAttr("table_prefix").AsString())
	store, err := tf.policy("store")
	if err != nil {
		t.Fatal(err)
	}
	resources := []string{
		"arn(" + labels[names.Connections] + ")",
		"arn(" + labels[names.Subscriptions] + ")",
		"arn(" + labels[names.Subscriptions] + ")/index/" + dynamodb.IndexByConnection,
		"arn(" + labels[names.Events] + ")",
	}
	for _, d := range missingGrants(store, storeActions(), resources) {
		t.Errorf("%s: data.aws_iam_policy_document.store: %s", terraformPath, d)
	}
	for _, d := range extraGrants(store, "dynamodb:", storeActions()) {
		t.Errorf("%s: data.aws_iam_policy_document.store: %s", terraformPath, d)
	}
	stream, err := tf.policy("stream_read")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range missingGrants(stream, streamActions(), []string{"stream_arn(" + labels[names.Events] + ")"}) {
		t.Errorf("%s: data.aws_iam_policy_document.stream_read: %s", terraformPath, d)
	}
	for _, doc := range []string{"store", "stream_read"} {
		if ref := "data.aws_iam_policy_document." + doc + ".json"; !tf.outputReferences(ref) {
			t.Errorf("%s: no output exports %s", terraformPath, ref)
		}
	}
}

// TestIaCPolicyChecksReportDifferences proves that the policy checks above
// catch a missing action, a missing resource, a denial and an action beyond
// the store's.
func TestIaCPolicyChecksReportDifferences(t *testing.T) {
	full := iamStatement{Effect: "Allow", Actions: storeActions(), Resources: []string{"arn(a)", "arn(b)", "arn(b)/index/*"}}
	resources := []string{"arn(a)", "arn(b)", "arn(b)/index/byConnection"}
	tests := []struct {
		name          string
		stmts         []iamStatement
		missing, more []string
	}{
		{name: "complete", stmts: []iamStatement{full}},
		{name: "wildcard action", stmts: []iamStatement{{Effect: "Allow", Actions: []string{"dynamodb:*"}, Resources: full.Resources}},
			more: []string{"dynamodb:* is allowed, but the store does not need it"}},
		{name: "action missing", stmts: []iamStatement{{Effect: "Allow", Actions: slices.DeleteFunc(storeActions(), func(a string) bool { return a == "dynamodb:Query" }), Resources: full.Resources}},
			missing: []string{"dynamodb:Query on arn(a) is not allowed", "dynamodb:Query on arn(b) is not allowed", "dynamodb:Query on arn(b)/index/byConnection is not allowed"}},
		{name: "index missing", stmts: []iamStatement{{Effect: "Allow", Actions: storeActions(), Resources: []string{"arn(a)", "arn(b)"}}},
			missing: func() []string {
				var m []string
				for _, a := range storeActions() {
					m = append(m, a+" on arn(b)/index/byConnection is not allowed")
				}
				return m
			}()},
		{name: "denied", stmts: []iamStatement{full, {Effect: "Deny", Actions: []string{"dynamodb:PutItem"}, Resources: []string{"arn(a)"}}},
			missing: []string{"dynamodb:PutItem on arn(a) is not allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := missingGrants(tt.stmts, storeActions(), resources); !slices.Equal(got, tt.missing) {
				t.Errorf("missing grants %q, want %q", got, tt.missing)
			}
			if got := extraGrants(tt.stmts, "dynamodb:", storeActions()); !slices.Equal(got, tt.more) {
				t.Errorf("extra grants %q, want %q", got, tt.more)
			}
		})
	}
}

// TestIaCPolicyCoversStoreCalls derives the DynamoDB operations package
// dynamodb (storeDir) calls from its source (every reference to an
// operation's input type, dynamodb.XInput or dynamodbstreams.XInput, as in
// the methods of its client interfaces) and checks that storeActions and
// streamActions authorise them.
func TestIaCPolicyCoversStoreCalls(t *testing.T) {
	const (
		dynamodbPath = "github.com/aws/aws-sdk-go-v2/service/dynamodb"
		streamsPath  = "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	)
	files, err := filepath.Glob(filepath.Join(storeDir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]map[string]string{dynamodbPath: {}, streamsPath: {}} // import path: operation: where
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		aliases := map[string]string{} // local name: import path
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if _, ok := ops[path]; !ok {
				continue
			}
			local := filepath.Base(path)
			if imp.Name != nil {
				local = imp.Name.Name
			}
			aliases[local] = path
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok || aliases[x.Name] == "" || !strings.HasSuffix(sel.Sel.Name, "Input") {
				return true
			}
			ops[aliases[x.Name]][strings.TrimSuffix(sel.Sel.Name, "Input")] = fset.Position(sel.Pos()).String()
			return true
		})
	}
	// The scan must at least find CreateTables' calls in tables.go.
	if _, ok := ops[dynamodbPath]["CreateTable"]; !ok {
		t.Fatalf("found no reference to dynamodb.CreateTableInput in the package's source: the scan is broken (operations found: %v)", ops)
	}
	derived := map[string]bool{}
	for _, op := range slices.Sorted(maps.Keys(ops[dynamodbPath])) {
		if slices.Contains(tableOps(), op) {
			continue
		}
		for _, a := range opActions(op) {
			derived[a] = true
			if !slices.Contains(storeActions(), a) {
				t.Errorf("%s: the store calls %s, which needs %s: add it to storeActions in iac_test.go, to FunctionPolicy in deploy/template.yaml and to data.aws_iam_policy_document.store in deploy/dynamodb.tf", ops[dynamodbPath][op], op, a)
			}
		}
	}
	for _, op := range slices.Sorted(maps.Keys(ops[streamsPath])) {
		if a := "dynamodb:" + op; !slices.Contains(streamActions(), a) {
			t.Errorf("%s: the package calls DynamoDB Streams' %s, which needs %s: add it to streamActions in iac_test.go and to data.aws_iam_policy_document.stream_read in deploy/dynamodb.tf", ops[streamsPath][op], op, a)
		}
	}
	for _, a := range storeActions() {
		if !derived[a] {
			t.Logf("storeActions grants %s, which no DynamoDB call in the package's source needs yet", a)
		}
	}
}
