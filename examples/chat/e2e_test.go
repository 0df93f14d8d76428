package main

import (
	"testing"

	"github.com/gqlambda/gqlambda/examples/chat/app/apptest"
)

// TestEndToEnd runs the chat's end-to-end tests (real clients, headless
// Chromium, DynamoDB Local) on the graphql-go implementation.
func TestEndToEnd(t *testing.T) { apptest.Run(t, newEngine) }
