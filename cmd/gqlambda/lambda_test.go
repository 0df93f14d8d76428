package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// fakeLambda is a Lambda Invoke API answering with respond.
type fakeLambda struct {
	respond func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error)
}

func (f *fakeLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	return f.respond(ctx, in)
}

// answer returns a respond func answering payload (and FunctionError fe,
// when not empty).
func answer(payload, fe string) func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
	return func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		out := &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(payload)}
		if fe != "" {
			out.FunctionError = aws.String(fe)
		}
		return out, nil
	}
}

func TestWebSocketHandler(t *testing.T) {
	invokeErr := errors.New("connection refused")
	tests := []struct {
		name      string
		respond   func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error)
		want      events.APIGatewayProxyResponse
		wantErr   error  // errors.Is target
		wantInErr string // a substring of the error
	}{
		{
			name:    "response",
			respond: answer(`{"statusCode":200,"headers":{"Sec-WebSocket-Protocol":"graphql-transport-ws"}}`, ""),
			want:    events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"}},
		},
		{
			name:    "refusal",
			respond: answer(`{"statusCode":401,"body":"no"}`, ""),
			want:    events.APIGatewayProxyResponse{StatusCode: 401, Body: "no"},
		},
		{
			name:      "function error header",
			respond:   answer(`{"errorMessage":"boom","errorType":"errorString"}`, "Unhandled"),
			wantErr:   errFunction,
			wantInErr: "function error (Unhandled): errorString: boom",
		},
		{
			name:      "function error payload without header (Runtime Interface Emulator)",
			respond:   answer(`{"errorMessage":"boom","errorType":"errorString"}`, ""),
			wantErr:   errFunction,
			wantInErr: "function error: errorString: boom",
		},
		{
			name: "invoke error",
			respond: func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
				return nil, invokeErr
			},
			wantErr:   invokeErr,
			wantInErr: "gqlambda: invoke function fn: connection refused",
		},
		{
			name:      "response not JSON",
			respond:   answer(`<html>`, ""),
			wantInErr: "decode its response to $default",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *lambda.InvokeInput
			api := &fakeLambda{respond: func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
				got = in
				return tt.respond(ctx, in)
			}}
			ev := events.APIGatewayWebsocketProxyRequest{
				Body:           `{"type":"ping"}`,
				RequestContext: events.APIGatewayWebsocketProxyRequestContext{RouteKey: "$default", ConnectionID: "c1"},
			}
			resp, err := newInvoker(api, "fn", 1).webSocketHandler(t.Context(), ev)
			if tt.wantInErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tt.want.StatusCode || resp.Body != tt.want.Body || len(resp.Headers) != len(tt.want.Headers) {
					t.Errorf("response %+v, want %+v", resp, tt.want)
				}
				for k, v := range tt.want.Headers {
					if resp.Headers[k] != v {
						t.Errorf("header %s = %q, want %q", k, resp.Headers[k], v)
					}
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantInErr)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v does not wrap %v", err, tt.wantErr)
				}
			}
			// The event went as JSON with a RequestResponse Invoke.
			if aws.ToString(got.FunctionName) != "fn" || got.InvocationType != types.InvocationTypeRequestResponse {
				t.Errorf("invoked %q with %q, want fn with RequestResponse", aws.ToString(got.FunctionName), got.InvocationType)
			}
			var sent events.APIGatewayWebsocketProxyRequest
			if err := json.Unmarshal(got.Payload, &sent); err != nil {
				t.Fatal(err)
			}
			if sent.Body != ev.Body || sent.RequestContext.ConnectionID != "c1" || sent.RequestContext.RouteKey != "$default" {
				t.Errorf("sent %+v, want %+v", sent, ev)
			}
		})
	}
}

// TestInvokerConcurrency starts every call at once; each holds its
// invocation until the test lets them all go. Once every goroutine is
// blocked (synctest.Wait), exactly wantMax invocations run.
func TestInvokerConcurrency(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int
		calls       int
		wantMax     int32
	}{
		{name: "one at a time", concurrency: 1, calls: 6, wantMax: 1},
		{name: "three at a time", concurrency: 3, calls: 6, wantMax: 3},
		{name: "no limit", concurrency: 0, calls: 6, wantMax: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var running atomic.Int32
				release := make(chan struct{})
				api := &fakeLambda{respond: func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
					running.Add(1)
					defer running.Add(-1)
					<-release
					return &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(`{"statusCode":200}`)}, nil
				}}
				iv := newInvoker(api, "fn", tt.concurrency)
				var wg sync.WaitGroup
				for range tt.calls {
					wg.Go(func() {
						if _, err := iv.invoke(t.Context(), map[string]string{}); err != nil {
							t.Error(err)
						}
					})
				}
				synctest.Wait()
				if got := running.Load(); got != tt.wantMax {
					t.Errorf("%d invocations run together, want %d", got, tt.wantMax)
				}
				close(release)
				wg.Wait()
			})
		})
	}
}

func TestInvokerWaitsForASlotUntilCancelled(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var calls atomic.Int32
	api := &fakeLambda{respond: func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		if calls.Add(1) == 1 {
			close(started)
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return &lambda.InvokeOutput{Payload: []byte(`{}`)}, nil
	}}
	iv := newInvoker(api, "fn", 1)
	done := make(chan error, 1)
	go func() {
		_, err := iv.invoke(t.Context(), 1)
		done <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := iv.invoke(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("invoke waiting for a slot: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the function was invoked %d times, want once", n)
	}
}
