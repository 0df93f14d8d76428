package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/gqlambda/gqlambda/examples/translate/translator"
	"github.com/gqlambda/gqlambda/store"
)

// Processor is the function of one language: an EventBridge rule on
// ClientMessageReceived events targets it; it translates each message and
// puts a ClientMessageTranslated event with the translation, or, when
// there is none, with a message saying why, so that the chat learns of the
// failure for that language without waiting on it.
type Processor struct {
	// Language is the target language's code ("fr"). Required.
	Language string
	// From is the messages' language; default "en".
	From string
	// Translator translates. Required.
	Translator translator.Translator
	// Bus and BusName are where the translations go. Required.
	Bus     PutEventsAPI
	BusName string
	// Attempts bounds the translations tried when the translator is
	// throttled or unavailable; default 3.
	Attempts int
	// Backoff is the wait before the second attempt, doubled before each
	// next one; default 200 ms.
	Backoff time.Duration
	// Logger receives the logs; default: discard.
	Logger *slog.Logger
}

// Handle is the Lambda handler: lambda.Start(p.Handle). An event that is
// not a ClientMessageReceived detail is logged and dropped (a retry could
// not help). A translation that fails is reported in the event put, not as
// an error. The error, which makes EventBridge (and the local bus) deliver
// the event again, is only that of putting the translation on the bus.
func (p *Processor) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	log := p.logger().With(slog.String("language", p.Language), slog.String("event_id", ev.ID))
	var in Received
	if err := json.Unmarshal(ev.Detail, &in); err != nil || checkChatID(in.ChatID) != nil || in.Message == "" {
		log.Error("dropped an event that is not a message", slog.String("detail_type", ev.DetailType))
		return nil
	}
	out := Translated{ChatID: in.ChatID, Language: p.Language, Original: in.Message, RequestID: ev.ID}
	text, err := p.translate(ctx, in.Message)
	if err != nil {
		log.Warn("no translation", slog.String("error", err.Error()))
		out.Error = failure(err)
		out.Message = fmt.Sprintf("[%s] %s", languageName(p.Language), out.Error)
	} else {
		out.Message = text
	}
	detail, err := json.Marshal(out)
	if err != nil {
		return err
	}
	res, err := p.Bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(p.BusName),
		Source:       aws.String(SourceTranslate),
		DetailType:   aws.String(DetailTypeTranslated),
		Detail:       aws.String(string(detail)),
	}}})
	if err != nil {
		return fmt.Errorf("put the %s translation: %w", p.Language, err)
	}
	if res.FailedEntryCount > 0 && len(res.Entries) > 0 {
		return fmt.Errorf("put the %s translation: %s: %s", p.Language, aws.ToString(res.Entries[0].ErrorCode), aws.ToString(res.Entries[0].ErrorMessage))
	}
	return nil
}

func (p *Processor) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

// translate translates, trying again while the translator is throttled or
// unavailable, within Attempts and ctx.
func (p *Processor) translate(ctx context.Context, text string) (string, error) {
	from := p.From
	if from == "" {
		from = "en"
	}
	attempts, wait := p.Attempts, p.Backoff
	if attempts <= 0 {
		attempts = 3
	}
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	for n := 1; ; n++ {
		out, err := p.Translator.Translate(ctx, text, from, p.Language)
		transient := errors.Is(err, translator.ErrThrottled) || errors.Is(err, translator.ErrUnavailable)
		if err == nil || !transient || n == attempts {
			return out, err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", err
		}
		wait *= 2
	}
}

// failure says to the chat's users why a translation failed, without the
// translator's internals.
func failure(err error) string {
	switch {
	case errors.Is(err, translator.ErrUnsupported):
		return "no translation: the translator does not translate into this language"
	case errors.Is(err, translator.ErrThrottled):
		return "no translation: the translator is busy (throttled); send the message again later"
	case errors.Is(err, translator.ErrUnavailable):
		return "no translation: the translator is unavailable"
	case errors.Is(err, translator.ErrTooLong):
		return "no translation: the message is too long to translate"
	default:
		return "no translation: the translation failed"
	}
}

// languageName names the languages of the sample and of Apertium's pairs.
func languageName(code string) string {
	if name, ok := map[string]string{"fr": "French", "de": "German", "es": "Spanish", "ca": "Catalan", "en": "English", "it": "Italian", "pt": "Portuguese"}[code]; ok {
		return name
	}
	return strings.ToUpper(code)
}

// translatedMapping maps a ClientMessageTranslated event to the event of
// its chat's topic, for the response handler (gqlambda's EventBridge
// handler): the detail is the payload, and the request's id with the
// language is the event's id, so that a translation delivered again (by
// EventBridge's retries, or a processor that ran twice) reaches each
// subscriber once.
func translatedMapping(ev events.EventBridgeEvent) ([]store.Event, error) {
	var t Translated
	if err := json.Unmarshal(ev.Detail, &t); err != nil {
		return nil, fmt.Errorf("%w: the detail is not a translation: %w", store.ErrInvalidEvent, err)
	}
	if err := checkChatID(t.ChatID); err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalidEvent, err)
	}
	id := ev.ID
	if t.RequestID != "" && t.Language != "" {
		id = t.RequestID + "/" + t.Language
	}
	return []store.Event{{ID: id, Topic: ChatTopic(t.ChatID), Payload: ev.Detail, PublishedAt: ev.Time}}, nil
}
