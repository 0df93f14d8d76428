package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/examples/translate/translator"
	"github.com/gqlambda/gqlambda/localbus"
	"github.com/gqlambda/gqlambda/localgateway"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/dynamodb"
	"github.com/gqlambda/gqlambda/store/memory"
)

//go:embed web
var web embed.FS

// The rules' event patterns, the same in deploy/translate/template.yaml.
const (
	// PatternReceived routes the clients' messages to every processor.
	PatternReceived = `{"source": ["apollo"], "detail-type": ["ClientMessageReceived"]}`
	// PatternTranslated routes the translations to the response handler.
	PatternTranslated = `{"source": ["translate"], "detail-type": ["ClientMessageTranslated"]}`
)

// BusName is the local bus's name.
const BusName = "translate"

// LocalOptions configure a local run.
type LocalOptions struct {
	// Translator translates; required: there is no fake translation.
	Translator translator.Translator
	// Languages are the target languages, one processor each. Required.
	Languages []string
	// DynamoDB is the DynamoDB endpoint (DynamoDB Local); empty: the
	// in-memory store.
	DynamoDB string
	// TablePrefix starts the table names on DynamoDB; default
	// "gqlambda-translate-".
	TablePrefix string
	// BusListener is where the bus serves EventBridge's API (PutEvents,
	// TestEventPattern) for the app's own clients and any other; nil: a free
	// loopback port.
	BusListener net.Listener
	// Plain makes clients that offer no subprotocol speak the sample's plain
	// dialect (gqlambda.Config.PlainProtocol).
	Plain bool
	// Retry is the bus's retry policy (its zero value: localbus's defaults,
	// with a 200 ms first backoff).
	Retry localbus.RetryPolicy
	// WrapTarget, when set, wraps the target of each rule ("translate-<lang>"
	// and "response"), as tests do to inject failures.
	WrapTarget func(rule string, target localbus.Target) localbus.Target
	// Logger receives the logs; default: discard.
	Logger *slog.Logger
}

// LocalApp is the translated chat running locally: the local gateway, the
// server, and the bus with a processor per language and the response
// handler.
type LocalApp struct {
	// URL is the page; WebSocketURL and HTTPURL the GraphQL endpoints;
	// BusURL the bus's EventBridge endpoint.
	URL, WebSocketURL, HTTPURL, BusURL string

	// The parts, for tests.
	Server  *gqlambda.Server
	Store   store.Store
	Gateway *localgateway.Gateway
	Bus     *localbus.Bus

	serving *localgateway.Server
	busHTTP *http.Server
	busDone chan struct{}
}

// StartLocal serves the translated chat on ln until Shutdown.
func StartLocal(ctx context.Context, ln net.Listener, opts LocalOptions) (*LocalApp, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Translator == nil {
		return nil, errors.New("translate: no translator")
	}
	if len(opts.Languages) == 0 {
		return nil, errors.New("translate: no languages")
	}
	retry := opts.Retry
	if retry.Backoff == 0 {
		retry.Backoff = 200 * time.Millisecond
	}
	bus, err := localbus.New(localbus.Options{
		Name:   BusName,
		Retry:  retry,
		Logger: logger.With(slog.String("component", "bus")),
		OnDeadLetter: func(_ context.Context, dl localbus.DeadLetter) {
			logger.Error("event given up", slog.String("rule", dl.Rule), slog.String("event_id", dl.Event.ID), slog.Int("attempts", dl.Attempts), slog.String("error", dl.Err.Error()))
		},
	})
	if err != nil {
		return nil, err
	}
	busLn := opts.BusListener
	if busLn == nil {
		if busLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	a := &LocalApp{Bus: bus, BusURL: "http://" + busLn.Addr().String(), busDone: make(chan struct{})}
	a.busHTTP = &http.Server{Handler: bus, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		defer close(a.busDone)
		if err := a.busHTTP.Serve(busLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("bus endpoint stopped", slog.String("error", err.Error()))
		}
	}()
	fail := func(err error) (*LocalApp, error) {
		a.busHTTP.Close()
		<-a.busDone
		_ = bus.Close(context.Background())
		return nil, err
	}

	// The app's EventBridge client, as on AWS, pointed at the local bus.
	eb := eventbridge.New(eventbridge.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(a.BusURL),
	})

	var srv *gqlambda.Server
	var graphQLOverHTTP http.Handler
	files, err := fs.Sub(web, "web")
	if err != nil {
		return fail(err)
	}
	gw, err := localgateway.New(localgateway.Options{
		Handler: func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return srv.WebSocketHandler(ctx, ev)
		},
		HTTP:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { graphQLOverHTTP.ServeHTTP(w, r) }),
		Files:  files,
		Logger: logger,
	})
	if err != nil {
		return fail(err)
	}
	schema, err := newSchema(eb, BusName)
	if err != nil {
		return fail(err)
	}
	cfg := gqlambda.Config{Engine: graphqlgo.New(schema, nil), Sender: gw, Logger: logger, PlainProtocol: opts.Plain}
	if opts.DynamoDB != "" {
		client := awsdynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
			func(o *awsdynamodb.Options) { o.BaseEndpoint = aws.String(opts.DynamoDB) })
		prefix := opts.TablePrefix
		if prefix == "" {
			prefix = "gqlambda-translate-"
		}
		tables := dynamodb.PrefixedTables(prefix)
		if err := dynamodb.CreateTables(ctx, client, tables); err != nil {
			return fail(err)
		}
		cfg.Store = dynamodb.New(client, &dynamodb.Options{Tables: tables})
	} else {
		cfg.Store = memory.New(nil)
	}
	if srv, err = gqlambda.New(cfg); err != nil {
		return fail(err)
	}
	graphQLOverHTTP = srv.HTTPHandler(nil)
	a.Server, a.Store, a.Gateway = srv, cfg.Store, gw

	wrap := opts.WrapTarget
	if wrap == nil {
		wrap = func(_ string, t localbus.Target) localbus.Target { return t }
	}
	for _, lang := range opts.Languages {
		p := &Processor{Language: lang, Translator: opts.Translator, Bus: eb, BusName: BusName, Logger: logger}
		name := "translate-" + lang
		if err := bus.AddRule(localbus.Rule{Name: name, Pattern: PatternReceived, Target: wrap(name, p.Handle)}); err != nil {
			return fail(err)
		}
	}
	// The response handler: gqlambda's EventBridge handler.
	response := srv.EventBridgeHandler(translatedMapping)
	if err := bus.AddRule(localbus.Rule{Name: "response", Pattern: PatternTranslated, Target: wrap("response", response)}); err != nil {
		return fail(err)
	}

	a.serving = gw.Serve(ln)
	a.URL = a.serving.URL + "/"
	a.WebSocketURL = a.serving.WebSocketURL
	a.HTTPURL = a.serving.HTTPURL
	return a, nil
}

// Shutdown waits for the events in flight, then closes every connection and
// stops the bus.
func (a *LocalApp) Shutdown(ctx context.Context) error {
	err := a.Bus.Drain(ctx)
	err = errors.Join(err, a.serving.Shutdown(ctx))
	err = errors.Join(err, a.Bus.Close(ctx))
	if herr := a.busHTTP.Shutdown(ctx); herr != nil {
		err = errors.Join(err, fmt.Errorf("bus endpoint: %w", herr))
	}
	<-a.busDone
	return err
}
