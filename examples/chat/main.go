// Command chat is the reference chat app of gqlambda, on the graphql-go
// engine: GraphQL subscriptions on AWS Lambda and API Gateway WebSocket APIs.
//
// Run locally, it serves everything from one process, with no AWS account:
//
//	go run ./examples/chat                                 # in-memory store
//	go run ./examples/chat -dynamodb http://127.0.0.1:8000 # DynamoDB Local
//	go run ./examples/chat -redis redis://127.0.0.1:6380   # Redis
//
// On Lambda (deploy/template.yaml deploys it), the same binary starts the
// handler that GQLAMBDA_HANDLER names: websocket, http or stream.
package main

import (
	"time"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/examples/chat/app"
)

func main() { app.Main(newEngine) }

// newEngine is the chat schema on the graphql-go engine.
func newEngine(messages app.Messages) (gqlambda.Engine, error) {
	schema, err := newSchema(messages, time.Now)
	if err != nil {
		return nil, err
	}
	return graphqlgo.New(schema, nil), nil
}
