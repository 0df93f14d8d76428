package streams_test

import (
	"testing"

	"github.com/gqlambda/gqlambda/internal/leakcheck"
)

// TestMain fails the tests when they leave goroutines running.
func TestMain(m *testing.M) { leakcheck.Main(m) }
