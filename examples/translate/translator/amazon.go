package translator

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/translate"
	"github.com/aws/aws-sdk-go-v2/service/translate/types"
)

// TranslateTextAPI is the call of Amazon Translate's client that [Amazon]
// uses; *translate.Client has it.
type TranslateTextAPI interface {
	TranslateText(ctx context.Context, in *translate.TranslateTextInput, optFns ...func(*translate.Options)) (*translate.TranslateTextOutput, error)
}

// Amazon translates with Amazon Translate.
type Amazon struct {
	client TranslateTextAPI
}

var _ Translator = (*Amazon)(nil)

// NewAmazon returns a translator on Amazon Translate's client, such as
// translate.NewFromConfig(cfg). The function's role needs
// translate:TranslateText.
func NewAmazon(client TranslateTextAPI) *Amazon { return &Amazon{client: client} }

// Translate translates text with TranslateText. The service's errors are
// wrapped: UnsupportedLanguagePairException in [ErrUnsupported],
// TooManyRequestsException in [ErrThrottled], ServiceUnavailableException
// and network failures in [ErrUnavailable], TextSizeLimitExceededException
// in [ErrTooLong].
func (a *Amazon) Translate(ctx context.Context, text, from, to string) (string, error) {
	if len(text) > MaxText {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrTooLong, len(text), MaxText)
	}
	out, err := a.client.TranslateText(ctx, &translate.TranslateTextInput{
		Text:               aws.String(text),
		SourceLanguageCode: aws.String(from),
		TargetLanguageCode: aws.String(to),
	})
	if err != nil {
		var (
			unsupported *types.UnsupportedLanguagePairException
			throttled   *types.TooManyRequestsException
			tooLong     *types.TextSizeLimitExceededException
			invalid     *types.InvalidRequestException
		)
		switch {
		case errors.As(err, &unsupported):
			return "", fmt.Errorf("%w: amazon translate: %s to %s: %w", ErrUnsupported, from, to, err)
		case errors.As(err, &throttled):
			return "", fmt.Errorf("%w: amazon translate: %w", ErrThrottled, err)
		case errors.As(err, &tooLong):
			return "", fmt.Errorf("%w: amazon translate: %w", ErrTooLong, err)
		case errors.As(err, &invalid):
			return "", fmt.Errorf("amazon translate: %w", err)
		}
		return "", fmt.Errorf("%w: amazon translate: %w", ErrUnavailable, err)
	}
	return aws.ToString(out.TranslatedText), nil
}
