package gqlambda_test

import (
	"testing"

	"github.com/gqlambda/gqlambda/internal/leakcheck"
)

// TestMain fails the tests when they leave goroutines running: fan-out
// workers, hooks, stream handlers.
func TestMain(m *testing.M) { leakcheck.Main(m) }
