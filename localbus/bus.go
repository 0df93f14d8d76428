// Package localbus is a local Amazon EventBridge event bus, for local runs
// and tests of applications whose Lambda functions talk through a bus.
//
// It behaves like EventBridge where a client can tell: [Bus.PutEvents]
// (also served over HTTP in EventBridge's own protocol, so aws-sdk-go-v2's
// eventbridge client pointed at it works unchanged) accepts up to 10 entries,
// refuses bad entries one by one with EventBridge's error codes and returns
// an event id for each accepted one; rules match events with EventBridge's
// event patterns (package pattern); each matching rule's target receives the
// event envelope a Lambda function receives (events.EventBridgeEvent: id,
// time, region, account, resources, detail); delivery is asynchronous and at
// least once, a failing target being retried with exponential backoff until
// the rule's retry policy gives up, and then handed to the dead-letter hook.
//
//	bus, _ := localbus.New(localbus.Options{})
//	bus.AddRule(localbus.Rule{Name: "translate", Pattern: `{"detail-type": ["ClientMessageReceived"]}`, Target: translate})
//	srv := httptest.NewServer(bus) // the EventBridge endpoint for aws-sdk-go-v2
//	defer bus.Close(ctx)
//
// A Bus is safe for concurrent use.
package localbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/localbus/pattern"
)

// Limits of PutEvents, as EventBridge's.
const (
	// MaxEntries is the most entries one PutEvents call takes.
	MaxEntries = 10
	// MaxRequestSize is the largest total size of one call's entries, in
	// bytes, counted as EventBridge counts it (Source, DetailType, Detail,
	// Resources and 14 bytes for a Time).
	MaxRequestSize = 256 * 1024
)

// Errors.
var (
	// ErrClosed is returned by PutEvents and AddRule once Close was called.
	ErrClosed = errors.New("localbus: the bus is closed")
	// ErrValidation is wrapped by the error of a PutEvents call that
	// EventBridge would refuse whole (no entries, more than MaxEntries, over
	// MaxRequestSize).
	ErrValidation = errors.New("validation error")
	// ErrThrottled is wrapped by the error of a PutEvents call refused
	// because Options.MaxPending deliveries are pending.
	ErrThrottled = errors.New("localbus: too many deliveries pending")
	// ErrInvalidRule is wrapped by AddRule's errors.
	ErrInvalidRule = errors.New("localbus: invalid rule")
)

// Error codes of refused entries, as EventBridge reports them.
const (
	CodeInvalidArgument  = "InvalidArgument"
	CodeMalformedDetail  = "MalformedDetail"
	CodeNotAuthorized    = "NotAuthorizedForSourceException"
	CodeResourceNotFound = "ResourceNotFoundException"
)

// Target receives the events a rule matched, as a Lambda function that the
// rule targets would. An error (or a panic) fails the attempt: the event is
// delivered again later, within the rule's retry policy. Targets must
// therefore be idempotent, as with EventBridge.
type Target func(ctx context.Context, ev events.EventBridgeEvent) error

// RetryPolicy bounds the delivery of an event to a failing target. The zero
// value takes every default.
type RetryPolicy struct {
	// MaximumRetryAttempts is the number of retries after the first attempt;
	// default 5 (EventBridge's default is 185, over 24 hours). Negative: no
	// retry.
	MaximumRetryAttempts int
	// MaximumEventAge is how long after PutEvents an event may still be
	// retried; default 24 hours, as EventBridge.
	MaximumEventAge time.Duration
	// Backoff is the wait before the first retry, doubled before each next
	// one up to MaxBackoff; default 100 ms.
	Backoff time.Duration
	// MaxBackoff caps the wait between retries; default 5 s (or Backoff,
	// when longer).
	MaxBackoff time.Duration
	// Timeout bounds one attempt (the target's context); default 30 s.
	Timeout time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaximumRetryAttempts == 0 {
		p.MaximumRetryAttempts = 5
	}
	if p.MaximumRetryAttempts < 0 {
		p.MaximumRetryAttempts = 0
	}
	if p.MaximumEventAge <= 0 {
		p.MaximumEventAge = 24 * time.Hour
	}
	if p.Backoff <= 0 {
		p.Backoff = 100 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = max(5*time.Second, p.Backoff)
	}
	if p.Timeout <= 0 {
		p.Timeout = 30 * time.Second
	}
	return p
}

// backoff is the wait before retry n (1-based).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := float64(p.Backoff) * math.Pow(2, float64(n-1))
	if d > float64(p.MaxBackoff) {
		return p.MaxBackoff
	}
	return time.Duration(d)
}

// Rule routes the events its pattern matches to its target.
type Rule struct {
	// Name names the rule, unique on the bus. Required.
	Name string
	// Pattern is the rule's event pattern (EventBridge's JSON). Required.
	Pattern string
	// Target receives the events. Required.
	Target Target
	// Retry is the rule's retry policy; nil: the bus's.
	Retry *RetryPolicy
}

// DeadLetter is an event whose delivery to a rule's target failed for good.
type DeadLetter struct {
	// Rule is the rule's name.
	Rule string
	// Event is the event.
	Event events.EventBridgeEvent
	// Attempts is the number of attempts made.
	Attempts int
	// Err is the last attempt's error.
	Err error
}

// Options configure a bus. The zero value is ready to use.
type Options struct {
	// Name is the bus's name; default "default". PutEvents entries name it
	// in EventBusName (by name or ARN), or leave it empty.
	Name string
	// Region and Account are the envelope's; default us-east-1 and
	// 123456789012.
	Region, Account string
	// Retry is the retry policy of rules that have none.
	Retry RetryPolicy
	// Concurrency bounds the targets running at a time; default 64.
	// Deliveries beyond it wait for their turn.
	Concurrency int
	// MaxPending bounds the deliveries not yet finished (running, waiting
	// for their turn or for a retry); default 10,000. A PutEvents call that
	// would exceed it is refused whole with ErrThrottled, as EventBridge
	// throttles a caller beyond its quota.
	MaxPending int
	// OnDeadLetter, when set, receives each event whose delivery failed for
	// good, as a rule's dead-letter queue would. It must not block long.
	OnDeadLetter func(ctx context.Context, dl DeadLetter)
	// Logger receives the bus's logs; default: discard.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Bus is a local event bus.
type Bus struct {
	opts  Options
	arn   string
	sem   chan struct{}
	base  context.Context
	abort context.CancelFunc

	mu       sync.Mutex
	rules    []*rule
	closed   bool
	inflight int
	idle     chan struct{} // closed when inflight drops to 0
}

type rule struct {
	Rule
	pattern *pattern.Pattern
	retry   RetryPolicy
}

// New returns a bus with no rules.
func New(opts Options) (*Bus, error) {
	if opts.Name == "" {
		opts.Name = "default"
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "123456789012"
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 64
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Retry = opts.Retry.withDefaults()
	base, abort := context.WithCancel(context.Background())
	return &Bus{
		opts:  opts,
		arn:   fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", opts.Region, opts.Account, opts.Name),
		sem:   make(chan struct{}, opts.Concurrency),
		base:  base,
		abort: abort,
	}, nil
}

// Name returns the bus's name, ARN its ARN.
func (b *Bus) Name() string { return b.opts.Name }

// ARN returns the bus's ARN.
func (b *Bus) ARN() string { return b.arn }

// AddRule adds a rule; events put from then on reach its target. An invalid
// pattern, a missing name or target, or a name already used is an error
// wrapping [ErrInvalidRule].
func (b *Bus) AddRule(r Rule) error {
	if r.Name == "" || r.Target == nil {
		return fmt.Errorf("%w: a rule needs a name and a target", ErrInvalidRule)
	}
	p, err := pattern.Compile(r.Pattern)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrInvalidRule, r.Name, err)
	}
	retry := b.opts.Retry
	if r.Retry != nil {
		retry = r.Retry.withDefaults()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	for _, have := range b.rules {
		if have.Name == r.Name {
			return fmt.Errorf("%w: a rule named %s exists", ErrInvalidRule, r.Name)
		}
	}
	b.rules = append(b.rules, &rule{Rule: r, pattern: p, retry: retry})
	return nil
}

// Entry is one event of a PutEvents call (PutEventsRequestEntry).
type Entry struct {
	Source       string
	DetailType   string
	Detail       string
	Resources    []string
	Time         time.Time // zero: the time of the call
	EventBusName string    // empty, the bus's name or its ARN
	TraceHeader  string
}

// ResultEntry is the outcome of one entry: its event id, or an error code
// and message.
type ResultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// PutEventsResult is the outcome of a PutEvents call: one entry per entry
// put, in order, and the number refused.
type PutEventsResult struct {
	Entries          []ResultEntry `json:"Entries"`
	FailedEntryCount int           `json:"FailedEntryCount"`
}

// entrySize is an entry's size as EventBridge counts it.
func entrySize(e Entry) int {
	n := len(e.Source) + len(e.DetailType) + len(e.Detail)
	for _, r := range e.Resources {
		n += len(r)
	}
	if !e.Time.IsZero() {
		n += 14
	}
	return n
}

// PutEvents puts events on the bus. A call EventBridge would refuse whole
// (no entries, more than [MaxEntries], over [MaxRequestSize]) is an error
// wrapping [ErrValidation]; otherwise each entry is accepted, with an event
// id, or refused, with an error code, and the accepted ones are delivered
// asynchronously to the targets of the rules they match: PutEvents does not
// wait for them. A call whose deliveries would exceed Options.MaxPending is
// refused whole with an error wrapping [ErrThrottled].
func (b *Bus) PutEvents(ctx context.Context, entries []Entry) (PutEventsResult, error) {
	if err := ctx.Err(); err != nil {
		return PutEventsResult{}, err
	}
	if len(entries) == 0 || len(entries) > MaxEntries {
		return PutEventsResult{}, fmt.Errorf("%w: %d entries: a call takes 1 to %d", ErrValidation, len(entries), MaxEntries)
	}
	size := 0
	for _, e := range entries {
		size += entrySize(e)
	}
	if size > MaxRequestSize {
		return PutEventsResult{}, fmt.Errorf("%w: total size of the entries in the request is over the limit (%d bytes, at most %d)", ErrValidation, size, MaxRequestSize)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return PutEventsResult{}, ErrClosed
	}
	rules := b.rules
	b.mu.Unlock()

	type delivery struct {
		rule *rule
		ev   events.EventBridgeEvent
	}
	var deliveries []delivery
	res := PutEventsResult{Entries: make([]ResultEntry, len(entries))}
	now := b.opts.Now()
	for i, e := range entries {
		ev, detail, code, msg := b.envelope(e, now)
		if code != "" {
			res.Entries[i] = ResultEntry{ErrorCode: code, ErrorMessage: msg}
			res.FailedEntryCount++
			continue
		}
		res.Entries[i] = ResultEntry{EventID: ev.ID}
		if len(rules) == 0 {
			continue
		}
		matchable := matchable(ev, detail)
		for _, r := range rules {
			if r.pattern.Match(matchable) {
				deliveries = append(deliveries, delivery{r, ev})
			}
		}
	}
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return PutEventsResult{}, ErrClosed
	case b.inflight+len(deliveries) > b.opts.MaxPending:
		b.mu.Unlock()
		return PutEventsResult{}, fmt.Errorf("%w: %d deliveries pending", ErrThrottled, b.inflight)
	}
	b.inflight += len(deliveries)
	b.mu.Unlock()
	for _, d := range deliveries {
		go func() {
			defer b.done()
			b.attempts(d.rule, d.ev, now)
		}()
	}
	return res, nil
}

// envelope checks an entry and builds its event and its decoded detail, or
// returns the error code and message of its refusal.
func (b *Bus) envelope(e Entry, now time.Time) (ev events.EventBridgeEvent, detail map[string]any, code, msg string) {
	switch {
	case e.EventBusName != "" && e.EventBusName != b.opts.Name && e.EventBusName != b.arn:
		return events.EventBridgeEvent{}, nil, CodeResourceNotFound, fmt.Sprintf("Event bus %s does not exist.", e.EventBusName)
	case e.Source == "":
		return events.EventBridgeEvent{}, nil, CodeInvalidArgument, "Parameter Source is not valid. Reason: Source is a required argument."
	case e.DetailType == "":
		return events.EventBridgeEvent{}, nil, CodeInvalidArgument, "Parameter DetailType is not valid. Reason: DetailType is a required argument."
	case e.Detail == "":
		return events.EventBridgeEvent{}, nil, CodeInvalidArgument, "Parameter Detail is not valid. Reason: Detail is a required argument."
	case strings.HasPrefix(e.Source, "aws."):
		return events.EventBridgeEvent{}, nil, CodeNotAuthorized, "Not authorized for the source."
	}
	if err := json.Unmarshal([]byte(e.Detail), &detail); err != nil || detail == nil {
		return events.EventBridgeEvent{}, nil, CodeMalformedDetail, "Detail is malformed."
	}
	t := e.Time
	if t.IsZero() {
		t = now
	}
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	return events.EventBridgeEvent{
		Version:    "0",
		ID:         newID(),
		DetailType: e.DetailType,
		Source:     e.Source,
		AccountID:  b.opts.Account,
		Time:       t.UTC().Truncate(time.Second),
		Region:     b.opts.Region,
		Resources:  resources,
		Detail:     json.RawMessage(e.Detail),
	}, detail, "", ""
}

// matchable is the event as patterns see it: its JSON as encoding/json
// decodes it, with detail the entry's detail decoded by envelope.
func matchable(ev events.EventBridgeEvent, detail map[string]any) map[string]any {
	resources := make([]any, len(ev.Resources))
	for i, r := range ev.Resources {
		resources[i] = r
	}
	return map[string]any{
		"version":     ev.Version,
		"id":          ev.ID,
		"detail-type": ev.DetailType,
		"source":      ev.Source,
		"account":     ev.AccountID,
		// EventBridge writes times to the second, without fraction.
		"time":      ev.Time.UTC().Format("2006-01-02T15:04:05Z"),
		"region":    ev.Region,
		"resources": resources,
		"detail":    detail,
	}
}

// newID returns a random UUID (version 4), the form of EventBridge's ids.
func newID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// done ends a delivery.
func (b *Bus) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inflight--
	if b.inflight == 0 && b.idle != nil {
		close(b.idle)
		b.idle = nil
	}
}

// attempts delivers ev to r's target until it succeeds or r's retry policy
// gives up.
func (b *Bus) attempts(r *rule, ev events.EventBridgeEvent, put time.Time) {
	log := b.opts.Logger.With(slog.String("rule", r.Name), slog.String("event_id", ev.ID))
	var err error
	n := 0
	for {
		n++
		if err = b.attempt(r, ev); err == nil {
			if n > 1 {
				log.Info("delivered after retries", slog.Int("attempts", n))
			}
			return
		}
		if n > r.retry.MaximumRetryAttempts {
			break
		}
		wait := r.retry.backoff(n)
		if b.opts.Now().Add(wait).Sub(put) > r.retry.MaximumEventAge {
			break
		}
		log.Warn("target failed; retrying", slog.Int("attempt", n), slog.Duration("backoff", wait), slog.String("error", err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-b.base.Done():
			t.Stop()
			err = fmt.Errorf("bus closed before retry: %w", err)
			log.Error("delivery abandoned", slog.Int("attempts", n), slog.String("error", err.Error()))
			b.deadLetter(r, ev, n, err)
			return
		}
	}
	log.Error("delivery failed for good", slog.Int("attempts", n), slog.String("error", err.Error()))
	b.deadLetter(r, ev, n, err)
}

func (b *Bus) deadLetter(r *rule, ev events.EventBridgeEvent, n int, err error) {
	if b.opts.OnDeadLetter != nil {
		b.opts.OnDeadLetter(context.WithoutCancel(b.base), DeadLetter{Rule: r.Name, Event: ev, Attempts: n, Err: err})
	}
}

// attempt calls the target once, turning a panic into an error.
func (b *Bus) attempt(r *rule, ev events.EventBridgeEvent) (err error) {
	select {
	case b.sem <- struct{}{}:
		defer func() { <-b.sem }()
	case <-b.base.Done():
		return fmt.Errorf("bus closed: %w", b.base.Err())
	}
	ctx, cancel := context.WithTimeout(b.base, r.retry.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("target panicked: %v", p)
		}
	}()
	return r.Target(ctx, ev)
}

// Drain waits until no delivery is in flight (every event put so far was
// delivered, or given up), or ctx ends.
func (b *Bus) Drain(ctx context.Context) error {
	b.mu.Lock()
	if b.inflight == 0 {
		b.mu.Unlock()
		return nil
	}
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	idle := b.idle
	b.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close refuses new events and waits for the deliveries in flight, as Drain.
// When ctx ends first, deliveries waiting to be retried are given up (to the
// dead-letter hook) and attempts running are cancelled; Close then waits for
// them to return and reports ctx's error.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	err := b.Drain(ctx)
	if err != nil {
		b.abort()
		_ = b.Drain(context.Background())
	}
	b.abort()
	return err
}
