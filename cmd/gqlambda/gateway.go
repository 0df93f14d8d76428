package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/gqlambda/gqlambda/localgateway"
)

// defaultFunction is the function name of the Runtime Interface Emulator,
// whose only function is at /2015-03-31/functions/function/invocations.
const defaultFunction = "function"

// shutdownGrace is how long the gateway waits, once stopped, for the
// $disconnect invocations of the connections it closes.
const shutdownGrace = 10 * time.Second

const gatewayUsage = `usage: gqlambda gateway -lambda URL [-function NAME] [-addr 127.0.0.1:4000] [-stage local]
	[-http-function NAME] [-http-lambda URL] [-static DIR] [-concurrency 1] [-log-level info]
	[-authorizer-function NAME [-authorizer-lambda URL] [-authorizer-identity-source LIST]
	 [-authorizer-http-identity-source LIST]]

Serve a local API Gateway WebSocket API (the localgateway package) at
ws://ADDR/graphql in front of a Lambda function reached through the Lambda
Invoke API at -lambda, such as the AWS Lambda Runtime Interface Emulator
running the function's bootstrap (http://127.0.0.1:9000; its function is
named "function") or 'sam local start-lambda'. The $connect, $default and
$disconnect events are sent to the function as API Gateway sends them; a
failed invocation fails the integration as on AWS.

The function posts its frames to the @connections API the gateway serves at
http://ADDR/STAGE, the endpoint gqlambda derives from the events' domainName
and stage; a function of another library must be given that endpoint. With
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set, that API accepts only calls
signed (SigV4) with those keys, so give the function the same ones; without
them it accepts any signature (development mode, announced by a WARN):
anyone who reaches the gateway can then post to and close any connection.

With -http-function or -http-lambda, the other requests to /graphql invoke a
function as an API Gateway HTTP API does (payload format 2.0). -static serves
a folder at "/".

With -authorizer-function, a Lambda REQUEST authorizer function (at
-authorizer-lambda, default -lambda's) runs before each $connect and, with an
HTTP function, each HTTP request (payload format 1.0), with API Gateway's
semantics: a handshake or request without the identity sources
(comma-separated; default route.request.querystring.token and
$request.header.Authorization) is refused with 401, an "Unauthorized" error
gives 401, a policy that does not allow 403, and an allowed connection's
events carry requestContext.authorizer (the HTTP events
requestContext.authorizer.lambda).

The Runtime Interface Emulator takes one invocation at a time: by default
each Invoke API URL gets one at a time (-concurrency 1), connections waiting
for each other. The gateway stops on SIGINT or SIGTERM, closing the connections
with 1001 and sending their $disconnect events.
`

// gatewayOptions are the flags of gateway.
type gatewayOptions struct {
	addr         string
	stage        string
	lambdaURL    string
	function     string
	httpLambda   string
	httpFunction string
	static       string
	concurrency  int
	logLevel     slog.Level

	authorizerFunction string
	authorizerLambda   string
	authorizerSources  string // comma-separated, WebSocket syntax
	authorizerHTTP     string // comma-separated, HTTP API syntax
}

// httpEnabled reports whether /graphql HTTP requests invoke a function.
func (o gatewayOptions) httpEnabled() bool { return o.httpFunction != "" || o.httpLambda != "" }

// parseGateway parses the command line of gateway.
func (c cli) parseGateway(args []string) (gatewayOptions, error) {
	const name = "gateway"
	o := gatewayOptions{logLevel: slog.LevelInfo}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:4000", "`address` to listen on (port 0: any free port)")
	fs.StringVar(&o.stage, "stage", localgateway.DefaultStage, "stage `name`, the path of the @connections endpoint http://ADDR/STAGE")
	fs.StringVar(&o.lambdaURL, "lambda", "", "`URL` of the Lambda Invoke API of the WebSocket function (required), such as http://127.0.0.1:9000")
	fs.StringVar(&o.function, "function", defaultFunction, "`name` of the WebSocket function")
	fs.StringVar(&o.httpFunction, "http-function", "", "`name` of a function serving the HTTP requests to /graphql (payload format 2.0); default: none, or \"function\" with -http-lambda")
	fs.StringVar(&o.httpLambda, "http-lambda", "", "`URL` of the Lambda Invoke API of the HTTP function; default: -lambda's")
	fs.StringVar(&o.static, "static", "", "`folder` to serve at \"/\"")
	fs.IntVar(&o.concurrency, "concurrency", 1, "most invocations at a time through each Invoke API URL; 0: no limit")
	fs.TextVar(&o.logLevel, "log-level", o.logLevel, "log `level`: debug, info, warn or error")
	fs.StringVar(&o.authorizerFunction, "authorizer-function", "", "`name` of a Lambda REQUEST authorizer function run before $connect and HTTP requests; default: none")
	fs.StringVar(&o.authorizerLambda, "authorizer-lambda", "", "`URL` of the Lambda Invoke API of the authorizer; default: -lambda's")
	fs.StringVar(&o.authorizerSources, "authorizer-identity-source", "", "what a $connect must carry for the authorizer to run (comma-separated `list`); default route.request.querystring.token")
	fs.StringVar(&o.authorizerHTTP, "authorizer-http-identity-source", "", "what an HTTP request must carry for the authorizer to run (comma-separated `list`); default $request.header.Authorization")
	if err := c.parse(command{name: name, usage: gatewayUsage}, fs, args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, usageErrorf(name, "unexpected argument %q", fs.Arg(0))
	case o.lambdaURL == "":
		return o, usageErrorf(name, "-lambda is required")
	case o.function == "":
		return o, usageErrorf(name, "empty -function")
	case o.stage == "":
		return o, usageErrorf(name, "empty -stage")
	case o.concurrency < 0:
		return o, usageErrorf(name, "-concurrency is %d: want 0 or more", o.concurrency)
	}
	if err := checkURL(o.lambdaURL); err != nil {
		return o, usageErrorf(name, "-lambda: %v", err)
	}
	if o.httpLambda != "" {
		if err := checkURL(o.httpLambda); err != nil {
			return o, usageErrorf(name, "-http-lambda: %v", err)
		}
	}
	if o.authorizerLambda != "" {
		if err := checkURL(o.authorizerLambda); err != nil {
			return o, usageErrorf(name, "-authorizer-lambda: %v", err)
		}
		if o.authorizerFunction == "" {
			return o, usageErrorf(name, "-authorizer-lambda without -authorizer-function")
		}
	}
	if o.authorizerFunction != "" {
		o.authorizerLambda = cmp.Or(o.authorizerLambda, o.lambdaURL)
		o.authorizerSources = cmp.Or(o.authorizerSources, "route.request.querystring.token")
		o.authorizerHTTP = cmp.Or(o.authorizerHTTP, "$request.header.Authorization")
	} else if o.authorizerSources != "" || o.authorizerHTTP != "" {
		return o, usageErrorf(name, "identity sources without -authorizer-function")
	}
	if o.httpEnabled() {
		if o.httpLambda == "" {
			o.httpLambda = o.lambdaURL
		}
		if o.httpFunction == "" {
			o.httpFunction = defaultFunction
		}
	}
	return o, nil
}

// gateway runs `gqlambda gateway` until ctx ends.
func (c cli) gateway(ctx context.Context, args []string) error {
	o, err := c.parseGateway(args)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: o.logLevel}))
	region := c.region("")
	wsAPI, wsSlots := newLambdaClient(o.lambdaURL, region, c.httpClient()), newSlots(o.concurrency)
	ws := &invoker{api: wsAPI, function: o.function, slots: wsSlots}
	opts := localgateway.Options{Handler: ws.webSocketHandler, Stage: o.stage, Logger: logger}
	if key, secret := c.getenv("AWS_ACCESS_KEY_ID"), c.getenv("AWS_SECRET_ACCESS_KEY"); key != "" && secret != "" {
		// The @connections API accepts only calls signed with these keys.
		opts.Credentials = &localgateway.Credentials{AccessKeyID: key, SecretAccessKey: secret}
	}
	if o.static != "" {
		if fi, err := os.Stat(o.static); err != nil || !fi.IsDir() {
			return fmt.Errorf("gqlambda: -static %s is not a folder", o.static)
		}
		opts.Files = os.DirFS(o.static)
	}
	var hf *httpFunction
	if o.httpEnabled() {
		// Both functions behind one Invoke API share its slots: it may be
		// one emulator running one function for both.
		api, slots := lambdaAPI(wsAPI), wsSlots
		if o.httpLambda != o.lambdaURL {
			api, slots = newLambdaClient(o.httpLambda, region, c.httpClient()), newSlots(o.concurrency)
		}
		hf = &httpFunction{
			invoker: &invoker{api: api, function: o.httpFunction, slots: slots},
			now:     time.Now,
			log:     logger,
		}
		opts.HTTP = hf
	}
	if o.authorizerFunction != "" {
		api, slots := lambdaAPI(wsAPI), wsSlots
		if o.authorizerLambda != o.lambdaURL {
			api, slots = newLambdaClient(o.authorizerLambda, region, c.httpClient()), newSlots(o.concurrency)
		}
		az := &invoker{api: api, function: o.authorizerFunction, slots: slots}
		opts.Authorizer = &localgateway.Authorizer{
			Func:               az.authorizer,
			IdentitySource:     splitList(o.authorizerSources),
			HTTP:               o.httpEnabled(),
			HTTPIdentitySource: splitList(o.authorizerHTTP),
		}
	}
	g, err := localgateway.New(opts)
	if err != nil {
		return fmt.Errorf("gqlambda: %w", err)
	}
	if hf != nil {
		hf.apiID = g.APIID()
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("gqlambda: %w", err)
	}
	s := g.Serve(ln)
	fmt.Fprintf(c.stdout, "gqlambda gateway\n  function       %s at %s\n", o.function, o.lambdaURL)
	if hf != nil {
		fmt.Fprintf(c.stdout, "  HTTP function  %s at %s\n", o.httpFunction, o.httpLambda)
	}
	if o.authorizerFunction != "" {
		fmt.Fprintf(c.stdout, "  authorizer     %s at %s\n", o.authorizerFunction, o.authorizerLambda)
	}
	fmt.Fprintf(c.stdout, "  WebSocket      %s\n", s.WebSocketURL)
	if hf != nil {
		fmt.Fprintf(c.stdout, "  HTTP           %s\n", s.HTTPURL)
	}
	if o.static != "" {
		fmt.Fprintf(c.stdout, "  files          %s/\n", s.URL)
	}
	fmt.Fprintf(c.stdout, "  @connections   %s\n", s.Endpoint)
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := s.Shutdown(shutdown); err != nil {
		return fmt.Errorf("gqlambda: %w", err)
	}
	return nil
}
