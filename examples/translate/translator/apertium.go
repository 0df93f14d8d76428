package translator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// DefaultApertiumModes maps the languages Apertium translates English into,
// with Debian's packages apertium-eng-spa and apertium-eng-cat, to its modes.
var DefaultApertiumModes = map[string]string{"es": "eng-spa", "ca": "eng-cat"}

// ApertiumOptions configure [NewApertium]. The zero value is ready to use.
type ApertiumOptions struct {
	// Command is the apertium program; default "apertium" on the PATH.
	Command string
	// Modes maps a target language code to the Apertium mode translating
	// English into it; default DefaultApertiumModes.
	Modes map[string]string
	// Timeout bounds one translation; default 10 s.
	Timeout time.Duration
}

// Apertium translates with the Apertium command-line program, one process
// per text, the text on a pipe (its wrapper script fails when standard input
// is a socket). It translates from English only.
type Apertium struct {
	command string
	modes   map[string]string
	timeout time.Duration
}

var _ Translator = (*Apertium)(nil)

// waitDelay is how long a run of apertium that was killed at its timeout
// may take to close its output.
const waitDelay = time.Second

// NewApertium finds the apertium program and checks that it has every mode
// opts names. Without the program, or a mode, the error wraps
// [ErrUnavailable] and says what to install.
func NewApertium(ctx context.Context, opts ApertiumOptions) (*Apertium, error) {
	a := &Apertium{command: opts.Command, modes: opts.Modes, timeout: opts.Timeout}
	if a.command == "" {
		a.command = "apertium"
	}
	if a.modes == nil {
		a.modes = DefaultApertiumModes
	}
	if a.timeout <= 0 {
		a.timeout = 10 * time.Second
	}
	path, err := exec.LookPath(a.command)
	if err != nil {
		return nil, fmt.Errorf("%w: %w (install it with scripts/apertium install, or: apt-get install apertium apertium-eng-spa apertium-eng-cat)", ErrUnavailable, err)
	}
	a.command = path
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	list := exec.CommandContext(ctx, a.command, "-l")
	list.WaitDelay = waitDelay
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s -l: %w", ErrUnavailable, a.command, err)
	}
	have := strings.Fields(string(out))
	for lang, mode := range a.modes {
		if !slices.Contains(have, mode) {
			return nil, fmt.Errorf("%w: apertium has no mode %s for %s (install its language pair, such as apertium-eng-spa)", ErrUnavailable, mode, lang)
		}
	}
	return a, nil
}

// Languages returns the target languages, sorted.
func (a *Apertium) Languages() []string {
	langs := make([]string, 0, len(a.modes))
	for l := range a.modes {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	return langs
}

// Translate translates English text into to. Unknown words are left as
// they are.
func (a *Apertium) Translate(ctx context.Context, text, from, to string) (string, error) {
	mode, ok := a.modes[to]
	if from != "en" || !ok {
		return "", fmt.Errorf("%w: apertium: %s to %s", ErrUnsupported, from, to)
	}
	if len(text) > MaxText {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrTooLong, len(text), MaxText)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	// -u: no marks on unknown words. The text goes on a pipe.
	cmd := exec.CommandContext(ctx, a.command, "-u", mode)
	cmd.Stdin = strings.NewReader(text)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// apertium is a script running a pipeline: killing it at the timeout
	// leaves the pipeline's programs holding the output pipes, which Run
	// would wait for. WaitDelay stops waiting for them.
	cmd.WaitDelay = waitDelay
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", fmt.Errorf("%w: apertium %s: %w", ErrUnavailable, mode, ctxErr)
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", fmt.Errorf("%w: apertium %s: %w: %s", ErrUnavailable, mode, err, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("%w: apertium %s: %w", ErrUnavailable, mode, err)
	}
	return strings.TrimSpace(stdout.String()), nil
}
