package storetest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

// testConnectionRoundTrip: every field of a connection comes back from
// GetConnection as it was stored, and so does a record with only an id.
func testConnectionRoundTrip(e *env) {
	now := e.now()
	full := store.Connection{
		ID:           e.id("full"),
		Endpoint:     "https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
		Protocol:     "graphql-transport-ws",
		Acknowledged: true,
		Context:      json.RawMessage(`{"user": {"id": "u1", "roles": ["admin", "mod"]}, "score": 1.5, "ok": true, "none": null}`),
		Authorizer:   json.RawMessage(`{"principalId":"u1","claims":{"scope":"chat","exp":1700000000}}`),
		Data:         json.RawMessage(`{"user": {"id": "u1", "name": "Ann"}, "tier": 3}`),
		// Sub-millisecond parts and a zone other than UTC: a store keeps at
		// least the millisecond and the instant.
		ConnectedAt: now.Add(-1234567 * time.Nanosecond).In(time.FixedZone("UTC+3", 3*60*60)),
		ExpiresAt:   now.Add(time.Hour + 789*time.Microsecond),
	}
	// Zero times, no JSON: a record with no expiry never expires.
	minimal := store.Connection{ID: e.id("minimal"), Protocol: "graphql-ws"}
	for _, c := range []store.Connection{full, minimal} {
		e.mustCreateConnection(c)
		e.expectConnection("after CreateConnection", c)
	}
}

// testCreateConnectionDuplicate: a second CreateConnection of a live id is
// refused and leaves the first record as it was.
func testCreateConnectionDuplicate(e *env) {
	first := e.connection("c")
	e.mustCreateConnection(first)
	second := first
	second.Endpoint = "https://other.execute-api.eu-west-1.amazonaws.com/dev"
	second.Protocol = "graphql-ws"
	err := e.s.CreateConnection(e.ctx, second)
	e.expectErr("CreateConnection of an id that exists", err, store.ErrConnectionExists)
	e.expectConnection("after a refused duplicate CreateConnection", first)
}

// testCreateConnectionConcurrent: of concurrent creations of one id, exactly
// one succeeds and its record is the one stored.
func testCreateConnectionConcurrent(e *env) {
	n := e.o.Concurrency
	base := e.connection("c")
	errs := make([]error, n)
	forEach(n, n, func(i int) {
		c := base
		c.Endpoint = fmt.Sprintf("https://abc123.execute-api.eu-west-1.amazonaws.com/stage%d", i)
		errs[i] = e.s.CreateConnection(e.ctx, c)
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			e.t.Errorf("%d concurrent CreateConnection of one id: calls %d and %d both returned nil; want exactly one nil and ErrConnectionExists for the others", n, winner, i)
		case err == nil:
			winner = i
		default:
			e.expectErr(fmt.Sprintf("concurrent CreateConnection %d of one id (the id was taken)", i), err, store.ErrConnectionExists)
		}
	}
	if winner < 0 {
		e.t.Fatalf("%d concurrent CreateConnection of a new id: none returned nil, want exactly one", n)
	}
	want := base
	want.Endpoint = fmt.Sprintf("https://abc123.execute-api.eu-west-1.amazonaws.com/stage%d", winner)
	e.expectConnection("after concurrent CreateConnection (the stored record is the winner's)", want)
}

// testGetConnectionMissing: an id never created, and a prefix of one that
// was, are not found.
func testGetConnectionMissing(e *env) {
	e.expectNoConnection("never created", e.id("nobody"))
	c := e.connection("abcd")
	e.mustCreateConnection(c)
	e.expectNoConnection("a prefix of an existing id", e.id("abc"))
	e.expectNoConnection("an extension of an existing id", e.id("abcde"))
}

// testConnectionExpiredAtCreation: a connection whose ExpiresAt has passed
// is stored but absent to every method, and its id can be created again.
func testConnectionExpiredAtCreation(e *env) {
	old := e.connection("c")
	old.ConnectedAt = e.now().Add(-3 * time.Hour)
	old.ExpiresAt = e.now().Add(-time.Hour)
	if err := e.s.CreateConnection(e.ctx, old); err != nil {
		e.t.Fatalf("CreateConnection of a connection already expired: want nil (the record is stored and treated as absent), got %v", err)
	}
	e.expectNoConnection("expired connection", old.ID)
	e.expectErr("AcknowledgeConnection of an expired connection",
		e.s.AcknowledgeConnection(e.ctx, old.ID, json.RawMessage(`{}`)), store.ErrConnectionNotFound)
	sub := e.subscription(old.ID, "1", e.topic("t"))
	e.expectErr("CreateSubscription on an expired connection", e.s.CreateSubscription(e.ctx, sub), store.ErrConnectionNotFound)
	e.expectNoSubscription("subscription refused for an expired connection", sub.ConnectionID, sub.ID)

	fresh := e.connection("c")
	fresh.Protocol = "graphql-ws"
	if err := e.s.CreateConnection(e.ctx, fresh); err != nil {
		e.t.Fatalf("CreateConnection of an id whose connection expired: want nil (an expired connection is replaced), got %v", err)
	}
	e.expectConnection("after replacing an expired connection", fresh)

	gone := e.connection("gone")
	gone.ExpiresAt = e.now().Add(-time.Minute)
	e.mustCreateConnection(gone)
	c, subs, err := e.s.DeleteConnection(e.ctx, gone.ID)
	e.expectErr("DeleteConnection of an expired connection", err, store.ErrConnectionNotFound)
	if c.ID != "" || len(subs) != 0 {
		e.t.Errorf("DeleteConnection of an expired connection without subscriptions: want no connection and no subscriptions, got connection %q and %d subscriptions", c.ID, len(subs))
	}
}

// testAcknowledge: AcknowledgeConnection sets Acknowledged and Context and
// changes nothing else.
func testAcknowledge(e *env) {
	for _, tc := range []struct {
		name    string
		context json.RawMessage
	}{
		{"with-context", json.RawMessage(`{"userId":"u1","roles":["reader"],"limits":{"rate":10}}`)},
		{"without-context", nil},
	} {
		c := e.connection(tc.name)
		e.mustCreateConnection(c)
		if err := e.s.AcknowledgeConnection(e.ctx, c.ID, tc.context); err != nil {
			e.t.Errorf("AcknowledgeConnection %q (%s): want nil, got %v", c.ID, tc.name, err)
			continue
		}
		c.Acknowledged = true
		c.Context = tc.context
		e.expectConnection("after AcknowledgeConnection "+tc.name, c)
	}
}

// testAcknowledgeTwice: a second acknowledgement is refused and keeps the
// first context.
func testAcknowledgeTwice(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	first := json.RawMessage(`{"n":1}`)
	if err := e.s.AcknowledgeConnection(e.ctx, c.ID, first); err != nil {
		e.t.Fatalf("first AcknowledgeConnection: want nil, got %v", err)
	}
	err := e.s.AcknowledgeConnection(e.ctx, c.ID, json.RawMessage(`{"n":2}`))
	e.expectErr("second AcknowledgeConnection", err, store.ErrAlreadyAcknowledged)
	c.Acknowledged = true
	c.Context = first
	e.expectConnection("after a refused second AcknowledgeConnection (the first context stays)", c)
}

// testAcknowledgeMissing: acknowledging a connection that does not exist, or
// no longer does, fails and does not create it.
func testAcknowledgeMissing(e *env) {
	missing := e.id("nobody")
	e.expectErr("AcknowledgeConnection of a connection never created",
		e.s.AcknowledgeConnection(e.ctx, missing, json.RawMessage(`{}`)), store.ErrConnectionNotFound)
	e.expectNoConnection("after AcknowledgeConnection of a missing connection (it must not create one)", missing)

	c := e.connection("deleted")
	e.mustCreateConnection(c)
	if _, _, err := e.s.DeleteConnection(e.ctx, c.ID); err != nil {
		e.t.Fatalf("DeleteConnection %q: want nil, got %v", c.ID, err)
	}
	e.expectErr("AcknowledgeConnection after DeleteConnection",
		e.s.AcknowledgeConnection(e.ctx, c.ID, json.RawMessage(`{}`)), store.ErrConnectionNotFound)
	e.expectNoConnection("after AcknowledgeConnection of a deleted connection (it must not resurrect it)", c.ID)
}

// testAcknowledgeConcurrent: of concurrent acknowledgements of one
// connection, exactly one succeeds and its context is the one stored.
func testAcknowledgeConcurrent(e *env) {
	n := e.o.Concurrency
	c := e.connection("c")
	e.mustCreateConnection(c)
	errs := make([]error, n)
	forEach(n, n, func(i int) {
		errs[i] = e.s.AcknowledgeConnection(e.ctx, c.ID, json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)))
	})
	winner := e.oneWinner(fmt.Sprintf("%d concurrent AcknowledgeConnection of one connection", n), errs, store.ErrAlreadyAcknowledged)
	c.Acknowledged = true
	c.Context = json.RawMessage(fmt.Sprintf(`{"n":%d}`, winner))
	e.expectConnection("after concurrent AcknowledgeConnection (the context stored is the winner's)", c)
}
