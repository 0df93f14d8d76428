package apigw_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
)

func Example() {
	// A stand-in for the @connections API of a WebSocket API; in production
	// the endpoint is https://{api-id}.execute-api.{region}.amazonaws.com/{stage}.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/prod/@connections/gone" {
			w.WriteHeader(http.StatusGone)
			return
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("%s %s %s\n", r.Method, r.URL.Path, body)
	}))
	defer api.Close()

	// In a Lambda function, apigw.NewDefault loads the function's
	// configuration and role instead.
	client := apigw.New(apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	}), nil)

	ctx := context.Background()
	endpoint := api.URL + "/prod"
	if err := client.Post(ctx, endpoint, "L0SM9cOFvHcCIhw=", []byte(`{"type":"pong"}`)); err != nil {
		fmt.Println(err)
	}
	err := client.Post(ctx, endpoint, "gone", []byte(`{"type":"pong"}`))
	fmt.Println("gone:", errors.Is(err, gateway.ErrGone))
	// Output:
	// POST /prod/@connections/L0SM9cOFvHcCIhw= {"type":"pong"}
	// gone: true
}
