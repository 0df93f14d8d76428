package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gqlambda/gqlambda/store"
)

// testTopicManySubscriptions: ManySubscriptions subscriptions on one topic,
// more than a page holds, are each yielded exactly once.
func testTopicManySubscriptions(e *env) {
	topic := e.topic("many")
	_, subs := e.populate("c", topic, e.o.ManySubscriptions)
	// A neighbour topic must not leak into the pages.
	other := e.connection("other")
	e.mustCreateConnection(other)
	e.mustCreateSubscription(e.subscription(other.ID, "1", e.topic("many2")))
	e.expectTopic(fmt.Sprintf("%d subscriptions on one topic", len(subs)), topic, subs...)
}

// testTopicIsolation: a topic yields only its own subscriptions, even when
// its name is a prefix or an extension of another topic's.
func testTopicIsolation(e *env) {
	c := e.connection("c")
	e.mustCreateConnection(c)
	names := []string{"chat", "chat#1", "chat/1", "chat:1", "chats", "cha", "Chat"}
	subs := make([]store.Subscription, len(names))
	for i, name := range names {
		subs[i] = e.subscription(c.ID, fmt.Sprint(i), e.topic(name))
		e.mustCreateSubscription(subs[i])
	}
	for i, name := range names {
		e.expectTopic("topics whose names share a prefix", e.topic(name), subs[i])
	}
	e.expectTopic("a topic nobody listens to", e.topic("chat#"))
	e.expectTopic("a topic nobody listens to", e.topic(""))
}

// testTopicEarlyBreak: when the loop breaks, the sequence yields nothing
// more, reports no error, and leaves the store usable.
func testTopicEarlyBreak(e *env) {
	topic := e.topic("t")
	conns, _ := e.populate("c", topic, e.o.ManySubscriptions)
	for _, stopAt := range []int{1, e.o.ManySubscriptions / 2, e.o.ManySubscriptions} {
		var calls, after int
		e.within(fmt.Sprintf("TopicSubscriptions(%q) broken off after %d", topic, stopAt), func() {
			e.s.TopicSubscriptions(e.ctx, topic)(func(_ store.Subscription, err error) bool {
				calls++
				if calls > stopAt {
					after++
				}
				if err != nil {
					e.t.Errorf("TopicSubscriptions(%q) broken off after %d: yielded error %v", topic, stopAt, err)
				}
				return calls < stopAt
			})
		})
		if after > 0 {
			e.t.Errorf("TopicSubscriptions(%q): the loop broke after %d subscriptions, yet the sequence called yield %d more times", topic, stopAt, after)
		}
		if calls < stopAt {
			e.t.Errorf("TopicSubscriptions(%q): yielded %d subscriptions before the loop could break after %d (the topic holds %d)", topic, calls, stopAt, e.o.ManySubscriptions)
		}
	}
	// A store that kept a lock after the break would deadlock here.
	s := e.subscription(conns[0], "after-break", topic)
	e.within("CreateSubscription after breaking off TopicSubscriptions", func() {
		if err := e.s.CreateSubscription(e.ctx, s); err != nil {
			e.t.Errorf("CreateSubscription after breaking off TopicSubscriptions: want nil, got %v", err)
		}
		if _, _, err := e.s.DeleteConnection(e.ctx, conns[1]); err != nil {
			e.t.Errorf("DeleteConnection after breaking off TopicSubscriptions: want nil, got %v", err)
		}
	})
}

// testTopicMutationDuringIteration: the loop body may change the store, as
// the fan-out does when API Gateway reports a connection gone: it deletes
// connections (the one just yielded, and others not yet yielded) and creates
// subscriptions. This must not deadlock; no subscription is yielded twice;
// none deleted before iteration started is yielded; and every subscription
// present at the start and not deleted meanwhile is yielded exactly once.
func testTopicMutationDuringIteration(e *env) {
	topic := e.topic("t")
	n := e.o.ManySubscriptions
	conns, subs := e.populate("c", topic, n)
	if len(conns) < 40 {
		e.t.Fatalf("Options.ManySubscriptions = %d is too small for this case, which needs at least 120", n)
	}

	// Deleted before iteration starts: never yielded.
	gone := map[subKey]bool{}
	goneConn := map[string]bool{}
	for i := range 10 {
		if _, err := e.s.DeleteSubscription(e.ctx, conns[i], "s1"); err != nil {
			e.t.Fatalf("DeleteSubscription %s: want nil, got %v", subKey{conns[i], "s1"}, err)
		}
		gone[subKey{conns[i], "s1"}] = true
	}
	for i := 10; i < 20; i++ {
		if _, _, err := e.s.DeleteConnection(e.ctx, conns[i]); err != nil {
			e.t.Fatalf("DeleteConnection %q: want nil, got %v", conns[i], err)
		}
		goneConn[conns[i]] = true
	}

	var (
		seen       = map[subKey]int{}
		deletedIn  = map[string]bool{} // connections deleted inside the loop
		created    = map[subKey]bool{} // subscriptions created inside the loop
		problems   []string
		iterErr    error
		yields     int
		nextVictim = len(conns) - 1 // connections not yet yielded are deleted from the end
	)
	e.within(fmt.Sprintf("TopicSubscriptions(%q) with a loop body that deletes and creates", topic), func() {
		for s, err := range e.s.TopicSubscriptions(e.ctx, topic) {
			if err != nil {
				iterErr = err
				break
			}
			yields++
			k := keyOf(s)
			seen[k]++
			if seen[k] == 2 {
				problems = append(problems, fmt.Sprintf("yielded subscription %s twice", k))
			}
			if gone[k] || goneConn[k.conn] {
				problems = append(problems, fmt.Sprintf("yielded subscription %s, deleted before iteration started", k))
			}
			switch {
			case yields%5 == 0 && !deletedIn[k.conn]:
				// The fan-out's 410 path: delete the connection just yielded.
				deletedIn[k.conn] = true
				if _, _, err := e.s.DeleteConnection(e.ctx, k.conn); err != nil {
					problems = append(problems, fmt.Sprintf("DeleteConnection %q inside the loop: want nil, got %v", k.conn, err))
				}
			case yields%7 == 0:
				// Delete a connection that has probably not been yielded yet.
				for nextVictim > 20 && deletedIn[conns[nextVictim]] {
					nextVictim--
				}
				if nextVictim > 20 {
					victim := conns[nextVictim]
					deletedIn[victim] = true
					if _, _, err := e.s.DeleteConnection(e.ctx, victim); err != nil {
						problems = append(problems, fmt.Sprintf("DeleteConnection %q inside the loop: want nil, got %v", victim, err))
					}
				}
			case yields%11 == 0:
				// Subscribe: a new connection, and a new subscription of a
				// connection already yielded.
				c := e.connection(fmt.Sprintf("new-%d", yields))
				if err := e.s.CreateConnection(e.ctx, c); err != nil {
					problems = append(problems, fmt.Sprintf("CreateConnection %q inside the loop: want nil, got %v", c.ID, err))
					break
				}
				for _, ns := range []store.Subscription{e.subscription(c.ID, "1", topic), e.subscription(k.conn, fmt.Sprintf("new-%d", yields), topic)} {
					err := e.s.CreateSubscription(e.ctx, ns)
					if err != nil && !(ns.ConnectionID == k.conn && deletedIn[k.conn] && errors.Is(err, store.ErrConnectionNotFound)) {
						problems = append(problems, fmt.Sprintf("CreateSubscription %s inside the loop: want nil, got %v", keyOf(ns), err))
					}
					if err == nil {
						created[keyOf(ns)] = true
					}
				}
			}
		}
	})
	if iterErr != nil {
		e.t.Fatalf("TopicSubscriptions(%q) with a loop body that deletes and creates: want no error, got %v", topic, iterErr)
	}
	var missing []string
	for _, s := range subs {
		k := keyOf(s)
		if gone[k] || goneConn[k.conn] || deletedIn[k.conn] {
			continue // may or may not be yielded, at most once
		}
		if seen[k] == 0 {
			missing = append(missing, k.String())
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("never yielded %d subscriptions that existed throughout the iteration, such as %s", len(missing), strings.Join(limit(missing), ", ")))
	}
	initial := make(map[subKey]bool, len(subs))
	for _, s := range subs {
		initial[keyOf(s)] = true
	}
	for k := range seen {
		if !created[k] && !initial[k] {
			problems = append(problems, fmt.Sprintf("yielded subscription %s, which was never created", k))
		}
	}
	if len(problems) > 0 {
		e.t.Errorf("TopicSubscriptions(%q) over %d subscriptions, deleting %d connections and creating %d subscriptions from inside the loop:\n\t%s",
			topic, n, len(deletedIn), len(created), strings.Join(limit(problems), "\n\t"))
	}
}

// testTopicCancelMidIteration: a context cancelled during iteration ends the
// sequence with an error wrapping context.Canceled, unless every
// subscription had already been yielded; it never ends it silently early.
func testTopicCancelMidIteration(e *env) {
	topic := e.topic("t")
	n := e.o.ManySubscriptions
	e.populate("c", topic, n)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var (
		yielded  int
		seqErr   error
		afterErr int
	)
	e.within(fmt.Sprintf("TopicSubscriptions(%q) cancelled after the first subscription", topic), func() {
		e.s.TopicSubscriptions(ctx, topic)(func(_ store.Subscription, err error) bool {
			switch {
			case seqErr != nil:
				afterErr++
			case err != nil:
				seqErr = err
			default:
				yielded++
				cancel()
			}
			return true
		})
	})
	switch {
	case afterErr > 0:
		e.t.Errorf("TopicSubscriptions cancelled mid-iteration: yielded %d values after the error %v; an error must end the sequence", afterErr, seqErr)
	case seqErr != nil && !errors.Is(seqErr, context.Canceled):
		e.t.Errorf("TopicSubscriptions cancelled mid-iteration: want an error wrapping context.Canceled, got %v", seqErr)
	case seqErr == nil && yielded < n:
		e.t.Errorf("TopicSubscriptions cancelled mid-iteration: the sequence ended after %d of %d subscriptions without an error; a cancelled iteration must end with an error wrapping context.Canceled", yielded, n)
	case yielded > n:
		e.t.Errorf("TopicSubscriptions cancelled mid-iteration: yielded %d subscriptions, the topic holds %d", yielded, n)
	}
}

// testCancelledContext: every method called with a cancelled context returns
// an error wrapping context.Canceled and changes nothing.
func testCancelledContext(e *env) {
	topic := e.topic("t")
	c := e.connection("c")
	e.mustCreateConnection(c)
	s := e.subscription(c.ID, "1", topic)
	e.mustCreateSubscription(s)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()

	fresh := e.connection("fresh")
	e.expectErr("CreateConnection with a cancelled context", e.s.CreateConnection(ctx, fresh), context.Canceled)
	e.expectNoConnection("after CreateConnection with a cancelled context", fresh.ID)

	_, err := e.s.GetConnection(ctx, c.ID)
	e.expectErr("GetConnection with a cancelled context", err, context.Canceled)

	e.expectErr("AcknowledgeConnection with a cancelled context",
		e.s.AcknowledgeConnection(ctx, c.ID, json.RawMessage(`{}`)), context.Canceled)

	s2 := e.subscription(c.ID, "2", topic)
	e.expectErr("CreateSubscription with a cancelled context", e.s.CreateSubscription(ctx, s2), context.Canceled)
	e.expectNoSubscription("after CreateSubscription with a cancelled context", c.ID, "2")

	_, err = e.s.GetSubscription(ctx, c.ID, "1")
	e.expectErr("GetSubscription with a cancelled context", err, context.Canceled)

	_, err = e.s.DeleteSubscription(ctx, c.ID, "1")
	e.expectErr("DeleteSubscription with a cancelled context", err, context.Canceled)

	_, _, err = e.s.DeleteConnection(ctx, c.ID)
	e.expectErr("DeleteConnection with a cancelled context", err, context.Canceled)

	var yielded []string
	var seqErr error
	e.within("TopicSubscriptions with a cancelled context", func() {
		e.s.TopicSubscriptions(ctx, topic)(func(sub store.Subscription, err error) bool {
			if err != nil {
				yielded = append(yielded, "error "+err.Error())
				seqErr = err
			} else {
				yielded = append(yielded, "subscription "+keyOf(sub).String())
			}
			return true
		})
	})
	if len(yielded) != 1 || !errors.Is(seqErr, context.Canceled) {
		e.t.Errorf("TopicSubscriptions with a cancelled context: want exactly one value, an error wrapping context.Canceled; got %d values: %s",
			len(yielded), strings.Join(limit(yielded), "; "))
	}

	e.expectConnection("after calls with a cancelled context (nothing changed)", c)
	e.expectSubscription("after calls with a cancelled context (nothing changed)", s)
	e.expectTopic("after calls with a cancelled context (nothing changed)", topic, s)
}
