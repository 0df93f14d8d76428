// Package memory is a [store.Store] that keeps connections and subscriptions
// in the memory of one process.
//
// It is the store of tests, examples and local development (the local
// gateway runs every handler in one process). It is not shared between
// processes, so on AWS Lambda, where every invocation may run in a different
// instance, use store/dynamodb instead.
//
// The store passes store/storetest. Expired records (those whose ExpiresAt is
// set and not after the store's clock) are treated as absent by every method
// and are purged as writes touch them and, in bulk, once the writes since the
// last purge reach the number of records it left, so that the memory of a
// long-running process stays proportional to its live records.
package memory

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/store"
)

// pageSize is how many subscriptions TopicSubscriptions copies out of the
// store under one acquisition of the read lock.
const pageSize = 256

// minPurgeWrites is the number of writes below which no bulk purge runs, so a
// small store does not sweep after every write.
const minPurgeWrites = 256

// Options configures a [Store]. The zero value, and a nil *Options, give the
// defaults.
type Options struct {
	// Now is the clock that decides whether a record has expired. It must be
	// safe for concurrent use. Default: time.Now.
	Now func() time.Time
}

// Store is an in-memory [store.Store]. Create it with [New]; the zero value
// is not usable.
//
// A Store is safe for concurrent use by any number of goroutines. Each method
// that changes state is atomic: one lock guards every index, so the
// conditions of a write (the connection exists, the id is free, the
// connection is not yet acknowledged) are checked under the same lock as the
// write itself.
//
// Records are copied in and out: changing a record passed to a method, or
// one a method returned, never changes what the store holds. The byte slices
// (Context, Authorizer, Data, Variables), Topics, and the groups and conditions of
// a Filter are copied; the values of filter conditions (lists and maps in
// [filter.Condition.Value]) are shared between the caller and the store, which
// never modifies them, so callers must not modify them either.
type Store struct {
	now func() time.Time

	mu     sync.RWMutex
	conns  map[string]store.Connection     // by connection id
	subs   map[subKey]*subEntry            // by (connection id, subscription id)
	byConn map[string]map[string]*subEntry // connection id → subscription id → entry
	topics map[string]*topicIndex          // topic → its subscriptions in creation order
	seq    uint64                          // sequence number of the last subscription created
	writes int                             // writes since the last bulk purge
	purge  int                             // writes that trigger the next bulk purge

	deliveries deliveries // the delivery log (delivery.go)
	splits     splits     // split publishes and budgets (ranges.go)
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.ActivityIndex = (*Store)(nil)
)

// subKey identifies a subscription. A struct key, unlike a concatenated
// string, cannot make two different (connection, id) pairs collide.
type subKey struct{ conn, id string }

// subEntry is one stored subscription. Its sub is never modified after the
// entry is created, so it may be copied out under a read lock and deep-copied
// after the lock is released.
type subEntry struct {
	sub     store.Subscription
	seq     uint64   // creation order, unique; the cursor of TopicSubscriptions
	topics  []string // distinct topics of sub, the topic indexes holding the entry
	removed bool     // deleted; still in topic indexes until they are compacted
}

// topicIndex lists the subscriptions of one topic in ascending seq order.
// Deleted entries stay in the list, marked removed, until they outnumber the
// live ones, so deleting is O(1) and pages are read by binary search.
type topicIndex struct {
	entries []*subEntry
	removed int
}

// New returns an empty Store. opts may be nil.
func New(opts *Options) *Store {
	s := &Store{
		now:    time.Now,
		conns:  make(map[string]store.Connection),
		subs:   make(map[subKey]*subEntry),
		byConn: make(map[string]map[string]*subEntry),
		topics: make(map[string]*topicIndex),
		purge:  minPurgeWrites,
	}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	return s
}

// expired reports whether a record expiring at expiresAt is expired at now.
// The zero time never expires.
func expired(expiresAt, now time.Time) bool {
	return !expiresAt.IsZero() && !expiresAt.After(now)
}

// CreateConnection stores c. It fails with an error wrapping
// [store.ErrConnectionExists] if an unexpired connection with c.ID exists; an
// expired one is replaced. An empty c.ID is refused. It is safe for
// concurrent use: of concurrent creations of one id, exactly one succeeds.
func (s *Store) CreateConnection(ctx context.Context, c store.Connection) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: create connection %q: %w", c.ID, err)
	}
	if c.ID == "" {
		return errors.New("memory: create connection: empty connection id")
	}
	c = cloneConnection(c)
	if c.LastActiveAt.IsZero() {
		c.LastActiveAt = c.ConnectedAt
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.conns[c.ID]; ok && !expired(old.ExpiresAt, now) {
		return fmt.Errorf("memory: create connection %q: %w", c.ID, store.ErrConnectionExists)
	}
	s.conns[c.ID] = c
	s.wrote(now)
	return nil
}

// GetConnection returns a copy of the connection, or an error wrapping
// [store.ErrConnectionNotFound] if it is missing or expired. It is safe for
// concurrent use.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	if err := ctx.Err(); err != nil {
		return store.Connection{}, fmt.Errorf("memory: get connection %q: %w", id, err)
	}
	now := s.now()
	s.mu.RLock()
	c, ok := s.conns[id]
	s.mu.RUnlock()
	if !ok || expired(c.ExpiresAt, now) {
		return store.Connection{}, fmt.Errorf("memory: get connection %q: %w", id, store.ErrConnectionNotFound)
	}
	return cloneConnection(c), nil
}

// AcknowledgeConnection marks the connection acknowledged and stores a copy
// of connCtx as its Context. It fails with an error wrapping
// [store.ErrConnectionNotFound] if the connection is missing or expired, and
// with one wrapping [store.ErrAlreadyAcknowledged] if it was acknowledged
// before; of concurrent calls for one connection exactly one succeeds.
func (s *Store) AcknowledgeConnection(ctx context.Context, id string, connCtx json.RawMessage) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: acknowledge connection %q: %w", id, err)
	}
	connCtx = bytes.Clone(connCtx)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok || expired(c.ExpiresAt, now) {
		return fmt.Errorf("memory: acknowledge connection %q: %w", id, store.ErrConnectionNotFound)
	}
	if c.Acknowledged {
		return fmt.Errorf("memory: acknowledge connection %q: %w", id, store.ErrAlreadyAcknowledged)
	}
	// The stored record is replaced, never modified, so copies handed out
	// under the read lock stay valid.
	c.Acknowledged = true
	c.Context = connCtx
	s.conns[id] = c
	s.wrote(now)
	return nil
}

// DeleteConnection deletes the connection and every subscription of it, in
// one atomic step, and returns copies of what it deleted: the connection and
// its unexpired subscriptions, in the order they were created. If the
// connection is missing or expired, its subscriptions are still deleted and
// returned, and the error wraps [store.ErrConnectionNotFound]. Expired
// subscriptions are deleted but not returned. Of concurrent calls (and
// concurrent DeleteSubscription calls), each record is returned to exactly
// one caller.
func (s *Store) DeleteConnection(ctx context.Context, id string) (store.Connection, []store.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return store.Connection{}, nil, fmt.Errorf("memory: delete connection %q: %w", id, err)
	}
	now := s.now()
	s.mu.Lock()
	c, found := s.conns[id]
	if found {
		delete(s.conns, id)
		found = !expired(c.ExpiresAt, now)
	}
	var entries []*subEntry
	for _, e := range s.byConn[id] {
		entries = append(entries, e)
	}
	for _, e := range entries {
		s.removeSubscription(e)
	}
	s.wrote(now)
	s.mu.Unlock()

	slices.SortFunc(entries, func(a, b *subEntry) int { return cmp.Compare(a.seq, b.seq) })
	var subs []store.Subscription
	for _, e := range entries {
		if !expired(e.sub.ExpiresAt, now) {
			subs = append(subs, cloneSubscription(e.sub))
		}
	}
	if !found {
		return store.Connection{}, subs, fmt.Errorf("memory: delete connection %q: %w", id, store.ErrConnectionNotFound)
	}
	return cloneConnection(c), subs, nil
}

// CreateSubscription stores a copy of sub. In one atomic step it checks that
// the connection sub.ConnectionID exists and is unexpired (else an error
// wrapping [store.ErrConnectionNotFound]) and that the connection holds no
// unexpired subscription sub.ID (else [store.ErrSubscriptionExists]); an
// expired subscription with that id is replaced. A subscription with an
// empty ConnectionID or ID, or with no topics, is refused. Each distinct
// topic of sub.Topics indexes the subscription once. It is safe for
// concurrent use: of concurrent creations of one id, exactly one succeeds.
func (s *Store) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	return s.CreateBoundedSubscription(ctx, sub, 0)
}

// CreateBoundedSubscription is CreateSubscription that refuses, with
// store.ErrSubscriptionLimit, a subscription of a connection that holds limit
// or more unexpired subscriptions (store.BoundedSubscriptions).
func (s *Store) CreateBoundedSubscription(ctx context.Context, sub store.Subscription, limit int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: create subscription %q of connection %q: %w", sub.ID, sub.ConnectionID, err)
	}
	switch {
	case sub.ConnectionID == "":
		return fmt.Errorf("memory: create subscription %q: empty connection id", sub.ID)
	case sub.ID == "":
		return fmt.Errorf("memory: create subscription of connection %q: empty subscription id", sub.ConnectionID)
	case len(sub.Topics) == 0:
		return fmt.Errorf("memory: create subscription %q of connection %q: no topics", sub.ID, sub.ConnectionID)
	}
	sub = cloneSubscription(sub)
	topics := slices.Clone(sub.Topics)
	slices.Sort(topics)
	topics = slices.Compact(topics)
	now := s.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[sub.ConnectionID]; !ok || expired(c.ExpiresAt, now) {
		return fmt.Errorf("memory: create subscription %q of connection %q: %w", sub.ID, sub.ConnectionID, store.ErrConnectionNotFound)
	}
	key := subKey{sub.ConnectionID, sub.ID}
	if old := s.subs[key]; old != nil {
		if !expired(old.sub.ExpiresAt, now) {
			return fmt.Errorf("memory: create subscription %q of connection %q: %w", sub.ID, sub.ConnectionID, store.ErrSubscriptionExists)
		}
		s.removeSubscription(old)
	}
	if limit > 0 && s.liveSubscriptions(sub.ConnectionID, now) >= limit {
		return fmt.Errorf("memory: create subscription %q of connection %q: %w (%d)", sub.ID, sub.ConnectionID, store.ErrSubscriptionLimit, limit)
	}
	s.seq++
	e := &subEntry{sub: sub, seq: s.seq, topics: topics}
	s.subs[key] = e
	ofConn := s.byConn[sub.ConnectionID]
	if ofConn == nil {
		ofConn = make(map[string]*subEntry)
		s.byConn[sub.ConnectionID] = ofConn
	}
	ofConn[sub.ID] = e
	for _, topic := range topics {
		ti := s.topics[topic]
		if ti == nil {
			ti = &topicIndex{}
			s.topics[topic] = ti
		}
		// seq only grows, so appending keeps the index sorted.
		ti.entries = append(ti.entries, e)
	}
	s.wrote(now)
	return nil
}

// GetSubscription returns a copy of the subscription, or an error wrapping
// [store.ErrSubscriptionNotFound] if it is missing or expired. It is safe for
// concurrent use.
func (s *Store) GetSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return store.Subscription{}, fmt.Errorf("memory: get subscription %q of connection %q: %w", id, connectionID, err)
	}
	now := s.now()
	s.mu.RLock()
	e := s.subs[subKey{connectionID, id}]
	var sub store.Subscription
	if e != nil {
		sub = e.sub
	}
	s.mu.RUnlock()
	if e == nil || expired(sub.ExpiresAt, now) {
		return store.Subscription{}, fmt.Errorf("memory: get subscription %q of connection %q: %w", id, connectionID, store.ErrSubscriptionNotFound)
	}
	return cloneSubscription(sub), nil
}

// DeleteSubscription deletes the subscription and returns a copy of it, or
// fails with an error wrapping [store.ErrSubscriptionNotFound] if it is
// missing or expired (an expired one is deleted too). Of concurrent
// deletions of one subscription, here or through DeleteConnection, exactly
// one returns it.
func (s *Store) DeleteSubscription(ctx context.Context, connectionID, id string) (store.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return store.Subscription{}, fmt.Errorf("memory: delete subscription %q of connection %q: %w", id, connectionID, err)
	}
	now := s.now()
	s.mu.Lock()
	e := s.subs[subKey{connectionID, id}]
	if e != nil {
		s.removeSubscription(e)
		s.wrote(now)
	}
	s.mu.Unlock()
	if e == nil || expired(e.sub.ExpiresAt, now) {
		return store.Subscription{}, fmt.Errorf("memory: delete subscription %q of connection %q: %w", id, connectionID, store.ErrSubscriptionNotFound)
	}
	return cloneSubscription(e.sub), nil
}

// TopicSubscriptions returns the unexpired subscriptions listening to topic,
// in the order they were created, each as a copy.
//
// The sequence reads the topic a page at a time under the read lock and
// holds no lock while it yields, so the loop body may call any method of the
// store (delete the connection it was handed, create subscriptions) without
// deadlock. Every subscription of topic that exists when iteration starts,
// and is neither deleted nor expired when its page is read, is yielded
// exactly once; one deleted before iteration starts is never yielded; one
// created during iteration is yielded at most once. A subscription deleted
// after its page was read may still be yielded from that page.
//
// Iteration stops when the loop breaks. The context is checked before every
// page: once it is done, the sequence yields one error wrapping ctx.Err() and
// ends. Several iterations may run at once, and the sequence may be ranged
// over more than once, each time from the start.
func (s *Store) TopicSubscriptions(ctx context.Context, topic string) iter.Seq2[store.Subscription, error] {
	return func(yield func(store.Subscription, error) bool) {
		var (
			after uint64
			page  []store.Subscription
			more  = true
		)
		for more {
			if err := ctx.Err(); err != nil {
				yield(store.Subscription{}, fmt.Errorf("memory: subscriptions of topic %q: %w", topic, err))
				return
			}
			page, after, more = s.topicPage(topic, after, page[:0])
			for i := range page {
				// Entries are immutable, so the deep copy can wait until the
				// lock is released.
				sub := cloneSubscription(page[i])
				page[i] = store.Subscription{}
				if !yield(sub, nil) {
					return
				}
			}
		}
	}
}

// topicPage appends to page up to pageSize unexpired subscriptions of topic
// created after the one numbered after, as shallow copies. It returns the
// page, the number of the last entry it examined (the cursor of the next
// page), and whether entries remain after it.
func (s *Store) topicPage(topic string, after uint64, page []store.Subscription) ([]store.Subscription, uint64, bool) {
	return s.rangePage(topic, after, 0, page)
}

// removeSubscription deletes e from every index. The caller holds the write
// lock.
func (s *Store) removeSubscription(e *subEntry) {
	if e.removed {
		return
	}
	e.removed = true
	key := subKey{e.sub.ConnectionID, e.sub.ID}
	delete(s.subs, key)
	if ofConn := s.byConn[key.conn]; ofConn != nil {
		delete(ofConn, key.id)
		if len(ofConn) == 0 {
			delete(s.byConn, key.conn)
		}
	}
	for _, topic := range e.topics {
		ti := s.topics[topic]
		if ti == nil {
			continue
		}
		ti.removed++
		switch {
		case ti.removed == len(ti.entries):
			delete(s.topics, topic)
		case ti.removed > pageSize && 2*ti.removed > len(ti.entries):
			// Compacting only once removed entries outnumber live ones keeps
			// deletion O(1) amortized and bounds the removed entries a page
			// read skips.
			ti.entries = slices.DeleteFunc(ti.entries, func(e *subEntry) bool { return e.removed })
			ti.removed = 0
		}
	}
}

// wrote counts a write and purges every expired record once the writes
// since the last purge reach the number of records that purge left (and at
// least minPurgeWrites). A purge visits at most twice that many records, so
// purging costs O(1) per write amortized. The caller holds the write lock.
func (s *Store) wrote(now time.Time) {
	s.writes++
	if s.writes < s.purge {
		return
	}
	for id, c := range s.conns {
		if expired(c.ExpiresAt, now) {
			delete(s.conns, id)
		}
	}
	for _, e := range s.subs {
		if expired(e.sub.ExpiresAt, now) {
			s.removeSubscription(e)
		}
	}
	s.writes = 0
	s.purge = max(minPurgeWrites, len(s.conns)+len(s.subs))
}

// cloneConnection returns c with its byte slices copied.
func cloneConnection(c store.Connection) store.Connection {
	c.Context = bytes.Clone(c.Context)
	c.Authorizer = bytes.Clone(c.Authorizer)
	c.Data = bytes.Clone(c.Data)
	return c
}

// cloneSubscription returns sub with its topics, byte slices, and filter
// groups and conditions copied. Condition values are shared.
func cloneSubscription(sub store.Subscription) store.Subscription {
	sub.Topics = slices.Clone(sub.Topics)
	sub.Variables = bytes.Clone(sub.Variables)
	sub.Context = bytes.Clone(sub.Context)
	sub.Data = bytes.Clone(sub.Data)
	sub.Authorizer = bytes.Clone(sub.Authorizer)
	if sub.Filter.Groups != nil {
		groups := make([]filter.Group, len(sub.Filter.Groups))
		for i, g := range sub.Filter.Groups {
			groups[i] = filter.Group{Conditions: slices.Clone(g.Conditions)}
		}
		sub.Filter = filter.Filter{Groups: groups}
	}
	return sub
}

// liveSubscriptions counts connection connectionID's unexpired
// subscriptions. The caller holds s.mu.
func (s *Store) liveSubscriptions(connectionID string, now time.Time) int {
	n := 0
	for _, e := range s.byConn[connectionID] {
		if !expired(e.sub.ExpiresAt, now) {
			n++
		}
	}
	return n
}
