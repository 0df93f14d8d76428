package redis

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/store"
)

// crc16 is the CRC16 of Redis Cluster (XMODEM: polynomial 0x1021, initial
// value 0), written out bit by bit to check the keys' slots against.
func crc16(s string) uint16 {
	var crc uint16
	for i := range len(s) {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// slot is the cluster slot of key: the CRC16 of its hash tag (the content
// of the first "{...}" that is not empty), or of the whole key, mod 16384.
func slot(key string) int {
	if start := strings.IndexByte(key, '{'); start >= 0 {
		if end := strings.IndexByte(key[start+1:], '}'); end > 0 {
			key = key[start+1 : start+1+end]
		}
	}
	return int(crc16(key) % 16384)
}

func TestSlot(t *testing.T) {
	// The values are what CLUSTER KEYSLOT answers (redis-server 7.0);
	// TestClusterKeySlots checks the store's keys against a real cluster.
	for _, tc := range []struct {
		key  string
		want int
	}{
		{"123456789", 0x31C3},
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363},    // an empty first tag: the whole key
		{"foo{{bar}}zap", 4015}, // the tag is "{bar"
		{"{}", 15257},
		{"a{b}c", 3300},
	} {
		if got := slot(tc.key); got != tc.want {
			t.Errorf("slot(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"BJq2UdL9joECGhg=", "BJq2UdL9joECGhg="},
		{"a{b}c", "a%7Bb%7Dc"},
		{"100%", "100%25"},
		{"%7B", "%257B"},
		{"{}", "%7B%7D"},
		{"ü日本#:|", "ü日本#:|"},
	} {
		if got := escape(tc.in); got != tc.want {
			t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// awkward are ids and topics that break naive key building: separators,
// braces (which would move a hash tag), escapes, unicode.
var awkward = []string{"", "a", "a{b}", "{a}", "}", "{", "%7B", "%", "a#1", "a#", "#", "a#1#0", "c{x}", "s", "t{a#0}", "ü日本", "a:b", "1:", ":a"}

func TestKeysAreDistinct(t *testing.T) {
	for _, prefix := range []string{"gqlambda:", "", "{app}:", "a%b"} {
		k := keys{prefix: escape(prefix)}
		seen := map[string]string{}
		add := func(key, what string) {
			t.Helper()
			if prev, ok := seen[key]; ok {
				t.Errorf("prefix %q: %s and %s share key %q", prefix, prev, what, key)
			}
			seen[key] = what
		}
		for _, id := range awkward {
			add(k.connection(id), fmt.Sprintf("connection %q", id))
			add(k.subscriptions(id), fmt.Sprintf("subscriptions of %q", id))
			for _, what := range []string{deletedConnection, deletedSubscriptions, deletedSubscription} {
				add(k.deleted(id, what, "tok"), fmt.Sprintf("deleted %s of %q", what, id))
			}
			for shard := range 12 {
				add(k.topic(id, shard), fmt.Sprintf("topic %q shard %d", id, shard))
			}
		}
	}
}

func TestKeysOfOneConnectionShareASlot(t *testing.T) {
	for _, prefix := range []string{"gqlambda:", "{app}:", "x}{"} {
		k := keys{prefix: escape(prefix)}
		for _, id := range append(awkward[1:], "BJq2UdL9joECGhg=", strings.Repeat("x", 300)) {
			want := slot(k.connection(id))
			if got := slot(escape(id)); got != want {
				t.Errorf("prefix %q, connection %q: the connection key's slot %d is not the slot of the id's tag %d", prefix, id, want, got)
			}
			for _, key := range []string{
				k.subscriptions(id),
				k.deleted(id, deletedConnection, "t1"), k.deleted(id, deletedSubscriptions, "t1"), k.deleted(id, deletedSubscription, "t2"),
			} {
				if got := slot(key); got != want {
					t.Errorf("prefix %q, connection %q: key %q is in slot %d, the connection key %q in slot %d", prefix, id, key, got, k.connection(id), want)
				}
			}
		}
	}
}

func TestTopicShardsSpreadOverSlots(t *testing.T) {
	k := keys{prefix: DefaultKeyPrefix}
	const shards = 16
	for _, topic := range []string{"MESSAGE_BROADCAST", "chat:42", "a{b}", "ü"} {
		slots := map[int]bool{}
		for shard := range shards {
			key := k.topic(topic, shard)
			if got, want := slot(key), int(crc16(escape(topic)+"#"+fmt.Sprint(shard))%16384); got != want {
				t.Errorf("topic %q shard %d: key %q in slot %d, want the slot of its tag, %d", topic, shard, key, got, want)
			}
			slots[slot(key)] = true
		}
		// 16 shards hashed into 16,384 slots: collisions are possible but
		// rare; most shards must land in slots of their own.
		if len(slots) < shards-2 {
			t.Errorf("topic %q: %d shards occupy only %d slots", topic, shards, len(slots))
		}
	}
}

func TestMember(t *testing.T) {
	seen := map[string][3]string{}
	for _, conn := range awkward {
		for _, sub := range awkward {
			for _, rev := range []string{"kx1.a", "1:2"} {
				m := member(conn, sub, rev)
				if prev, ok := seen[m]; ok {
					t.Errorf("member(%q, %q, %q) = member%q = %q", conn, sub, rev, prev, m)
				}
				seen[m] = [3]string{conn, sub, rev}
				c, s, r, ok := parseMember(m)
				if !ok || c != conn || s != sub || r != rev {
					t.Errorf("parseMember(%q) = %q, %q, %q, %t; want %q, %q, %q", m, c, s, r, ok, conn, sub, rev)
				}
			}
		}
	}
	for _, bad := range []string{"", "x", "3:ab", "-1:", "1:a", "1:a1:b", "99:a1:bc"} {
		if c, s, r, ok := parseMember(bad); ok {
			t.Errorf("parseMember(%q) = %q, %q, %q, true; want false", bad, c, s, r)
		}
	}
}

func TestShardOf(t *testing.T) {
	// The same function as store/dynamodb's: FNV-1a of the ids joined by a
	// zero byte.
	fnv1a := func(s string) uint32 {
		h := uint32(2166136261)
		for i := range len(s) {
			h ^= uint32(s[i])
			h *= 16777619
		}
		return h
	}
	for _, tc := range []struct {
		conn, sub string
		shards    int
	}{{"abc=", "1", 4}, {"BJq2UdL9joECGhg=", "sub-1", 16}, {"x", "", 3}, {"a\x00", "b", 1000}} {
		want := int(fnv1a(tc.conn+"\x00"+tc.sub) % uint32(tc.shards))
		if got := shardOf(tc.conn, tc.sub, tc.shards); got != want {
			t.Errorf("shardOf(%q, %q, %d) = %d, want %d", tc.conn, tc.sub, tc.shards, got, want)
		}
	}
	if got := shardOf("a", "b", 1); got != 0 {
		t.Errorf("shardOf with 1 shard = %d, want 0", got)
	}
}

func TestRev(t *testing.T) {
	at := time.UnixMilli(1_765_000_000_123)
	rev := newRev(at)
	if strings.ContainsAny(rev, " \t\n") {
		t.Errorf("newRev = %q: a revision must contain no space (the scripts split records on spaces)", rev)
	}
	if got, ok := revTime(rev); !ok || !got.Equal(at) {
		t.Errorf("revTime(%q) = %v, %t; want %v", rev, got, ok, at)
	}
	if other := newRev(at); other == rev {
		t.Errorf("two revisions of the same instant are equal: %q", rev)
	}
	for _, bad := range []string{"", "abc", "!.x"} {
		if _, ok := revTime(bad); ok {
			t.Errorf("revTime(%q): want false", bad)
		}
	}
}

func TestSubscriptionRecord(t *testing.T) {
	f := filter.Filter{Groups: []filter.Group{{Conditions: []filter.Condition{{Field: "chatId", Operator: filter.In, Value: []any{"1", "2"}}}}}}
	full := store.Subscription{
		ConnectionID: "c{1}", ID: "s 1",
		Topics: []string{"a", "b c", ""}, Filter: f,
		Query: "subscription { x }", OperationName: "Op", Variables: json.RawMessage(`{"a":1}`),
		Context: json.RawMessage(`{"u":"ü"}`), Endpoint: "https://e/prod", Protocol: "graphql-ws",
		Data: json.RawMessage(`{"d":2}`), Authorizer: json.RawMessage(`{"principalId":"u1","name":"Ann"}`),
		CompleteHook: true,
		CreatedAt:    time.UnixMilli(1_765_000_000_001).UTC(), ExpiresAt: time.UnixMilli(1_765_000_007_002).UTC(),
	}
	minimal := store.Subscription{ConnectionID: "c", ID: "1", Topics: []string{"t"}}
	old := store.Subscription{ConnectionID: "c", ID: "2", Topics: []string{"t"}, CreatedAt: time.UnixMilli(-5).UTC()}
	for _, sub := range []store.Subscription{full, minimal, old} {
		fj, err := encodeFilter(sub.Filter)
		if err != nil {
			t.Fatal(err)
		}
		v := encodeSubscription(sub, "rev.1", fj)
		ex, rev, _, err := recordHeader(v)
		if err != nil || ex != millis(sub.ExpiresAt) || rev != "rev.1" {
			t.Errorf("recordHeader(%q) = %d, %q, %v; want %d, %q", v, ex, rev, err, millis(sub.ExpiresAt), "rev.1")
		}
		r, err := decodeSubscription(sub.ConnectionID, sub.ID, v)
		if err != nil {
			t.Fatalf("decode %+v: %v", sub, err)
		}
		if !reflect.DeepEqual(r.sub, sub) || r.rev != "rev.1" || r.expiresAt != millis(sub.ExpiresAt) {
			t.Errorf("round trip of %+v:\n got %+v (rev %q, expires %d)", sub, r.sub, r.rev, r.expiresAt)
		}
		// Every truncation of a record is refused, not misread.
		for n := range len(v) {
			if _, err := decodeSubscription("c", "1", v[:n]); err == nil {
				t.Errorf("decode of the first %d of %d bytes of a record: want an error", n, len(v))
				break
			}
		}
		if _, err := decodeSubscription("c", "1", v+"x"); err == nil {
			t.Errorf("decode of a record with a trailing byte: want an error")
		}
	}
}

// TestSubscriptionRecordVersion2: a record written before the body had
// Authorizer (version 2) still decodes, with Data and without Authorizer.
func TestSubscriptionRecordVersion2(t *testing.T) {
	sub := store.Subscription{ConnectionID: "c", ID: "1", Topics: []string{"t"}, Query: "subscription { x }",
		Data: json.RawMessage(`{"d":2}`), Authorizer: json.RawMessage(`{"principalId":"u1"}`)}
	v := encodeSubscription(sub, "rev.1", nil)
	_, _, body, err := recordHeader(v)
	if err != nil {
		t.Fatal(err)
	}
	// Version 2: the same body without its last string (Authorizer, a
	// one-byte length and its bytes).
	head := v[:len(v)-len(body)]
	v2 := head + string([]byte{2}) + body[1:len(body)-1-len(sub.Authorizer)]
	r, err := decodeSubscription("c", "1", v2)
	if err != nil {
		t.Fatalf("decode a version 2 record: %v", err)
	}
	if string(r.sub.Data) != `{"d":2}` || r.sub.Authorizer != nil || r.sub.Query != sub.Query {
		t.Errorf("version 2 record decoded as %+v", r.sub)
	}
}

func TestConnectionRecord(t *testing.T) {
	c := store.Connection{
		ID: "c", Endpoint: "https://e/prod", Protocol: "graphql-transport-ws", Acknowledged: true,
		Context: json.RawMessage(`{"a":1}`), Authorizer: json.RawMessage(`{"p":"u"}`),
		ConnectedAt: time.UnixMilli(1_765_000_000_001).UTC(), ExpiresAt: time.UnixMilli(1_765_000_007_002).UTC(),
		// A connection created without LastActiveAt is last active when it
		// connected.
		LastActiveAt: time.UnixMilli(1_765_000_000_001).UTC(),
	}
	pinged := c
	pinged.ID, pinged.LastActiveAt, pinged.PingedAt = "pinged", time.UnixMilli(1_765_000_003_003).UTC(), time.UnixMilli(1_765_000_004_004).UTC()
	for _, want := range []store.Connection{c, pinged, {ID: "minimal"}} {
		fields := map[string]string{fieldWriteToken: "tok"}
		f := connectionFields(want)
		for i := 0; i < len(f); i += 2 {
			fields[f[i].(string)] = f[i+1].(string)
		}
		got, err := decodeConnection(want.ID, fields)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.conn, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got.conn, want)
		}
	}
	for _, bad := range []map[string]string{
		{fieldEndpoint: "x"}, // no write token
		{fieldWriteToken: "t", fieldExpiresAt: "soon"},
		{fieldWriteToken: "t", fieldConnectedAt: "1.5"},
	} {
		if _, err := decodeConnection("c", bad); err == nil {
			t.Errorf("decodeConnection(%v): want an error", bad)
		}
	}
}

// TestNoKeysOrScan: the store finds everything by key; KEYS and SCAN walk
// the whole keyspace. (TestCommandsOfAWorkload checks the commands actually
// sent.)
func TestNoKeysOrScan(t *testing.T) {
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
		for _, bad := range []string{".Keys(", ".Scan(", ".HScan(", ".SScan(", ".ZScan(", "'KEYS'", "'SCAN'", `"keys"`, `"scan"`, "ScanIterator"} {
			if strings.Contains(strings.ToLower(string(src)), strings.ToLower(bad)) {
				t.Errorf("%s uses %s: the store must read by key, never by walking the keyspace", name, bad)
			}
		}
	}
}
