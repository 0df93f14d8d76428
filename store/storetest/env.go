package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/store"
)

// watchdog bounds a step that a deadlocking store would never finish, so the
// case fails with an explanation instead of hanging until the test binary's
// timeout.
const watchdog = 2 * time.Minute

// maxReported bounds how many failures of one kind a case reports one by one
// before it summarises the rest.
const maxReported = 5

// env is the state of one case: its store, its ids, its clock.
type env struct {
	t      *testing.T
	s      store.Store
	o      Options
	prefix string          // starts every connection id and topic of the case
	ctx    context.Context // the case's context, cancelled when it ends
	clock  *clock          // nil: the store uses the wall clock
}

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// set moves the clock to t.
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// now is the time the store judges expiry by.
func (e *env) now() time.Time {
	if e.clock != nil {
		return e.clock.Now()
	}
	return time.Now()
}

// id returns the connection id called name in this case.
func (e *env) id(name string) string { return e.prefix + name }

// topic returns the topic called name in this case.
func (e *env) topic(name string) string { return e.prefix + "topic:" + name }

// connection returns a live, unacknowledged connection record called name.
func (e *env) connection(name string) store.Connection {
	now := e.now()
	return store.Connection{
		ID:          e.id(name),
		Endpoint:    "https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
		Protocol:    "graphql-transport-ws",
		Authorizer:  json.RawMessage(`{"principalId":"user-1"}`),
		Data:        json.RawMessage(`{"user":{"id":"user-1","plan":"pro"}}`),
		ConnectedAt: now,
		ExpiresAt:   now.Add(time.Hour),
	}
}

// subscription returns a live subscription record of connection connID.
func (e *env) subscription(connID, id string, topics ...string) store.Subscription {
	now := e.now()
	return store.Subscription{
		ConnectionID:  connID,
		ID:            id,
		Topics:        topics,
		Filter:        filter.Filter{Groups: []filter.Group{{Conditions: []filter.Condition{{Field: "chatId", Operator: filter.Eq, Value: "42"}}}}},
		Query:         "subscription { messageAdded(chatId: \"42\") { id text } }",
		OperationName: "",
		Variables:     json.RawMessage(`{"id":` + quote(id) + `}`),
		Context:       json.RawMessage(`{"user":"user-1"}`),
		Data:          json.RawMessage(`{"user":{"id":"user-1","plan":"pro"}}`),
		Authorizer:    json.RawMessage(`{"principalId":"user-1"}`),
		Endpoint:      "https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
		Protocol:      "graphql-transport-ws",
		CreatedAt:     now,
		ExpiresAt:     now.Add(time.Hour),
	}
}

// quote returns s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

// mustCreateConnection stores c and ends the case if the store refuses.
func (e *env) mustCreateConnection(c store.Connection) {
	e.t.Helper()
	if err := e.s.CreateConnection(e.ctx, c); err != nil {
		e.t.Fatalf("CreateConnection %q: want nil, got %v", c.ID, err)
	}
}

// mustCreateSubscription stores sub and ends the case if the store refuses.
func (e *env) mustCreateSubscription(sub store.Subscription) {
	e.t.Helper()
	if err := e.s.CreateSubscription(e.ctx, sub); err != nil {
		e.t.Fatalf("CreateSubscription %q of connection %q: want nil, got %v", sub.ID, sub.ConnectionID, err)
	}
}

// list collects what TopicSubscriptions yields for topic. It calls the
// sequence directly rather than with range, so that a sequence that yields
// after reporting an error is explained instead of ignored. It is safe to
// call from any goroutine.
func (e *env) list(ctx context.Context, topic string) ([]store.Subscription, error) {
	var (
		out      []store.Subscription
		first    error
		afterErr int
	)
	e.s.TopicSubscriptions(ctx, topic)(func(sub store.Subscription, err error) bool {
		switch {
		case first != nil:
			afterErr++
		case err != nil:
			first = err
		default:
			out = append(out, sub)
		}
		return true
	})
	if afterErr > 0 {
		e.t.Errorf("TopicSubscriptions(%q) yielded %d more values after an error (%v): an error must end the sequence", topic, afterErr, first)
	}
	return out, first
}

// mustList is list for the case's goroutine; an error ends the case.
func (e *env) mustList(op, topic string) []store.Subscription {
	e.t.Helper()
	subs, err := e.list(e.ctx, topic)
	if err != nil {
		e.t.Fatalf("%s: TopicSubscriptions(%q): want no error, got %v", op, topic, err)
	}
	return subs
}

// expectTopic checks that topic yields exactly want, each once, equal field
// by field, in any order.
func (e *env) expectTopic(op, topic string, want ...store.Subscription) {
	e.t.Helper()
	got := e.mustList(op, topic)
	e.matchSubscriptions(fmt.Sprintf("%s: TopicSubscriptions(%q)", op, topic), "yielded", want, got)
}

// matchSubscriptions checks that got holds exactly want, each once and equal
// field by field, in any order. what names the operation, verb what it did.
func (e *env) matchSubscriptions(what, verb string, want, got []store.Subscription) {
	e.t.Helper()
	wantBy := make(map[subKey]store.Subscription, len(want))
	for _, s := range want {
		wantBy[keyOf(s)] = s
	}
	seen := make(map[subKey]int, len(got))
	var problems []string
	for _, s := range got {
		k := keyOf(s)
		seen[k]++
		w, ok := wantBy[k]
		switch {
		case !ok:
			if seen[k] == 1 {
				problems = append(problems, fmt.Sprintf("%s subscription %s, which it should not have", verb, k))
			}
		case seen[k] == 2:
			problems = append(problems, fmt.Sprintf("%s subscription %s more than once", verb, k))
		case seen[k] == 1:
			if d := subscriptionDiff(w, s); len(d) > 0 {
				problems = append(problems, fmt.Sprintf("subscription %s differs from the one stored: %s", k, strings.Join(d, "; ")))
			}
		}
	}
	for _, s := range want {
		if seen[keyOf(s)] == 0 {
			problems = append(problems, fmt.Sprintf("did not return subscription %s", keyOf(s)))
		}
	}
	if len(problems) > 0 {
		e.t.Errorf("%s: %d subscriptions, want %d:\n\t%s", what, len(got), len(want), strings.Join(limit(problems), "\n\t"))
	}
}

// limit shortens a long list of problems to its first maxReported entries
// and a count of the rest.
func limit(problems []string) []string {
	if len(problems) <= maxReported {
		return problems
	}
	return append(slices.Clip(problems[:maxReported]), fmt.Sprintf("... and %d more", len(problems)-maxReported))
}

// expectErr checks that err is want (nil, a sentinel or a context error),
// possibly wrapped, and reports "op: want X, got Y" otherwise.
func (e *env) expectErr(op string, err, want error) bool {
	e.t.Helper()
	if want == nil && err == nil || want != nil && errors.Is(err, want) {
		return true
	}
	e.t.Errorf("%s: want %s, got %s", op, errName(want), errText(err))
	return false
}

// errName names a sentinel error as its Go identifier.
func errName(err error) string {
	switch err {
	case nil:
		return "nil"
	case store.ErrConnectionNotFound:
		return "ErrConnectionNotFound"
	case store.ErrConnectionExists:
		return "ErrConnectionExists"
	case store.ErrAlreadyAcknowledged:
		return "ErrAlreadyAcknowledged"
	case store.ErrSubscriptionNotFound:
		return "ErrSubscriptionNotFound"
	case store.ErrSubscriptionExists:
		return "ErrSubscriptionExists"
	case context.Canceled:
		return "an error wrapping context.Canceled"
	}
	return err.Error()
}

// errText describes an error a store returned, naming a bare sentinel.
func errText(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// expectConnection checks that GetConnection returns want.
func (e *env) expectConnection(op string, want store.Connection) {
	e.t.Helper()
	got, err := e.s.GetConnection(e.ctx, want.ID)
	if err != nil {
		e.t.Errorf("%s: GetConnection %q: want the connection, got %v", op, want.ID, err)
		return
	}
	e.checkConnection(op+": GetConnection", want, got)
}

// checkConnection checks that got equals want field by field.
func (e *env) checkConnection(op string, want, got store.Connection) {
	e.t.Helper()
	if d := connectionDiff(want, got); len(d) > 0 {
		e.t.Errorf("%s: connection %q differs from the one stored:\n\t%s", op, want.ID, strings.Join(d, "\n\t"))
	}
}

// expectNoConnection checks that GetConnection reports id missing.
func (e *env) expectNoConnection(op, id string) {
	e.t.Helper()
	_, err := e.s.GetConnection(e.ctx, id)
	e.expectErr(fmt.Sprintf("%s: GetConnection %q", op, id), err, store.ErrConnectionNotFound)
}

// expectSubscription checks that GetSubscription returns want.
func (e *env) expectSubscription(op string, want store.Subscription) {
	e.t.Helper()
	got, err := e.s.GetSubscription(e.ctx, want.ConnectionID, want.ID)
	if err != nil {
		e.t.Errorf("%s: GetSubscription %s: want the subscription, got %v", op, keyOf(want), err)
		return
	}
	e.checkSubscription(op+": GetSubscription", want, got)
}

// checkSubscription checks that got equals want field by field.
func (e *env) checkSubscription(op string, want, got store.Subscription) {
	e.t.Helper()
	if d := subscriptionDiff(want, got); len(d) > 0 {
		e.t.Errorf("%s: subscription %s differs from the one stored:\n\t%s", op, keyOf(want), strings.Join(d, "\n\t"))
	}
}

// expectNoSubscription checks that GetSubscription reports the subscription
// missing.
func (e *env) expectNoSubscription(op, connID, id string) {
	e.t.Helper()
	_, err := e.s.GetSubscription(e.ctx, connID, id)
	e.expectErr(fmt.Sprintf("%s: GetSubscription %s", op, subKey{connID, id}), err, store.ErrSubscriptionNotFound)
}

// subKey identifies a subscription in reports and sets.
type subKey struct{ conn, id string }

func (k subKey) String() string { return fmt.Sprintf("%q of connection %q", k.id, k.conn) }

func keyOf(s store.Subscription) subKey { return subKey{s.ConnectionID, s.ID} }

// connectionDiff lists the fields in which got differs from want. JSON fields
// are compared by meaning and times to the millisecond.
func connectionDiff(want, got store.Connection) []string {
	var d diff
	d.str("ID", want.ID, got.ID)
	d.str("Endpoint", want.Endpoint, got.Endpoint)
	d.str("Protocol", want.Protocol, got.Protocol)
	d.boolean("Acknowledged", want.Acknowledged, got.Acknowledged)
	d.json("Context", want.Context, got.Context)
	d.json("Authorizer", want.Authorizer, got.Authorizer)
	d.json("Data", want.Data, got.Data)
	d.time("ConnectedAt", want.ConnectedAt, got.ConnectedAt)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	return d
}

// subscriptionDiff lists the fields in which got differs from want. Topics
// are compared as a set, the filter and JSON fields by meaning, and times to
// the millisecond.
func subscriptionDiff(want, got store.Subscription) []string {
	var d diff
	d.str("ConnectionID", want.ConnectionID, got.ConnectionID)
	d.str("ID", want.ID, got.ID)
	wt, gt := slices.Sorted(slices.Values(want.Topics)), slices.Sorted(slices.Values(got.Topics))
	if !slices.Equal(wt, gt) {
		d = append(d, fmt.Sprintf("Topics: want %q, got %q", want.Topics, got.Topics))
	}
	d.filter(want.Filter, got.Filter)
	d.str("Query", want.Query, got.Query)
	d.str("OperationName", want.OperationName, got.OperationName)
	d.json("Variables", want.Variables, got.Variables)
	d.json("Context", want.Context, got.Context)
	d.json("Data", want.Data, got.Data)
	d.json("Authorizer", want.Authorizer, got.Authorizer)
	d.str("Endpoint", want.Endpoint, got.Endpoint)
	d.str("Protocol", want.Protocol, got.Protocol)
	d.boolean("CompleteHook", want.CompleteHook, got.CompleteHook)
	d.boolean("Predicate", want.Predicate, got.Predicate)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	return d
}

// oneWinner checks the outcome of concurrent conditional writes of one
// record, errs[i] being call i's result: exactly one call must succeed and
// every other must fail with lost. It returns the winner's index and ends the
// case when there is not exactly one.
func (e *env) oneWinner(what string, errs []error, lost error) int {
	e.t.Helper()
	var winners []string
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			winners = append(winners, fmt.Sprint(i))
			winner = i
		case !errors.Is(err, lost):
			e.t.Errorf("%s: call %d: want nil or %s, got %v", what, i, errName(lost), err)
		}
	}
	if len(winners) != 1 {
		e.t.Fatalf("%s: %d returned nil (calls %s), want exactly one; the others must get %s",
			what, len(winners), strings.Join(winners, ", "), errName(lost))
	}
	return winner
}

// diff accumulates descriptions of differing fields.
type diff []string

func (d *diff) str(field, want, got string) {
	if want != got {
		*d = append(*d, fmt.Sprintf("%s: want %q, got %q", field, want, got))
	}
}

func (d *diff) boolean(field string, want, got bool) {
	if want != got {
		*d = append(*d, fmt.Sprintf("%s: want %t, got %t", field, want, got))
	}
}

// time compares to the millisecond: a store must keep at least millisecond
// precision, and may drop the location and the monotonic reading. The zero
// time must come back zero.
func (d *diff) time(field string, want, got time.Time) {
	switch {
	case want.IsZero() && got.IsZero():
		return
	case want.IsZero() != got.IsZero():
	case got.Sub(want).Abs() < time.Millisecond:
		return
	}
	*d = append(*d, fmt.Sprintf("%s: want %s, got %s (to the millisecond)", field, fmtTime(want), fmtTime(got)))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "the zero time"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// json compares two JSON texts by meaning: equal after decoding, with the
// empty text and null both meaning absent.
func (d *diff) json(field string, want, got []byte) {
	wv, werr := decodeJSON(want)
	gv, gerr := decodeJSON(got)
	if werr == nil && gerr == nil && reflect.DeepEqual(wv, gv) {
		return
	}
	if gerr != nil {
		*d = append(*d, fmt.Sprintf("%s: want %s, got invalid JSON %q (%v)", field, showJSON(want), got, gerr))
		return
	}
	*d = append(*d, fmt.Sprintf("%s: want %s, got %s", field, showJSON(want), showJSON(got)))
}

// filter compares two filters by their JSON encodings, decoded: the form a
// store that keeps filters as JSON gives back.
func (d *diff) filter(want, got filter.Filter) {
	wv, werr := normalizeFilter(want)
	gv, gerr := normalizeFilter(got)
	switch {
	case werr != nil:
		*d = append(*d, fmt.Sprintf("Filter: the stored filter does not encode as JSON: %v", werr))
	case gerr != nil:
		*d = append(*d, fmt.Sprintf("Filter: the filter returned does not encode as JSON: %v", gerr))
	case !reflect.DeepEqual(wv, gv):
		w, _ := json.Marshal(wv)
		g, _ := json.Marshal(gv)
		*d = append(*d, fmt.Sprintf("Filter: want %s, got %s", w, g))
	}
}

// normalizeFilter returns f encoded as JSON and decoded into plain values.
func normalizeFilter(f filter.Filter) (any, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return decodeJSON(b)
}

// decodeJSON decodes a JSON text; empty text decodes as null.
func decodeJSON(b []byte) (any, error) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func showJSON(b []byte) string {
	if len(strings.TrimSpace(string(b))) == 0 {
		return "nothing"
	}
	return string(b)
}

// forEach calls f(i) for every i in [0, n) on at most limit goroutines at a
// time and returns when all calls have returned. f must not call t.Fatal.
func forEach(n, limit int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// race calls every f at once, on goroutines released together so that the
// calls overlap as much as the scheduler allows, and returns when all have
// returned. The functions must not call t.Fatal.
func race(fs ...func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Go(func() {
			<-start
			f()
		})
	}
	close(start)
	wg.Wait()
}

// within runs f on a goroutine and ends the case if it has not returned
// after the watchdog period, which means the store deadlocked. f must not
// call t.Fatal.
func (e *env) within(what string, f func()) {
	e.t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(watchdog)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		e.t.Fatalf("%s has not returned after %v: the store deadlocks (does TopicSubscriptions hold a lock while it yields?)", what, watchdog)
	}
}

// populate stores n subscriptions on topic, three per connection, on
// connections named name-0, name-1, and so on, created Concurrency at a time.
// It returns the connection ids in order and the subscriptions.
func (e *env) populate(name, topic string, n int) ([]string, []store.Subscription) {
	e.t.Helper()
	const perConn = 3
	conns := make([]string, (n+perConn-1)/perConn)
	subs := make([]store.Subscription, n)
	for i := range conns {
		conns[i] = e.id(fmt.Sprintf("%s-%d", name, i))
	}
	for i := range subs {
		subs[i] = e.subscription(conns[i/perConn], fmt.Sprintf("s%d", i%perConn), topic)
		subs[i].Query = fmt.Sprintf("subscription { n%d }", i)
	}
	var mu sync.Mutex
	var errs []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	forEach(len(conns), e.o.Concurrency, func(i int) {
		c := e.connection(fmt.Sprintf("%s-%d", name, i))
		if err := e.s.CreateConnection(e.ctx, c); err != nil {
			fail("CreateConnection %q: want nil, got %v", c.ID, err)
			return
		}
		for j := i * perConn; j < min((i+1)*perConn, n); j++ {
			if err := e.s.CreateSubscription(e.ctx, subs[j]); err != nil {
				fail("CreateSubscription %s: want nil, got %v", keyOf(subs[j]), err)
			}
		}
	})
	if len(errs) > 0 {
		e.t.Fatalf("storing %d subscriptions on topic %q:\n\t%s", n, topic, strings.Join(limit(errs), "\n\t"))
	}
	return conns, subs
}
