package emfcheck

import (
	"fmt"
	"strings"
	"testing"
)

// valid is the specification's own example.
const valid = `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"lambda-function-metrics",` +
	`"Dimensions":[["functionVersion"]],"Metrics":[{"Name":"time","Unit":"Milliseconds","StorageResolution":60}]}]},` +
	`"functionVersion":"$LATEST","time":100,"requestId":"989ffbf8-9ace-4817-a57c-e4dd734019ee"}`

func TestValidateAcceptsTheSpecificationsExample(t *testing.T) {
	doc, err := Validate([]byte(valid + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Values["time"]; len(got) != 1 || got[0] != 100 {
		t.Errorf("time = %v, want [100]", got)
	}
	if doc.Dimension("functionVersion") != "$LATEST" || doc.Directives[0].Namespace != "lambda-function-metrics" {
		t.Errorf("document = %+v", doc)
	}
	if doc.Timestamp.UnixMilli() != 1574109732004 {
		t.Errorf("Timestamp = %v", doc.Timestamp)
	}
}

// TestValidateRefuses breaks one rule of the specification per case.
func TestValidateRefuses(t *testing.T) {
	many := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	tests := []struct {
		name, doc, want string
	}{
		{"not JSON", `{"_aws":`, "not a JSON object"},
		{"data after", valid + ` {}`, "data after"},
		{"data before", ` ` + valid, "not a JSON object"},
		{"no _aws", `{"time":1}`, `no "_aws"`},
		{"no Timestamp", `{"_aws":{"CloudWatchMetrics":[]}}`, "Timestamp: missing"},
		{"Timestamp in seconds", `{"_aws":{"Timestamp":1574109732,"CloudWatchMetrics":[]}}`, "plausible"},
		{"Timestamp not integer", `{"_aws":{"Timestamp":1574109732004.5,"CloudWatchMetrics":[]}}`, "not an integer"},
		{"Timestamp string", `{"_aws":{"Timestamp":"1574109732004","CloudWatchMetrics":[]}}`, "Timestamp: missing"},
		{"no CloudWatchMetrics", `{"_aws":{"Timestamp":1574109732004}}`, "CloudWatchMetrics: missing"},
		{"extra _aws member", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[],"X":1}}`, "unknown member"},
		{"no Namespace", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Dimensions":[],"Metrics":[]}]}}`, "Namespace"},
		{"empty Namespace", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"","Dimensions":[],"Metrics":[]}]}}`, "Namespace"},
		{"no Dimensions", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Metrics":[]}]}}`, "Dimensions: missing"},
		{"no Metrics", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[]}]}}`, "Metrics: missing"},
		{"extra directive member", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[],"X":1}]}}`, "unknown member"},
		{"dimension not at root", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Service"]],"Metrics":[]}]}}`, "no such member"},
		{"dimension not a string", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Service"]],"Metrics":[]}]},"Service":1}`, "not a string"},
		{"dimension value too long", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["S"]],"Metrics":[]}]},"S":"` + strings.Repeat("x", 1025) + `"}`, "over 1024"},
		{"31 dimensions", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[` +
			many(31, func(i int) string { return fmt.Sprintf(`"d%d"`, i) }) + `]],"Metrics":[]}]},` +
			many(31, func(i int) string { return fmt.Sprintf(`"d%d":"v"`, i) }) + `}`, "over 30"},
		{"101 metrics", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[` +
			many(101, func(i int) string { return fmt.Sprintf(`{"Name":"m%d"}`, i) }) + `]}]},` +
			many(101, func(i int) string { return fmt.Sprintf(`"m%d":1`, i) }) + `}`, "over 100"},
		{"metric not at root", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"m"}]}]}}`, "no such member"},
		{"metric nested", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"a.b"}]}]},"a":{"b":1}}`, "no such member"},
		{"metric a string", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"m"}]}]},"m":"1"}`, "not a number"},
		{"metric array of strings", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"m"}]}]},"m":[1,"2"]}`, "not a number"},
		{"101 values", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"m"}]}]},"m":[` +
			many(101, func(int) string { return "1" }) + `]}`, "over 100"},
		{"unknown unit", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"m","Unit":"ms"}]}]},"m":1}`, "Unit"},
		{"bad resolution", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"m","StorageResolution":5}]}]},"m":1}`, "StorageResolution"},
		{"extra definition member", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"m","Value":1}]}]},"m":1}`, "unknown member"},
		{"repeated member", `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"m"}]}]},"m":1,"m":2}`, "repeated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(`{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"m"}]}]},"m":[1,2]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Validate(b)
		if err != nil {
			return
		}
		// A valid document's every metric has at most 100 values.
		for name, vs := range doc.Values {
			if len(vs) == 0 || len(vs) > MaxValues {
				t.Fatalf("metric %q: %d values", name, len(vs))
			}
		}
	})
}
