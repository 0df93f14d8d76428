package app

import (
	"errors"
	"fmt"
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

// TestStartLocalRefusesBadAuth: an unknown authentication mode, or a dev
// secret too short for HS256, stops a local run with an error that says
// why.
func TestStartLocalRefusesBadAuth(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts LocalOptions
		want string
	}{
		{"unknown mode", LocalOptions{Auth: "oauth"}, `auth mode "oauth"`},
		{"short secret", LocalOptions{Auth: AuthDev, AuthSecret: []byte("short")}, "at least 32 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			tc.opts.NewEngine = func(Messages) (gqlambda.Engine, error) { return nil, errors.New("not reached") }
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

// TestMemoryMessagesBounded: the in-memory message store keeps the latest
// messages of each chat, and a bounded number of chats, however many are
// sent: a long local run's memory stays flat.
func TestMemoryMessagesBounded(t *testing.T) {
	t.Parallel()
	m := NewMemoryMessages()
	for i := range 3 * maxListed {
		// Without a server in the context the publish fails; the message is
		// kept all the same.
		_ = m.Send(t.Context(), Message{ID: fmt.Sprint(i), ChatID: "c", Text: fmt.Sprint(i)})
	}
	list, err := m.List(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != maxListed || list[0].ID != fmt.Sprint(2*maxListed) || list[len(list)-1].ID != fmt.Sprint(3*maxListed-1) {
		t.Fatalf("List: %d messages from %s to %s; want the latest %d", len(list), list[0].ID, list[len(list)-1].ID, maxListed)
	}
	if n := cap(m.chats["c"]); n > 2*maxListed {
		t.Errorf("the chat's slice has capacity %d after %d messages", n, 3*maxListed)
	}
	for i := range maxChats + 10 {
		_ = m.Send(t.Context(), Message{ID: "x", ChatID: fmt.Sprint("chat-", i)})
	}
	if n := len(m.chats); n > maxChats {
		t.Errorf("%d chats kept, want at most %d", n, maxChats)
	}
}
