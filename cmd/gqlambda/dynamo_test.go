package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// dynamoCLI returns a cli for DynamoDB Local (and its endpoint), with an
// environment holding only the region of dynamotest's clients.
func dynamoCLI(t *testing.T, stdin string) (c cli, endpoint string, stdout, stderr *bytes.Buffer) {
	t.Helper()
	cfg, endpoint := dynamotest.Config(t)
	c, stdout, stderr = testCLI(map[string]string{"AWS_REGION": cfg.Region}, stdin)
	return c, endpoint, stdout, stderr
}

func TestTablesCreate(t *testing.T) {
	c, endpoint, stdout, stderr := dynamoCLI(t, "")
	client := dynamotest.Client(t)
	prefix := dynamotest.Prefix(t)
	args := []string{"tables", "create", "-dynamodb", endpoint, "-prefix", prefix}
	// Twice: creating is idempotent.
	for range 2 {
		stdout.Reset()
		if code := c.run(t.Context(), args); code != exitOK {
			t.Fatalf("exit code %d; stderr:\n%s", code, stderr)
		}
	}
	want := "GQLAMBDA_CONNECTIONS_TABLE=" + prefix + "connections\n" +
		"GQLAMBDA_SUBSCRIPTIONS_TABLE=" + prefix + "subscriptions\n" +
		"GQLAMBDA_EVENTS_TABLE=" + prefix + "events\n"
	if stdout.String() != want {
		t.Errorf("stdout\n%s\nwant\n%s", stdout, want)
	}
	for _, suffix := range []string{"connections", "subscriptions", "events"} {
		out, err := client.DescribeTable(t.Context(), &awsdynamodb.DescribeTableInput{TableName: aws.String(prefix + suffix)})
		if err != nil {
			t.Fatalf("table %s: %v", prefix+suffix, err)
		}
		if out.Table.TableStatus != types.TableStatusActive {
			t.Errorf("table %s is %s, want ACTIVE", prefix+suffix, out.Table.TableStatus)
		}
		if hasStream := out.Table.LatestStreamArn != nil; hasStream != (suffix == "events") {
			t.Errorf("table %s has a stream: %v", prefix+suffix, hasStream)
		}
	}

	stdout.Reset()
	if code := c.run(t.Context(), []string{"tables", "describe", "-dynamodb", endpoint, "-prefix", prefix}); code != exitOK {
		t.Fatalf("describe: exit code %d; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TABLE") {
		t.Fatalf("describe printed\n%s", stdout)
	}
	for i, suffix := range []string{"connections", "subscriptions", "events"} {
		f := strings.Fields(lines[i+1])
		if len(f) != 4 || f[0] != prefix+suffix || f[1] != "ACTIVE" || f[2] != "0" || (f[3] == "-") != (suffix != "events") {
			t.Errorf("describe line %q", lines[i+1])
		}
	}
}

func TestTablesDescribeMissing(t *testing.T) {
	c, endpoint, stdout, stderr := dynamoCLI(t, "")
	prefix := dynamotest.Prefix(t)
	if code := c.run(t.Context(), []string{"tables", "describe", "-dynamodb", endpoint, "-prefix", prefix}); code != exitError {
		t.Fatalf("exit code %d, want %d", code, exitError)
	}
	if !strings.Contains(stderr.String(), "describe table "+prefix+"connections") {
		t.Errorf("stderr %q", stderr)
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout %q, want nothing", stdout)
	}
}

func TestPublish(t *testing.T) {
	c, endpoint, stdout, stderr := dynamoCLI(t, `{"from": "stdin"}`)
	client := dynamotest.Client(t)
	prefix := dynamotest.Prefix(t)
	if code := c.run(t.Context(), []string{"tables", "create", "-dynamodb", endpoint, "-prefix", prefix}); code != exitOK {
		t.Fatalf("tables create: exit code %d; stderr:\n%s", code, stderr)
	}
	table := prefix + "events"
	tests := []struct {
		name        string
		args        []string
		topic       string
		wantKind    string
		wantPayload string // empty: no payload attribute
	}{
		{name: "publish", topic: "T1", args: []string{"T1", `{"message": "hi"}`}, wantKind: dynamodb.EventKindPublish, wantPayload: `{"message": "hi"}`},
		{name: "publish without payload", topic: "T2", args: []string{"T2"}, wantKind: dynamodb.EventKindPublish},
		{name: "publish from stdin", topic: "T3", args: []string{"T3", "-"}, wantKind: dynamodb.EventKindPublish, wantPayload: `{"from": "stdin"}`},
		{name: "complete all", topic: "T4", args: []string{"-complete", "T4"}, wantKind: dynamodb.EventKindComplete},
		{name: "complete matching", topic: "T5", args: []string{"-complete", "T5", `{"id": 1}`}, wantKind: dynamodb.EventKindComplete, wantPayload: `{"id": 1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout.Reset()
			args := append([]string{"publish", "-dynamodb", endpoint, "-events-table", table}, tt.args...)
			if code := c.run(t.Context(), args); code != exitOK {
				t.Fatalf("exit code %d; stderr:\n%s", code, stderr)
			}
			id := strings.TrimSpace(stdout.String())
			if id == "" || strings.Contains(id, "\n") {
				t.Fatalf("stdout %q, want the event id", stdout)
			}
			out, err := client.GetItem(t.Context(), &awsdynamodb.GetItemInput{
				TableName:      aws.String(table),
				Key:            map[string]types.AttributeValue{dynamodb.EventAttrID: &types.AttributeValueMemberS{Value: id}},
				ConsistentRead: aws.Bool(true),
			})
			if err != nil {
				t.Fatal(err)
			}
			if out.Item == nil {
				t.Fatalf("no event item %s", id)
			}
			checkEq(t, "topic", str(out.Item[dynamodb.EventAttrTopic]), tt.topic)
			checkEq(t, "kind", str(out.Item[dynamodb.EventAttrKind]), tt.wantKind)
			checkEq(t, "payload", str(out.Item[dynamodb.EventAttrPayload]), tt.wantPayload)
			if _, ok := out.Item[dynamodb.EventAttrPublishedAt].(*types.AttributeValueMemberN); !ok {
				t.Errorf("publishedAt = %#v", out.Item[dynamodb.EventAttrPublishedAt])
			}
			if _, ok := out.Item[dynamodb.EventAttrTTL].(*types.AttributeValueMemberN); !ok {
				t.Errorf("ttl = %#v", out.Item[dynamodb.EventAttrTTL])
			}
		})
	}

	t.Run("missing table", func(t *testing.T) {
		stdout.Reset()
		stderr.Reset()
		code := c.run(t.Context(), []string{"publish", "-dynamodb", endpoint, "-events-table", prefix + "nothing", "T"})
		if code != exitError {
			t.Fatalf("exit code %d, want %d", code, exitError)
		}
		if stdout.Len() > 0 || !strings.Contains(stderr.String(), "put event") || !strings.Contains(stderr.String(), "tables create") {
			t.Errorf("stdout %q, stderr %q", stdout, stderr)
		}
	})
}

// str returns the string of an S attribute, or "".
func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
