package gqlgen

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestResolverErrorsMasked: an error of the infrastructure that a resolver
// returned is masked (gqlambda.MaskError); a resolver's own error and
// gqlgen's own errors are kept.
func TestResolverErrorsMasked(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, Err: errors.New("connect: connection refused")}
	errs := gqlerror.List{
		{Message: dial.Error(), Err: dial},
		{Message: "the room is closed", Err: errors.New("the room is closed")},
		{Message: "Cannot query field"},
	}
	got := resolverErrors(context.Background(), errs)
	if strings.Contains(got[0].Message, "127.0.0.1") || got[0].Extensions["code"] != "SERVICE_UNAVAILABLE" || got[0].Extensions["requestId"] == nil {
		t.Errorf("dial error became %+v, want it masked", got[0])
	}
	if got[1].Message != "the room is closed" || got[2].Message != "Cannot query field" {
		t.Errorf("other errors became %+v and %+v, want them as they are", got[1], got[2])
	}
}
