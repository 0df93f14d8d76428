package pattern_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/localbus/pattern"
)

// ec2Event is the example event of EventBridge's documentation of event
// patterns.
const ec2Event = `{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "111122223333",
  "time": "2017-12-22T18:43:48Z",
  "region": "us-west-1",
  "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
  "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"}
}`

// TestDocumentedPatterns matches the event patterns of EventBridge's
// documentation (event patterns, content filtering, comparison operators,
// arrays, null and empty values) against its example events, and variants
// that must not match.
func TestDocumentedPatterns(t *testing.T) {
	t.Parallel()
	counts := `{"detail": {"c-count": 5, "d-count": 7, "x-limit": 301.8}}`
	tests := []struct {
		name, pattern, event string
		want                 bool
	}{
		// Event patterns: source, detail-type, detail.
		{"source", `{"source": ["aws.ec2"]}`, ec2Event, true},
		{"source other", `{"source": ["aws.s3"]}`, ec2Event, false},
		{"source one of", `{"source": ["aws.s3", "aws.ec2"]}`, ec2Event, true},
		{"source and detail-type and detail", `{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["terminated"]}}`, ec2Event, true},
		{"detail state other", `{"source": ["aws.ec2"], "detail": {"state": ["running", "stopped"]}}`, ec2Event, false},
		{"case matters", `{"detail-type": ["ec2 instance state-change notification"]}`, ec2Event, false},
		{"empty pattern", `{}`, ec2Event, true},
		{"field absent", `{"detail": {"missing": ["x"]}}`, ec2Event, false},
		{"nested into a string", `{"source": {"x": ["y"]}}`, ec2Event, false},

		// Prefix, suffix, equals-ignore-case, wildcard.
		{"prefix", `{"time": [{"prefix": "2017-12-22"}]}`, ec2Event, true},
		{"prefix other", `{"time": [{"prefix": "2017-10-02"}]}`, ec2Event, false},
		{"prefix ignore case", `{"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}`, `{"detail": {"service": "eventbridge"}}`, true},
		{"prefix ignore case other", `{"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}`, `{"detail": {"service": "events"}}`, false},
		{"suffix", `{"FileName": [{"suffix": ".png"}]}`, `{"FileName": "image.png"}`, true},
		{"suffix other", `{"FileName": [{"suffix": ".png"}]}`, `{"FileName": "image.PNG"}`, false},
		{"suffix ignore case", `{"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}`, `{"detail": {"FileName": "image.PNG"}}`, true},
		{"equals-ignore-case", `{"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}`, ec2Event, true},
		{"equals-ignore-case other", `{"detail-type": [{"equals-ignore-case": "ec2 instance"}]}`, ec2Event, false},
		{"wildcard", `{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}`, `{"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/myEventBus"}`, true},
		{"wildcard other region", `{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}`, `{"EventBusArn": "arn:aws:events:eu-west-1:123456789012:event-bus/myEventBus"}`, false},
		{"wildcard across slashes", `{"detail": {"FilePath": [{"wildcard": "dir/*.png"}]}}`, `{"detail": {"FilePath": "dir/subdir/image.png"}}`, true},
		{"wildcard escaped star", `{"k": [{"wildcard": "a\\*b"}]}`, `{"k": "a*b"}`, true},
		{"wildcard escaped star is literal", `{"k": [{"wildcard": "a\\*b"}]}`, `{"k": "axb"}`, false},
		{"wildcard without star", `{"k": [{"wildcard": "abc"}]}`, `{"k": "abc"}`, true},

		// Anything-but.
		{"anything-but string", `{"detail": {"state": [{"anything-but": "initializing"}]}}`, `{"detail": {"state": "running"}}`, true},
		{"anything-but string equal", `{"detail": {"state": [{"anything-but": "initializing"}]}}`, `{"detail": {"state": "initializing"}}`, false},
		{"anything-but absent", `{"detail": {"state": [{"anything-but": "initializing"}]}}`, `{"detail": {}}`, false},
		{"anything-but number", `{"detail": {"x-limit": [{"anything-but": 123}]}}`, `{"detail": {"x-limit": 124}}`, true},
		{"anything-but number equal", `{"detail": {"x-limit": [{"anything-but": 123}]}}`, `{"detail": {"x-limit": 123}}`, false},
		{"anything-but list", `{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}`, `{"detail": {"state": "overloaded"}}`, false},
		{"anything-but list other", `{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}`, `{"detail": {"state": "running"}}`, true},
		{"anything-but numbers", `{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}`, `{"detail": {"x-limit": 200}}`, false},
		{"anything-but prefix", `{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}`, `{"detail": {"state": "initializing"}}`, false},
		{"anything-but prefix other", `{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}`, `{"detail": {"state": "running"}}`, true},
		{"anything-but prefix region", `{"Region": [{"anything-but": {"prefix": "us-"}}]}`, `{"Region": "eu-west-1"}`, true},
		{"anything-but suffix", `{"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}}`, `{"detail": {"FileName": "notes.txt"}}`, false},
		{"anything-but suffix other", `{"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}}`, `{"detail": {"FileName": "image.png"}}`, true},
		{"anything-but ignore case", `{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}}`, `{"detail": {"state": "STOPPED"}}`, false},
		{"anything-but ignore case other", `{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}}`, `{"detail": {"state": "running"}}`, true},
		{"anything-but wildcard", `{"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}`, `{"detail": {"FilePath": "/usr/lib/x.so"}}`, false},
		{"anything-but wildcard other", `{"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}`, `{"detail": {"FilePath": "/usr/bin/x"}}`, true},

		// Numeric.
		{"numeric ranges", `{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"numeric": ["=", 3.018e2]}]}}`, counts, true},
		{"numeric upper bound excluded", `{"detail": {"c-count": [{"numeric": [">", 0, "<", 5]}]}}`, counts, false},
		{"numeric lower bound", `{"detail": {"c-count": [{"numeric": [">=", 5]}]}}`, counts, true},
		{"numeric on a string", `{"detail": {"c-count": [{"numeric": [">", 0]}]}}`, `{"detail": {"c-count": "5"}}`, false},
		{"number equals by value", `{"detail": {"x-limit": [301.8]}}`, `{"detail": {"x-limit": 3.018e2}}`, true},
		{"number is not a string", `{"detail": {"c-count": ["5"]}}`, counts, false},

		// Exists.
		{"exists true", `{"detail": {"state": [{"exists": true}]}}`, ec2Event, true},
		{"exists true absent", `{"detail": {"state": [{"exists": true}]}}`, `{"detail": {}}`, false},
		{"exists false", `{"detail": {"c-count": [{"exists": false}]}}`, ec2Event, true},
		{"exists false present", `{"detail": {"state": [{"exists": false}]}}`, ec2Event, false},
		{"exists only on leaves", `{"detail": [{"exists": true}]}`, ec2Event, false},
		{"exists false of an object", `{"detail": [{"exists": false}]}`, ec2Event, true},
		{"exists false under an absent object", `{"nothing": {"here": [{"exists": false}]}}`, ec2Event, true},

		// Null and empty values.
		{"null", `{"detail": {"responseElements": [null]}}`, `{"detail": {"eventVersion": "", "responseElements": null}}`, true},
		{"null is not absent", `{"detail": {"responseElements": [null]}}`, `{"detail": {}}`, false},
		{"empty string", `{"detail": {"eventVersion": [""]}}`, `{"detail": {"eventVersion": "", "responseElements": null}}`, true},
		{"empty string is not null", `{"detail": {"responseElements": [""]}}`, `{"detail": {"eventVersion": "", "responseElements": null}}`, false},
		{"boolean", `{"detail": {"ok": [true]}}`, `{"detail": {"ok": true}}`, true},
		{"boolean is not a string", `{"detail": {"ok": ["true"]}}`, `{"detail": {"ok": true}}`, false},

		// Arrays: one element in common is enough.
		{"array intersection", `{"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f", "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}`,
			`{"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f", "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}`, true},
		{"array no intersection", `{"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}`,
			`{"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}`, false},
		{"array of objects", `{"detail": {"items": {"id": [2]}}}`, `{"detail": {"items": [{"id": 1}, {"id": 2}]}}`, true},
		{"empty array exists", `{"detail": {"tags": [{"exists": true}]}}`, `{"detail": {"tags": []}}`, false},

		// CIDR.
		{"cidr", `{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}`, `{"detail": {"sourceIPAddress": "10.0.0.255"}}`, true},
		{"cidr other", `{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}`, `{"detail": {"sourceIPAddress": "10.0.1.1"}}`, false},

		// $or.
		{"$or numeric", `{"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}, {"x-limit": [{"numeric": ["=", 3.018e2]}]}]}}`, `{"detail": {"c-count": 50, "d-count": 9}}`, true},
		{"$or none", `{"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}}`, `{"detail": {"c-count": 50, "d-count": 10}}`, false},
		{"$or with fields", `{"source": ["aws.ec2"], "$or": [{"detail-type": ["EC2 Instance State-change Notification"]}, {"detail": {"state": ["running"]}}]}`, ec2Event, true},
		{"$or and a failing field", `{"source": ["aws.s3"], "$or": [{"detail-type": ["EC2 Instance State-change Notification"]}, {"detail": {"state": ["running"]}}]}`, ec2Event, false},

		// The documentation's example of several filters together.
		{"combined", `{"time": [{"prefix": "2017-10-02"}], "detail": {"state": [{"anything-but": "initializing"}], "c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"anything-but": [100, 200, 300]}]}}`,
			`{"time": "2017-10-02T18:43:48Z", "detail": {"state": "running", "c-count": 5, "d-count": 7, "x-limit": 301.8}}`, true},
		{"combined, one field off", `{"time": [{"prefix": "2017-10-02"}], "detail": {"state": [{"anything-but": "initializing"}], "c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"anything-but": [100, 200, 300]}]}}`,
			`{"time": "2017-10-02T18:43:48Z", "detail": {"state": "running", "c-count": 5, "d-count": 7, "x-limit": 300}}`, false},

		// The translated chat's rules.
		{"translate request", `{"source": ["apollo"], "detail-type": ["ClientMessageReceived"]}`, `{"source": "apollo", "detail-type": "ClientMessageReceived", "detail": {"message": "Good morning", "chatId": "chat"}}`, true},
		{"translate response", `{"detail-type": ["ClientMessageTranslated"]}`, `{"source": "apollo", "detail-type": "ClientMessageReceived", "detail": {"message": "Good morning", "chatId": "chat"}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := pattern.Compile(tt.pattern)
			if err != nil {
				t.Fatalf("Compile(%s): %v", tt.pattern, err)
			}
			got, err := p.MatchJSON([]byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("pattern %s on event %s: matched %v, want %v", tt.pattern, tt.event, got, tt.want)
			}
			// The same event decoded without json.Number.
			var ev map[string]any
			if err := json.Unmarshal([]byte(tt.event), &ev); err != nil {
				t.Fatal(err)
			}
			if got := p.Match(ev); got != tt.want {
				t.Errorf("Match on float64 numbers: %v, want %v", got, tt.want)
			}
		})
	}
}

// TestInvalidPatterns checks that patterns EventBridge refuses are refused,
// with an error naming the place.
func TestInvalidPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct{ pattern, want string }{
		{`[]`, "not a JSON object"},
		{`{"source": "aws.ec2"}`, "source: a field's value must be an object or an array"},
		{`{"source": []}`, "source: an empty array"},
		{`{"detail": {}}`, "detail: an empty object"},
		{`{"source": [["a"]]}`, "source[0]: a matcher cannot be an array"},
		{`{"source": [{"prefix": 1}]}`, "prefix takes a string"},
		{`{"source": [{"prefix": "a", "suffix": "b"}]}`, "exactly one key"},
		{`{"source": [{"unknown": "a"}]}`, `unknown matcher "unknown"`},
		{`{"n": [{"numeric": [">", 1, ">", 2]}]}`, "two lower bounds"},
		{`{"n": [{"numeric": [">", 5, "<", 1]}]}`, "the range is empty"},
		{`{"n": [{"numeric": ["=", 1, "<", 2]}]}`, "= stands alone"},
		{`{"n": [{"numeric": ["!", 1]}]}`, `unknown operator "!"`},
		{`{"n": [{"numeric": [">", 6e9]}]}`, "outside [-5e9, 5e9]"},
		{`{"n": [{"exists": "yes"}]}`, "exists takes true or false"},
		{`{"n": [{"anything-but": ["a", 1]}]}`, "not both"},
		{`{"n": [{"anything-but": {"prefix": ""}}]}`, "non-empty string"},
		{`{"n": [{"anything-but": {"numeric": [">", 1]}}]}`, `unknown matcher "numeric"`},
		{`{"n": [{"wildcard": "a**b"}]}`, "consecutive *"},
		{`{"n": [{"wildcard": "a\\b"}]}`, "escapes only"},
		{`{"n": [{"cidr": "10.0.0.0/99"}]}`, "cidr"},
		{`{"$or": [{"a": ["b"]}]}`, "at least two patterns"},
		{`{"a": ["b"]} {}`, "data after"},
		{`{"a": ["` + strings.Repeat("x", pattern.MaxSize) + `"]}`, "more than 4096"},
	}
	for _, tt := range tests {
		_, err := pattern.Compile(tt.pattern)
		if err == nil {
			t.Errorf("Compile(%.60s) succeeded, want an error containing %q", tt.pattern, tt.want)
			continue
		}
		if !errors.Is(err, pattern.ErrInvalidPattern) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%.60s) = %v, want ErrInvalidPattern containing %q", tt.pattern, err, tt.want)
		}
	}
}

func TestMatchJSONRefusesNonObjects(t *testing.T) {
	t.Parallel()
	p := pattern.MustCompile(`{}`)
	for _, ev := range []string{``, `[]`, `"x"`, `{"a":`, `{} 1`} {
		if _, err := p.MatchJSON([]byte(ev)); !errors.Is(err, pattern.ErrInvalidEvent) {
			t.Errorf("MatchJSON(%q) = %v, want ErrInvalidEvent", ev, err)
		}
	}
}

// FuzzCompile compiles any pattern and matches it against any event: no
// panic, errors wrap the package's sentinels, and the result does not depend
// on how the event's numbers were decoded.
func FuzzCompile(f *testing.F) {
	f.Add(`{"source": ["aws.ec2"], "detail": {"state": [{"anything-but": {"prefix": "init"}}]}}`, ec2Event)
	f.Add(`{"detail": {"$or": [{"c": [{"numeric": [">", 0, "<=", 5]}]}, {"d": [{"exists": false}]}]}}`, `{"detail": {"c": 3, "d": [1, {"e": null}]}}`)
	f.Add(`{"k": [{"wildcard": "a*b\\*c*"}, {"suffix": {"equals-ignore-case": "Ü"}}, {"cidr": "::1/128"}]}`, `{"k": ["axb*cd", "fü", "::1"]}`)
	f.Add(`{"a": {"b": [null, true, 1e2, ""]}}`, `{"a": [{"b": 100}, []]}`)
	f.Fuzz(func(t *testing.T, src, event string) {
		p, err := pattern.Compile(src)
		if err != nil {
			if !errors.Is(err, pattern.ErrInvalidPattern) {
				t.Fatalf("Compile error %v does not wrap ErrInvalidPattern", err)
			}
			return
		}
		if p.String() != src {
			t.Fatalf("String() = %q, want the source", p.String())
		}
		got, err := p.MatchJSON([]byte(event))
		if err != nil {
			if !errors.Is(err, pattern.ErrInvalidEvent) {
				t.Fatalf("MatchJSON error %v does not wrap ErrInvalidEvent", err)
			}
			return
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(event), &ev); err != nil {
			return // numbers beyond float64
		}
		if p.Match(ev) != got {
			t.Fatalf("pattern %s, event %s: Match and MatchJSON disagree", src, event)
		}
	})
}
