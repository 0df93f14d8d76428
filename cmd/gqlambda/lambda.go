package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// lambdaAPI is the part of the Lambda client that an invoker uses.
type lambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// errFunction: the function ran and failed (an error or a panic of its
// handler), as the Invoke API reports it with FunctionError.
var errFunction = errors.New("gqlambda: function error")

// newLambdaClient returns a client of the Lambda Invoke API at endpoint, in
// region, with static credentials (local Invoke APIs do not check them) and
// without retries: API Gateway does not invoke a function twice for one
// event.
func newLambdaClient(endpoint, region string, hc aws.HTTPClient) *lambda.Client {
	cfg := aws.Config{
		HTTPClient:  hc,
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(localKey, localKey, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// invoker invokes one function, taking a slot for each invocation.
type invoker struct {
	api      lambdaAPI
	function string
	slots    chan struct{} // one token per invocation running; nil: no limit
}

// newSlots returns the slots of at most concurrency invocations at a time,
// to share between the invokers of one Invoke API; nil (no limit) when
// concurrency <= 0.
func newSlots(concurrency int) chan struct{} {
	if concurrency <= 0 {
		return nil
	}
	return make(chan struct{}, concurrency)
}

// newInvoker returns an invoker of function through api, running at most
// concurrency invocations at a time (no limit when concurrency <= 0).
func newInvoker(api lambdaAPI, function string, concurrency int) *invoker {
	return &invoker{api: api, function: function, slots: newSlots(concurrency)}
}

// invoke sends in, as JSON, to the function with a RequestResponse Invoke
// and returns its response payload. It waits for a free slot first. A
// function error is an error wrapping errFunction.
func (iv *invoker) invoke(ctx context.Context, in any) ([]byte, error) {
	payload, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("gqlambda: encode the event for function %s: %w", iv.function, err)
	}
	if iv.slots != nil {
		select {
		case iv.slots <- struct{}{}:
			defer func() { <-iv.slots }()
		case <-ctx.Done():
			return nil, fmt.Errorf("gqlambda: invoke function %s: %w", iv.function, context.Cause(ctx))
		}
	}
	out, err := iv.api.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(iv.function),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return nil, fmt.Errorf("gqlambda: invoke function %s: %w", iv.function, err)
	}
	if err := functionError(out); err != nil {
		return nil, fmt.Errorf("gqlambda: function %s: %w", iv.function, err)
	}
	return out.Payload, nil
}

// functionError returns the function error out reports, or nil. The Invoke
// API reports one with FunctionError (X-Amz-Function-Error) and the error as
// the payload, {"errorMessage": ..., "errorType": ...}. The Runtime Interface
// Emulator drops that header, so such a payload without FunctionError is a
// function error too: no response of API Gateway's formats has those two
// fields.
func functionError(out *lambda.InvokeOutput) error {
	var e struct {
		Message *string `json:"errorMessage"`
		Type    *string `json:"errorType"`
	}
	_ = json.Unmarshal(out.Payload, &e) // a payload that is no object is no error payload
	switch {
	case out.FunctionError != nil:
		return &functionErr{text: fmt.Sprintf("%v (%s): %s: %s", errFunction, *out.FunctionError, aws.ToString(e.Type), aws.ToString(e.Message)), message: aws.ToString(e.Message)}
	case e.Message != nil && e.Type != nil:
		return &functionErr{text: fmt.Sprintf("%v: %s: %s", errFunction, *e.Type, *e.Message), message: *e.Message}
	}
	return nil
}

// functionErr is a function error: its text, and the function's own
// errorMessage (which an authorizer's refusal is told by).
type functionErr struct{ text, message string }

func (e *functionErr) Error() string        { return e.text }
func (e *functionErr) Is(target error) bool { return target == errFunction }

// webSocketHandler invokes the function with a WebSocket event, as API
// Gateway's Lambda proxy integration does; it is a
// localgateway.WebSocketHandler.
func (iv *invoker) webSocketHandler(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	var resp events.APIGatewayProxyResponse
	raw, err := iv.invoke(ctx, ev)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return resp, fmt.Errorf("gqlambda: function %s: decode its response to %s: %w", iv.function, ev.RequestContext.RouteKey, err)
	}
	return resp, nil
}
