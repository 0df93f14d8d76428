// Command gqlambda runs gqlambda applications locally, as they run on AWS,
// and manages their DynamoDB tables.
//
// Usage:
//
//	gqlambda gateway -lambda URL [flags]           serve a local API Gateway WebSocket API
//	gqlambda tables create [flags]                 create the tables
//	gqlambda tables describe [flags]               describe them
//	gqlambda publish [flags] TOPIC [JSON | -]      write an event to the events table
//	gqlambda bus [flags] -rule 'NAME=URL PATTERN'  serve a local EventBridge bus (see bus.go)
//	gqlambda sqs serve|redrive [flags]             serve a local SQS endpoint; move a DLQ back (see sqs.go)
//	gqlambda help [COMMAND]                        print the usage
//
// Flags come before the arguments. `gqlambda help COMMAND` and
// `gqlambda COMMAND -h` print a command's flags. The exit code is 0 on
// success, 1 when the command failed and 2 for a usage error.
//
// # gateway
//
// gateway emulates an API Gateway WebSocket API (see the localgateway
// package) in front of a Lambda function reached through the Lambda Invoke
// API at -lambda: the AWS Lambda Runtime Interface Emulator running the
// function's bootstrap, `sam local start-lambda`, or any other implementation
// of that API. Each $connect, $default and $disconnect event is sent to the
// function with a RequestResponse Invoke, and its answer is the
// events.APIGatewayProxyResponse API Gateway expects. A failed invocation (an
// Invoke error, or a function error) fails the integration as on AWS: the
// handshake is refused with 500, or the client receives API Gateway's
// {"message": "Internal server error", ...}.
//
// With -http-function or -http-lambda, the requests to /graphql that are not
// WebSocket handshakes go to a second function, as an API Gateway HTTP API
// (payload format 2.0, events.APIGatewayV2HTTPRequest) would send them, and
// its events.APIGatewayV2HTTPResponse is written back. -static serves a
// folder at "/".
//
// With -authorizer-function (and -authorizer-lambda), a Lambda REQUEST
// authorizer function runs before each $connect and HTTP request, with API
// Gateway's semantics (localgateway.Authorizer): 401 without the identity
// sources or for an "Unauthorized" error, 403 for a policy that does not
// allow, and the allowed caller's principal and context in the events.
//
// The function sends frames to its clients through the @connections API.
// The events carry the address the client connected to as domainName (such as
// 127.0.0.1:4000) and the stage (-stage, default "local"); gqlambda's Server
// derives from a loopback domainName the endpoint http://127.0.0.1:4000/local,
// which the gateway serves. A function written with another library must
// post to that endpoint, http://{domainName}/{stage}, signed with the keys in
// the gateway's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any signature
// when they are unset: a development mode the gateway warns of). The function must reach the
// gateway at that address: run the emulator on the same host (or, in a
// container, on the host's network).
//
// The Runtime Interface Emulator runs one invocation at a time and fails when
// it is given a second one meanwhile, so by default the gateway sends one
// invocation at a time to each Invoke API URL (-concurrency 1). The messages of one
// connection are always handled in order; those of different connections
// wait for each other. Raise -concurrency for an Invoke API that takes
// concurrent invocations. The Runtime Interface Emulator also drops the
// X-Amz-Function-Error header, so a payload {"errorMessage": ..., "errorType":
// ...} is taken for a function error too.
//
// A local run of the chat example (examples/chat) from the root of this
// module, whose tool dependencies include the emulator, with DynamoDB Local
// at http://127.0.0.1:8000 (scripts/dynamodb-local serve 8000):
//
//	go run ./examples/chat -dynamodb http://127.0.0.1:8000 # once: creates every table, the chat's messages too; then stop it
//	go build -o bootstrap ./examples/chat
//	GQLAMBDA_HANDLER=websocket CHAT_MESSAGES_TABLE=gqlambda-chat-messages \
//	AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
//	AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 \
//	  go tool aws-lambda-rie --runtime-interface-emulator-address 127.0.0.1:9000 \
//	    --runtime-api-address 127.0.0.1:9001 ./bootstrap &
//	gqlambda gateway -lambda http://127.0.0.1:9000
//
// The functions of other applications need their tables only: `gqlambda
// tables create`. The emulator serves one function, named "function" (the
// default of -function and -http-function): run one emulator per function
// (GQLAMBDA_HANDLER=http for -http-lambda), each with its own two addresses.
// Subscriptions receive events once the stream handlers run: the chat's
// (GQLAMBDA_HANDLER=stream for the events table's stream, messages for the
// change data capture of its messages table) are invoked on AWS by the event
// source mappings of those streams, which nothing emulates here (see
// store/dynamodb/streams for a poller).
//
// # tables
//
// `tables create` creates the connections, subscriptions and events tables of
// store/dynamodb (dynamodb.CreateTables: idempotent, with Time to Live and the
// events table's stream) named PREFIX+"connections", PREFIX+"subscriptions"
// and PREFIX+"events", and prints their names as the environment variables
// that gqlambda functions read (GQLAMBDA_CONNECTIONS_TABLE...). The default
// prefix "gqlambda-" gives the default names. `tables describe` prints their
// status, item count and stream.
//
// # publish
//
// publish writes an event item to the events table (dynamodb.EventTable),
// as gqlambda's Server.Publish does when Config.Events is set, and prints the
// event's id. The payload is JSON, given as the second argument or read from
// the standard input with "-"; without one, every subscription of the topic
// matches. -complete writes a Complete instead: it ends the subscriptions of
// the topic that the payload matches, all of them without a payload.
//
// Writing the item does not deliver it: the stream handler does
// (Server.DynamoDBStreamHandler), invoked on AWS by the event source mapping
// of the events table's stream, and locally by a poller of the stream (the
// chat example's -dynamodb mode runs one; see store/dynamodb/streams).
//
// # AWS
//
// tables and publish reach DynamoDB at -dynamodb (such as DynamoDB Local's
// http://127.0.0.1:8000) with the credentials of AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, or "local" when they are unset, in -region, else
// AWS_REGION, else us-east-1. DynamoDB Local without -sharedDb keeps one
// database per access key and region: use those of the functions. Without
// -dynamodb they use the default AWS configuration (environment, shared
// files, roles). gateway invokes functions in AWS_REGION (default us-east-1)
// with static credentials: local Invoke APIs do not check them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv}.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// errUsage marks the errors of a command line that cannot run as it is: an
// unknown command or flag, a missing or malformed argument.
var errUsage = errors.New("usage error")

// usageErrorf returns an error wrapping errUsage about command.
func usageErrorf(command, format string, args ...any) error {
	return &usageError{command: command, msg: fmt.Sprintf(format, args...)}
}

// usageError is a usage error of a command, printed with a hint to its
// usage.
type usageError struct {
	command string // such as "gateway", "tables create"; empty: gqlambda
	msg     string
}

// Error returns the message, prefixed with the command.
func (e *usageError) Error() string {
	if e.command == "" {
		return "gqlambda: " + e.msg
	}
	return "gqlambda " + e.command + ": " + e.msg
}

// Unwrap returns errUsage.
func (e *usageError) Unwrap() error { return errUsage }

// cli runs command lines with its standard streams and environment.
type cli struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	// transport carries the command's AWS API calls (DynamoDB, the Invoke
	// API); run makes one and closes its idle connections when the command
	// ends.
	transport *http.Transport
}

// run runs the command line args (without the program name) and returns the
// exit code: 0 on success (and for help), 1 when the command failed, 2 for a
// usage error. Errors are printed on stderr.
func (c cli) run(ctx context.Context, args []string) int {
	if c.transport == nil {
		c.transport = http.DefaultTransport.(*http.Transport).Clone()
		defer c.transport.CloseIdleConnections()
	}
	err := c.dispatch(ctx, args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintln(c.stderr, err)
	if ue, ok := errors.AsType[*usageError](err); ok {
		if ue.command == "" {
			fmt.Fprintln(c.stderr, "Run 'gqlambda help' for usage.")
		} else {
			fmt.Fprintf(c.stderr, "Run 'gqlambda help %s' for usage.\n", ue.command)
		}
		return exitUsage
	}
	return exitError
}

// dispatch runs the command args names.
func (c cli) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return &usageError{msg: "no command given"}
	}
	switch args[0] {
	case "gateway":
		return c.gateway(ctx, args[1:])
	case "tables":
		return c.tables(ctx, args[1:])
	case "publish":
		return c.publish(ctx, args[1:])
	case "bus":
		return c.bus(ctx, args[1:])
	case "sqs":
		return c.sqs(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		return c.help(ctx, args[1:])
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", args[0])}
}

// help prints the usage of gqlambda or of the command args names.
func (c cli) help(ctx context.Context, args []string) error {
	if len(args) == 0 {
		c.usage(c.stdout)
		return nil
	}
	// A command's usage is what its -h prints.
	return c.dispatch(ctx, append(append([]string(nil), args...), "-h"))
}

// usage prints gqlambda's usage to w.
func (c cli) usage(w io.Writer) {
	fmt.Fprint(w, `gqlambda runs gqlambda applications locally, as they run on AWS, and
manages their DynamoDB tables.

Usage:

	gqlambda <command> [flags] [arguments]

Commands:

	gateway          serve a local API Gateway WebSocket API in front of a Lambda function
	tables create    create the connections, subscriptions and events tables
	tables describe  describe the tables
	publish          write an event to the events table
	bus              serve a local EventBridge bus whose rules invoke Lambda functions
	sqs serve        serve a local SQS endpoint (queues for scale-out fan-out)
	sqs redrive      move a dead-letter queue's messages back to its queue
	help             print the usage of gqlambda or of a command

Run 'gqlambda help <command>' for the usage of a command.
`)
}

// command describes a command's usage for parse.
type command struct {
	name  string // such as "tables create"
	usage string // the usage line and description, before the flags
}

// parse parses args with fs, whose flags are the command's. -h prints the
// usage on stdout and returns flag.ErrHelp; any other error is a usage
// error.
func (c cli) parse(cmd command, fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(c.stdout, cmd.usage)
		if hasFlags(fs) {
			fmt.Fprint(c.stdout, "\nFlags:\n")
			fs.SetOutput(c.stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
		return err
	}
	if err != nil {
		return usageErrorf(cmd.name, "%v", err)
	}
	return nil
}

// hasFlags reports whether fs defines any flag.
func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}
