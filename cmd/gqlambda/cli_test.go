package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// testCLI returns a cli whose streams are buffers and whose environment is
// env.
func testCLI(env map[string]string, stdin string) (cli, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return cli{
		stdout: &stdout,
		stderr: &stderr,
		stdin:  strings.NewReader(stdin),
		getenv: func(k string) string { return env[k] },
	}, &stdout, &stderr
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // a substring of stdout; empty: stdout is empty
		stderr     string // a substring of stderr; empty: stderr is empty
		stderrHint string // the usage hint on stderr
	}{
		{name: "no command", args: nil, code: exitUsage, stderr: "gqlambda: no command given", stderrHint: "Run 'gqlambda help' for usage."},
		{name: "unknown command", args: []string{"deploy"}, code: exitUsage, stderr: `gqlambda: unknown command "deploy"`},
		{name: "help", args: []string{"help"}, code: exitOK, stdout: "tables describe  describe the tables"},
		{name: "-h", args: []string{"-h"}, code: exitOK, stdout: "Commands:"},
		{name: "--help", args: []string{"--help"}, code: exitOK, stdout: "Commands:"},
		{name: "help gateway", args: []string{"help", "gateway"}, code: exitOK, stdout: "usage: gqlambda gateway -lambda URL"},
		{name: "help tables", args: []string{"help", "tables"}, code: exitOK, stdout: "usage: gqlambda tables <create|describe>"},
		{name: "help tables create", args: []string{"help", "tables", "create"}, code: exitOK, stdout: "-prefix prefix"},
		{name: "help publish", args: []string{"help", "publish"}, code: exitOK, stdout: "-events-table name"},
		{name: "help unknown", args: []string{"help", "deploy"}, code: exitUsage, stderr: `unknown command "deploy"`},
		{name: "gateway -h", args: []string{"gateway", "-h"}, code: exitOK, stdout: "-concurrency int"},
		{name: "gateway without -lambda", args: []string{"gateway"}, code: exitUsage, stderr: "gqlambda gateway: -lambda is required", stderrHint: "Run 'gqlambda help gateway' for usage."},
		{name: "gateway unknown flag", args: []string{"gateway", "-lambda", "http://127.0.0.1:9000", "-port", "1"}, code: exitUsage, stderr: "gqlambda gateway: flag provided but not defined: -port"},
		{name: "gateway bad -lambda", args: []string{"gateway", "-lambda", "127.0.0.1:9000"}, code: exitUsage, stderr: "-lambda: "},
		{name: "gateway bad -http-lambda", args: []string{"gateway", "-lambda", "http://127.0.0.1:9000", "-http-lambda", "ftp://x"}, code: exitUsage, stderr: "-http-lambda: "},
		{name: "gateway argument", args: []string{"gateway", "-lambda", "http://127.0.0.1:9000", "extra"}, code: exitUsage, stderr: `unexpected argument "extra"`},
		{name: "gateway negative concurrency", args: []string{"gateway", "-lambda", "http://127.0.0.1:9000", "-concurrency", "-1"}, code: exitUsage, stderr: "-concurrency is -1"},
		{name: "gateway bad log level", args: []string{"gateway", "-lambda", "http://127.0.0.1:9000", "-log-level", "loud"}, code: exitUsage, stderr: `invalid value "loud" for flag -log-level`},
		{name: "gateway empty stage", args: []string{"gateway", "-lambda", "http://127.0.0.1:9000", "-stage", ""}, code: exitUsage, stderr: "empty -stage"},
		{name: "gateway missing static", args: []string{"gateway", "-lambda", "http://127.0.0.1:9000", "-addr", "127.0.0.1:0", "-static", "/nonexistent/folder"}, code: exitError, stderr: "gqlambda: -static /nonexistent/folder is not a folder"},
		{name: "tables", args: []string{"tables"}, code: exitUsage, stderr: "gqlambda tables: no subcommand given", stderrHint: "Run 'gqlambda help tables' for usage."},
		{name: "tables -h", args: []string{"tables", "-h"}, code: exitOK, stdout: "create    create the tables"},
		{name: "tables unknown", args: []string{"tables", "drop"}, code: exitUsage, stderr: `unknown subcommand "drop"`},
		{name: "tables create argument", args: []string{"tables", "create", "x"}, code: exitUsage, stderr: `gqlambda tables create: unexpected argument "x"`, stderrHint: "Run 'gqlambda help tables create' for usage."},
		{name: "tables create bad -dynamodb", args: []string{"tables", "create", "-dynamodb", "localhost:8000"}, code: exitUsage, stderr: "-dynamodb: "},
		{name: "tables describe unknown flag", args: []string{"tables", "describe", "-table", "x"}, code: exitUsage, stderr: "flag provided but not defined: -table"},
		{name: "publish without topic", args: []string{"publish"}, code: exitUsage, stderr: "gqlambda publish: no topic given"},
		{name: "publish empty topic", args: []string{"publish", ""}, code: exitUsage, stderr: "empty topic"},
		{name: "publish bad JSON", args: []string{"publish", "T", "{nope"}, code: exitUsage, stderr: "the payload is not JSON"},
		{name: "publish too many arguments", args: []string{"publish", "T", "1", "2"}, code: exitUsage, stderr: `unexpected argument "2" after the payload`},
		{name: "publish empty table", args: []string{"publish", "-events-table", "", "T"}, code: exitUsage, stderr: "empty -events-table"},
		{name: "publish bad -dynamodb", args: []string{"publish", "-dynamodb", "x", "T"}, code: exitUsage, stderr: "-dynamodb: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, stdout, stderr := testCLI(nil, "")
			if code := c.run(t.Context(), tt.args); code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			check := func(stream string, got *bytes.Buffer, want string) {
				t.Helper()
				if want == "" && got.Len() > 0 {
					t.Errorf("%s = %q, want nothing", stream, got)
				}
				if !strings.Contains(got.String(), want) {
					t.Errorf("%s = %q, want it to contain %q", stream, got, want)
				}
			}
			check("stdout", stdout, tt.stdout)
			check("stderr", stderr, tt.stderr)
			if tt.stderrHint != "" && !strings.HasSuffix(stderr.String(), tt.stderrHint+"\n") {
				t.Errorf("stderr = %q, want it to end with %q", stderr, tt.stderrHint)
			}
		})
	}
}

func TestParseGateway(t *testing.T) {
	const url = "http://127.0.0.1:9000"
	tests := []struct {
		name string
		args []string
		want gatewayOptions
	}{
		{
			name: "defaults",
			args: []string{"-lambda", url},
			want: gatewayOptions{addr: "127.0.0.1:4000", stage: "local", lambdaURL: url, function: "function", concurrency: 1, logLevel: slog.LevelInfo},
		},
		{
			name: "every flag",
			args: []string{"-addr", ":0", "-stage", "dev", "-lambda", url, "-function", "ws", "-http-function", "api",
				"-http-lambda", "http://127.0.0.1:9100", "-static", "web", "-concurrency", "0", "-log-level", "debug"},
			want: gatewayOptions{addr: ":0", stage: "dev", lambdaURL: url, function: "ws", httpFunction: "api",
				httpLambda: "http://127.0.0.1:9100", static: "web", concurrency: 0, logLevel: slog.LevelDebug},
		},
		{
			name: "-http-function alone uses -lambda's URL",
			args: []string{"-lambda", url, "-http-function", "api"},
			want: gatewayOptions{addr: "127.0.0.1:4000", stage: "local", lambdaURL: url, function: "function",
				httpFunction: "api", httpLambda: url, concurrency: 1, logLevel: slog.LevelInfo},
		},
		{
			name: "-http-lambda alone names the function function",
			args: []string{"-lambda", url, "-http-lambda", "http://127.0.0.1:9100"},
			want: gatewayOptions{addr: "127.0.0.1:4000", stage: "local", lambdaURL: url, function: "function",
				httpFunction: "function", httpLambda: "http://127.0.0.1:9100", concurrency: 1, logLevel: slog.LevelInfo},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := testCLI(nil, "")
			got, err := c.parseGateway(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("options\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePublish(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		stdin        string
		wantTopic    string
		wantPayload  string // empty: no payload
		wantComplete bool
		wantTable    string
	}{
		{name: "topic only", args: []string{"T"}, wantTopic: "T", wantTable: "gqlambda-events"},
		{name: "payload", args: []string{"T", ` {"a": 1} `}, wantTopic: "T", wantPayload: `{"a": 1}`, wantTable: "gqlambda-events"},
		{name: "payload from stdin", args: []string{"-events-table", "ev", "T", "-"}, stdin: "\n[1, 2]\n", wantTopic: "T", wantPayload: "[1, 2]", wantTable: "ev"},
		{name: "complete all", args: []string{"-complete", "T"}, wantTopic: "T", wantComplete: true, wantTable: "gqlambda-events"},
		{name: "complete some", args: []string{"-complete", "T", `"x"`}, wantTopic: "T", wantPayload: `"x"`, wantComplete: true, wantTable: "gqlambda-events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := testCLI(nil, tt.stdin)
			o, err := c.parsePublish(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if o.topic != tt.wantTopic || string(o.payload) != tt.wantPayload || o.complete != tt.wantComplete || o.table != tt.wantTable {
				t.Errorf("got topic %q payload %q complete %v table %q, want %q %q %v %q",
					o.topic, o.payload, o.complete, o.table, tt.wantTopic, tt.wantPayload, tt.wantComplete, tt.wantTable)
			}
			if tt.wantPayload == "" && o.payload != nil {
				t.Errorf("payload = %q, want none", o.payload)
			}
			if o.payload != nil && !json.Valid(o.payload) {
				t.Errorf("payload %q is not JSON", o.payload)
			}
		})
	}
}

func TestDynamoClientRegion(t *testing.T) {
	tests := []struct {
		name string
		flag string
		env  map[string]string
		want string
	}{
		{name: "flag", flag: "eu-west-3", env: map[string]string{"AWS_REGION": "ap-south-1"}, want: "eu-west-3"},
		{name: "environment", env: map[string]string{"AWS_REGION": "ap-south-1"}, want: "ap-south-1"},
		{name: "default", want: "us-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := testCLI(tt.env, "")
			client, err := c.dynamoClient(t.Context(), dynamoFlags{endpoint: "http://127.0.0.1:1", region: tt.flag})
			if err != nil {
				t.Fatal(err)
			}
			if got := client.Options().Region; got != tt.want {
				t.Errorf("region %q, want %q", got, tt.want)
			}
			creds, err := client.Options().Credentials.Retrieve(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if creds.AccessKeyID != "local" {
				t.Errorf("access key %q, want local", creds.AccessKeyID)
			}
		})
	}
}
