package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/localbus"
)

const busUsage = `usage: gqlambda bus [-addr ADDR] [-name NAME] [-retries N] [-print] [-rule 'NAME=URL[#FUNCTION] PATTERN']...

Serve a local EventBridge bus (package localbus): EventBridge's API for
PutEvents and TestEventPattern at ADDR, which aws-sdk-go-v2's eventbridge
client, the AWS CLI (--endpoint-url) and the other SDKs speak, and rules
that invoke Lambda functions through the Lambda Invoke API at URL (the AWS
Lambda Runtime Interface Emulator, sam local start-lambda), as EventBridge
invokes its targets: each event a rule's PATTERN (an EventBridge event
pattern) matches is sent to FUNCTION (default "function", the emulator's
name) as an events.EventBridgeEvent. A failed invocation is retried with
backoff, -retries times, and then logged as given up.

	gqlambda bus -rule 'response=http://127.0.0.1:9000 {"detail-type": ["ClientMessageTranslated"]}'
	aws events put-events --endpoint-url http://127.0.0.1:4010 --entries '[{"Source": "translate",
	  "DetailType": "ClientMessageTranslated", "Detail": "{\"chatId\": \"chat\", \"message\": \"Bonjour\"}"}]'

-print prints every event put on the bus on the standard output, one JSON
line each.
`

// busRule is a parsed -rule.
type busRule struct {
	name, lambdaURL, function, pattern string
}

// busOptions are the flags of bus.
type busOptions struct {
	addr, name  string
	retries     int
	print       bool
	rules       []busRule
	concurrency int
	logLevel    slog.Level
}

// parseBusRule parses NAME=URL[#FUNCTION] PATTERN.
func parseBusRule(s string) (busRule, error) {
	name, rest, ok := strings.Cut(s, "=")
	rest = strings.TrimSpace(rest)
	target, pattern, _ := strings.Cut(rest, " ")
	if !ok || name == "" || target == "" || strings.TrimSpace(pattern) == "" {
		return busRule{}, fmt.Errorf("want NAME=URL[#FUNCTION] PATTERN, not %q", s)
	}
	u, err := url.Parse(target)
	if err != nil {
		return busRule{}, err
	}
	r := busRule{name: name, function: u.Fragment, pattern: strings.TrimSpace(pattern)}
	if r.function == "" {
		r.function = defaultFunction
	}
	u.Fragment = ""
	r.lambdaURL = u.String()
	if err := checkURL(r.lambdaURL); err != nil {
		return busRule{}, err
	}
	return r, nil
}

func (c cli) parseBus(args []string) (busOptions, error) {
	const name = "bus"
	o := busOptions{logLevel: slog.LevelInfo}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:4010", "`address` of the bus's EventBridge API")
	fs.StringVar(&o.name, "name", "default", "the bus's `name` (entries may name it, or its ARN, in EventBusName)")
	fs.IntVar(&o.retries, "retries", 5, "retries of a failed invocation")
	fs.BoolVar(&o.print, "print", false, "print every event put on the bus")
	fs.IntVar(&o.concurrency, "concurrency", 1, "invocations at a time per Invoke API URL (the Runtime Interface Emulator runs one); 0: no limit")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "`level` of the logs on stderr: debug, info, warn or error")
	fs.Func("rule", "a rule: `'NAME=URL[#FUNCTION] PATTERN'` (repeatable)", func(s string) error {
		r, err := parseBusRule(s)
		if err != nil {
			return err
		}
		o.rules = append(o.rules, r)
		return nil
	})
	if err := c.parse(command{name: name, usage: busUsage}, fs, args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, usageErrorf(name, "unexpected argument %q", fs.Arg(0))
	case o.retries < 0:
		return o, usageErrorf(name, "-retries is %d", o.retries)
	case o.concurrency < 0:
		return o, usageErrorf(name, "-concurrency is %d", o.concurrency)
	case o.name == "":
		return o, usageErrorf(name, "empty -name")
	case len(o.rules) == 0 && !o.print:
		return o, usageErrorf(name, "no -rule and no -print: nothing would receive the events")
	}
	return o, nil
}

// bus runs `gqlambda bus` until ctx ends.
func (c cli) bus(ctx context.Context, args []string) error {
	o, err := c.parseBus(args)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: o.logLevel}))
	retries := o.retries
	if retries == 0 {
		retries = -1 // localbus: no retry
	}
	bus, err := localbus.New(localbus.Options{
		Name:   o.name,
		Region: c.region(""),
		Retry:  localbus.RetryPolicy{MaximumRetryAttempts: retries, Timeout: 5 * time.Minute},
		Logger: logger,
		OnDeadLetter: func(_ context.Context, dl localbus.DeadLetter) {
			logger.Error("event given up", slog.String("rule", dl.Rule), slog.String("event_id", dl.Event.ID), slog.Int("attempts", dl.Attempts), slog.String("error", dl.Err.Error()))
		},
	})
	if err != nil {
		return fmt.Errorf("gqlambda: %w", err)
	}
	// One client and one set of slots per Invoke API URL.
	type api struct {
		client lambdaAPI
		slots  chan struct{}
	}
	apis := map[string]api{}
	for _, r := range o.rules {
		a, ok := apis[r.lambdaURL]
		if !ok {
			a = api{newLambdaClient(r.lambdaURL, c.region(""), c.httpClient()), newSlots(o.concurrency)}
			apis[r.lambdaURL] = a
		}
		iv := &invoker{api: a.client, function: r.function, slots: a.slots}
		target := func(ctx context.Context, ev events.EventBridgeEvent) error {
			_, err := iv.invoke(ctx, ev)
			return err
		}
		if err := bus.AddRule(localbus.Rule{Name: r.name, Pattern: r.pattern, Target: target}); err != nil {
			return usageErrorf("bus", "-rule %s: %v", r.name, err)
		}
	}
	if o.print {
		var mu sync.Mutex
		printer := func(_ context.Context, ev events.EventBridgeEvent) error {
			line, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			_, err = fmt.Fprintf(c.stdout, "%s\n", line)
			return err
		}
		// The empty pattern matches every event.
		if err := bus.AddRule(localbus.Rule{Name: "print", Pattern: `{}`, Target: printer}); err != nil {
			return fmt.Errorf("gqlambda: %w", err)
		}
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("gqlambda: %w", err)
	}
	srv := &http.Server{Handler: bus, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(c.stdout, "gqlambda bus %s\n  EventBridge API  http://%s\n", o.name, ln.Addr())
	for _, r := range o.rules {
		fmt.Fprintf(c.stdout, "  rule %-11s %s at %s: %s\n", r.name, r.function, r.lambdaURL, r.pattern)
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("gqlambda: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err = srv.Shutdown(shutdown)
	// Deliveries still waiting for a retry are given up (and logged).
	if cerr := bus.Close(shutdown); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("gqlambda: %w", err)
	}
	return nil
}
