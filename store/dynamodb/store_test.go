package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/internal/dynamotest"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/memory"
	"github.com/gqlambda/gqlambda/store/storetest"
)

// localTables creates fresh tables on DynamoDB Local, named for the test.
func localTables(t testing.TB, client *dynamodb.Client) Tables {
	t.Helper()
	p := dynamotest.Prefix(t)
	tables := PrefixedTables(p)
	if err := CreateTables(t.Context(), client, tables); err != nil {
		t.Fatal(err)
	}
	return tables
}

func TestConformance(t *testing.T) {
	client := dynamotest.Client(t)
	for _, tc := range []struct {
		name  string
		opts  Options
		suite storetest.Options
	}{
		// The suite's sizes: 3000 subscriptions on one topic fill more than
		// one of DynamoDB's 1 MB pages. DynamoDB Local answers each request
		// after those queued before it, so 16 racing goroutines a case
		// rather than 32 keep the cases that call the store one call at a
		// time (TopicMutationDuringIteration) from waiting behind the
		// others.
		{"defaults", Options{}, storetest.Options{Concurrency: 16}},
		// Four shards read in parallel, in pages of 100: 1000 subscriptions
		// on one topic are about 250 a shard, three pages each. Each
		// subscription costs DynamoDB Local milliseconds of CPU, so this run
		// stores fewer than the first.
		{"shards-4-pages-100", Options{Shards: 4, PageSize: 100}, storetest.Options{ManySubscriptions: 1000, RacePairs: 300, Concurrency: 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tables := localTables(t, client)
			newStore := func(now func() time.Time) store.Store {
				o := tc.opts
				o.Tables, o.Now = tables, now
				return New(client, &o)
			}
			suite := tc.suite
			suite.NewClockedStore = func(_ *testing.T, now func() time.Time) store.Store { return newStore(now) }
			storetest.Run(t, func(*testing.T) store.Store { return newStore(nil) }, &suite)
		})
	}
}

func TestSortKeyInjective(t *testing.T) {
	// Every pair over ids made of separators, digits and the empty string:
	// naive joins collide on many of them.
	parts := []string{"", "a", ":", "#", "1", "1:", ":a", "a:b", "2:a", "a#b", "ü"}
	seen := map[string][2]string{}
	for _, c := range parts {
		for _, s := range parts {
			k := sortKey(c, s)
			if prev, ok := seen[k]; ok {
				t.Errorf("sortKey(%q, %q) = sortKey(%q, %q) = %q", c, s, prev[0], prev[1], k)
			}
			seen[k] = [2]string{c, s}
		}
	}
	for _, tc := range []struct{ conn, sub, want string }{
		{"abc", "1", "3:abc:1"},
		{"a:b", "c", "3:a:b:c"},
		{"a", "b:c", "1:a:b:c"},
		{"ü", "", "2:ü:"},
	} {
		if got := sortKey(tc.conn, tc.sub); got != tc.want {
			t.Errorf("sortKey(%q, %q) = %q, want %q", tc.conn, tc.sub, got, tc.want)
		}
	}
}

func TestPartitionKey(t *testing.T) {
	seen := map[string]string{}
	for _, topic := range []string{"", "a", "a#1", "a#", "#", "a#1#0", "chat:1", "ü#2"} {
		for shard := range 12 {
			pk := partitionKey(topic, shard)
			what := fmt.Sprintf("topic %q shard %d", topic, shard)
			if prev, ok := seen[pk]; ok {
				t.Errorf("partitionKey: %s and %s share %q", prev, what, pk)
			}
			seen[pk] = what
			if got, err := shardOfKey(pk); err != nil || got != shard {
				t.Errorf("shardOfKey(%q) = %d, %v; want %d", pk, got, err, shard)
			}
		}
	}
	for _, pk := range []string{"", "abc", "abc#", "abc#x"} {
		if _, err := shardOfKey(pk); err == nil {
			t.Errorf("shardOfKey(%q): want an error", pk)
		}
	}
}

// fnv1a is FNV-1a (32 bits), written out to check shardOf against.
func fnv1a(s string) uint32 {
	h := uint32(2166136261)
	for i := range len(s) {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func TestShardOf(t *testing.T) {
	for _, tc := range []struct {
		conn, sub string
		shards    int
	}{
		{"abc=", "1", 4}, {"abc=", "2", 4}, {"BJq2UdL9joECGhg=", "sub-1", 16},
		{"x", "", 3}, {"", "x", 3}, {"a\x00", "b", 1000}, {"a", "\x00b", 1000},
	} {
		want := int(fnv1a(tc.conn+"\x00"+tc.sub) % uint32(tc.shards))
		for range 3 { // stable from call to call
			if got := shardOf(tc.conn, tc.sub, tc.shards); got != want {
				t.Errorf("shardOf(%q, %q, %d) = %d, want %d", tc.conn, tc.sub, tc.shards, got, want)
			}
		}
	}
	// Fixed values: a change of the hash would lose the subscriptions of
	// every table written before it.
	if got := shardOf("abc=", "1", 4); got != 1 || fnv1a("abc=\x001") != 0x86a5fd35 {
		t.Errorf("shardOf(%q, %q, 4) = %d, hash %#x; want 1, hash 0x86a5fd35: the hash changed", "abc=", "1", got, fnv1a("abc=\x001"))
	}
	counts := make([]int, 4)
	for i := range 4000 {
		counts[shardOf(fmt.Sprintf("conn-%d", i), "1", 4)]++
	}
	for shard, n := range counts {
		if n < 800 {
			t.Errorf("shard %d got %d of 4000 subscriptions: the hash does not spread them", shard, n)
		}
	}
	for _, shards := range []int{0, 1, -3} {
		if got := shardOf("a", "b", shards); got != 0 {
			t.Errorf("shardOf with %d shards = %d, want 0", shards, got)
		}
	}
}

func TestTimes(t *testing.T) {
	for _, tc := range []struct{ ms, ttl int64 }{
		{0, 0}, {1, 1}, {999, 1}, {1000, 1}, {1001, 2}, {1700000000123, 1700000001}, {-1500, -1},
	} {
		if got := ttlSeconds(tc.ms); got != tc.ttl {
			t.Errorf("ttlSeconds(%d) = %d, want %d", tc.ms, got, tc.ttl)
		}
	}
	now := time.UnixMilli(1700000000000)
	for _, tc := range []struct {
		ms      int64
		expired bool
	}{
		{0, false}, {now.UnixMilli() - 1, true}, {now.UnixMilli(), true}, {now.UnixMilli() + 1, false},
	} {
		if got := expiredAt(tc.ms, now); got != tc.expired {
			t.Errorf("expiredAt(%d, %d) = %t, want %t", tc.ms, now.UnixMilli(), got, tc.expired)
		}
	}
	if !fromMillis(millis(time.Time{})).IsZero() {
		t.Error("the zero time does not come back zero")
	}
}

func TestSubscriptionCodec(t *testing.T) {
	f := filter.Filter{Groups: []filter.Group{{Conditions: []filter.Condition{
		{Field: "chatId", Operator: filter.Eq, Value: "42"},
		{Field: "score", Operator: filter.Between, Value: []any{1.5, 10.0}},
	}}}}
	created := time.UnixMilli(1700000000123).UTC()
	for _, sub := range []store.Subscription{
		{
			ConnectionID: "a:b#c", ID: "1:2", Topics: []string{"t2", "t1", "t2"}, Filter: f,
			Query: "subscription { x }", OperationName: "Op", Variables: json.RawMessage(`{"a":1}`),
			Context: json.RawMessage(`{"u":"x"}`), Endpoint: "https://e", Protocol: "graphql-transport-ws",
			CompleteHook: true, CreatedAt: created, ExpiresAt: created.Add(time.Hour),
		},
		{ConnectionID: "c", ID: "s", Topics: []string{"t"}},
	} {
		fj, err := encodeFilter(sub.Filter)
		if err != nil {
			t.Fatal(err)
		}
		it, err := encodeSubscription(sub, "t1", 3, "rev1", fj)
		if err != nil {
			t.Fatal(err)
		}
		if pk, _ := getStr(it, AttrPK); pk != "t1#3" {
			t.Errorf("pk = %q, want %q", pk, "t1#3")
		}
		if sk, _ := getStr(it, AttrSK); sk != sortKey(sub.ConnectionID, sub.ID) {
			t.Errorf("sk = %q, want %q", sk, sortKey(sub.ConnectionID, sub.ID))
		}
		got, err := decodeSubscription(it)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.sub, sub) || got.rev != "rev1" || got.expiresAt != millis(sub.ExpiresAt) {
			t.Errorf("round trip:\n got %+v (rev %q, expires %d)\nwant %+v", got.sub, got.rev, got.expiresAt, sub)
		}
		if ttl, _ := getNum(it, AttrTTL); ttl != ttlSeconds(millis(sub.ExpiresAt)) {
			t.Errorf("ttl = %d, want %d", ttl, ttlSeconds(millis(sub.ExpiresAt)))
		}
	}
	if _, err := decodeSubscription(item{AttrConnectionID: num(1)}); err == nil {
		t.Error("decodeSubscription of a number connection id: want an error")
	}
	if _, err := decodeSubscription(item{AttrConnectionID: str("c"), attrDoc: str("{")}); err == nil {
		t.Error("decodeSubscription of a broken document: want an error")
	}
	if _, err := encodeSubscription(store.Subscription{ConnectionID: "c", ID: "s", Topics: []string{"t"}, Variables: json.RawMessage("{")}, "t", 0, "r", nil); err == nil {
		t.Error("encodeSubscription of invalid variables: want an error")
	}
}

// TestLegacySubscriptionItem: an item written before the JSON document
// (one attribute per field) is read as it was.
func TestLegacySubscriptionItem(t *testing.T) {
	created := time.UnixMilli(1700000000123).UTC()
	want := store.Subscription{
		ConnectionID: "a", ID: "1", Topics: []string{"t1", "t2"},
		Filter: filter.Filter{Groups: []filter.Group{{Conditions: []filter.Condition{{Field: "chatId", Operator: filter.Eq, Value: "42"}}}}},
		Query:  "subscription { x }", OperationName: "Op", Variables: json.RawMessage(`{"a":1}`),
		Context: json.RawMessage(`{"u":"x"}`), Data: json.RawMessage(`{"d":2}`), Authorizer: json.RawMessage(`{"p":"u"}`),
		Endpoint: "https://e", Protocol: "graphql-transport-ws", CompleteHook: true, Predicate: true,
		CreatedAt: created, ExpiresAt: created.Add(time.Hour),
	}
	legacy := item{
		AttrPK: str("t1#0"), AttrSK: str(sortKey("a", "1")), AttrConnectionID: str("a"), attrSubscriptionID: str("1"),
		attrTopics: &types.AttributeValueMemberL{Value: []types.AttributeValue{str("t1"), str("t2")}},
		attrQuery:  str("subscription { x }"), attrOperationName: str("Op"), attrVariables: str(`{"a":1}`),
		attrContext: str(`{"u":"x"}`), attrData: str(`{"d":2}`), attrAuthorizer: str(`{"p":"u"}`),
		attrEndpoint: str("https://e"), attrProtocol: str("graphql-transport-ws"), attrCompleteHook: boolean(true),
		attrPredicate: boolean(true), attrCreatedAt: num(millis(created)), attrExpiresAt: num(millis(want.ExpiresAt)), attrRev: str("r1"),
	}
	fj, err := encodeFilter(want.Filter)
	if err != nil {
		t.Fatal(err)
	}
	legacy[attrFilter] = str(string(fj))
	got, err := decodeSubscription(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.sub, want) || got.rev != "r1" {
		t.Errorf("legacy item:\n got %+v (rev %q)\nwant %+v", got.sub, got.rev, want)
	}
}

func TestConnectionCodec(t *testing.T) {
	e := entry{topics: []string{"a", "b"}, shard: 2, rev: "r", expiresAt: 1700000000123}
	it := item{
		AttrID: str("c"), attrEndpoint: str("https://e"), attrProtocol: str("graphql-ws"),
		attrAck: boolean(true), attrContext: str(`{"n":1}`), attrConnectedAt: num(1700000000000),
		attrExpiresAt: num(1700000001000), attrSubs: &types.AttributeValueMemberM{Value: item{"s:1": e.encode()}},
	}
	ci, err := decodeConnection(it)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Connection{
		ID: "c", Endpoint: "https://e", Protocol: "graphql-ws", Acknowledged: true, Context: json.RawMessage(`{"n":1}`),
		ConnectedAt: time.UnixMilli(1700000000000).UTC(), ExpiresAt: time.UnixMilli(1700000001000).UTC(),
	}
	if !reflect.DeepEqual(ci.conn, want) {
		t.Errorf("connection = %+v, want %+v", ci.conn, want)
	}
	if !reflect.DeepEqual(ci.subs, map[string]entry{"s:1": e}) {
		t.Errorf("subs = %+v, want the entry %+v", ci.subs, e)
	}
	if !ci.live(time.UnixMilli(1700000000999)) || ci.live(time.UnixMilli(1700000001000)) {
		t.Error("live: want live until ExpiresAt, not at it")
	}
	ci.deletingAt = 1
	if ci.live(time.UnixMilli(0)) {
		t.Error("live: a claimed connection is not live")
	}
	for _, bad := range []item{
		{AttrID: str("c"), attrSubs: str("x")},
		{AttrID: str("c"), attrSubs: &types.AttributeValueMemberM{Value: item{"s": str("x")}}},
		{AttrID: str("c"), attrAck: str("yes")},
	} {
		if _, err := decodeConnection(bad); err == nil {
			t.Errorf("decodeConnection(%v): want an error", bad)
		}
	}
}

func TestExprPlaceholders(t *testing.T) {
	var x expr
	x.alias("sid", "a.b#c")
	got := x.use("attribute_exists(#id) AND #subs.#sid.#rev = :rev AND #subs_2 > :n")
	if got != "attribute_exists(#id) AND #subs.#sid.#rev = :rev AND #subs_2 > :n" {
		t.Errorf("use changed the expression: %q", got)
	}
	want := map[string]string{"#id": "id", "#subs": "subs", "#sid": "a.b#c", "#rev": "rev", "#subs_2": "subs_2"}
	if !reflect.DeepEqual(x.attrNames(), want) {
		t.Errorf("names = %v, want %v", x.attrNames(), want)
	}
	if x.attrValues() != nil {
		t.Errorf("values = %v, want nil (DynamoDB refuses an empty map)", x.attrValues())
	}
}

// TestNoScan: the store finds everything by key; a Scan would read whole
// tables.
func TestNoScan(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{".Scan(", "ScanInput", "ScanPaginator"} {
			if strings.Contains(string(src), bad) {
				t.Errorf("%s uses %s: the store must read by key, never by scanning", name, bad)
			}
		}
	}
}

// tablesAPI is an API that records the tables it is asked about and finds
// nothing.
type tablesAPI struct {
	API
	mu     sync.Mutex
	tables []string
}

func (a *tablesAPI) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tables = append(a.tables, *in.TableName)
	return &dynamodb.GetItemOutput{}, nil
}

func TestTableNames(t *testing.T) {
	api := &tablesAPI{}
	var calls atomic.Int32
	boom := errors.New("parameter store unavailable")
	s := New(api, &Options{
		Tables: Tables{Connections: "ignored"},
		TableNames: func(ctx context.Context) (Tables, error) {
			if calls.Add(1) == 1 {
				return Tables{}, boom
			}
			return Tables{Connections: "from-config"}, nil
		},
	})
	_, err := s.GetConnection(t.Context(), "c")
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "dynamodb: ") {
		t.Fatalf("GetConnection when the names cannot be resolved: want an error wrapping %v, prefixed dynamodb:, got %v", boom, err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.GetConnection(t.Context(), "c"); !errors.Is(err, store.ErrConnectionNotFound) {
				t.Errorf("GetConnection: want ErrConnectionNotFound, got %v", err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 2 {
		t.Errorf("TableNames called %d times, want 2 (a failure, then once for good)", n)
	}
	want := slices.Repeat([]string{"from-config"}, 8)
	if !slices.Equal(api.tables, want) {
		t.Errorf("tables read: %q, want %q", api.tables, want)
	}

	static := &tablesAPI{}
	if _, err := New(static, nil).GetConnection(t.Context(), "c"); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Fatalf("GetConnection: want ErrConnectionNotFound, got %v", err)
	}
	if !slices.Equal(static.tables, []string{DefaultConnectionsTable}) {
		t.Errorf("tables read without options: %q, want the default", static.tables)
	}
}

func TestCreateSubscriptionLimits(t *testing.T) {
	s := New(nil, nil) // refused before any request
	topics := make([]string, maxTopics+1)
	for i := range topics {
		topics[i] = fmt.Sprint("t", i)
	}
	for _, tc := range []struct {
		name string
		sub  store.Subscription
		is   error
	}{
		{"100 topics", store.Subscription{ConnectionID: "c", ID: "1", Topics: topics}, ErrTooManyTopics},
		{"no topics", store.Subscription{ConnectionID: "c", ID: "1"}, nil},
		{"no id", store.Subscription{ConnectionID: "c", Topics: []string{"t"}}, nil},
		{"no connection", store.Subscription{ID: "1", Topics: []string{"t"}}, nil},
		{"long ids", store.Subscription{ConnectionID: "c", ID: strings.Repeat("x", maxSortKey), Topics: []string{"t"}}, nil},
		{"long topic", store.Subscription{ConnectionID: "c", ID: "1", Topics: []string{strings.Repeat("x", maxPartitionKey)}}, nil},
	} {
		err := s.CreateSubscription(t.Context(), tc.sub)
		if err == nil || tc.is != nil && !errors.Is(err, tc.is) || !strings.HasPrefix(err.Error(), "dynamodb: ") {
			t.Errorf("%s: CreateSubscription = %v, want an error (wrapping %v)", tc.name, err, tc.is)
		}
	}
	// 99 distinct topics, given with duplicates, are fine.
	ok := append(slices.Clone(topics[:maxTopics]), topics[:10]...)
	if len(distinctTopics(ok)) != maxTopics {
		t.Fatalf("distinctTopics: %d, want %d", len(distinctTopics(ok)), maxTopics)
	}
}

func TestIDsThatCannotExist(t *testing.T) {
	s := New(nil, nil) // answered before any request
	ctx := t.Context()
	long := strings.Repeat("x", maxSortKey)
	for _, ids := range [][2]string{{"", "1"}, {"c", ""}, {"c", long}} {
		if _, err := s.GetSubscription(ctx, ids[0], ids[1]); !errors.Is(err, store.ErrSubscriptionNotFound) {
			t.Errorf("GetSubscription(%.10q, %.10q): want ErrSubscriptionNotFound, got %v", ids[0], ids[1], err)
		}
		if _, err := s.DeleteSubscription(ctx, ids[0], ids[1]); !errors.Is(err, store.ErrSubscriptionNotFound) {
			t.Errorf("DeleteSubscription(%.10q, %.10q): want ErrSubscriptionNotFound, got %v", ids[0], ids[1], err)
		}
	}
	if _, err := s.GetConnection(ctx, ""); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Errorf("GetConnection of the empty id: want ErrConnectionNotFound, got %v", err)
	}
	if err := s.AcknowledgeConnection(ctx, "", nil); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Errorf("AcknowledgeConnection of the empty id: want ErrConnectionNotFound, got %v", err)
	}
	if _, _, err := s.DeleteConnection(ctx, ""); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Errorf("DeleteConnection of the empty id: want ErrConnectionNotFound, got %v", err)
	}
	if err := s.CreateConnection(ctx, store.Connection{}); err == nil || errors.Is(err, store.ErrConnectionExists) {
		t.Errorf("CreateConnection of the empty id: want an error, got %v", err)
	}
}

// countingAPI passes every call to the real client and records the batch
// writes, the batch reads and the queries.
type countingAPI struct {
	API
	mu          sync.Mutex
	batchWrites []int // number of requests of each BatchWriteItem call
	batchGets   []int // number of keys of each BatchGetItem call
	queries     atomic.Int32
	inFlight    atomic.Int32 // queries running
	// pages, when not nil, records the answer to every query.
	pages  []queryPage
	limits []int32 // the Limit of each query of the subscriptions table, 0: none
	// unprocessedWrites, when set, is how many of the calls from the first
	// on return half their requests unprocessed, instead of sending them.
	unprocessedWrites int
	unprocessedGets   int
}

func (a *countingAPI) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	a.mu.Lock()
	n := 0
	for _, reqs := range in.RequestItems {
		n += len(reqs)
	}
	a.batchWrites = append(a.batchWrites, n)
	refuse := a.unprocessedWrites > 0
	a.unprocessedWrites--
	a.mu.Unlock()
	if !refuse {
		return a.API.BatchWriteItem(ctx, in, opts...)
	}
	send, keep := map[string][]types.WriteRequest{}, map[string][]types.WriteRequest{}
	for table, reqs := range in.RequestItems {
		send[table], keep[table] = reqs[:len(reqs)/2], reqs[len(reqs)/2:]
	}
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: keep}
	if len(send) > 0 && n > 1 {
		res, err := a.API.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: send}, opts...)
		if err != nil {
			return nil, err
		}
		for table, reqs := range res.UnprocessedItems {
			out.UnprocessedItems[table] = append(out.UnprocessedItems[table], reqs...)
		}
	}
	return out, nil
}

func (a *countingAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	a.mu.Lock()
	n := 0
	for _, ka := range in.RequestItems {
		n += len(ka.Keys)
	}
	a.batchGets = append(a.batchGets, n)
	refuse := a.unprocessedGets > 0
	a.unprocessedGets--
	a.mu.Unlock()
	if !refuse || n < 2 {
		return a.API.BatchGetItem(ctx, in, opts...)
	}
	send, keep := map[string]types.KeysAndAttributes{}, map[string]types.KeysAndAttributes{}
	for table, ka := range in.RequestItems {
		half := ka
		half.Keys = ka.Keys[:len(ka.Keys)/2]
		send[table] = half
		rest := ka
		rest.Keys = ka.Keys[len(ka.Keys)/2:]
		keep[table] = rest
	}
	res, err := a.API.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: send}, opts...)
	if err != nil {
		return nil, err
	}
	res.UnprocessedKeys = keep
	return res, nil
}

func (a *countingAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	a.mu.Lock()
	if in.IndexName == nil {
		a.limits = append(a.limits, deref32(in.Limit))
	}
	a.mu.Unlock()
	a.queries.Add(1)
	a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	out, err := a.API.Query(ctx, in, opts...)
	a.mu.Lock()
	if a.pages != nil && err == nil {
		a.pages = append(a.pages, queryPage{in.ExpressionAttributeValues[":pk"], in.ExclusiveStartKey, out})
	}
	a.mu.Unlock()
	return out, err
}

// queryPage is a query's answer: the page of partition key pk from start.
type queryPage struct {
	pk    types.AttributeValue
	start map[string]types.AttributeValue
	out   *dynamodb.QueryOutput
}

// pagesAPI answers queries with the pages a countingAPI recorded, each
// after a millisecond: in a synctest bubble, a millisecond of the bubble's
// clock, with no I/O.
type pagesAPI struct {
	API   // nil: only Query is called
	pages []queryPage

	queries  atomic.Int32
	inFlight atomic.Int32 // queries running
}

func (a *pagesAPI) Query(ctx context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	a.queries.Add(1)
	a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	select {
	case <-time.After(time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for _, p := range a.pages {
		if reflect.DeepEqual(p.pk, in.ExpressionAttributeValues[":pk"]) && reflect.DeepEqual(p.start, in.ExclusiveStartKey) {
			return p.out, nil
		}
	}
	return nil, fmt.Errorf("pagesAPI: no recorded page of %v from %v", in.ExpressionAttributeValues[":pk"], in.ExclusiveStartKey)
}

// fixture is a store on fresh DynamoDB Local tables, with the counting API
// between them.
type fixture struct {
	t      *testing.T
	client *dynamodb.Client
	api    *countingAPI
	tables Tables
	s      *Store
	now    time.Time
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	client := dynamotest.Client(t)
	f := &fixture{t: t, client: client, api: &countingAPI{API: client}, tables: localTables(t, client), now: time.Now().Truncate(time.Millisecond)}
	opts.Tables = f.tables
	f.s = New(f.api, &opts)
	return f
}

// connected creates connection id with n subscriptions on topics, and
// returns them.
func (f *fixture) connected(id string, n int, topics ...string) []store.Subscription {
	f.t.Helper()
	ctx := f.t.Context()
	if err := f.s.CreateConnection(ctx, store.Connection{ID: id, Protocol: "graphql-transport-ws", ConnectedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}); err != nil {
		f.t.Fatal(err)
	}
	subs := make([]store.Subscription, n)
	var wg sync.WaitGroup
	for i := range subs {
		subs[i] = store.Subscription{
			ConnectionID: id, ID: fmt.Sprint("s", i), Topics: topics, Query: fmt.Sprintf("subscription { n%d }", i),
			CreatedAt: f.now.Add(time.Duration(i) * time.Millisecond), ExpiresAt: f.now.Add(time.Hour),
		}
		wg.Go(func() {
			if err := f.s.CreateSubscription(ctx, subs[i]); err != nil {
				f.t.Error(err)
			}
		})
	}
	wg.Wait()
	if f.t.Failed() {
		f.t.FailNow()
	}
	return subs
}

// items returns the number of subscription items under topic in every shard,
// read with Query on the table.
func (f *fixture) items(topic string) int {
	f.t.Helper()
	n := 0
	for shard := range f.s.shards {
		out, err := f.client.Query(f.t.Context(), &dynamodb.QueryInput{
			TableName:                 &f.tables.Subscriptions,
			KeyConditionExpression:    new("pk = :pk"),
			ExpressionAttributeValues: item{":pk": str(partitionKey(topic, shard))},
			ConsistentRead:            new(true),
			Select:                    types.SelectCount,
		})
		if err != nil {
			f.t.Fatal(err)
		}
		n += int(out.Count)
	}
	return n
}

// checkReturned checks that got holds exactly want, by id.
func checkReturned(t *testing.T, what string, want, got []store.Subscription) {
	t.Helper()
	ids := func(subs []store.Subscription) []string {
		var out []string
		for _, s := range subs {
			out = append(out, s.ConnectionID+"/"+s.ID)
		}
		slices.Sort(out)
		return out
	}
	if w, g := ids(want), ids(got); !slices.Equal(w, g) {
		t.Errorf("%s returned %d subscriptions %q, want %d %q", what, len(g), g, len(w), w)
	}
}

func TestDeleteConnectionBatches(t *testing.T) {
	f := newFixture(t, Options{Shards: 4})
	subs := f.connected("c", 60, "t1", "t2")
	if n := f.items("t1") + f.items("t2"); n != 120 {
		t.Fatalf("%d subscription items before DeleteConnection, want 120", n)
	}
	_, got, err := f.s.DeleteConnection(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	checkReturned(t, "DeleteConnection", subs, got)
	if !slices.IsSortedFunc(got, func(a, b store.Subscription) int { return a.CreatedAt.Compare(b.CreatedAt) }) {
		t.Error("DeleteConnection: subscriptions not in creation order")
	}
	if n := f.items("t1") + f.items("t2"); n != 0 {
		t.Errorf("%d subscription items left after DeleteConnection, want 0", n)
	}
	if _, err := f.s.GetConnection(t.Context(), "c"); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Errorf("GetConnection after DeleteConnection: want ErrConnectionNotFound, got %v", err)
	}
	total := 0
	for _, n := range f.api.batchWrites {
		total += n
		if n > 25 {
			t.Errorf("BatchWriteItem with %d requests, at most 25 allowed", n)
		}
	}
	if total != 120 || len(f.api.batchWrites) != 5 {
		t.Errorf("BatchWriteItem calls %v: want 5 calls deleting 120 items", f.api.batchWrites)
	}
	if !slices.Equal(f.api.batchGets, []int{60}) {
		t.Errorf("BatchGetItem calls %v: want one call reading the 60 records", f.api.batchGets)
	}
}

func TestDeleteConnectionRetriesUnprocessed(t *testing.T) {
	f := newFixture(t, Options{})
	subs := f.connected("c", 30, "t")
	f.api.unprocessedWrites, f.api.unprocessedGets = 1, 1
	_, got, err := f.s.DeleteConnection(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	checkReturned(t, "DeleteConnection with unprocessed keys and items", subs, got)
	if n := f.items("t"); n != 0 {
		t.Errorf("%d subscription items left after DeleteConnection, want 0", n)
	}
	// 30 deletions: 25 (12 processed, 13 retried) then 5.
	if !slices.Equal(f.api.batchWrites, []int{25, 13, 5}) {
		t.Errorf("BatchWriteItem calls %v, want [25 13 5]", f.api.batchWrites)
	}
	if !slices.Equal(f.api.batchGets, []int{30, 15}) {
		t.Errorf("BatchGetItem calls %v, want [30 15]", f.api.batchGets)
	}
}

func TestDeleteConnectionGivesUpOnUnprocessed(t *testing.T) {
	f := newFixture(t, Options{MaxAttempts: 3})
	f.connected("c", 2, "t")
	f.api.unprocessedWrites = 100
	_, _, err := f.s.DeleteConnection(t.Context(), "c")
	if err == nil || errors.Is(err, store.ErrConnectionNotFound) {
		t.Fatalf("DeleteConnection when the items stay unprocessed: want an error, got %v", err)
	}
	if !slices.Equal(f.api.batchWrites, []int{2, 1, 1}) {
		t.Errorf("BatchWriteItem calls %v, want 3 attempts: [2 1 1]", f.api.batchWrites)
	}
}

func TestDeleteConnectionOrphans(t *testing.T) {
	f := newFixture(t, Options{Shards: 4})
	ctx := t.Context()
	// Subscriptions whose connection item is gone (DynamoDB's Time to Live
	// deleted it): written directly, without a connection item.
	orphans := []store.Subscription{
		{ConnectionID: "gone", ID: "1", Topics: []string{"t1", "t2"}, Query: "subscription { a }", CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)},
		{ConnectionID: "gone", ID: "2", Topics: []string{"t1"}, Query: "subscription { b }", CreatedAt: f.now.Add(time.Millisecond)},
		{ConnectionID: "gone", ID: "3", Topics: []string{"t2"}, Query: "subscription { c }", CreatedAt: f.now, ExpiresAt: f.now.Add(-time.Minute)},
		{ConnectionID: "gone", ID: "4", Topics: []string{"t1"}, Query: "subscription { d }", CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)},
	}
	for _, sub := range orphans {
		shard := shardOf(sub.ConnectionID, sub.ID, 4)
		for _, topic := range distinctTopics(sub.Topics) {
			it, err := encodeSubscription(sub, topic, shard, "r"+sub.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.client.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: &f.tables.Subscriptions, Item: it,
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, sub := range orphans[:2] {
		got, err := f.s.GetSubscription(ctx, sub.ConnectionID, sub.ID)
		if err != nil || got.Query != sub.Query {
			t.Errorf("GetSubscription of orphan %q: got %q, %v; want the subscription", sub.ID, got.Query, err)
		}
	}
	if _, err := f.s.GetSubscription(ctx, "gone", "3"); !errors.Is(err, store.ErrSubscriptionNotFound) {
		t.Errorf("GetSubscription of an expired orphan: want ErrSubscriptionNotFound, got %v", err)
	}
	got, err := f.s.DeleteSubscription(ctx, "gone", "4")
	if err != nil || got.Query != orphans[3].Query {
		t.Errorf("DeleteSubscription of orphan 4: got %q, %v; want the subscription", got.Query, err)
	}
	if _, err := f.s.DeleteSubscription(ctx, "gone", "4"); !errors.Is(err, store.ErrSubscriptionNotFound) {
		t.Errorf("second DeleteSubscription of orphan 4: want ErrSubscriptionNotFound, got %v", err)
	}

	conn, subs, err := f.s.DeleteConnection(ctx, "gone")
	if !errors.Is(err, store.ErrConnectionNotFound) || conn.ID != "" {
		t.Errorf("DeleteConnection of a connection whose item is gone: got connection %q, %v; want ErrConnectionNotFound", conn.ID, err)
	}
	checkReturned(t, "DeleteConnection of a connection whose item is gone", orphans[:2], subs)
	if n := f.items("t1") + f.items("t2"); n != 0 {
		t.Errorf("%d subscription items left after DeleteConnection, want 0 (the expired one goes too)", n)
	}
	_, subs, err = f.s.DeleteConnection(ctx, "gone")
	if !errors.Is(err, store.ErrConnectionNotFound) || len(subs) != 0 {
		t.Errorf("second DeleteConnection: got %d subscriptions, %v; want none and ErrConnectionNotFound", len(subs), err)
	}
}

// setDeletingAt leaves a claim on connection id, as a deleter that crashed
// would.
func (f *fixture) setDeletingAt(id string, at time.Time) {
	f.t.Helper()
	if _, err := f.client.UpdateItem(f.t.Context(), &dynamodb.UpdateItemInput{
		TableName:                 &f.tables.Connections,
		Key:                       item{AttrID: str(id)},
		UpdateExpression:          new("SET deletingAt = :d"),
		ExpressionAttributeValues: item{":d": num(at.UnixMilli())},
	}); err != nil {
		f.t.Fatal(err)
	}
}

func TestDeleteConnectionClaim(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := t.Context()
	fresh := f.connected("fresh", 3, "t")
	f.setDeletingAt("fresh", time.Now().Add(-time.Second))
	// A deletion runs: the connection and its subscriptions are gone to
	// every method, and a second deleter gets nothing.
	if _, err := f.s.GetConnection(ctx, "fresh"); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Errorf("GetConnection of a connection being deleted: want ErrConnectionNotFound, got %v", err)
	}
	if _, err := f.s.GetSubscription(ctx, "fresh", "s0"); !errors.Is(err, store.ErrSubscriptionNotFound) {
		t.Errorf("GetSubscription of a connection being deleted: want ErrSubscriptionNotFound, got %v", err)
	}
	if _, err := f.s.DeleteSubscription(ctx, "fresh", "s0"); !errors.Is(err, store.ErrSubscriptionNotFound) {
		t.Errorf("DeleteSubscription of a connection being deleted: want ErrSubscriptionNotFound, got %v", err)
	}
	err := f.s.CreateSubscription(ctx, store.Subscription{ConnectionID: "fresh", ID: "new", Topics: []string{"t"}})
	if !errors.Is(err, store.ErrConnectionNotFound) {
		t.Errorf("CreateSubscription on a connection being deleted: want ErrConnectionNotFound, got %v", err)
	}
	if err := f.s.AcknowledgeConnection(ctx, "fresh", nil); !errors.Is(err, store.ErrConnectionNotFound) {
		t.Errorf("AcknowledgeConnection of a connection being deleted: want ErrConnectionNotFound, got %v", err)
	}
	_, subs, err := f.s.DeleteConnection(ctx, "fresh")
	if !errors.Is(err, store.ErrConnectionNotFound) || len(subs) != 0 {
		t.Errorf("DeleteConnection while another one holds a fresh claim: got %d subscriptions, %v; want none and ErrConnectionNotFound", len(subs), err)
	}
	if n := f.items("t"); n != len(fresh) {
		t.Errorf("%d items after a refused DeleteConnection, want %d", n, len(fresh))
	}

	// A claim older than claimTimeout is taken over.
	f.setDeletingAt("fresh", time.Now().Add(-claimTimeout-time.Second))
	conn, subs, err := f.s.DeleteConnection(ctx, "fresh")
	if err != nil || conn.ID != "fresh" {
		t.Fatalf("DeleteConnection taking over a stale claim: got connection %q, %v; want the connection", conn.ID, err)
	}
	checkReturned(t, "DeleteConnection taking over a stale claim", fresh, subs)
	if n := f.items("t"); n != 0 {
		t.Errorf("%d items left, want 0", n)
	}
}

// replayAPI sends the first claim of a connection twice and answers the
// second: the client retrying a request whose answer was lost.
type replayAPI struct {
	API
	done atomic.Bool
}

func (a *replayAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if strings.Contains(*in.UpdateExpression, "#claim") && !a.done.Swap(true) {
		if _, err := a.API.UpdateItem(ctx, in, opts...); err != nil {
			return nil, err
		}
	}
	return a.API.UpdateItem(ctx, in, opts...)
}

func TestDeleteConnectionClaimRetried(t *testing.T) {
	f := newFixture(t, Options{})
	subs := f.connected("c", 3, "t")
	api := &replayAPI{API: f.client}
	s := New(api, &Options{Tables: f.tables})
	conn, got, err := s.DeleteConnection(t.Context(), "c")
	if !api.done.Load() {
		t.Fatal("the claim was not replayed")
	}
	if err != nil || conn.ID != "c" {
		t.Fatalf("DeleteConnection whose claim was sent twice: got connection %q, %v; want the connection", conn.ID, err)
	}
	checkReturned(t, "DeleteConnection whose claim was sent twice", subs, got)
	if n := f.items("t"); n != 0 {
		t.Errorf("%d items left, want 0", n)
	}
}

func TestTooManySubscriptions(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := t.Context()
	if err := f.s.CreateConnection(ctx, store.Connection{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	// Each subscription adds about 40 KB of topics to the connection item.
	topics := make([]string, 20)
	for i := range topics {
		topics[i] = fmt.Sprintf("%02d", i) + strings.Repeat("t", 2000)
	}
	for i := range 20 {
		err := f.s.CreateSubscription(ctx, store.Subscription{ConnectionID: "c", ID: fmt.Sprint(i), Topics: topics})
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrTooManySubscriptions) || i < 5 {
			t.Fatalf("subscription %d: want nil, or ErrTooManySubscriptions once the item is full; got %v", i, err)
		}
		if _, err := f.s.GetSubscription(ctx, "c", fmt.Sprint(i)); !errors.Is(err, store.ErrSubscriptionNotFound) {
			t.Errorf("GetSubscription of the refused subscription: want ErrSubscriptionNotFound, got %v", err)
		}
		return
	}
	t.Fatal("20 subscriptions of 40 KB each fit in one connection item: want ErrTooManySubscriptions")
}

// TestTopicSubscriptionsStopsReaders reads a topic whole on DynamoDB Local,
// then replays its pages to loops that break early: once a loop has ended,
// no reader of the topic's shards may query again.
func TestTopicSubscriptionsStopsReaders(t *testing.T) {
	opts := Options{Shards: 4, PageSize: 5}
	f := newFixture(t, opts)
	for i := range 10 {
		f.connected(fmt.Sprint("c", i), 6, "t")
	}
	f.api.pages = []queryPage{}
	n := 0
	for _, err := range f.s.TopicSubscriptions(t.Context(), "t") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	full := f.api.queries.Load()
	if n != 60 || full < 12 {
		t.Fatalf("TopicSubscriptions yielded %d subscriptions in %d queries, want 60 in at least 12 (pages of 5)", n, full)
	}

	// The loops that break run in a synctest bubble, on the recorded pages:
	// synctest.Test returns only once every goroutine of the bubble has
	// ended, so a reader left running after its loop has made its late
	// queries by then (or, blocked for good, fails the test). A shard holds
	// at least 15 of the 60 subscriptions: 3 pages, read 1 ms apart, so
	// that a reader left running has pages to query after the break.
	for _, stopAt := range []int{1, 30} {
		api := &pagesAPI{pages: f.api.pages}
		var after int32
		synctest.Test(t, func(t *testing.T) {
			opts.Tables = f.tables
			s := New(api, &opts)
			n := 0
			// Not t.Context(): it ends with the bubble's function, which
			// would stop a reader left running.
			for _, err := range s.TopicSubscriptions(context.Background(), "t") {
				if err != nil {
					t.Fatal(err)
				}
				if n++; n == stopAt {
					break
				}
			}
			if inFlight := api.inFlight.Load(); inFlight != 0 {
				t.Errorf("break after %d: %d queries still running after the loop ended", stopAt, inFlight)
			}
			after = api.queries.Load()
		})
		if late := api.queries.Load(); late != after {
			t.Errorf("break after %d: %d queries started after the loop ended", stopAt, late-after)
		}
	}
}

func deref32(n *int32) int32 {
	if n == nil {
		return 0
	}
	return *n
}

// TestTopicPages checks the Limit of each Query of TopicSubscriptions: a
// small first page, then pages four times as large as the one before up to
// PageSize (0: DynamoDB's 1 MB), and that every subscription is yielded
// once whatever the pages.
func TestTopicPages(t *testing.T) {
	const subs = 150
	tests := []struct {
		name   string
		opts   Options
		limits []int32 // of the queries, in order, for 150 subscriptions
	}{
		{name: "defaults", limits: []int32{defaultFirstPage, 4 * defaultFirstPage}},
		{name: "page size", opts: Options{PageSize: 100}, limits: []int32{64, 100}},
		{name: "page size below the first page", opts: Options{PageSize: 40}, limits: []int32{40, 40, 40, 40}},
		{name: "first page size", opts: Options{FirstPageSize: 7, PageSize: 50}, limits: []int32{7, 28, 50, 50, 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			want := f.connected("c", subs, "t")
			f.api.mu.Lock()
			f.api.limits = nil
			f.api.mu.Unlock()
			var got []store.Subscription
			for sub, err := range f.s.TopicSubscriptions(t.Context(), "t") {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, sub)
			}
			checkReturned(t, "TopicSubscriptions", want, got)
			f.api.mu.Lock()
			limits := f.api.limits
			f.api.mu.Unlock()
			if !slices.Equal(limits, tt.limits) {
				t.Errorf("query limits %v, want %v", limits, tt.limits)
			}
		})
	}
}

// TestReplacedConnectionKeepsSubscriptions: a connection that expired and
// was created again keeps its subscriptions, as in the memory store.
func TestReplacedConnectionKeepsSubscriptions(t *testing.T) {
	client := dynamotest.Client(t)
	tables := localTables(t, client)
	start := time.Now().Truncate(time.Millisecond)
	for _, tc := range []struct {
		name string
		new  func(now func() time.Time) store.Store
	}{
		{"memory", func(now func() time.Time) store.Store { return memory.New(&memory.Options{Now: now}) }},
		{"dynamodb", func(now func() time.Time) store.Store { return New(client, &Options{Tables: tables, Now: now}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			var clock atomic.Pointer[time.Time]
			clock.Store(&start)
			s := tc.new(func() time.Time { return *clock.Load() })
			id := "c-" + tc.name
			if err := s.CreateConnection(ctx, store.Connection{ID: id, ExpiresAt: start.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			sub := store.Subscription{ConnectionID: id, ID: "1", Topics: []string{"t-" + tc.name}, Query: "subscription { x }", ExpiresAt: start.Add(time.Hour)}
			if err := s.CreateSubscription(ctx, sub); err != nil {
				t.Fatal(err)
			}
			later := start.Add(2 * time.Minute)
			clock.Store(&later)
			if err := s.CreateConnection(ctx, store.Connection{ID: id, ExpiresAt: later.Add(time.Hour)}); err != nil {
				t.Fatalf("CreateConnection replacing an expired connection: %v", err)
			}
			if _, err := s.GetSubscription(ctx, id, "1"); err != nil {
				t.Errorf("GetSubscription after the connection was replaced: %v", err)
			}
			if err := s.CreateSubscription(ctx, sub); !errors.Is(err, store.ErrSubscriptionExists) {
				t.Errorf("CreateSubscription of the id again: want ErrSubscriptionExists, got %v", err)
			}
			_, subs, err := s.DeleteConnection(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			checkReturned(t, "DeleteConnection of the replacing connection", []store.Subscription{sub}, subs)
		})
	}
}

func TestNextLimit(t *testing.T) {
	tests := []struct {
		limit, pageSize int32
		want            []int32 // the limits that follow
	}{
		{limit: 64, pageSize: 0, want: []int32{256, 1024, 4096, 16384, 0, 0}},
		{limit: 64, pageSize: 500, want: []int32{256, 500, 500}},
		{limit: 100, pageSize: 100, want: []int32{100, 100}},
		{limit: 0, pageSize: 0, want: []int32{0}},
	}
	for _, tt := range tests {
		limit := tt.limit
		var got []int32
		for range tt.want {
			limit = nextLimit(limit, tt.pageSize)
			got = append(got, limit)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("after %d with PageSize %d: %v, want %v", tt.limit, tt.pageSize, got, tt.want)
		}
	}
}

// TestSubscriptionItemLayouts: an item holds its revision and expiry in its
// document, and deleteItemOfRev deletes an item of the revision it names,
// and no other, in this layout and in the two earlier ones.
func TestSubscriptionItemLayouts(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := t.Context()
	sub := store.Subscription{
		ConnectionID: "c", ID: "1", Topics: []string{"t"}, Query: "subscription { x }",
		// A variable that holds another revision's prefix must not pass
		// for it (a condition testing "contains" would be fooled).
		Variables: json.RawMessage(`{"rv":"r2","k":1}`),
		CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour),
	}
	current, err := encodeSubscription(sub, "t", 0, "r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(current)); !slices.Equal(got, []string{AttrConnectionID, attrDoc, AttrPK, AttrSK, AttrTTL}) {
		t.Errorf("attributes of an item: %v", got)
	}
	if doc, _ := getStr(current, attrDoc); !strings.HasPrefix(doc, revPrefix("r1")) {
		t.Errorf("document %s does not begin with %s", doc, revPrefix("r1"))
	}
	// The layout before the revision and expiry moved into the document.
	previous := maps.Clone(current)
	doc, _ := getStr(current, attrDoc)
	head := fmt.Sprintf(`%s"x":%d,`, revPrefix("r1"), millis(sub.ExpiresAt))
	if !strings.HasPrefix(doc, head) {
		t.Fatalf("document %s does not begin with %s", doc, head)
	}
	previous[attrDoc] = str("{" + doc[len(head):])
	previous[attrRev] = str("r1")
	previous[attrExpiresAt] = num(millis(sub.ExpiresAt))
	// The oldest: one attribute per field.
	oldest := item{
		AttrPK: current[AttrPK], AttrSK: current[AttrSK], AttrConnectionID: str("c"), attrSubscriptionID: str("1"),
		attrTopics: &types.AttributeValueMemberL{Value: []types.AttributeValue{str("t")}}, attrQuery: str(sub.Query),
		attrVariables: str(string(sub.Variables)), attrCreatedAt: num(millis(sub.CreatedAt)),
		attrExpiresAt: num(millis(sub.ExpiresAt)), attrRev: str("r1"),
	}
	key := item{AttrPK: current[AttrPK], AttrSK: current[AttrSK]}
	for _, tc := range []struct {
		name string
		it   item
	}{{"current", current}, {"previous", previous}, {"oldest", oldest}} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := decodeSubscription(tc.it)
			if err != nil {
				t.Fatal(err)
			}
			if rec.rev != "r1" || !rec.sub.ExpiresAt.Equal(sub.ExpiresAt) || rec.sub.Query != sub.Query || string(rec.sub.Variables) != string(sub.Variables) {
				t.Errorf("decoded rev %q, expiry %v, query %q, variables %s; want r1, %v, %q, %s",
					rec.rev, rec.sub.ExpiresAt, rec.sub.Query, rec.sub.Variables, sub.ExpiresAt, sub.Query, sub.Variables)
			}
			if _, err := f.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.tables.Subscriptions, Item: tc.it}); err != nil {
				t.Fatal(err)
			}
			for _, other := range []string{"r", "r12", "r2"} {
				there, deleted, err := f.s.deleteItemOfRev(ctx, f.tables, key, other)
				if err != nil || deleted || there == nil {
					t.Fatalf("deleteItemOfRev(%q) of an item of r1: deleted %v, item there %v, %v; want refused, the item returned", other, deleted, there != nil, err)
				}
			}
			gone, deleted, err := f.s.deleteItemOfRev(ctx, f.tables, key, "r1")
			if err != nil || !deleted || gone == nil {
				t.Fatalf("deleteItemOfRev(r1): deleted %v, %v; want deleted", deleted, err)
			}
			if n := f.items("t"); n != 0 {
				t.Errorf("%d items left, want 0", n)
			}
		})
	}
}
