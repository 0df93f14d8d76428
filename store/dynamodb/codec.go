package dynamodb

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/internal/shard"
	"github.com/gqlambda/gqlambda/store"
)

// Non-key attributes of connection items.
const (
	attrEndpoint    = "endpoint"    // S
	attrProtocol    = "protocol"    // S
	attrAck         = "ack"         // BOOL
	attrContext     = "context"     // S, JSON; absent when empty
	attrAuthorizer  = "authorizer"  // S, JSON; absent when empty
	attrData        = "data"        // S, JSON; absent when empty
	attrConnectedAt = "connectedAt" // N, Unix ms; absent for the zero time
	attrExpiresAt   = "expiresAt"   // N, Unix ms; absent when the record never expires
	attrSubs        = "subs"        // M, subscription id → entry
	attrDeletingAt  = "deletingAt"  // N, Unix ms: a DeleteConnection claimed the item
	attrClaim       = "claim"       // S, the token of the DeleteConnection holding the claim
	attrPingedAt    = "pingedAt"    // N, Unix ms: a ping awaits its answer; absent when none
)

// Attributes of an entry of a connection's subs map.
const (
	entryTopics    = "topics"    // L of S: the distinct topics, sorted
	entryShard     = "shard"     // N: the key shard of every item of the subscription
	entryRev       = "rev"       // S: the revision shared by the entry and the items
	entryExpiresAt = "expiresAt" // N, Unix ms; absent when the subscription never expires
)

// Non-key attributes of subscription items. Every item of a subscription
// holds the whole record: its connection id (the byConnection index's key)
// and Time to Live as attributes of their own, and everything else in one
// JSON document, attrDoc, which begins with the revision (conditions test
// that prefix). Items written by earlier versions are read as they are:
// some hold the revision and expiry as attributes of their own (attrRev,
// attrExpiresAt) beside attrDoc, the oldest one attribute per field (the
// ones below attrDoc, some shared with connection items).
const (
	attrDoc = "doc" // S, JSON: the subscription's fields (subDoc)

	attrSubscriptionID = "id"            // S
	attrTopics         = "topics"        // L of S, the topics as given
	attrFilter         = "filter"        // S, the filter's JSON; absent for the zero filter
	attrQuery          = "query"         // S
	attrOperationName  = "operationName" // S; absent when empty
	attrVariables      = "variables"     // S, JSON; absent when empty
	attrCompleteHook   = "completeHook"  // BOOL
	attrPredicate      = "predicate"     // BOOL; absent when false
	attrCreatedAt      = "createdAt"     // N, Unix ms; absent for the zero time
	attrRev            = "rev"           // S, equal to the entry's rev (now subDoc.Rev)
)

// maxTopics is the most distinct topics a subscription may have: a
// transaction holds at most 100 items, one of which is the connection.
const maxTopics = 99

// item is a DynamoDB item.
type item = map[string]types.AttributeValue

// str returns a string attribute value.
func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

// num returns a number attribute value.
func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// boolean returns a boolean attribute value.
func boolean(b bool) *types.AttributeValueMemberBOOL {
	return &types.AttributeValueMemberBOOL{Value: b}
}

// strList returns a list of string attribute values.
func strList(ss []string) *types.AttributeValueMemberL {
	l := make([]types.AttributeValue, len(ss))
	for i, s := range ss {
		l[i] = str(s)
	}
	return &types.AttributeValueMemberL{Value: l}
}

// millis returns t as Unix milliseconds, and 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of millis.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// ttlSeconds returns the Time to Live of a record expiring at the Unix
// millisecond ms: the Unix second it reaches, rounded up.
func ttlSeconds(ms int64) int64 {
	s := ms / 1000
	if ms%1000 > 0 {
		s++
	}
	return s
}

// expiredAt reports whether a record expiring at the Unix millisecond ms (0:
// never) is expired at now. The instant itself counts as expired.
func expiredAt(ms int64, now time.Time) bool {
	return ms != 0 && ms <= now.UnixMilli()
}

// sortKey encodes a (connection id, subscription id) pair as the sort key of
// its subscription items. The length prefix makes it injective: no two
// pairs, whatever separators their ids contain, share a key.
func sortKey(connID, subID string) string {
	return strconv.Itoa(len(connID)) + ":" + connID + ":" + subID
}

// partitionKey returns the partition key of topic in shard: "<topic>#<shard>".
// The shard is the decimal digits after the last "#", so the encoding is
// injective.
func partitionKey(topic string, shard int) string {
	return topic + "#" + strconv.Itoa(shard)
}

// shardOf returns the key shard of a subscription: internal/shard's, the
// same in every store.
func shardOf(connID, subID string, shards int) int { return shard.Of(connID, subID, shards) }

// distinctTopics returns the distinct topics of topics, sorted.
func distinctTopics(topics []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(topics)))
}

// entry is a subscription as its connection's subs map records it: enough
// to find, replace and delete its items.
type entry struct {
	topics    []string // distinct, sorted; the first is the primary topic
	shard     int
	rev       string
	expiresAt int64 // Unix ms, 0: never
}

// keys returns the keys of the subscription's items, the primary first.
func (e entry) keys(connID, subID string) []item {
	sk := sortKey(connID, subID)
	keys := make([]item, len(e.topics))
	for i, t := range e.topics {
		keys[i] = item{AttrPK: str(partitionKey(t, e.shard)), AttrSK: str(sk)}
	}
	return keys
}

// encode returns the entry as a map attribute value.
func (e entry) encode() *types.AttributeValueMemberM {
	m := item{
		entryTopics: strList(e.topics),
		entryShard:  num(int64(e.shard)),
		entryRev:    str(e.rev),
	}
	if e.expiresAt != 0 {
		m[entryExpiresAt] = num(e.expiresAt)
	}
	return &types.AttributeValueMemberM{Value: m}
}

// decodeEntry is the inverse of entry.encode.
func decodeEntry(av types.AttributeValue) (entry, error) {
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return entry{}, fmt.Errorf("not a map but %T", av)
	}
	var (
		e   entry
		err error
		sh  int64
	)
	if e.topics, err = getStrings(m.Value, entryTopics); err != nil {
		return entry{}, err
	}
	if sh, err = getNum(m.Value, entryShard); err != nil {
		return entry{}, err
	}
	e.shard = int(sh)
	if e.rev, err = getStr(m.Value, entryRev); err != nil {
		return entry{}, err
	}
	if e.expiresAt, err = getNum(m.Value, entryExpiresAt); err != nil {
		return entry{}, err
	}
	if len(e.topics) == 0 {
		return entry{}, fmt.Errorf("no %s", entryTopics)
	}
	return e, nil
}

// connItem is a decoded connection item.
type connItem struct {
	conn       store.Connection
	expiresAt  int64 // Unix ms, 0: never
	subs       map[string]entry
	deletingAt int64 // Unix ms, 0: not claimed
}

// live reports whether the connection exists for the store's methods at
// now: neither expired nor claimed by a DeleteConnection.
// liveConnection tells whether item, a connection's item as a failed
// condition returned it, is a connection still live at now: nil if so,
// store.ErrConnectionNotFound if it is missing or expired, or the error of
// decoding it.
func liveConnection(item map[string]types.AttributeValue, now time.Time) error {
	if len(item) == 0 {
		return store.ErrConnectionNotFound
	}
	ci, err := decodeConnection(item)
	if err != nil {
		return err
	}
	if !ci.live(now) {
		return store.ErrConnectionNotFound
	}
	return nil
}

func (c connItem) live(now time.Time) bool {
	return c.deletingAt == 0 && !expiredAt(c.expiresAt, now)
}

// decodeConnection decodes a connection item.
func decodeConnection(it item) (connItem, error) {
	var (
		c   connItem
		err error
		ms  int64
	)
	fail := func(err error) (connItem, error) {
		return connItem{}, fmt.Errorf("dynamodb: decode connection %q: %w", c.conn.ID, err)
	}
	if c.conn.ID, err = getStr(it, AttrID); err != nil {
		return fail(err)
	}
	if c.conn.Endpoint, err = getStr(it, attrEndpoint); err != nil {
		return fail(err)
	}
	if c.conn.Protocol, err = getStr(it, attrProtocol); err != nil {
		return fail(err)
	}
	if c.conn.Acknowledged, err = getBool(it, attrAck); err != nil {
		return fail(err)
	}
	if c.conn.Context, err = getJSON(it, attrContext); err != nil {
		return fail(err)
	}
	if c.conn.Authorizer, err = getJSON(it, attrAuthorizer); err != nil {
		return fail(err)
	}
	if c.conn.Data, err = getJSON(it, attrData); err != nil {
		return fail(err)
	}
	if ms, err = getNum(it, attrConnectedAt); err != nil {
		return fail(err)
	}
	c.conn.ConnectedAt = fromMillis(ms)
	if c.expiresAt, err = getNum(it, attrExpiresAt); err != nil {
		return fail(err)
	}
	c.conn.ExpiresAt = fromMillis(c.expiresAt)
	if c.deletingAt, err = getNum(it, attrDeletingAt); err != nil {
		return fail(err)
	}
	if ms, err = getNum(it, AttrLastActive); err != nil {
		return fail(err)
	}
	c.conn.LastActiveAt = fromMillis(ms)
	if ms, err = getNum(it, attrPingedAt); err != nil {
		return fail(err)
	}
	c.conn.PingedAt = fromMillis(ms)
	if av, ok := it[attrSubs]; ok {
		m, ok := av.(*types.AttributeValueMemberM)
		if !ok {
			return fail(fmt.Errorf("attribute %s is not a map but %T", attrSubs, av))
		}
		c.subs = make(map[string]entry, len(m.Value))
		for id, av := range m.Value {
			e, err := decodeEntry(av)
			if err != nil {
				return fail(fmt.Errorf("subscription %q: %w", id, err))
			}
			c.subs[id] = e
		}
	}
	return c, nil
}

// connectionAttrs returns the attributes of c's item other than its key
// and its subscriptions' map, and the names of the optional attributes c
// leaves absent.
func connectionAttrs(c store.Connection) (set item, absent []string) {
	set = item{}
	optional := func(attr string, av types.AttributeValue, present bool) {
		if present {
			set[attr] = av
		} else {
			absent = append(absent, attr)
		}
	}
	optional(attrEndpoint, str(c.Endpoint), c.Endpoint != "")
	optional(attrProtocol, str(c.Protocol), c.Protocol != "")
	set[attrAck] = boolean(c.Acknowledged)
	optional(attrContext, str(string(c.Context)), len(c.Context) > 0)
	optional(attrAuthorizer, str(string(c.Authorizer)), len(c.Authorizer) > 0)
	optional(attrData, str(string(c.Data)), len(c.Data) > 0)
	optional(attrConnectedAt, num(millis(c.ConnectedAt)), !c.ConnectedAt.IsZero())
	exp := millis(c.ExpiresAt)
	optional(attrExpiresAt, num(exp), exp != 0)
	optional(AttrTTL, num(ttlSeconds(exp)), exp != 0)
	lastActive := c.LastActiveAt
	if lastActive.IsZero() {
		lastActive = c.ConnectedAt
	}
	optional(AttrLastActive, num(millis(lastActive)), !lastActive.IsZero())
	optional(AttrActivityShard, str(activityShard(c.ID)), !lastActive.IsZero())
	optional(attrPingedAt, num(millis(c.PingedAt)), !c.PingedAt.IsZero())
	return set, absent
}

// connectionItem is the whole item of a new connection c, with an empty
// map of subscriptions.
func connectionItem(c store.Connection) item {
	it, _ := connectionAttrs(c)
	it[AttrID] = str(c.ID)
	it[attrSubs] = &types.AttributeValueMemberM{Value: item{}}
	return it
}

// connectionUpdate returns the UpdateItem expression that writes every field
// of c onto its item: SET for the fields c has, REMOVE for those it lacks,
// so that a replaced record keeps nothing of the old one but its
// subscriptions map (created empty when the item is new).
func connectionUpdate(c store.Connection, x *expr) string {
	attrs, absent := connectionAttrs(c)
	set := make([]string, 0, len(attrs)+1)
	for attr, av := range attrs {
		set = append(set, x.name(attr)+" = "+x.value(attr, av))
	}
	slices.Sort(set)
	set = append(set, x.name(attrSubs)+" = if_not_exists("+x.name(attrSubs)+", "+x.value("empty", &types.AttributeValueMemberM{Value: item{}})+")")
	u := "SET " + strings.Join(set, ", ")
	if len(absent) > 0 {
		remove := make([]string, len(absent))
		for i, attr := range absent {
			remove[i] = x.name(attr)
		}
		u += " REMOVE " + strings.Join(remove, ", ")
	}
	return u
}

// subItem is a decoded subscription item.
type subItem struct {
	sub       store.Subscription
	expiresAt int64 // Unix ms, 0: never
	rev       string
}

// encodeSubscription returns the item of sub under topic in shard.
func encodeSubscription(sub store.Subscription, topic string, shard int, rev string, filterJSON []byte) (item, error) {
	ms := millis(sub.ExpiresAt)
	doc, err := json.Marshal(subDoc{
		Rev:           rev,
		ExpiresAt:     ms,
		ID:            sub.ID,
		Topics:        sub.Topics,
		Filter:        filterJSON,
		Query:         sub.Query,
		OperationName: sub.OperationName,
		Variables:     sub.Variables,
		Context:       sub.Context,
		Data:          sub.Data,
		Authorizer:    sub.Authorizer,
		Endpoint:      sub.Endpoint,
		Protocol:      sub.Protocol,
		CompleteHook:  sub.CompleteHook,
		Predicate:     sub.Predicate,
		CreatedAt:     millis(sub.CreatedAt),
	})
	if err != nil {
		return nil, fmt.Errorf("encode subscription %q: %w", sub.ID, err)
	}
	it := item{
		AttrPK:           str(partitionKey(topic, shard)),
		AttrSK:           str(sortKey(sub.ConnectionID, sub.ID)),
		AttrConnectionID: str(sub.ConnectionID),
		attrDoc:          str(string(doc)),
	}
	if ms != 0 {
		it[AttrTTL] = num(ttlSeconds(ms))
	}
	return it, nil
}

// revPrefix is how the attrDoc of a subscription item of revision rev
// begins: subDoc's first field is the revision, and a revision
// (strconv.FormatUint in base 36) needs no escaping.
func revPrefix(rev string) string {
	return `{"rv":"` + rev + `",`
}

// subDoc is the JSON document of a subscription item (attrDoc): one
// attribute for what a fan-out reads besides the connection id, which costs
// DynamoDB and the SDK far less to read than one attribute per field
// (docs/dynamodb.md, "Subscription items"). Short names keep items small;
// empty fields are left out. Rev stays the first field: deleteItemOfRev's
// condition tests the document's prefix (revPrefix).
type subDoc struct {
	Rev           string          `json:"rv"`
	ExpiresAt     int64           `json:"x,omitempty"`
	ID            string          `json:"id"`
	Topics        []string        `json:"t"`
	Filter        json.RawMessage `json:"f,omitempty"`
	Query         string          `json:"q,omitempty"`
	OperationName string          `json:"o,omitempty"`
	Variables     json.RawMessage `json:"v,omitempty"`
	Context       json.RawMessage `json:"c,omitempty"`
	Data          json.RawMessage `json:"d,omitempty"`
	Authorizer    json.RawMessage `json:"a,omitempty"`
	Endpoint      string          `json:"e,omitempty"`
	Protocol      string          `json:"p,omitempty"`
	CompleteHook  bool            `json:"h,omitempty"`
	Predicate     bool            `json:"r,omitempty"`
	CreatedAt     int64           `json:"at,omitempty"`
}

// encodeFilter returns f as JSON, or nothing for the zero filter.
func encodeFilter(f filter.Filter) ([]byte, error) {
	if f.IsZero() {
		return nil, nil
	}
	return json.Marshal(f)
}

// decodeSubscription decodes a subscription item.
func decodeSubscription(it item) (subItem, error) {
	var (
		s   subItem
		err error
	)
	fail := func(err error) (subItem, error) {
		return subItem{}, fmt.Errorf("dynamodb: decode subscription %q of connection %q: %w", s.sub.ID, s.sub.ConnectionID, err)
	}
	if s.sub.ConnectionID, err = getStr(it, AttrConnectionID); err != nil {
		return fail(err)
	}
	doc, err := getStr(it, attrDoc)
	if err != nil {
		return fail(err)
	}
	if doc != "" {
		if err := s.decodeDoc(doc); err != nil {
			return fail(fmt.Errorf("attribute %s: %w", attrDoc, err))
		}
	} else if err := s.decodeLegacy(it); err != nil {
		return fail(err)
	}
	if s.expiresAt == 0 {
		// Written before the expiry moved into attrDoc.
		if s.expiresAt, err = getNum(it, attrExpiresAt); err != nil {
			return fail(err)
		}
	}
	s.sub.ExpiresAt = fromMillis(s.expiresAt)
	if s.rev == "" {
		if s.rev, err = getStr(it, attrRev); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// decodeDoc decodes the JSON document of a subscription item.
func (s *subItem) decodeDoc(doc string) error {
	var d subDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return err
	}
	if len(d.Filter) > 0 {
		if err := json.Unmarshal(d.Filter, &s.sub.Filter); err != nil {
			return fmt.Errorf("filter: %w", err)
		}
	}
	s.rev, s.expiresAt = d.Rev, d.ExpiresAt
	s.sub.ID, s.sub.Topics = d.ID, d.Topics
	s.sub.Query, s.sub.OperationName, s.sub.Variables = d.Query, d.OperationName, d.Variables
	s.sub.Context, s.sub.Data, s.sub.Authorizer = d.Context, d.Data, d.Authorizer
	s.sub.Endpoint, s.sub.Protocol = d.Endpoint, d.Protocol
	s.sub.CompleteHook, s.sub.Predicate = d.CompleteHook, d.Predicate
	s.sub.CreatedAt = fromMillis(d.CreatedAt)
	return nil
}

// decodeLegacy decodes the fields of a subscription item written before
// attrDoc, one attribute each.
func (s *subItem) decodeLegacy(it item) error {
	var (
		err error
		ms  int64
		f   string
	)
	if s.sub.ID, err = getStr(it, attrSubscriptionID); err != nil {
		return err
	}
	if s.sub.Topics, err = getStrings(it, attrTopics); err != nil {
		return err
	}
	if f, err = getStr(it, attrFilter); err != nil {
		return err
	}
	if f != "" {
		if err := json.Unmarshal([]byte(f), &s.sub.Filter); err != nil {
			return fmt.Errorf("attribute %s: %w", attrFilter, err)
		}
	}
	if s.sub.Query, err = getStr(it, attrQuery); err != nil {
		return err
	}
	if s.sub.OperationName, err = getStr(it, attrOperationName); err != nil {
		return err
	}
	if s.sub.Variables, err = getJSON(it, attrVariables); err != nil {
		return err
	}
	if s.sub.Context, err = getJSON(it, attrContext); err != nil {
		return err
	}
	if s.sub.Data, err = getJSON(it, attrData); err != nil {
		return err
	}
	if s.sub.Authorizer, err = getJSON(it, attrAuthorizer); err != nil {
		return err
	}
	if s.sub.Endpoint, err = getStr(it, attrEndpoint); err != nil {
		return err
	}
	if s.sub.Protocol, err = getStr(it, attrProtocol); err != nil {
		return err
	}
	if s.sub.CompleteHook, err = getBool(it, attrCompleteHook); err != nil {
		return err
	}
	if s.sub.Predicate, err = getBool(it, attrPredicate); err != nil {
		return err
	}
	if ms, err = getNum(it, attrCreatedAt); err != nil {
		return err
	}
	s.sub.CreatedAt = fromMillis(ms)
	return nil
}

// getStr returns the string attribute attr of it, "" when absent.
func getStr(it item, attr string) (string, error) {
	switch v := it[attr].(type) {
	case nil:
		return "", nil
	case *types.AttributeValueMemberS:
		return v.Value, nil
	default:
		return "", fmt.Errorf("attribute %s is not a string but %T", attr, v)
	}
}

// getJSON returns the JSON text held in the string attribute attr of it,
// nil when absent.
func getJSON(it item, attr string) (json.RawMessage, error) {
	s, err := getStr(it, attr)
	if s == "" || err != nil {
		return nil, err
	}
	return json.RawMessage(s), nil
}

// getNum returns the integer attribute attr of it, 0 when absent.
func getNum(it item, attr string) (int64, error) {
	switch v := it[attr].(type) {
	case nil:
		return 0, nil
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("attribute %s: %w", attr, err)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("attribute %s is not a number but %T", attr, v)
	}
}

// getBool returns the boolean attribute attr of it, false when absent.
func getBool(it item, attr string) (bool, error) {
	switch v := it[attr].(type) {
	case nil:
		return false, nil
	case *types.AttributeValueMemberBOOL:
		return v.Value, nil
	default:
		return false, fmt.Errorf("attribute %s is not a boolean but %T", attr, v)
	}
}

// getStrings returns the list of strings attribute attr of it, nil when
// absent.
func getStrings(it item, attr string) ([]string, error) {
	switch v := it[attr].(type) {
	case nil:
		return nil, nil
	case *types.AttributeValueMemberL:
		out := make([]string, len(v.Value))
		for i, e := range v.Value {
			s, ok := e.(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("attribute %s: element %d is not a string but %T", attr, i, e)
			}
			out[i] = s.Value
		}
		return out, nil
	default:
		return nil, fmt.Errorf("attribute %s is not a list but %T", attr, v)
	}
}

// expr collects the placeholders of the expressions of one request. Names
// are written "#attr" for attribute attr, values ":name".
type expr struct {
	names  map[string]string
	values item
}

// name returns the placeholder of attribute attr.
func (x *expr) name(attr string) string {
	return x.alias(attr, attr)
}

// alias returns the placeholder "#ph" standing for attr, which may be any
// string, such as a subscription id used as a map key.
func (x *expr) alias(ph, attr string) string {
	if x.names == nil {
		x.names = make(map[string]string)
	}
	x.names["#"+ph] = attr
	return "#" + ph
}

// use registers every "#name" placeholder of e that no alias claimed as
// standing for the attribute of that name, and returns e.
func (x *expr) use(e string) string {
	for i := 0; i < len(e); i++ {
		if e[i] != '#' {
			continue
		}
		j := i + 1
		for j < len(e) && (e[j] >= 'a' && e[j] <= 'z' || e[j] >= 'A' && e[j] <= 'Z' || e[j] >= '0' && e[j] <= '9' || e[j] == '_') {
			j++
		}
		if _, ok := x.names[e[i:j]]; !ok {
			x.name(e[i+1 : j])
		}
		i = j - 1
	}
	return e
}

// value returns the placeholder ":ph" standing for av.
func (x *expr) value(ph string, av types.AttributeValue) string {
	if x.values == nil {
		x.values = make(item)
	}
	x.values[":"+ph] = av
	return ":" + ph
}

// attrNames returns the name placeholders, nil when there are none (DynamoDB
// refuses an empty map).
func (x *expr) attrNames() map[string]string {
	if len(x.names) == 0 {
		return nil
	}
	return x.names
}

// attrValues returns the value placeholders, nil when there are none.
func (x *expr) attrValues() item {
	if len(x.values) == 0 {
		return nil
	}
	return x.values
}
