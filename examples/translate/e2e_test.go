package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/internal/dynamotest"
)

// expected are Apertium's translations of "Good morning" into the
// languages of the end-to-end runs.
var expected = map[string]string{"es": "Buenos días", "ca": "Bon dia"}

// TestEndToEnd runs the translated chat's end-to-end tests with real
// clients: the npm graphql-ws client (two subscribers of one chat, one of
// another), in memory and on DynamoDB Local, and headless Chromium driving
// the page. They need scripts/test's setup (GQLAMBDA_E2E) and are skipped
// without it.
func TestEndToEnd(t *testing.T) {
	if os.Getenv("GQLAMBDA_E2E") == "" {
		t.Skip("GQLAMBDA_E2E is not set: run the tests through scripts/test, which installs the Node clients, Chromium and Apertium")
	}
	dir, err := e2eRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "graphql-ws")); err != nil {
		t.Fatalf("GQLAMBDA_E2E is set but the Node packages are missing (%v): run scripts/e2e-setup", err)
	}
	tr := apertium(t)
	langs := tr.Languages()
	want := make([]string, len(langs))
	for i, l := range langs {
		want[i] = expected[l]
	}
	wantJSON, _ := json.Marshal(want)

	t.Run("GraphQLWS", func(t *testing.T) {
		for _, sc := range []struct {
			name string
			opts func(t *testing.T) LocalOptions
		}{
			{"memory", func(*testing.T) LocalOptions { return LocalOptions{} }},
			{"dynamodb", func(t *testing.T) LocalOptions {
				_, endpoint := dynamotest.Config(t)
				return LocalOptions{DynamoDB: endpoint, TablePrefix: dynamotest.Prefix(t)}
			}},
		} {
			t.Run(sc.name, func(t *testing.T) {
				opts := sc.opts(t)
				opts.Translator, opts.Languages, opts.Plain = tr, langs, true
				a := start(t, opts)
				out := node(t, dir, []string{"TRANSLATE_WS_URL=" + a.WebSocketURL, "TRANSLATE_EXPECT=" + string(wantJSON)},
					"--test", "--test-reporter=spec", "translate.test.mjs")
				t.Log(out)
			})
		}
	})

	t.Run("Browser", func(t *testing.T) {
		chromium := os.Getenv("CHROMIUM")
		if chromium == "" {
			chromium = "/usr/bin/chromium"
		}
		if _, err := os.Stat(chromium); err != nil {
			t.Fatalf("GQLAMBDA_E2E is set but Chromium is missing (%v): run scripts/e2e-setup", err)
		}
		artifacts := os.Getenv("GQLAMBDA_ARTIFACTS")
		if artifacts == "" {
			artifacts = filepath.Join(dir, "artifacts")
		}
		a := start(t, LocalOptions{Translator: tr, Languages: langs, Plain: true})
		out := node(t, dir, []string{"CHROMIUM=" + chromium}, "translate-browser.mjs", a.URL, artifacts, string(wantJSON))
		t.Log(out)
		for _, name := range []string{"translate-sender.png", "translate-receiver.png"} {
			if fi, err := os.Stat(filepath.Join(artifacts, name)); err != nil || fi.Size() == 0 {
				t.Errorf("screenshot %s missing: %v", name, err)
			}
		}
	})
}

// node runs a Node program of the e2e folder and fails the test with its
// output when it fails.
func node(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// e2eRoot finds the repository's e2e folder from the working directory up.
func e2eRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "e2e", "package.json")); err == nil {
			return filepath.Join(dir, "e2e"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no e2e/package.json above the working directory")
		}
		dir = parent
	}
}
