package storetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/memory"
	"github.com/gqlambda/gqlambda/store/storetest"
)

// brokenEnv names, in the environment of a child test process, the broken
// store TestBrokenStore runs the suite against.
const brokenEnv = "GQLAMBDA_STORETEST_BROKEN"

// broken is a store with one deliberate bug, the case of the suite that must
// catch it, and a phrase of the failure that case must report.
type broken struct {
	name string
	wrap func(store.Store) store.Store
	kase string
	want string
}

// brokenStores lists the bugs the suite must catch: each is a mistake the
// libraries gqlambda replaces make, or an easy one for a new store.
func brokenStores() []broken {
	return []broken{
		{"acknowledges-twice", func(s store.Store) store.Store { return &ackTwice{Store: s} },
			"AcknowledgeTwice", "second AcknowledgeConnection: want ErrAlreadyAcknowledged, got nil"},
		{"resurrects-connection", func(s store.Store) store.Store { return &resurrect{Store: s} },
			"CreateSubscriptionAfterDeleteConnection", "CreateSubscription after DeleteConnection: want ErrConnectionNotFound, got nil"},
		{"resurrects-connection-in-race", func(s store.Store) store.Store { return &resurrect{Store: s} },
			"SubscribeDisconnectRace", "a subscription outlived its connection"},
		{"yields-twice", func(s store.Store) store.Store { return &yieldTwice{Store: s} },
			"TopicManySubscriptions", "more than once"},
		{"ignores-break", func(s store.Store) store.Store { return &ignoreBreak{Store: s} },
			"TopicEarlyBreak", "yet the sequence called yield"},
		{"truncates-silently-on-cancel", func(s store.Store) store.Store { return &quietCancel{Store: s} },
			"TopicCancelMidIteration", "without an error"},
		{"forgets-deleted-subscriptions", func(s store.Store) store.Store { return &forgetSubs{Store: s} },
			"DeleteConnection", "did not return subscription"},
		{"forgets-orphans", func(s store.Store) store.Store { return &forgetSubs{Store: s, onlyMissing: true} },
			"LostDisconnectOrphans", "did not return subscription"},
		{"keeps-seconds", func(s store.Store) store.Store { return &seconds{Store: s} },
			"ConnectionRoundTrip", "ConnectedAt: want"},
		{"ignores-cancellation", func(s store.Store) store.Store { return &noCancel{Store: s} },
			"CancelledContext", "CreateConnection with a cancelled context: want an error wrapping context.Canceled, got nil"},
		{"deletes-twice", func(s store.Store) store.Store {
			return &deleteTwice{Store: s, seen: map[[2]string]store.Subscription{}}
		},
			"DeleteSubscriptionConcurrent", "want exactly one"},
		{"ignores-expiry", func(s store.Store) store.Store { return &noExpiry{Store: s} },
			"ConnectionExpiredAtCreation", "expired connection: GetConnection"},
		{"drops-filter-groups", func(s store.Store) store.Store { return &firstGroup{Store: s} },
			"SubscriptionRoundTrip", "Filter: want"},
		{"joins-keys", func(s store.Store) store.Store { return &joinedKeys{Store: s, taken: map[string]bool{}} },
			"AwkwardIDs", "the keys collide when joined"},
		{"writes-topics-of-refused-duplicate", func(s store.Store) store.Store { return &leakyDuplicate{Store: s} },
			"CreateSubscriptionDuplicate", "its topics must not be written"},
	}
}

// TestBrokenStore runs the suite against the broken store named in the
// environment. It runs only as a child process of TestSuiteCatchesBrokenStores,
// where it is expected to fail.
func TestBrokenStore(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("runs only as a child process of TestSuiteCatchesBrokenStores, with " + brokenEnv + " set")
	}
	for _, b := range brokenStores() {
		if b.name == name {
			storetest.Run(t, func(*testing.T) store.Store { return b.wrap(memory.New(nil)) }, &storetest.Options{
				ManySubscriptions: 600,
				RacePairs:         200,
				NewClockedStore: func(_ *testing.T, now func() time.Time) store.Store {
					return b.wrap(memory.New(&memory.Options{Now: now}))
				},
			})
			return
		}
	}
	t.Fatalf("%s=%q names no broken store", brokenEnv, name)
}

// TestSuiteCatchesBrokenStores checks that the suite can fail: for each
// broken store, the case aimed at its bug fails and says why.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	t.Parallel()
	if os.Getenv(brokenEnv) != "" {
		t.Skip("inside a child process")
	}
	for _, b := range brokenStores() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenStore$/^"+b.kase+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+b.name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("case %s against a store that %s: want the test to fail, got %v\n%s", b.kase, b.name, err, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenStore/"+b.kase+" ") {
				t.Fatalf("case %s against a store that %s: the case did not fail:\n%s", b.kase, b.name, out)
			}
			if !strings.Contains(string(out), b.want) {
				t.Errorf("case %s against a store that %s: the failure does not say %q:\n%s", b.kase, b.name, b.want, out)
			}
		})
	}
}

// The broken stores, each wrapping a correct one.

// ackTwice accepts a second acknowledgement.
type ackTwice struct{ store.Store }

func (s *ackTwice) AcknowledgeConnection(ctx context.Context, id string, c json.RawMessage) error {
	if err := s.Store.AcknowledgeConnection(ctx, id, c); !errors.Is(err, store.ErrAlreadyAcknowledged) {
		return err
	}
	return nil
}

// resurrect writes a subscription unconditionally, recreating its
// connection when it is gone.
type resurrect struct{ store.Store }

func (s *resurrect) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	err := s.Store.CreateSubscription(ctx, sub)
	if errors.Is(err, store.ErrConnectionNotFound) {
		_ = s.Store.CreateConnection(ctx, store.Connection{ID: sub.ConnectionID})
		return s.Store.CreateSubscription(ctx, sub)
	}
	return err
}

// yieldTwice yields every subscription twice.
type yieldTwice struct{ store.Store }

func (s *yieldTwice) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		for sub, err := range s.Store.TopicSubscriptions(ctx, topic) {
			if !yield(sub, err) || err == nil && !yield(sub, nil) {
				return
			}
		}
	}
}

// ignoreBreak keeps yielding after the loop broke.
type ignoreBreak struct{ store.Store }

func (s *ignoreBreak) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		for sub, err := range s.Store.TopicSubscriptions(ctx, topic) {
			yield(sub, err)
		}
	}
}

// quietCancel ends the sequence without an error when the context is done.
type quietCancel struct{ store.Store }

func (s *quietCancel) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		for sub, err := range s.Store.TopicSubscriptions(ctx, topic) {
			if err != nil || !yield(sub, nil) {
				return
			}
		}
	}
}

// forgetSubs deletes subscriptions with their connection but does not return
// them (onlyMissing: only when the connection record is gone).
type forgetSubs struct {
	store.Store
	onlyMissing bool
}

func (s *forgetSubs) DeleteConnection(ctx context.Context, id string) (store.Connection, []store.Subscription, error) {
	c, subs, err := s.Store.DeleteConnection(ctx, id)
	if !s.onlyMissing || errors.Is(err, store.ErrConnectionNotFound) {
		subs = nil
	}
	return c, subs, err
}

// seconds keeps ConnectedAt to the second.
type seconds struct{ store.Store }

func (s *seconds) CreateConnection(ctx context.Context, c store.Connection) error {
	c.ConnectedAt = c.ConnectedAt.Truncate(time.Second)
	return s.Store.CreateConnection(ctx, c)
}

// noCancel ignores the context.
type noCancel struct{ store.Store }

func (s *noCancel) CreateConnection(_ context.Context, c store.Connection) error {
	return s.Store.CreateConnection(context.Background(), c)
}

// deleteTwice returns a deleted subscription again to later callers.
type deleteTwice struct {
	store.Store
	mu   sync.Mutex
	seen map[[2]string]store.Subscription
}

func (s *deleteTwice) DeleteSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{connectionID, id}
	if sub, ok := s.seen[key]; ok {
		return sub, nil
	}
	sub, err := s.Store.DeleteSubscription(ctx, connectionID, id)
	if err == nil {
		s.seen[key] = sub
	}
	return sub, err
}

// noExpiry drops ExpiresAt, so expired connections stay visible.
type noExpiry struct{ store.Store }

func (s *noExpiry) CreateConnection(ctx context.Context, c store.Connection) error {
	c.ExpiresAt = time.Time{}
	return s.Store.CreateConnection(ctx, c)
}

// firstGroup keeps only the first group of a filter.
type firstGroup struct{ store.Store }

func (s *firstGroup) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	if len(sub.Filter.Groups) > 1 {
		sub.Filter.Groups = sub.Filter.Groups[:1]
	}
	return s.Store.CreateSubscription(ctx, sub)
}

// joinedKeys refuses a subscription whose connection id and id, joined with
// "#", equal those of one created before, as a store keyed by the naive
// concatenation would.
type joinedKeys struct {
	store.Store
	mu    sync.Mutex
	taken map[string]bool
}

func (s *joinedKeys) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sub.ConnectionID + "#" + sub.ID
	if s.taken[key] {
		return store.ErrSubscriptionExists
	}
	err := s.Store.CreateSubscription(ctx, sub)
	if err == nil {
		s.taken[key] = true
	}
	return err
}

// leakyDuplicate writes the topics of a refused duplicate, as a store that
// writes topic rows before checking the id would.
type leakyDuplicate struct{ store.Store }

func (s *leakyDuplicate) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	err := s.Store.CreateSubscription(ctx, sub)
	if errors.Is(err, store.ErrSubscriptionExists) {
		leak := sub
		leak.ID = sub.ID + "'"
		_ = s.Store.CreateSubscription(ctx, leak)
	}
	return err
}
