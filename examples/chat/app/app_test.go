package app

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda"
)

// TestStartLocalRefusesBadStores: a local run names one store at most, and
// a Redis URL it cannot use stops it with an error that says why.
func TestStartLocalRefusesBadStores(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts LocalOptions
		want string
	}{
		{"both stores", LocalOptions{DynamoDB: "http://127.0.0.1:8000", Redis: "redis://127.0.0.1:6379"}, "pick one store"},
		{"not a Redis URL", LocalOptions{Redis: "http://127.0.0.1:6379"}, "Redis URL"},
		{"nothing listening", LocalOptions{Redis: "redis://127.0.0.1:1"}, "Redis at 127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			tc.opts.NewEngine = func(Messages) (gqlambda.Engine, error) {
				t.Fatal("the engine was built for a run that should have been refused")
				return nil, nil
			}
			a, err := StartLocal(t.Context(), ln, tc.opts)
			if err == nil {
				a.Shutdown(t.Context())
				t.Fatalf("StartLocal: want an error containing %q, got nil", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("StartLocal: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	t.Parallel()
	if err := CheckText(strings.Repeat("x", MaxTextBytes)); err != nil {
		t.Errorf("a text at the limit: %v", err)
	}
	err := CheckText(strings.Repeat("x", MaxTextBytes+1))
	var ge *gqlambda.Error
	if !errors.As(err, &ge) || ge.Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("a text over the limit: %v, want a GraphQL error coded BAD_USER_INPUT", err)
	}
}
