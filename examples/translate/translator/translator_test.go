package translator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/translate"

	"github.com/gqlambda/gqlambda/examples/translate/translator"
)

// apertium returns the real Apertium translator. scripts/test installs it
// (scripts/apertium); without it the test is skipped, unless GQLAMBDA_E2E
// says the setup ran, and then it fails.
func apertium(t *testing.T) *translator.Apertium {
	t.Helper()
	a, err := translator.NewApertium(t.Context(), translator.ApertiumOptions{})
	if err != nil {
		if os.Getenv("GQLAMBDA_E2E") != "" {
			t.Fatalf("GQLAMBDA_E2E is set but Apertium is missing: %v", err)
		}
		t.Skipf("Apertium: %v", err)
	}
	return a
}

// TestApertium translates the blog's "Good morning" with the real Apertium.
func TestApertium(t *testing.T) {
	t.Parallel()
	a := apertium(t)
	if got := strings.Join(a.Languages(), ","); got != "ca,es" {
		t.Errorf("Languages() = %s, want ca,es", got)
	}
	for _, tt := range []struct{ to, want string }{
		{"es", "Buenos días"},
		{"ca", "Bon dia"},
	} {
		got, err := a.Translate(t.Context(), "Good morning", "en", tt.to)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("Translate(Good morning, %s) = %q, want %q", tt.to, got, tt.want)
		}
	}
	// Text that a shell would read: it goes on a pipe, untouched.
	got, err := a.Translate(t.Context(), "$(echo hacked) `id` 'quoted'", "en", "es")
	if err != nil || strings.Contains(got, "uid=") || !strings.Contains(got, "$(") || !strings.Contains(got, "`id`") {
		t.Errorf("Translate of shell syntax = %q, %v", got, err)
	}
	if _, err := a.Translate(t.Context(), "Good morning", "en", "fr"); !errors.Is(err, translator.ErrUnsupported) {
		t.Errorf("to fr: %v, want ErrUnsupported", err)
	}
	if _, err := a.Translate(t.Context(), "Bon dia", "ca", "es"); !errors.Is(err, translator.ErrUnsupported) {
		t.Errorf("from ca: %v, want ErrUnsupported", err)
	}
	if _, err := a.Translate(t.Context(), strings.Repeat("a", translator.MaxText+1), "en", "es"); !errors.Is(err, translator.ErrTooLong) {
		t.Errorf("long text: %v, want ErrTooLong", err)
	}
}

// TestApertiumUnavailable checks the errors when Apertium is missing or
// broken.
func TestApertiumUnavailable(t *testing.T) {
	t.Parallel()
	if _, err := translator.NewApertium(t.Context(), translator.ApertiumOptions{Command: "no-such-apertium"}); !errors.Is(err, translator.ErrUnavailable) || !strings.Contains(err.Error(), "scripts/apertium install") {
		t.Errorf("missing program: %v, want ErrUnavailable saying how to install it", err)
	}
	apertium(t) // the real one, for the mode check below
	if _, err := translator.NewApertium(t.Context(), translator.ApertiumOptions{Modes: map[string]string{"fr": "eng-fra"}}); !errors.Is(err, translator.ErrUnavailable) || !strings.Contains(err.Error(), "eng-fra") {
		t.Errorf("missing mode: %v, want ErrUnavailable naming it", err)
	}
	// A program that lists the mode and then fails, as a broken install.
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	script := dir + "/apertium"
	if err := os.WriteFile(script, []byte("#!/bin/sh\nif [ \"$1\" = -l ]; then echo eng-spa; exit 0; fi\necho 'Error: broken' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	broken, err := translator.NewApertium(t.Context(), translator.ApertiumOptions{Command: script, Modes: map[string]string{"es": "eng-spa"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broken.Translate(t.Context(), "Good morning", "en", "es"); !errors.Is(err, translator.ErrUnavailable) || !strings.Contains(err.Error(), "broken") {
		t.Errorf("failing program: %v, want ErrUnavailable with its message", err)
	}
	slow := dir + "/slow"
	if err := os.WriteFile(slow, []byte("#!/bin/sh\nif [ \"$1\" = -l ]; then echo eng-spa; exit 0; fi\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hung, err := translator.NewApertium(t.Context(), translator.ApertiumOptions{Command: slow, Modes: map[string]string{"es": "eng-spa"}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := hung.Translate(t.Context(), "Good morning", "en", "es"); !errors.Is(err, translator.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung program: %v, want ErrUnavailable after the timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the timeout took %v", d)
	}
	// A hung pipeline, as apertium's wrapper script runs: killing the
	// script leaves its child holding the output pipe.
	pipeline := dir + "/pipeline"
	if err := os.WriteFile(pipeline, []byte("#!/bin/sh\nif [ \"$1\" = -l ]; then echo eng-spa; exit 0; fi\nsleep 30 | cat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hungPipeline, err := translator.NewApertium(t.Context(), translator.ApertiumOptions{Command: pipeline, Modes: map[string]string{"es": "eng-spa"}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := hungPipeline.Translate(t.Context(), "Good morning", "en", "es"); !errors.Is(err, translator.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung pipeline: %v, want ErrUnavailable after the timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the timeout of a hung pipeline took %v", d)
	}
}

// amazonServer speaks Amazon Translate's JSON protocol (AWS JSON 1.1,
// X-Amz-Target AWSShineFrontendService_20170701.TranslateText), checking
// the shape of each request, and answers by target language.
func amazonServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fail := func(status int, code, msg string) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
		}
		problems := []string{}
		if r.Method != http.MethodPost || r.URL.Path != "/" {
			problems = append(problems, "request "+r.Method+" "+r.URL.Path)
		}
		if got := r.Header.Get("X-Amz-Target"); got != "AWSShineFrontendService_20170701.TranslateText" {
			problems = append(problems, "X-Amz-Target "+got)
		}
		if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
			problems = append(problems, "Content-Type "+got)
		}
		if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/") || !strings.Contains(auth, "/eu-west-1/translate/aws4_request") {
			problems = append(problems, "Authorization "+auth)
		}
		body, _ := io.ReadAll(r.Body)
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			problems = append(problems, "body "+string(body))
		}
		for _, k := range []string{"Text", "SourceLanguageCode", "TargetLanguageCode"} {
			if _, ok := in[k].(string); !ok {
				problems = append(problems, "no "+k+" in "+string(body))
			}
		}
		if len(in) != 3 {
			problems = append(problems, "unexpected fields in "+string(body))
		}
		if len(problems) > 0 {
			t.Errorf("TranslateText request: %v", problems)
			fail(400, "ValidationException", strings.Join(problems, "; "))
			return
		}
		switch to := in["TargetLanguageCode"].(string); to {
		case "xx":
			fail(400, "UnsupportedLanguagePairException", "Unsupported language pair: en to xx.")
		case "tt":
			fail(400, "TooManyRequestsException", "Rate exceeded")
		case "down":
			fail(503, "ServiceUnavailableException", "Service unavailable")
		default:
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			_ = json.NewEncoder(w).Encode(map[string]string{
				"TranslatedText":     map[string]string{"fr": "Bonjour", "de": "Guten Morgen"}[to],
				"SourceLanguageCode": in["SourceLanguageCode"].(string),
				"TargetLanguageCode": to,
			})
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// TestAmazon drives Amazon Translate's client path against a local server
// that speaks its protocol: the request's shape, the translation, and each
// error the service answers mapped to the package's sentinels.
func TestAmazon(t *testing.T) {
	t.Parallel()
	srv, calls := amazonServer(t)
	client := translate.New(translate.Options{
		Region:           "eu-west-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint:     aws.String(srv.URL),
		RetryMaxAttempts: 1,
	})
	a := translator.NewAmazon(client)
	for _, tt := range []struct{ to, want string }{{"fr", "Bonjour"}, {"de", "Guten Morgen"}} {
		got, err := a.Translate(t.Context(), "Good morning", "en", tt.to)
		if err != nil || got != tt.want {
			t.Errorf("Translate(Good morning, %s) = %q, %v; want %q", tt.to, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		to   string
		want error
	}{
		{"xx", translator.ErrUnsupported},
		{"tt", translator.ErrThrottled},
		{"down", translator.ErrUnavailable},
	} {
		if _, err := a.Translate(t.Context(), "Good morning", "en", tt.to); !errors.Is(err, tt.want) {
			t.Errorf("to %s: %v, want %v", tt.to, err, tt.want)
		}
	}
	before := calls.Load()
	if _, err := a.Translate(t.Context(), strings.Repeat("a", translator.MaxText+1), "en", "fr"); !errors.Is(err, translator.ErrTooLong) {
		t.Errorf("long text: %v, want ErrTooLong", err)
	}
	if calls.Load() != before {
		t.Error("a text over the limit was sent")
	}
	// A service that cannot be reached.
	srv.Close()
	if _, err := a.Translate(t.Context(), "Good morning", "en", "fr"); !errors.Is(err, translator.ErrUnavailable) {
		t.Errorf("closed server: %v, want ErrUnavailable", err)
	}
}
