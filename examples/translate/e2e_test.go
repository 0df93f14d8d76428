package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gqlambda/gqlambda/examples/chat/app/apptest"
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
	dir := apptest.E2EDir(t)
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
				out := apptest.Node(t, dir, []string{"TRANSLATE_WS_URL=" + a.WebSocketURL, "TRANSLATE_EXPECT=" + string(wantJSON)},
					"--test", "--test-reporter=spec", "translate.test.mjs")
				t.Log(out)
			})
		}
	})

	t.Run("Browser", func(t *testing.T) {
		chromium := apptest.Chromium(t)
		artifacts := apptest.ArtifactsDir(dir)
		a := start(t, LocalOptions{Translator: tr, Languages: langs, Plain: true})
		out := apptest.Node(t, dir, []string{"CHROMIUM=" + chromium}, "translate-browser.mjs", a.URL, artifacts, string(wantJSON))
		t.Log(out)
		for _, name := range []string{"translate-sender.png", "translate-receiver.png"} {
			if fi, err := os.Stat(filepath.Join(artifacts, name)); err != nil || fi.Size() == 0 {
				t.Errorf("screenshot %s missing: %v", name, err)
			}
		}
	})
}
