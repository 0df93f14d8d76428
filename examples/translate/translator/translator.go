// Package translator translates the translated chat's messages: with
// Amazon Translate on AWS (aws-sdk-go-v2), and locally with Apertium, a
// machine translator that runs offline (Debian's apertium packages). Both
// stand behind the one-method [Translator] interface that the chat's
// processors use.
package translator

import (
	"context"
	"errors"
)

// Translator translates text from one language to another, by ISO 639-1
// codes ("en", "es"). Implementations are safe for concurrent use.
type Translator interface {
	Translate(ctx context.Context, text, from, to string) (string, error)
}

// Errors of translators, wrapped with the details, for callers to tell the
// causes apart.
var (
	// ErrUnsupported: the translator has no such language pair.
	ErrUnsupported = errors.New("unsupported language pair")
	// ErrUnavailable: the translator cannot be reached or run.
	ErrUnavailable = errors.New("translator unavailable")
	// ErrThrottled: the translator refused the request for its rate; it may
	// succeed later.
	ErrThrottled = errors.New("translator throttled")
	// ErrTooLong: the text is longer than the translator takes.
	ErrTooLong = errors.New("text too long to translate")
)

// MaxText is the longest text, in bytes, that the translators take: Amazon
// Translate's limit for TranslateText.
const MaxText = 10000
