package iactest

// The tests in this file check the authentication and throttling of the
// deployable chat: the token authorizer on the WebSocket API's $connect and
// on every route of the HTTP API, the authorizer function's code, role and
// secret, and the stages' throttling, in deploy/template.yaml and in
// deploy/auth.tf. They read the files only.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"
)

const (
	authTerraformPath = "../auth.tf"
	// authorizerDir is the authorizer function's code, relative to this
	// folder; the template's Code and the Terraform build refer to it.
	authorizerDir = "../../examples/chat/authorizer"
	// tokenQuery is where WebSocket clients put their token: browsers
	// cannot set headers on a WebSocket handshake.
	tokenQuery = "route.request.querystring.token"
	// tokenHeader is where HTTP clients put theirs.
	tokenHeader = "$request.header.Authorization"
)

// websocketAPI returns the template's WEBSOCKET API.
func websocketAPI(t *testing.T, tpl *samTemplate) string {
	t.Helper()
	var apis []string
	for _, id := range tpl.resourcesOfType("AWS::ApiGatewayV2::Api") {
		if yscalar(yget(tpl.resources[id], "Properties", "ProtocolType")) == "WEBSOCKET" {
			apis = append(apis, id)
		}
	}
	if len(apis) != 1 {
		t.Fatalf("%s: WEBSOCKET APIs %q, want one", templatePath, apis)
	}
	return apis[0]
}

// authorizerFunction returns the logical id of the function an
// authorizer's URI invokes.
func authorizerFunction(uri string) (string, bool) {
	_, rest, ok := strings.Cut(uri, "/functions/getatt(")
	fn, _, ok2 := strings.Cut(rest, ".Arn)/invocations")
	return fn, ok && ok2
}

// TestAuthTemplateWebSocketAuthorizer: $connect (the only route of a
// WebSocket API that takes one) has a Lambda REQUEST authorizer whose
// identity source is the token in the query string, the other routes none,
// and API Gateway may invoke the authorizer's function.
func TestAuthTemplateWebSocketAuthorizer(t *testing.T) {
	tpl := loadTemplate(t)
	api := websocketAPI(t, tpl)
	var authorizer string
	for _, id := range tpl.resourcesOfType("AWS::ApiGatewayV2::Route") {
		p := yget(tpl.resources[id], "Properties")
		if v, _ := tpl.value(yget(p, "ApiId")); v != "ref("+api+")" {
			continue
		}
		key, typ := yscalar(yget(p, "RouteKey")), yscalar(yget(p, "AuthorizationType"))
		switch {
		case key == "$connect":
			authorizer, _ = tpl.value(yget(p, "AuthorizerId"))
			if typ != "CUSTOM" || !strings.HasPrefix(authorizer, "ref(") {
				t.Errorf("route $connect: AuthorizationType %q, AuthorizerId %q; want CUSTOM with an authorizer of the template", typ, authorizer)
			}
		case typ != "NONE":
			t.Errorf("route %s: AuthorizationType %q; only $connect takes an authorizer on a WebSocket API (want NONE)", key, typ)
		}
	}
	id := strings.TrimSuffix(strings.TrimPrefix(authorizer, "ref("), ")")
	r := tpl.resources[id]
	if r == nil || yscalar(yget(r, "Type")) != "AWS::ApiGatewayV2::Authorizer" {
		t.Fatalf("$connect's authorizer %q is not an AWS::ApiGatewayV2::Authorizer of the template", id)
	}
	p := yget(r, "Properties")
	if v, _ := tpl.value(yget(p, "ApiId")); v != "ref("+api+")" {
		t.Errorf("%s: ApiId %s, want ref(%s)", id, v, api)
	}
	if got := yscalar(yget(p, "AuthorizerType")); got != "REQUEST" {
		t.Errorf("%s: AuthorizerType %q, want REQUEST", id, got)
	}
	sources, err := tpl.values(yget(p, "IdentitySource"))
	if err != nil || !slices.Equal(sources, []string{tokenQuery}) {
		t.Errorf("%s: IdentitySource %q (%v), want [%s]", id, sources, err, tokenQuery)
	}
	uri, _ := tpl.value(yget(p, "AuthorizerUri"))
	fn, ok := authorizerFunction(uri)
	if !ok {
		t.Fatalf("%s: AuthorizerUri %q does not invoke a function of the template", id, uri)
	}
	checkAuthorizerFunction(t, tpl, fn)
	if !permits(tpl, fn, "ref("+api+")/authorizers/ref("+id+")") {
		t.Errorf("no AWS::Lambda::Permission lets API Gateway invoke %s for the authorizer %s of %s", fn, id, api)
	}
}

// permits reports whether an AWS::Lambda::Permission lets API Gateway
// invoke fn from a source ARN that ends with source (after
// arn:aws:execute-api:region:account:), or whose * covers it.
func permits(tpl *samTemplate, fn, source string) bool {
	for _, id := range tpl.resourcesOfType("AWS::Lambda::Permission") {
		p := yget(tpl.resources[id], "Properties")
		f, _ := tpl.value(yget(p, "FunctionName"))
		arn, _ := tpl.value(yget(p, "SourceArn"))
		if f != "ref("+fn+")" || yscalar(yget(p, "Principal")) != "apigateway.amazonaws.com" || yscalar(yget(p, "Action")) != "lambda:InvokeFunction" {
			continue
		}
		if globMatch(arn, "arn:aws:execute-api:region:account:"+source, false) {
			return true
		}
	}
	return false
}

// checkAuthorizerFunction checks the authorizer function: built from
// examples/chat/authorizer (package main, starting a Lambda handler), the
// secret's ARN in its environment, and a role that may read that secret
// and touch no table.
func checkAuthorizerFunction(t *testing.T, tpl *samTemplate, fn string) {
	t.Helper()
	r := tpl.resources[fn]
	p := yget(r, "Properties")
	if r == nil {
		t.Fatalf("authorizer function %s is not in the template", fn)
	}
	code := yscalar(yget(p, "Code"))
	if typ := yscalar(yget(r, "Type")); typ == "AWS::Serverless::Function" {
		code = yscalar(yget(p, "CodeUri"))
	}
	if filepath.Clean(filepath.Join("..", code)) != filepath.Clean(filepath.Join("..", "..", "examples", "chat", "authorizer")) {
		t.Errorf("%s: code %q, want ../examples/chat/authorizer", fn, code)
	}
	if got := yscalar(yget(r, "Metadata", "BuildMethod")); got != "go1.x" {
		t.Errorf("%s: Metadata.BuildMethod %q, want go1.x (sam build compiles the Go code)", fn, got)
	}
	for prop, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap"} {
		if got := yscalar(yget(p, prop)); got != want {
			t.Errorf("%s: %s = %q, want %q", fn, prop, got, want)
		}
	}
	src, err := os.ReadFile(filepath.Join(authorizerDir, "main.go"))
	if err != nil || !strings.Contains(string(src), "package main") || !strings.Contains(string(src), "lambda.Start(chatauth.Authorizer(") {
		t.Errorf("%s/main.go (%v): want package main starting chatauth.Authorizer", authorizerDir, err)
	}
	secretRef, err := tpl.value(yget(p, "Environment", "Variables", "CHAT_AUTH_SECRET_ARN"))
	secret := strings.TrimSuffix(strings.TrimPrefix(secretRef, "ref("), ")")
	if err != nil || yscalar(yget(tpl.resources[secret], "Type")) != "AWS::SecretsManager::Secret" {
		t.Fatalf("%s: CHAT_AUTH_SECRET_ARN = %s (%v), want !Ref of an AWS::SecretsManager::Secret of the template", fn, secretRef, err)
	}
	if yget(tpl.resources[secret], "Properties", "GenerateSecretString") == nil {
		t.Errorf("%s: no GenerateSecretString: the secret would be empty", secret)
	}
	role, _ := tpl.value(yget(p, "Role"))
	roleID := strings.TrimSuffix(strings.TrimPrefix(role, "getatt("), ".Arn)")
	rp := yget(tpl.resources[roleID], "Properties")
	if rp == nil {
		t.Fatalf("%s: Role %s is not a role of the template", fn, role)
	}
	var stmts []iamStatement
	for _, pol := range yitems(yget(rp, "Policies")) {
		for _, s := range yitems(yget(pol, "PolicyDocument", "Statement")) {
			actions, _ := tpl.values(yget(s, "Action"))
			if len(actions) == 0 {
				actions = []string{yscalar(yget(s, "Action"))}
			}
			resources, _ := tpl.values(yget(s, "Resource"))
			if len(resources) == 0 {
				v, _ := tpl.value(yget(s, "Resource"))
				resources = []string{v}
			}
			stmts = append(stmts, iamStatement{Effect: yscalar(yget(s, "Effect")), Actions: actions, Resources: resources})
		}
	}
	if d := missingGrants(stmts, []string{"secretsmanager:GetSecretValue"}, []string{secretRef}); len(d) > 0 {
		t.Errorf("%s's role %s: %v", fn, roleID, d)
	}
	for _, s := range stmts {
		for _, a := range s.Actions {
			if a != "secretsmanager:GetSecretValue" {
				t.Errorf("%s's role %s grants %s: the authorizer needs only its secret", fn, roleID, a)
			}
		}
		if !slices.Equal(s.Resources, []string{secretRef}) {
			t.Errorf("%s's role %s: resources %q, want only %s", fn, roleID, s.Resources, secretRef)
		}
	}
	for _, m := range yitems(yget(rp, "ManagedPolicyArns")) {
		if v, _ := tpl.value(m); !strings.HasSuffix(v, ":policy/service-role/AWSLambdaBasicExecutionRole") {
			t.Errorf("%s's role %s: managed policy %s, want only AWSLambdaBasicExecutionRole (logs)", fn, roleID, v)
		}
	}
}

// TestAuthTemplateHTTPAuthorizer: every route of the HTTP API takes the
// same authorizer function (payload format 1.0, so that one handler serves
// both APIs), with the Authorization header as identity source, and API
// Gateway may invoke it.
func TestAuthTemplateHTTPAuthorizer(t *testing.T) {
	tpl := loadTemplate(t)
	apis := tpl.resourcesOfType("AWS::Serverless::HttpApi")
	if len(apis) != 1 {
		t.Fatalf("%s: AWS::Serverless::HttpApi %q, want one", templatePath, apis)
	}
	api := apis[0]
	auth := yget(tpl.resources[api], "Properties", "Auth")
	def := yscalar(yget(auth, "DefaultAuthorizer"))
	a := yget(auth, "Authorizers", def)
	if def == "" || a == nil {
		t.Fatalf("%s: Auth.DefaultAuthorizer %q is not one of Auth.Authorizers", api, def)
	}
	arn, _ := tpl.value(yget(a, "FunctionArn"))
	fn := strings.TrimSuffix(strings.TrimPrefix(arn, "getatt("), ".Arn)")
	checkAuthorizerFunction(t, tpl, fn)
	if got := yscalar(yget(a, "AuthorizerPayloadFormatVersion")); got != "1.0" {
		t.Errorf("%s: authorizer %s: AuthorizerPayloadFormatVersion %q, want 1.0 (the IAM policy answer of $connect's authorizer)", api, def, got)
	}
	if got := yscalar(yget(a, "EnableSimpleResponses")); got == "true" {
		t.Errorf("%s: authorizer %s: EnableSimpleResponses: the function answers an IAM policy", api, def)
	}
	var headers []string
	for _, h := range yitems(yget(a, "Identity", "Headers")) {
		headers = append(headers, h.Value)
	}
	if !slices.Equal(headers, []string{"Authorization"}) {
		t.Errorf("%s: authorizer %s: Identity.Headers %q, want [Authorization]", api, def, headers)
	}
	if ttl, err := strconv.Atoi(yscalar(yget(a, "Identity", "ReauthorizeEvery"))); err != nil || ttl > 300 {
		t.Errorf("%s: authorizer %s: ReauthorizeEvery %q: want at most 300 s, so that an expired token stops working soon", api, def, yscalar(yget(a, "Identity", "ReauthorizeEvery")))
	}
	// No route opts out of the default authorizer.
	for _, f := range tpl.functions() {
		for name, ev := range yentries(yget(f.Node, "Events")) {
			if yscalar(yget(ev, "Type")) != "HttpApi" {
				continue
			}
			if a := yget(ev, "Properties", "Auth", "Authorizer"); a != nil && a.Value != def {
				t.Errorf("function %s: event %s: Auth.Authorizer %q, want the default %s", f.ID, name, a.Value, def)
			}
		}
	}
	if !permits(tpl, fn, "ref("+api+")/authorizers/x1y2z3") {
		t.Errorf("no AWS::Lambda::Permission lets API Gateway invoke %s for the authorizers of %s", fn, api)
	}
}

// TestAuthTemplateThrottling: both APIs' stages throttle every route, with
// limits that are parameters (positive numbers by default).
func TestAuthTemplateThrottling(t *testing.T) {
	tpl := loadTemplate(t)
	api := websocketAPI(t, tpl)
	var settings []*yaml.Node
	where := []string{}
	for _, id := range tpl.resourcesOfType("AWS::ApiGatewayV2::Stage") {
		p := yget(tpl.resources[id], "Properties")
		if v, _ := tpl.value(yget(p, "ApiId")); v == "ref("+api+")" {
			settings, where = append(settings, yget(p, "DefaultRouteSettings")), append(where, id)
		}
	}
	for _, id := range tpl.resourcesOfType("AWS::Serverless::HttpApi") {
		settings, where = append(settings, yget(tpl.resources[id], "Properties", "DefaultRouteSettings")), append(where, id)
	}
	if len(settings) != 2 {
		t.Fatalf("found the stages of %q, want the WebSocket stage and the HTTP API", where)
	}
	params := map[string]bool{}
	for i, s := range settings {
		for _, prop := range []string{"ThrottlingBurstLimit", "ThrottlingRateLimit"} {
			n := yget(s, prop)
			fn, arg := "", (*yaml.Node)(nil)
			if n != nil {
				fn, arg = intrinsic(n)
			}
			if fn != "Ref" {
				t.Errorf("%s: DefaultRouteSettings.%s is not a !Ref of a parameter", where[i], prop)
				continue
			}
			if params[arg.Value] {
				t.Errorf("%s: parameter %s throttles two settings", where[i], arg.Value)
			}
			params[arg.Value] = true
			v, err := strconv.ParseFloat(tpl.params[arg.Value], 64)
			if err != nil || v <= 0 {
				t.Errorf("%s: %s = !Ref %s, whose default %q is not a positive number", where[i], prop, arg.Value, tpl.params[arg.Value])
			}
		}
	}
}

// tfAuth is deploy/auth.tf, parsed without evaluating its references.
type tfAuth struct{ body *hclsyntax.Body }

func loadAuthTerraform(t *testing.T) tfAuth {
	t.Helper()
	return tfAuth{body: readHCL(t, authTerraformPath)}
}

// block returns the one block of type typ with labels.
func (f tfAuth) block(t *testing.T, typ string, labels ...string) *hclsyntax.Body {
	t.Helper()
	bs := hclBlocks(f.body, typ, labels...)
	if len(bs) != 1 {
		t.Fatalf("%s: %d blocks %s %q, want 1", authTerraformPath, len(bs), typ, labels)
	}
	return bs[0].Body
}

// literal evaluates an attribute without variables: a literal.
func literal(t *testing.T, b *hclsyntax.Body, name string) cty.Value {
	t.Helper()
	a := b.Attributes[name]
	if a == nil {
		t.Fatalf("%s: no attribute %s", authTerraformPath, name)
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: %s is not a literal: %v", a.SrcRange, name, diags)
	}
	return v
}

// TestAuthTerraform: deploy/auth.tf defines the same authorizer as the
// template (REQUEST, the query string token on the WebSocket API, the
// Authorization header and payload format 1.0 on the HTTP API, the
// function built from examples/chat/authorizer reading its own secret),
// API Gateway's permission to invoke it, throttling variables, every name
// prefixed auth_, and nothing created while it is not configured.
func TestAuthTerraform(t *testing.T) {
	f := loadAuthTerraform(t)
	for _, b := range f.body.Blocks {
		if (b.Type == "resource" || b.Type == "data" || b.Type == "output" || b.Type == "variable") && !strings.HasPrefix(b.Labels[len(b.Labels)-1], "auth_") {
			t.Errorf("%s: %s %q: names in this file start with auth_ (deploy/ is one module)", authTerraformPath, b.Type, b.Labels)
		}
		if b.Type == "resource" || b.Type == "data" {
			if a := b.Body.Attributes["count"]; a == nil {
				t.Errorf("%s: %s %q has no count: it would be created while the authorizer is off", authTerraformPath, b.Type, b.Labels)
			}
		}
	}
	for _, v := range []string{"auth_websocket_api_id", "auth_http_api_id"} {
		if d := literal(t, f.block(t, "variable", v), "default"); d.AsString() != "" {
			t.Errorf("variable %s: default %q, want \"\" (off unless configured)", v, d.AsString())
		}
	}

	ws := f.block(t, "resource", "aws_apigatewayv2_authorizer", "auth_websocket")
	http := f.block(t, "resource", "aws_apigatewayv2_authorizer", "auth_http")
	for name, tc := range map[string]struct {
		b       *hclsyntax.Body
		api     string
		sources []string
	}{
		"auth_websocket": {ws, "var.auth_websocket_api_id", []string{tokenQuery}},
		"auth_http":      {http, "var.auth_http_api_id", []string{tokenHeader}},
	} {
		if got := literal(t, tc.b, "authorizer_type").AsString(); got != "REQUEST" {
			t.Errorf("%s: authorizer_type %q, want REQUEST", name, got)
		}
		var sources []string
		for _, s := range literal(t, tc.b, "identity_sources").AsValueSlice() {
			sources = append(sources, s.AsString())
		}
		if !slices.Equal(sources, tc.sources) {
			t.Errorf("%s: identity_sources %q, want %q", name, sources, tc.sources)
		}
		if !refers(tc.b, "api_id", tc.api) || !refers(tc.b, "authorizer_uri", "aws_lambda_function.auth_authorizer.invoke_arn") {
			t.Errorf("%s: want api_id = %s and authorizer_uri = the function's invoke_arn", name, tc.api)
		}
		perm := f.block(t, "resource", "aws_lambda_permission", name)
		if literal(t, perm, "principal").AsString() != "apigateway.amazonaws.com" || literal(t, perm, "action").AsString() != "lambda:InvokeFunction" ||
			!refers(perm, "source_arn", "aws_apigatewayv2_authorizer."+name+".id") || !refers(perm, "function_name", "aws_lambda_function.auth_authorizer.function_name") {
			t.Errorf("aws_lambda_permission.%s: want API Gateway allowed to invoke the function for authorizer %s", name, name)
		}
	}
	if got := literal(t, http, "authorizer_payload_format_version").AsString(); got != "1.0" {
		t.Errorf("auth_http: authorizer_payload_format_version %q, want 1.0", got)
	}
	if literal(t, http, "enable_simple_responses").True() {
		t.Error("auth_http: enable_simple_responses: the function answers an IAM policy")
	}

	fn := f.block(t, "resource", "aws_lambda_function", "auth_authorizer")
	for attr, want := range map[string]string{"handler": "bootstrap", "runtime": "provided.al2023"} {
		if got := literal(t, fn, attr).AsString(); got != want {
			t.Errorf("auth_authorizer: %s %q, want %q", attr, got, want)
		}
	}
	env := hclBlocks(fn, "environment")
	if len(env) != 1 || !refers(env[0].Body, "variables", "aws_secretsmanager_secret.auth_token.arn") {
		t.Error("auth_authorizer: environment.variables must set CHAT_AUTH_SECRET_ARN to the secret's ARN")
	}
	src, _ := os.ReadFile(authTerraformPath)
	if !strings.Contains(string(src), "./examples/chat/authorizer") {
		t.Errorf("%s does not say how to build ./examples/chat/authorizer", authTerraformPath)
	}
	pol := f.block(t, "data", "aws_iam_policy_document", "auth_authorizer")
	stmts := hclBlocks(pol, "statement")
	if len(stmts) != 1 || !refers(stmts[0].Body, "resources", "aws_secretsmanager_secret.auth_token.arn") {
		t.Fatalf("data.aws_iam_policy_document.auth_authorizer: want one statement on the secret")
	}
	var actions []string
	for _, a := range literal(t, stmts[0].Body, "actions").AsValueSlice() {
		actions = append(actions, a.AsString())
	}
	if !slices.Equal(actions, []string{"secretsmanager:GetSecretValue"}) {
		t.Errorf("the authorizer's policy grants %q, want only secretsmanager:GetSecretValue", actions)
	}
	for _, v := range []string{"auth_websocket_throttling_burst_limit", "auth_websocket_throttling_rate_limit", "auth_http_throttling_burst_limit", "auth_http_throttling_rate_limit"} {
		d := literal(t, f.block(t, "variable", v), "default")
		if n, _ := d.AsBigFloat().Float64(); d.Type() != cty.Number || n <= 0 {
			t.Errorf("variable %s: default %s, want a positive number", v, d.GoString())
		}
	}
	if fmt.Sprint(literal(t, f.block(t, "variable", "auth_http_result_ttl_seconds"), "default").AsBigFloat()) == "" {
		t.Error("auth_http_result_ttl_seconds has no default")
	}
}
