package redis

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gqlambda/gqlambda/filter"
	"github.com/gqlambda/gqlambda/store"
)

// Fields of a connection hash. The Lua scripts use the same names.
const (
	fieldWriteToken  = "w"  // the token of the CreateConnection that wrote the record; always present
	fieldEndpoint    = "e"  // absent when empty
	fieldProtocol    = "p"  // absent when empty
	fieldAck         = "a"  // "1" acknowledged, "0" not
	fieldAckToken    = "k"  // the token of the AcknowledgeConnection that set fieldAck
	fieldContext     = "x"  // JSON; absent when empty
	fieldAuthorizer  = "z"  // JSON; absent when empty
	fieldData        = "d"  // JSON, what $connect's hook kept; absent when empty
	fieldConnectedAt = "ca" // Unix ms; absent for the zero time
	fieldExpiresAt   = "ex" // Unix ms; absent when the record never expires
	fieldLastActive  = "la" // Unix ms, when last known alive (store.ActivityIndex); absent for the zero time
	fieldPingedAt    = "pa" // Unix ms, a ping awaits its answer; absent when none
)

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

// expiredAt reports whether a record expiring at the Unix millisecond ms (0:
// never) is expired at now. The instant itself counts as expired.
func expiredAt(ms int64, now time.Time) bool {
	return ms != 0 && ms <= now.UnixMilli()
}

// connectionFields returns the field-value pairs of c's hash, except the
// write token.
func connectionFields(c store.Connection) []any {
	f := make([]any, 0, 16)
	optional := func(name, v string) {
		if v != "" {
			f = append(f, name, v)
		}
	}
	optional(fieldEndpoint, c.Endpoint)
	optional(fieldProtocol, c.Protocol)
	if c.Acknowledged {
		f = append(f, fieldAck, "1")
	} else {
		f = append(f, fieldAck, "0")
	}
	optional(fieldContext, string(c.Context))
	optional(fieldAuthorizer, string(c.Authorizer))
	optional(fieldData, string(c.Data))
	if ms := millis(c.ConnectedAt); ms != 0 {
		f = append(f, fieldConnectedAt, strconv.FormatInt(ms, 10))
	}
	if ms := millis(c.ExpiresAt); ms != 0 {
		f = append(f, fieldExpiresAt, strconv.FormatInt(ms, 10))
	}
	if ms := millis(lastActive(c)); ms != 0 {
		f = append(f, fieldLastActive, strconv.FormatInt(ms, 10))
	}
	if ms := millis(c.PingedAt); ms != 0 {
		f = append(f, fieldPingedAt, strconv.FormatInt(ms, 10))
	}
	return f
}

// lastActive is the activity a new connection is indexed by: its
// LastActiveAt, or its ConnectedAt when that is zero.
func lastActive(c store.Connection) time.Time {
	if c.LastActiveAt.IsZero() {
		return c.ConnectedAt
	}
	return c.LastActiveAt
}

// connRecord is a decoded connection hash.
type connRecord struct {
	conn      store.Connection
	expiresAt int64 // Unix ms, 0: never
}

// decodeConnection decodes the hash of connection id, given as its fields
// and values.
func decodeConnection(id string, fields map[string]string) (connRecord, error) {
	r := connRecord{conn: store.Connection{ID: id}}
	fail := func(err error) (connRecord, error) {
		return connRecord{}, fmt.Errorf("decode connection %q: %w", id, err)
	}
	if _, ok := fields[fieldWriteToken]; !ok {
		return fail(errors.New("no write token: not a connection record"))
	}
	r.conn.Endpoint = fields[fieldEndpoint]
	r.conn.Protocol = fields[fieldProtocol]
	r.conn.Acknowledged = fields[fieldAck] == "1"
	if v := fields[fieldContext]; v != "" {
		r.conn.Context = json.RawMessage(v)
	}
	if v := fields[fieldAuthorizer]; v != "" {
		r.conn.Authorizer = json.RawMessage(v)
	}
	if v := fields[fieldData]; v != "" {
		r.conn.Data = json.RawMessage(v)
	}
	connectedAt, err := msField(fields, fieldConnectedAt)
	if err != nil {
		return fail(err)
	}
	r.conn.ConnectedAt = fromMillis(connectedAt)
	if r.expiresAt, err = msField(fields, fieldExpiresAt); err != nil {
		return fail(err)
	}
	r.conn.ExpiresAt = fromMillis(r.expiresAt)
	for name, t := range map[string]*time.Time{fieldLastActive: &r.conn.LastActiveAt, fieldPingedAt: &r.conn.PingedAt} {
		ms, err := msField(fields, name)
		if err != nil {
			return fail(err)
		}
		*t = fromMillis(ms)
	}
	return r, nil
}

// msField returns the Unix ms in field name, 0 when absent.
func msField(fields map[string]string, name string) (int64, error) {
	v, ok := fields[name]
	if !ok {
		return 0, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("field %s: %w", name, err)
	}
	return ms, nil
}

// pairs turns the flat field-value list of an HGETALL reply (as a Lua script
// returns it) into a map.
func pairs(v any) (map[string]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of fields and values, got %T", v)
	}
	if len(list)%2 != 0 {
		return nil, fmt.Errorf("a list of fields and values of odd length %d", len(list))
	}
	m := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, ok1 := list[i].(string)
		v, ok2 := list[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("field %d is %T = %T, want strings", i/2, list[i], list[i+1])
		}
		m[k] = v
	}
	return m, nil
}

// A subscription record, the value of its field in the subscriptions hash,
// is "<expiresAt> <rev> <body>": the Unix ms it expires (0: never) and its
// revision in decimal and text, which the Lua scripts read, then the body
// that only Go reads. The connection and subscription ids are not in it: they
// are the key and the field.
//
// The body is a version byte, a flags byte (bit 0: CompleteHook, bit 1:
// Predicate), the creation time as a varint of Unix ms, the number of topics
// as a uvarint, then the topics and the strings Filter (JSON), Query,
// OperationName, Variables, Context, Endpoint, Protocol, (from version 2)
// Data and (from version 3) Authorizer, each as a uvarint length and its
// bytes. Records of versions 1 and 2, without them, still decode.
const bodyVersion = 3

// errRecord: a subscription record that does not decode.
var errRecord = errors.New("malformed subscription record")

// encodeSubscription returns the record of sub with revision rev.
func encodeSubscription(sub store.Subscription, rev string, filterJSON []byte) string {
	strs := []string{string(filterJSON), sub.Query, sub.OperationName, string(sub.Variables), string(sub.Context), sub.Endpoint, sub.Protocol, string(sub.Data), string(sub.Authorizer)}
	size := 32 + len(rev)
	for _, s := range strs {
		size += len(s) + binary.MaxVarintLen32
	}
	for _, t := range sub.Topics {
		size += len(t) + binary.MaxVarintLen32
	}
	b := make([]byte, 0, size)
	b = strconv.AppendInt(b, millis(sub.ExpiresAt), 10)
	b = append(b, ' ')
	b = append(b, rev...)
	b = append(b, ' ', bodyVersion)
	var flags byte
	if sub.CompleteHook {
		flags |= 1
	}
	if sub.Predicate {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, millis(sub.CreatedAt))
	b = binary.AppendUvarint(b, uint64(len(sub.Topics)))
	for _, t := range sub.Topics {
		b = appendString(b, t)
	}
	for _, s := range strs {
		b = appendString(b, s)
	}
	return string(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// subRecord is a decoded subscription record.
type subRecord struct {
	sub       store.Subscription
	expiresAt int64 // Unix ms, 0: never
	rev       string
}

// recordHeader returns the expiry and the revision of a record, and its
// body.
func recordHeader(v string) (expiresAt int64, rev, body string, err error) {
	exText, rest, ok := strings.Cut(v, " ")
	if !ok {
		return 0, "", "", errRecord
	}
	rev, body, ok = strings.Cut(rest, " ")
	if !ok || rev == "" {
		return 0, "", "", errRecord
	}
	expiresAt, err = strconv.ParseInt(exText, 10, 64)
	if err != nil {
		return 0, "", "", errRecord
	}
	return expiresAt, rev, body, nil
}

// decodeSubscription decodes the record v of subscription subID of
// connection connID.
func decodeSubscription(connID, subID, v string) (subRecord, error) {
	fail := func(err error) (subRecord, error) {
		return subRecord{}, fmt.Errorf("decode subscription %q of connection %q: %w", subID, connID, err)
	}
	ex, rev, body, err := recordHeader(v)
	if err != nil {
		return fail(err)
	}
	d := decoder{s: body}
	version := d.byte()
	if version < 1 || version > bodyVersion {
		return fail(fmt.Errorf("%w: unknown version", errRecord))
	}
	flags := d.byte()
	created := d.varint()
	n := d.uvarint()
	if d.err != nil || n > uint64(len(body)) {
		return fail(errRecord)
	}
	r := subRecord{expiresAt: ex, rev: rev, sub: store.Subscription{
		ConnectionID: connID,
		ID:           subID,
		Topics:       make([]string, n),
		CompleteHook: flags&1 != 0,
		Predicate:    flags&2 != 0,
		CreatedAt:    fromMillis(created),
		ExpiresAt:    fromMillis(ex),
	}}
	for i := range r.sub.Topics {
		r.sub.Topics[i] = d.string()
	}
	filterJSON := d.string()
	r.sub.Query = d.string()
	r.sub.OperationName = d.string()
	r.sub.Variables = rawJSON(d.string())
	r.sub.Context = rawJSON(d.string())
	r.sub.Endpoint = d.string()
	r.sub.Protocol = d.string()
	if version >= 2 {
		r.sub.Data = rawJSON(d.string())
	}
	if version >= 3 {
		r.sub.Authorizer = rawJSON(d.string())
	}
	if d.err != nil || d.s != "" {
		return fail(errRecord)
	}
	if filterJSON != "" {
		if err := json.Unmarshal([]byte(filterJSON), &r.sub.Filter); err != nil {
			return fail(fmt.Errorf("filter: %w", err))
		}
	}
	return r, nil
}

// rawJSON returns s as JSON text, nil when empty.
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// encodeFilter returns f as JSON, or nothing for the zero filter.
func encodeFilter(f filter.Filter) ([]byte, error) {
	if f.IsZero() {
		return nil, nil
	}
	return json.Marshal(f)
}

// decoder reads the body of a record; the first error sticks.
type decoder struct {
	s   string
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || d.s == "" {
		d.err = errRecord
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if c < 0x80 {
			d.s = d.s[i+1:]
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.err = errRecord
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.s)) {
		d.err = errRecord
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}
