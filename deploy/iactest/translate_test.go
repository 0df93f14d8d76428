package iactest

// The tests in this file check deploy/translate/template.yaml, the SAM
// template of the translated chat (examples/translate): its tables against
// TableDefinitions, its bus and rules (one per processor, one for the
// response handler) against the event patterns the app uses locally,
// matched with localbus/pattern, its functions' handlers and environment,
// and that each function is granted what it calls and nothing of the others'.

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gqlambda/gqlambda/localbus/pattern"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

const translateTemplatePath = "../translate/template.yaml"

// The patterns of examples/translate/local.go (PatternReceived,
// PatternTranslated): the rules of the template must match as they do.
const (
	translatePatternReceived   = `{"source": ["apollo"], "detail-type": ["ClientMessageReceived"]}`
	translatePatternTranslated = `{"source": ["translate"], "detail-type": ["ClientMessageTranslated"]}`
)

// translateEvents are events of the app, as EventBridge gives them to rules.
var translateEvents = map[string]string{
	"received":   `{"version": "0", "id": "1", "source": "apollo", "detail-type": "ClientMessageReceived", "account": "1", "time": "2026-12-06T10:00:00Z", "region": "eu-west-1", "resources": [], "detail": {"message": "Good morning", "chatId": "chat"}}`,
	"translated": `{"version": "0", "id": "2", "source": "translate", "detail-type": "ClientMessageTranslated", "account": "1", "time": "2026-12-06T10:00:01Z", "region": "eu-west-1", "resources": [], "detail": {"message": "Bonjour", "chatId": "chat", "language": "fr", "original": "Good morning", "requestId": "1"}}`,
	"other":      `{"version": "0", "id": "3", "source": "apollo", "detail-type": "ClientMessageTranslated", "account": "1", "time": "2026-12-06T10:00:02Z", "region": "eu-west-1", "resources": [], "detail": {}}`,
}

func loadTranslateTemplate(t *testing.T) *samTemplate {
	t.Helper()
	src, err := os.ReadFile(translateTemplatePath)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplate(src)
	if err != nil {
		t.Fatalf("%s: %v", translateTemplatePath, err)
	}
	return tpl
}

// matches returns the names of translateEvents that p matches, sorted.
func matches(t *testing.T, p *pattern.Pattern) []string {
	t.Helper()
	var out []string
	for name, ev := range translateEvents {
		ok, err := p.MatchJSON([]byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// TestTranslateTemplateTables checks the template's tables: the store's
// connections and subscriptions tables as TableDefinitions defines them, and
// no other.
func TestTranslateTemplateTables(t *testing.T) {
	tpl := loadTranslateTemplate(t)
	prefix, ok := tpl.params["TablePrefix"]
	if !ok {
		t.Fatalf("%s: no TablePrefix parameter with a default", translateTemplatePath)
	}
	got, _, err := tpl.tables()
	if err != nil {
		t.Fatalf("%s: %v", translateTemplatePath, err)
	}
	names := iacNames(prefix)
	var want []iacTable
	for _, tb := range iacWantTables(t, names) {
		// The app publishes through the bus, not the events table.
		if tb.Name != names.Events {
			want = append(want, tb)
		}
	}
	for _, d := range diffTables(want, got) {
		t.Errorf("%s: %s", translateTemplatePath, d)
	}
}

// translateRule is an EventBridgeRule event of a function.
type translateRule struct {
	function, handler, language string
	bus                         string
	pattern                     *pattern.Pattern
	node                        *yaml.Node
}

// translateRules reads the EventBridgeRule events of the template's
// functions.
func translateRules(t *testing.T, tpl *samTemplate) []translateRule {
	t.Helper()
	var rules []translateRule
	for _, f := range tpl.functions() {
		for name, ev := range yentries(yget(f.Node, "Events")) {
			if yscalar(yget(ev, "Type")) != "EventBridgeRule" {
				continue
			}
			p := yget(ev, "Properties")
			var raw any
			if err := yget(p, "Pattern").Decode(&raw); err != nil {
				t.Fatalf("function %s: event %s: Pattern: %v", f.ID, name, err)
			}
			src, err := json.Marshal(raw)
			if err != nil {
				t.Fatalf("function %s: event %s: Pattern: %v", f.ID, name, err)
			}
			compiled, err := pattern.Compile(string(src))
			if err != nil {
				t.Errorf("function %s: event %s: EventBridge would refuse the pattern: %v", f.ID, name, err)
				continue
			}
			bus, _ := tpl.value(yget(p, "EventBusName"))
			rules = append(rules, translateRule{
				function: f.ID, handler: yscalar(f.Env["GQLAMBDA_HANDLER"]), language: yscalar(f.Env["TRANSLATE_LANGUAGE"]),
				bus: bus, pattern: compiled, node: p,
			})
		}
	}
	return rules
}

// TestTranslateTemplateRules checks the bus and its rules: one rule per
// processor, matching the clients' messages as the app's PatternReceived
// does, one for the response handler, matching the translations as
// PatternTranslated does, all on the template's bus, each with bounded
// retries and a dead-letter queue; and the blog's languages, French and
// German.
func TestTranslateTemplateRules(t *testing.T) {
	tpl := loadTranslateTemplate(t)
	buses := tpl.resourcesOfType("AWS::Events::EventBus")
	if len(buses) != 1 {
		t.Fatalf("%s: event buses %q, want one", translateTemplatePath, buses)
	}
	bus := buses[0]
	want := map[string][]string{
		"processor": matches(t, pattern.MustCompile(translatePatternReceived)),
		"response":  matches(t, pattern.MustCompile(translatePatternTranslated)),
	}
	if !slices.Equal(want["processor"], []string{"received"}) || !slices.Equal(want["response"], []string{"translated"}) {
		t.Fatalf("the app's patterns match %v", want)
	}
	var languages []string
	responses := 0
	for _, r := range translateRules(t, tpl) {
		if r.bus != "ref("+bus+")" {
			t.Errorf("function %s: rule on bus %s, want !Ref %s", r.function, r.bus, bus)
		}
		wantMatches, known := want[r.handler]
		if !known {
			t.Errorf("function %s (GQLAMBDA_HANDLER=%q) has a rule; only processors and the response handler do", r.function, r.handler)
			continue
		}
		if got := matches(t, r.pattern); !slices.Equal(got, wantMatches) {
			t.Errorf("function %s: its rule matches the events %q, want %q", r.function, got, wantMatches)
		}
		if r.handler == "processor" {
			languages = append(languages, r.language)
		} else {
			responses++
		}
		if n, err := strconv.Atoi(yscalar(yget(r.node, "RetryPolicy", "MaximumRetryAttempts"))); err != nil || n < 1 || n > 185 {
			t.Errorf("function %s: RetryPolicy.MaximumRetryAttempts = %q, want 1 to 185", r.function, yscalar(yget(r.node, "RetryPolicy", "MaximumRetryAttempts")))
		}
		if yscalar(yget(r.node, "DeadLetterConfig", "Type")) != "SQS" {
			t.Errorf("function %s: no DeadLetterConfig of Type SQS on its rule", r.function)
		}
	}
	slices.Sort(languages)
	if !slices.Equal(languages, []string{"de", "fr"}) {
		t.Errorf("processors' languages %q, want one rule each for [de fr]", languages)
	}
	if responses != 1 {
		t.Errorf("%d rules target the response handler, want 1", responses)
	}
}

// TestTranslateTemplateFunctions checks each function's handler, code and
// environment.
func TestTranslateTemplateFunctions(t *testing.T) {
	tpl := loadTranslateTemplate(t)
	_, ids, err := tpl.tables()
	if err != nil {
		t.Fatal(err)
	}
	names := iacNames(tpl.params["TablePrefix"])
	bus := tpl.resourcesOfType("AWS::Events::EventBus")
	handlers := map[string]int{}
	for _, f := range tpl.functions() {
		h := yscalar(f.Env["GQLAMBDA_HANDLER"])
		handlers[h]++
		for prop, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": "../../examples/translate"} {
			if got := yscalar(tpl.prop(f, prop)); got != want {
				t.Errorf("function %s: %s = %q, want %q", f.ID, prop, got, want)
			}
		}
		if got := yscalar(yget(tpl.resources[f.ID], "Metadata", "BuildMethod")); got != "go1.x" {
			t.Errorf("function %s: Metadata.BuildMethod = %q, want go1.x", f.ID, got)
		}
		env := map[string]string{"BUS_NAME": "ref(" + strings.Join(bus, ",") + ")"}
		if h != "processor" {
			env["GQLAMBDA_CONNECTIONS_TABLE"] = "ref(" + ids[names.Connections] + ")"
			env["GQLAMBDA_SUBSCRIPTIONS_TABLE"] = "ref(" + ids[names.Subscriptions] + ")"
		} else if f.Env["TRANSLATE_LANGUAGE"] == nil {
			t.Errorf("processor %s: TRANSLATE_LANGUAGE is not set", f.ID)
		}
		for k, want := range env {
			n := f.Env[k]
			if n == nil {
				t.Errorf("function %s: %s is not set", f.ID, k)
				continue
			}
			if got, err := tpl.value(n); err != nil || got != want {
				t.Errorf("function %s: %s = %s (%v), want %s", f.ID, k, got, err, want)
			}
		}
	}
	want := map[string]int{"websocket": 1, "http": 1, "processor": 2, "response": 1}
	if !maps.Equal(handlers, want) {
		t.Errorf("GQLAMBDA_HANDLER values %v, want %v", handlers, want)
	}
}

// TestTranslateTemplatePolicies checks least privilege: the store's calls
// and the @connections API for the functions that hold and reach
// connections, events:PutEvents on the template's bus for those that put
// events, translate:TranslateText for the processors, and nothing more.
func TestTranslateTemplatePolicies(t *testing.T) {
	tpl := loadTranslateTemplate(t)
	_, ids, err := tpl.tables()
	if err != nil {
		t.Fatal(err)
	}
	names := iacNames(tpl.params["TablePrefix"])
	tables := []string{
		"getatt(" + ids[names.Connections] + ".Arn)",
		"getatt(" + ids[names.Subscriptions] + ".Arn)",
		"getatt(" + ids[names.Subscriptions] + ".Arn)/index/" + dynamodb.IndexByConnection,
	}
	bus := "getatt(" + strings.Join(tpl.resourcesOfType("AWS::Events::EventBus"), ",") + ".Arn)"
	stage, _ := tpl.value(yget(tpl.resources["WebSocketStage"], "Properties", "StageName"))
	var connections []string
	for _, method := range []string{"POST", "GET", "DELETE"} {
		connections = append(connections, "arn:aws:execute-api:region:account:ref(WebSocketApi)/"+stage+"/"+method+"/@connections/c0nnect10n1d=")
	}
	type grants struct{ store, connections, putEvents, translate bool }
	want := map[string]grants{
		"websocket": {store: true, connections: true, putEvents: true},
		"http":      {putEvents: true},
		"processor": {putEvents: true, translate: true},
		"response":  {store: true, connections: true},
	}
	for _, f := range tpl.functions() {
		h := yscalar(f.Env["GQLAMBDA_HANDLER"])
		w, known := want[h]
		if !known {
			t.Errorf("function %s: unknown GQLAMBDA_HANDLER %q", f.ID, h)
			continue
		}
		stmts, err := tpl.statements(f)
		if err != nil {
			t.Errorf("function %s: %v", f.ID, err)
			continue
		}
		check := func(granted bool, actions, resources []string, prefix string) {
			if granted {
				for _, d := range missingGrants(stmts, actions, resources) {
					t.Errorf("function %s: %s", f.ID, d)
				}
				for _, d := range extraGrants(stmts, prefix, actions) {
					t.Errorf("function %s: %s", f.ID, d)
				}
				return
			}
			for _, s := range stmts {
				for _, a := range s.Actions {
					if s.Effect == "Allow" && (strings.HasPrefix(strings.ToLower(a), prefix) || a == "*") {
						t.Errorf("function %s (%s) is allowed %s, which it does not call", f.ID, h, a)
					}
				}
			}
		}
		check(w.store, storeActions(), tables, "dynamodb:")
		check(w.connections, []string{"execute-api:ManageConnections"}, connections, "execute-api:")
		check(w.putEvents, []string{"events:PutEvents"}, []string{bus}, "events:")
		check(w.translate, []string{"translate:TranslateText"}, []string{"*"}, "translate:")
		if w.putEvents && iamAllowed(stmts, "events:PutEvents", "getatt(OtherBus.Arn)") {
			t.Errorf("function %s may put events on any bus", f.ID)
		}
	}
}

// TestTranslateTemplateWebSocketRoutes checks that the WebSocket API's
// routes reach the websocket handler, as the chat's template does.
func TestTranslateTemplateWebSocketRoutes(t *testing.T) {
	tpl := loadTranslateTemplate(t)
	var handler string
	for _, f := range tpl.functions() {
		if yscalar(f.Env["GQLAMBDA_HANDLER"]) == "websocket" {
			handler = f.ID
		}
	}
	routes := map[string]bool{}
	for _, id := range tpl.resourcesOfType("AWS::ApiGatewayV2::Route") {
		p := yget(tpl.resources[id], "Properties")
		target, _ := tpl.value(yget(p, "Target"))
		integration := strings.TrimSuffix(strings.TrimPrefix(target, "integrations/ref("), ")")
		uri, _ := tpl.value(yget(tpl.resources[integration], "Properties", "IntegrationUri"))
		routes[yscalar(yget(p, "RouteKey"))] = strings.Contains(uri, "/functions/getatt("+handler+".Arn)/invocations")
	}
	for _, key := range []string{"$connect", "$disconnect", "$default"} {
		if !routes[key] {
			t.Errorf("route %s does not reach %s", key, handler)
		}
	}
	if len(routes) != 3 {
		t.Errorf("routes %v, want $connect, $disconnect and $default", routes)
	}
}
