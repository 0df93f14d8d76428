package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/internal/redistest"
	"github.com/gqlambda/gqlambda/store"
)

// commandLog is a go-redis hook that records every command a client sends.
type commandLog struct {
	mu   sync.Mutex
	cmds [][]any
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.add(cmd)
		return next(ctx, cmd)
	}
}

func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			l.add(cmd)
		}
		return next(ctx, cmds)
	}
}

func (l *commandLog) add(cmd redis.Cmder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, slices.Clone(cmd.Args()))
}

// keysOf returns the keys a command names, for the commands the store sends
// (and the handshake's, which name none).
func keysOf(args []any) ([]string, error) {
	name := strings.ToLower(fmt.Sprint(args[0]))
	switch name {
	case "eval", "evalsha", "eval_ro", "evalsha_ro":
		n, err := strconv.Atoi(fmt.Sprint(args[2]))
		if err != nil || 3+n > len(args) {
			return nil, fmt.Errorf("%s with a bad key count %v", name, args[2])
		}
		keys := make([]string, n)
		for i := range n {
			keys[i] = fmt.Sprint(args[3+i])
		}
		return keys, nil
	case "hget", "hgetall", "zrange", "zrem", "zadd", "pexpiretime":
		return []string{fmt.Sprint(args[1])}, nil
	case "hello", "client", "ping", "auth", "select", "script":
		return nil, nil
	}
	return nil, fmt.Errorf("command %s: not one the store is expected to send", name)
}

// workload drives st through every method with awkward ids (braces that
// would move a hash tag, separators, unicode) and returns what it left:
// the live connections' ids.
func workload(t *testing.T, st *Store, expires time.Time) {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	topics := []string{"chat{1}", "MESSAGE_BROADCAST", "ü#0"}
	for i, id := range []string{"BJq2UdL9joECGhg=", "c{x}", "{", "a%7Bb", "ü日本"} {
		c := store.Connection{ID: id, Endpoint: "https://e/prod", Protocol: "graphql-transport-ws", ConnectedAt: now, ExpiresAt: expires}
		if err := st.CreateConnection(ctx, c); err != nil {
			t.Fatalf("CreateConnection %q: %v", id, err)
		}
		if err := st.AcknowledgeConnection(ctx, id, json.RawMessage(`{"n":1}`)); err != nil {
			t.Fatalf("AcknowledgeConnection %q: %v", id, err)
		}
		for j, subID := range []string{"1", "{2}", "x y"} {
			sub := store.Subscription{ConnectionID: id, ID: subID, Topics: topics[:1+(i+j)%3], Query: "subscription { x }",
				CreatedAt: now, ExpiresAt: expires}
			if err := st.CreateSubscription(ctx, sub); err != nil {
				t.Fatalf("CreateSubscription %q of %q: %v", subID, id, err)
			}
		}
		if _, err := st.GetConnection(ctx, id); err != nil {
			t.Fatalf("GetConnection %q: %v", id, err)
		}
		if _, err := st.GetSubscription(ctx, id, "1"); err != nil {
			t.Fatalf("GetSubscription 1 of %q: %v", id, err)
		}
	}
	for _, topic := range topics {
		for _, err := range st.TopicSubscriptions(ctx, topic) {
			if err != nil {
				t.Fatalf("TopicSubscriptions %q: %v", topic, err)
			}
		}
	}
	for _, id := range []string{"BJq2UdL9joECGhg=", "c{x}"} {
		if err := st.RecordActivity(ctx, id, now.Add(time.Second)); err != nil {
			t.Fatalf("RecordActivity %q: %v", id, err)
		}
		if err := st.RecordPing(ctx, id, now.Add(2*time.Second)); err != nil {
			t.Fatalf("RecordPing %q: %v", id, err)
		}
	}
	for _, err := range st.IdleConnections(ctx, now.Add(time.Hour)) {
		if err != nil {
			t.Fatalf("IdleConnections: %v", err)
		}
	}
	if _, err := st.DeleteSubscription(ctx, "c{x}", "{2}"); err != nil {
		t.Fatalf("DeleteSubscription: %v", err)
	}
	if _, _, err := st.DeleteConnection(ctx, "{"); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	// Refused writes touch keys too.
	if err := st.CreateSubscription(ctx, store.Subscription{ConnectionID: "{", ID: "late", Topics: topics, ExpiresAt: expires}); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Fatalf("CreateSubscription after DeleteConnection: want ErrConnectionNotFound, got %v", err)
	}
	if err := st.CreateSubscription(ctx, store.Subscription{ConnectionID: "c{x}", ID: "1", Topics: topics, ExpiresAt: expires}); !errors.Is(err, store.ErrSubscriptionExists) {
		t.Fatalf("duplicate CreateSubscription: want ErrSubscriptionExists, got %v", err)
	}
}

// TestCommandsOfAWorkload records every command a workload sends: every
// script names keys of one slot only (Redis Cluster refuses any other), and
// no command walks the keyspace.
func TestCommandsOfAWorkload(t *testing.T) {
	opts, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	log := &commandLog{}
	client.AddHook(log)
	for _, shards := range []int{1, 5} {
		st := New(client, &Options{KeyPrefix: redistest.Prefix(t) + "{p}", Shards: shards, PageSize: 2})
		workload(t, st, time.Now().Add(time.Hour))
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	scripts := 0
	for _, args := range log.cmds {
		keys, err := keysOf(args)
		if err != nil {
			t.Error(err)
			continue
		}
		name := strings.ToLower(fmt.Sprint(args[0]))
		if strings.HasPrefix(name, "eval") {
			scripts++
		}
		for _, k := range keys[min(1, len(keys)):] {
			if slot(k) != slot(keys[0]) {
				t.Errorf("%s names keys of two slots: %q (%d) and %q (%d)", name, keys[0], slot(keys[0]), k, slot(k))
			}
		}
	}
	if scripts < 20 {
		t.Errorf("the workload ran %d scripts; the hook did not see them", scripts)
	}
}

// TestTimeToLiveOnEveryKey: after a workload whose records expire, every key
// the store left has a Time to Live: the connection's at its ExpiresAt, the
// subscriptions hash and topic shards at the latest ExpiresAt they hold,
// and what deletions keep for a retry within 30 s.
func TestTimeToLiveOnEveryKey(t *testing.T) {
	client := sharedClient(t)
	prefix := redistest.Prefix(t)
	st := New(client, &Options{KeyPrefix: prefix, Shards: 3})
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	workload(t, st, expires)
	// A subscription that lives longer than its connection moves the
	// expiry of its connection's subscriptions hash and of its topic shard.
	later := expires.Add(time.Hour)
	long := store.Subscription{ConnectionID: "ü日本", ID: "long", Topics: []string{"long-lived"}, ExpiresAt: later}
	if err := st.CreateSubscription(t.Context(), long); err != nil {
		t.Fatal(err)
	}

	keys := redistest.Keys(t, client, prefix)
	if len(keys) < 10 {
		t.Fatalf("the workload left %d keys, want more: %q", len(keys), keys)
	}
	k := st.keys
	want := map[string]time.Time{
		k.subscriptions("ü日本"):                           later,
		k.topic("long-lived", shardOf("ü日本", "long", 3)): later,
	}
	for _, key := range keys {
		at, err := client.PExpireTime(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if at < 0 {
			t.Errorf("key %q has no Time to Live (PEXPIRETIME %d)", key, at)
			continue
		}
		got := time.UnixMilli(int64(at / time.Millisecond))
		switch w, ok := want[key]; {
		case ok:
			if !got.Equal(w) {
				t.Errorf("key %q expires at %v, want %v (the latest record it holds)", key, got, w)
			}
		case strings.HasPrefix(key, prefix+kindDeleted+"{"):
			if d := time.Until(got); d <= 0 || d > keepDeleted {
				t.Errorf("key %q, kept by a deletion, expires in %v, want within %v", key, d, keepDeleted)
			}
		default:
			if !got.Equal(expires) {
				t.Errorf("key %q expires at %v, want %v (the records' ExpiresAt)", key, got, expires)
			}
		}
	}
}

// TestNothingLeftBehind: once every connection is deleted, whatever raced,
// the only keys left are what the deletions keep for 30 s; no index entry
// outlives its subscription.
func TestNothingLeftBehind(t *testing.T) {
	client := sharedClient(t)
	prefix := redistest.Prefix(t)
	st := New(client, &Options{KeyPrefix: prefix, Shards: 2})
	ctx := t.Context()
	workload(t, st, time.Now().Add(time.Hour))
	ids := []string{"BJq2UdL9joECGhg=", "c{x}", "a%7Bb", "ü日本"}

	// Subscribe, disconnect, complete and a duplicate subscribe, all racing,
	// on connections of their own.
	const pairs = 200
	var wg sync.WaitGroup
	for i := range pairs {
		id := fmt.Sprintf("race-%d", i)
		ids = append(ids, id)
		c := store.Connection{ID: id, ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		sub := store.Subscription{ConnectionID: id, ID: "1", Topics: []string{"hot", "cold"}, ExpiresAt: c.ExpiresAt}
		start := make(chan struct{})
		for _, f := range []func(){
			func() { _ = st.CreateSubscription(ctx, sub) },
			func() { _ = st.CreateSubscription(ctx, sub) },
			func() { _, _ = st.DeleteSubscription(ctx, id, "1") },
			func() { _, _, _ = st.DeleteConnection(ctx, id) },
		} {
			wg.Go(func() {
				<-start
				f()
			})
		}
		close(start)
	}
	wg.Wait()
	for _, id := range ids {
		if _, _, err := st.DeleteConnection(ctx, id); err != nil && !errors.Is(err, store.ErrConnectionNotFound) {
			t.Fatalf("DeleteConnection %q: %v", id, err)
		}
	}
	for _, key := range redistest.Keys(t, client, prefix) {
		if !strings.HasPrefix(key, prefix+kindDeleted+"{") {
			kind, _ := client.Type(ctx, key).Result()
			n, _ := client.ZCard(ctx, key).Result()
			t.Errorf("key %q (%s, %d entries) left after every connection was deleted", key, kind, n)
		}
	}
}

// TestRetriedScriptsAnswerAsTheFirstRun runs each write's script twice with
// the same arguments, as go-redis does when a reply is lost: the second run
// must answer what the first did and change nothing more.
func TestRetriedScriptsAnswerAsTheFirstRun(t *testing.T) {
	client := sharedClient(t)
	st := New(client, &Options{KeyPrefix: redistest.Prefix(t)})
	ctx := t.Context()
	now := time.Now()
	nowMs := now.UnixMilli()
	exp := now.Add(time.Hour)
	id := "c{1}"
	twice := func(what string, script *redis.Script, keys []string, args ...any) any {
		t.Helper()
		var replies [2]any
		for i := range replies {
			v, err := script.Run(ctx, client, keys, args...).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				t.Fatalf("%s, run %d: %v", what, i+1, err)
			}
			replies[i] = v
		}
		if fmt.Sprint(replies[0]) != fmt.Sprint(replies[1]) {
			t.Errorf("%s: the second run answered %v, the first %v", what, replies[1], replies[0])
		}
		return replies[0]
	}
	connArgs := append([]any{nowMs, "tok-c", millis(exp)}, connectionFields(store.Connection{ID: id, ExpiresAt: exp})...)
	if v := twice("create connection", st.scripts.createConnection, []string{st.keys.connection(id)}, connArgs...); v != "OK" {
		t.Fatalf("create connection: %v", v)
	}
	if v := twice("acknowledge", st.scripts.acknowledge, []string{st.keys.connection(id)}, nowMs, "tok-a", `{"n":1}`); v != "OK" {
		t.Fatalf("acknowledge: %v", v)
	}
	// Another call is refused as usual.
	if err := st.AcknowledgeConnection(ctx, id, nil); !errors.Is(err, store.ErrAlreadyAcknowledged) {
		t.Errorf("AcknowledgeConnection after the retried one: want ErrAlreadyAcknowledged, got %v", err)
	}
	sub := store.Subscription{ConnectionID: id, ID: "s", Topics: []string{"t"}, ExpiresAt: exp}
	rec := encodeSubscription(sub, "r.1", nil)
	subKeys := []string{st.keys.connection(id), st.keys.subscriptions(id)}
	if v := twice("subscribe", st.scripts.subscribe, subKeys, nowMs, "s", rec, millis(exp), "r.1", 0); fmt.Sprint(v) != "[OK]" {
		t.Fatalf("subscribe: %v", v)
	}
	if err := st.CreateSubscription(ctx, sub); !errors.Is(err, store.ErrSubscriptionExists) {
		t.Errorf("CreateSubscription after the retried one: want ErrSubscriptionExists, got %v", err)
	}
	del := st.keys.deleted(id, deletedSubscription, "tok-d")
	if v := twice("unsubscribe", st.scripts.unsubscribe, []string{st.keys.subscriptions(id), del}, "s", 30000); v != rec {
		t.Errorf("unsubscribe answered %v, want the record", v)
	}
	if _, err := st.DeleteSubscription(ctx, id, "s"); !errors.Is(err, store.ErrSubscriptionNotFound) {
		t.Errorf("DeleteSubscription after the retried one: want ErrSubscriptionNotFound, got %v", err)
	}
	if v := twice("subscribe again", st.scripts.subscribe, subKeys, nowMs, "s", rec, millis(exp), "r.1"); fmt.Sprint(v) != "[OK]" {
		t.Fatalf("subscribe again: %v", v)
	}
	dkeys := []string{st.keys.connection(id), st.keys.subscriptions(id),
		st.keys.deleted(id, deletedConnection, "tok-x"), st.keys.deleted(id, deletedSubscriptions, "tok-x")}
	v := twice("disconnect", st.scripts.disconnect, dkeys, 30000)
	if parts, ok := v.([]any); !ok || len(parts) != 2 || len(parts[0].([]any)) == 0 || len(parts[1].([]any)) != 2 {
		t.Errorf("disconnect answered %v, want the connection and its one subscription", v)
	}
	if _, _, err := st.DeleteConnection(ctx, id); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Errorf("DeleteConnection after the retried one: want ErrConnectionNotFound, got %v", err)
	}
}

// TestStaleEntriesArePruned: an index entry without a record is skipped by
// readers, and deleted once it is older than any CreateSubscription can be
// between its two steps; a young one is left to its writer.
func TestStaleEntriesArePruned(t *testing.T) {
	client := sharedClient(t)
	st := New(client, &Options{KeyPrefix: redistest.Prefix(t)})
	ctx := t.Context()
	now := time.Now()
	key := st.keys.topic("t", 0)
	live := store.Subscription{ConnectionID: "c", ID: "live", Topics: []string{"t"}, ExpiresAt: now.Add(time.Hour)}
	if err := st.CreateConnection(ctx, store.Connection{ID: "c", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSubscription(ctx, live); err != nil {
		t.Fatal(err)
	}
	old := member("c", "gone", newRev(now.Add(-pruneAfter-time.Minute)))
	young := member("c", "coming", newRev(now.Add(-time.Minute)))
	stranger := "not an entry of this store"
	mismatch := member("c", "live", newRev(now.Add(-pruneAfter-time.Minute))) // an older revision of a live id
	if err := client.ZAdd(ctx, key, redis.Z{Member: old}, redis.Z{Member: young}, redis.Z{Member: stranger}, redis.Z{Member: mismatch}).Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for sub, err := range st.TopicSubscriptions(ctx, "t") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, sub.ID)
	}
	if !slices.Equal(got, []string{"live"}) {
		t.Errorf("TopicSubscriptions yielded %q, want only the subscription with a record", got)
	}
	members, err := client.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(members)
	want := []string{member("c", "live", ""), young}
	if len(members) != 2 || members[1] != young || !strings.HasPrefix(members[0], want[0]) {
		t.Errorf("index after a read: %q, want the live entry and the young one (the old, stranger and superseded ones pruned)", members)
	}
}

// TestExpiryBeforeTheEpoch: an ExpiresAt before 1970 is a negative number
// of milliseconds; the scripts read it as expired, not as "never".
func TestExpiryBeforeTheEpoch(t *testing.T) {
	client := sharedClient(t)
	st := New(client, &Options{KeyPrefix: redistest.Prefix(t)})
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if err := st.CreateConnection(ctx, store.Connection{ID: "c", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	// A live subscription keeps the hash, so the ancient record stays in it.
	for _, sub := range []store.Subscription{
		{ConnectionID: "c", ID: "live", Topics: []string{"t"}, ExpiresAt: exp},
		{ConnectionID: "c", ID: "old", Topics: []string{"t"}, ExpiresAt: time.UnixMilli(-5)},
	} {
		if err := st.CreateSubscription(ctx, sub); err != nil {
			t.Fatalf("CreateSubscription %q: %v", sub.ID, err)
		}
	}
	if n, err := client.HLen(ctx, st.keys.subscriptions("c")).Result(); err != nil || n != 2 {
		t.Fatalf("the subscriptions hash holds %d records (%v), want 2", n, err)
	}
	again := store.Subscription{ConnectionID: "c", ID: "old", Topics: []string{"t"}, ExpiresAt: exp}
	if err := st.CreateSubscription(ctx, again); err != nil {
		t.Errorf("CreateSubscription of an id whose record expired before 1970: want nil (it is expired), got %v", err)
	}
}
