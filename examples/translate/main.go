// Command translate is the translated chat of the AWS sample "Using Apollo
// Server on AWS Lambda with Amazon EventBridge", on gqlambda: a putEvent
// mutation puts a ClientMessageReceived event on an event bus, a processor
// per language translates the message and puts a ClientMessageTranslated
// event, and the response handler (gqlambda's EventBridge handler) delivers
// each translation to the subscribers of that chat.
//
// Run locally, everything runs in one process with no AWS account: the local
// gateway (API Gateway), a local EventBridge bus (localbus, also serving
// EventBridge's API on -bus-addr) and a real translator, Apertium by
// default:
//
//	scripts/apertium install                      # once: Debian's apertium packages
//	go run ./examples/translate                    # Spanish and Catalan, in-memory store
//	go run ./examples/translate -dynamodb http://127.0.0.1:8000
//	go run ./examples/translate -translator amazon -languages fr,de
//
// On Lambda (deploy/translate/template.yaml deploys it), the same binary
// starts the handler that GQLAMBDA_HANDLER names: websocket, http,
// processor (TRANSLATE_LANGUAGE) or response.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/translate"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/examples/translate/translator"
	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		err = runLambda(context.Background(), logger)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = runLocal(ctx, logger, os.Args[1:], os.Stdout)
	}
	if err != nil {
		logger.Error("translate", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

// ErrNoTranslator is the error of a local run without a translator.
var ErrNoTranslator = errors.New("no translator available")

// runLocal serves the translated chat locally until ctx ends.
func runLocal(ctx context.Context, logger *slog.Logger, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("translate", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:4000", "address of the page and the GraphQL endpoints")
	busAddr := flags.String("bus-addr", "127.0.0.1:4010", "address of the local bus's EventBridge endpoint (PutEvents, TestEventPattern)")
	dynamo := flags.String("dynamodb", "", "DynamoDB endpoint (such as DynamoDB Local's http://127.0.0.1:8000); default: the in-memory store")
	which := flags.String("translator", "apertium", "translator: apertium (offline, Debian's packages) or amazon (Amazon Translate, with the AWS configuration of the environment)")
	languages := flags.String("languages", "", "target languages, comma-separated; default es,ca with apertium, fr,de with amazon")
	endpoint := flags.String("translate-endpoint", "", "Amazon Translate endpoint URL (with -translator amazon); default: the region's")
	plain := flags.Bool("plain", true, "let clients that offer no WebSocket subprotocol speak the sample's plain frames")
	if err := flags.Parse(args); err != nil {
		return err
	}
	tr, defaults, err := newTranslator(ctx, *which, *endpoint)
	if err != nil {
		return err
	}
	langs := defaults
	if *languages != "" {
		langs = splitList(*languages)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	busLn, err := net.Listen("tcp", *busAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("bus endpoint: %w", err)
	}
	app, err := StartLocal(ctx, ln, LocalOptions{
		Translator: tr, Languages: langs, DynamoDB: *dynamo, BusListener: busLn, Plain: *plain, Logger: logger,
	})
	if err != nil {
		ln.Close()
		busLn.Close()
		return err
	}
	fmt.Fprintf(stdout, "translate: open %s\n  WebSocket  %s\n  HTTP       %s\n  bus        %s (EventBridge API)\n  translator %s into %s\n",
		app.URL, app.WebSocketURL, app.HTTPURL, app.BusURL, *which, strings.Join(langs, ", "))
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return app.Shutdown(shutdown)
}

// newTranslator builds the translator a local run names, and its default
// languages. A translator that cannot work is an error wrapping
// ErrNoTranslator that says what to do.
func newTranslator(ctx context.Context, which, endpoint string) (translator.Translator, []string, error) {
	switch which {
	case "apertium":
		a, err := translator.NewApertium(ctx, translator.ApertiumOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrNoTranslator, err)
		}
		return a, a.Languages(), nil
	case "amazon":
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: Amazon Translate: %w", ErrNoTranslator, err)
		}
		if cfg.Region == "" {
			return nil, nil, fmt.Errorf("%w: Amazon Translate: no AWS region (set AWS_REGION)", ErrNoTranslator)
		}
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			return nil, nil, fmt.Errorf("%w: Amazon Translate: no AWS credentials: %w", ErrNoTranslator, err)
		}
		client := translate.NewFromConfig(cfg, func(o *translate.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
		})
		return translator.NewAmazon(client), []string{"fr", "de"}, nil
	default:
		return nil, nil, fmt.Errorf("%w: unknown translator %q: want apertium or amazon", ErrNoTranslator, which)
	}
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// runLambda starts the Lambda handler GQLAMBDA_HANDLER names.
func runLambda(ctx context.Context, logger *slog.Logger) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	busName := os.Getenv("BUS_NAME")
	if busName == "" {
		return errors.New("BUS_NAME is not set")
	}
	eb := eventbridge.NewFromConfig(cfg)
	handler := os.Getenv("GQLAMBDA_HANDLER")
	if handler == "processor" {
		lang := os.Getenv("TRANSLATE_LANGUAGE")
		if lang == "" {
			return errors.New("TRANSLATE_LANGUAGE is not set")
		}
		p := &Processor{
			Language: lang, From: os.Getenv("SOURCE_LANGUAGE"),
			Translator: translator.NewAmazon(translate.NewFromConfig(cfg)),
			Bus:        eb, BusName: busName, Logger: logger,
		}
		lambda.Start(p.Handle)
		return nil
	}
	schema, err := newSchema(eb, busName)
	if err != nil {
		return err
	}
	tables := dynamodb.Tables{
		Connections:   os.Getenv("GQLAMBDA_CONNECTIONS_TABLE"),
		Subscriptions: os.Getenv("GQLAMBDA_SUBSCRIPTIONS_TABLE"),
	}
	srv, err := gqlambda.New(gqlambda.Config{
		Engine: graphqlgo.New(schema, nil),
		Store:  dynamodb.New(awsdynamodb.NewFromConfig(cfg), &dynamodb.Options{Tables: tables}),
		// Frames reach clients through the API's @connections endpoint.
		Sender: apigw.New(apigatewaymanagementapi.NewFromConfig(cfg), &apigw.Options{Logger: logger}),
		// The sample's clients send plain frames, with no subprotocol.
		PlainProtocol: true,
		Logger:        logger,
	})
	if err != nil {
		return err
	}
	switch handler {
	case "websocket":
		lambda.Start(srv.WebSocketHandler)
	case "http":
		lambda.Start(srv.HTTPAPIHandler(nil))
	case "response":
		lambda.Start(srv.EventBridgeHandler(translatedMapping))
	default:
		return fmt.Errorf("GQLAMBDA_HANDLER is %q: want websocket, http, processor or response", handler)
	}
	return nil
}
