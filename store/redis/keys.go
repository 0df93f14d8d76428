package redis

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gqlambda/gqlambda/internal/shard"
)

// Kinds of key. Each is a letter followed by the hash tag, "{...}", whose
// content alone decides the key's cluster slot: every key of one connection
// carries the connection id in its tag, and every shard of a topic the topic
// and the shard number.
const (
	kindConnection    = "c" // hash: the connection record
	kindSubscriptions = "s" // hash: subscription id → subscription record
	kindDeleted       = "x" // the records a deletion removed, kept briefly for a retry of it
	kindTopic         = "t" // sorted set: the index of one shard of a topic
	kindActivity      = "a" // sorted set: one shard of the activity index, connection id → last activity
)

// Suffixes after the tag of the keys of kind kindDeleted, followed by the
// deleting call's token.
const (
	deletedConnection    = "c" // the renamed connection hash
	deletedSubscriptions = "s" // the renamed subscriptions hash
	deletedSubscription  = "d" // a string: the record DeleteSubscription removed
)

// escape makes s safe inside and before a hash tag: it replaces "%", "{"
// and "}" by their percent-encodings, which keeps the mapping injective and
// leaves ordinary ids readable. An escaped string never contains a brace, so
// the first "{" of a key is always the one its layout puts there, and the
// first "}" after it closes the tag.
func escape(s string) string {
	if !strings.ContainsAny(s, "%{}") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := range len(s) {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '{':
			b.WriteString("%7B")
		case '}':
			b.WriteString("%7D")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// keys builds the keys of one store: every key starts with the escaped
// prefix.
type keys struct {
	prefix string
}

// tagged returns prefix + kind + "{" + tag + "}" + suffix; tag must be
// escaped.
func (k keys) tagged(kind, tag, suffix string) string {
	return k.prefix + kind + "{" + tag + "}" + suffix
}

// connection is the key of the hash holding connection id's record.
func (k keys) connection(id string) string {
	return k.tagged(kindConnection, escape(id), "")
}

// subscriptions is the key of the hash holding the subscriptions of
// connection id, by subscription id.
func (k keys) subscriptions(id string) string {
	return k.tagged(kindSubscriptions, escape(id), "")
}

// deleted is the key under which the call with token keeps what it deleted
// of connection id (what is one of the deleted* suffixes).
func (k keys) deleted(id, what, token string) string {
	return k.tagged(kindDeleted, escape(id), what+token)
}

// topic is the key of the sorted set indexing the subscriptions of topic in
// shard. The shard is the decimal number after the last "#" in the tag, so
// (topic, shard) pairs map to distinct keys whatever "#" the topic holds.
func (k keys) topic(topic string, shard int) string {
	return k.tagged(kindTopic, escape(topic)+"#"+strconv.Itoa(shard), "")
}

// activity is the key of the sorted set holding activity shard shard:
// connection ids scored by their last activity in Unix milliseconds.
func (k keys) activity(shard int) string {
	return k.tagged(kindActivity, strconv.Itoa(shard), "")
}

// member is the member of a topic index standing for revision rev of
// subscription subID of connection connID. The ids are length-prefixed, so
// no two (connection, subscription, revision) triples share a member.
func member(connID, subID, rev string) string {
	var b strings.Builder
	b.Grow(len(connID) + len(subID) + len(rev) + 8)
	b.WriteString(strconv.Itoa(len(connID)))
	b.WriteByte(':')
	b.WriteString(connID)
	b.WriteString(strconv.Itoa(len(subID)))
	b.WriteByte(':')
	b.WriteString(subID)
	b.WriteString(rev)
	return b.String()
}

// parseMember is the inverse of member.
func parseMember(m string) (connID, subID, rev string, ok bool) {
	connID, rest, ok := cutLengthPrefixed(m)
	if !ok {
		return "", "", "", false
	}
	subID, rev, ok = cutLengthPrefixed(rest)
	if !ok || rev == "" {
		return "", "", "", false
	}
	return connID, subID, rev, true
}

// cutLengthPrefixed splits "<n>:<n bytes><rest>" into the n bytes and the
// rest.
func cutLengthPrefixed(s string) (field, rest string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", false
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil || n < 0 || n > len(s)-i-1 {
		return "", "", false
	}
	return s[i+1 : i+1+n], s[i+1+n:], true
}

// shardOf returns the key shard of a subscription: internal/shard's, the
// same in every store.
func shardOf(connID, subID string, shards int) int { return shard.Of(connID, subID, shards) }

// distinctTopics returns the distinct topics of topics, sorted.
func distinctTopics(topics []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(topics)))
}
