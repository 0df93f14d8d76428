package main

import (
	"testing"

	"github.com/gqlambda/gqlambda/internal/leakcheck"
)

// TestMain fails the tests when they leave goroutines running: each command
// closes its AWS API connections when it ends.
func TestMain(m *testing.M) { leakcheck.Main(m) }
