package dynamodb

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gqlambda/gqlambda/store"
)

// entryFailingAPI fails the write of a subscription's entry (the
// conditional update of the connection item's map) with err, once.
type entryFailingAPI struct {
	API
	err    error
	failed atomic.Bool
}

func (a *entryFailingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if strings.HasPrefix(*in.UpdateExpression, "SET #subs.#sid") && !a.failed.Swap(true) {
		return nil, a.err
	}
	return a.API.UpdateItem(ctx, in, opts...)
}

// TestCreateSubscriptionCleansUp checks the cases in which CreateSubscription
// has written items and then cannot add the entry, or finds an item of its
// id already there: what it returns, and that no item it wrote is left.
func TestCreateSubscriptionCleansUp(t *testing.T) {
	tests := []struct {
		name string
		// prepare runs on the fixture before the CreateSubscription of
		// subscription "s" of connection "c" on topics.
		prepare func(f *fixture)
		topics  []string
		// entryErr, when set, is the error the entry's write fails with.
		entryErr error
		want     error
		// wantItems is the number of items of each topic afterwards.
		wantItems map[string]int
	}{
		{
			name:      "connection being deleted",
			prepare:   func(f *fixture) { f.setDeletingAt("c", time.Now()) },
			topics:    []string{"a", "b"},
			want:      store.ErrConnectionNotFound,
			wantItems: map[string]int{"a": 0, "b": 0},
		},
		{
			name: "connection gone",
			prepare: func(f *fixture) {
				if _, _, err := f.s.DeleteConnection(f.t.Context(), "c"); err != nil {
					f.t.Fatal(err)
				}
			},
			topics:    []string{"a"},
			want:      store.ErrConnectionNotFound,
			wantItems: map[string]int{"a": 0},
		},
		{
			name: "id taken on another topic",
			prepare: func(f *fixture) {
				f.create(store.Subscription{ConnectionID: "c", ID: "s", Topics: []string{"x"}})
			},
			topics:    []string{"a", "b"},
			want:      store.ErrSubscriptionExists,
			wantItems: map[string]int{"a": 0, "b": 0, "x": 1},
		},
		{
			name: "id taken on one of the topics",
			prepare: func(f *fixture) {
				f.create(store.Subscription{ConnectionID: "c", ID: "s", Topics: []string{"b"}})
			},
			topics:    []string{"a", "b", "c"},
			want:      store.ErrSubscriptionExists,
			wantItems: map[string]int{"a": 0, "b": 1, "c": 0},
		},
		{
			name: "item without entry holds the id",
			prepare: func(f *fixture) {
				// What a process that stopped between the two writes leaves.
				f.putItemOnly(store.Subscription{ConnectionID: "c", ID: "s", Topics: []string{"b"}, ExpiresAt: time.Now().Add(time.Hour)})
			},
			topics:    []string{"a", "b"},
			want:      store.ErrSubscriptionExists,
			wantItems: map[string]int{"a": 0, "b": 1},
		},
		{
			name: "expired item without entry is replaced",
			prepare: func(f *fixture) {
				f.putItemOnly(store.Subscription{ConnectionID: "c", ID: "s", Topics: []string{"b"}, ExpiresAt: time.Now().Add(-time.Minute)})
			},
			topics:    []string{"a", "b"},
			wantItems: map[string]int{"a": 1, "b": 1},
		},
		{
			name:      "entry write fails",
			topics:    []string{"a", "b"},
			entryErr:  errors.New("connection reset"),
			want:      errAnyError,
			wantItems: map[string]int{"a": 0, "b": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{Shards: 2})
			if err := f.s.CreateConnection(t.Context(), store.Connection{ID: "c", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if tt.prepare != nil {
				tt.prepare(f)
			}
			s := f.s
			if tt.entryErr != nil {
				s = New(&entryFailingAPI{API: f.api, err: tt.entryErr}, &Options{Tables: f.tables, Shards: 2})
			}
			err := s.CreateSubscription(t.Context(), store.Subscription{ConnectionID: "c", ID: "s", Topics: tt.topics, ExpiresAt: time.Now().Add(time.Hour)})
			switch {
			case tt.want == nil && err != nil, tt.want != nil && err == nil:
				t.Fatalf("CreateSubscription: %v, want %v", err, tt.want)
			case tt.want == errAnyError:
				if errors.Is(err, store.ErrConnectionNotFound) || errors.Is(err, store.ErrSubscriptionExists) {
					t.Errorf("CreateSubscription: %v, want the write's error", err)
				}
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("CreateSubscription: %v, want %v", err, tt.want)
			}
			for topic, want := range tt.wantItems {
				if n := f.items(topic); n != want {
					t.Errorf("topic %s: %d items afterwards, want %d", topic, n, want)
				}
			}
		})
	}
}

// errAnyError stands for an error that wraps neither sentinel.
var errAnyError = errors.New("any error")

// create stores sub, or fails the test.
func (f *fixture) create(sub store.Subscription) {
	f.t.Helper()
	if err := f.s.CreateSubscription(f.t.Context(), sub); err != nil {
		f.t.Fatal(err)
	}
}

// putItemOnly writes the items of sub without its entry in the connection's
// map.
func (f *fixture) putItemOnly(sub store.Subscription) {
	f.t.Helper()
	e := entry{topics: distinctTopics(sub.Topics), shard: shardOf(sub.ConnectionID, sub.ID, f.s.shards), rev: newRev()}
	if held, err := f.s.putItems(f.t.Context(), f.tables, sub, e, nil); err != nil || held != nil {
		f.t.Fatalf("putItems: %v, held %v", err, held)
	}
}
