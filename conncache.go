package gqlambda

import (
	"time"

	"github.com/gqlambda/gqlambda/internal/lru"
	"github.com/gqlambda/gqlambda/store"
)

// This file keeps the connection records this process wrote or read, so that
// a frame of a connection it has seen needs no store read before it can be
// decoded. On the local gateway every frame finds its record here; on Lambda,
// the frames that reach the instance that handled the connection's $connect
// or an earlier frame do.
//
// A cached record is trusted only for what cannot have changed behind it:
//
//   - the protocol, endpoint, authorizer context and $connect data never
//     change; the connection_init context never changes once acknowledged;
//   - an acknowledgement is never undone, so a cached acknowledged record is
//     used as it is; a cached unacknowledged one is used only for a frame
//     that is allowed before the acknowledgement (connection_init, ping): for
//     any other the store is read, as another process may have acknowledged
//     it;
//   - a deletion elsewhere ($disconnect handled by another instance, a
//     sweep) is not seen: the writes that depend on the connection existing
//     are conditional in the store (a subscribe is refused, and the
//     connection closed with 1013, as a frame of an unknown connection is),
//     and a post to a gone connection answers 410. Records are trusted for
//     ConnectionCache.TTL at most, and until the connection expires.

// ConnectionCache configures the connection records a Server keeps in its
// process (see Config.ConnectionCache).
type ConnectionCache struct {
	// Size bounds the records kept; beyond it the least recently used go
	// first.
	// Default 10,000 (a record is its contexts' JSON plus about 300 bytes).
	// Negative: no cache, every frame reads its connection from the store.
	Size int
	// TTL is how long a record is used after it was written or read.
	// Default 1 minute.
	TTL time.Duration
}

const (
	defaultConnectionCacheSize = 10_000
	defaultConnectionCacheTTL  = time.Minute
)

// connCache keeps connection records, the least recently used going first
// beyond its size. A nil *connCache keeps nothing.
type connCache struct {
	ttl     time.Duration
	records *lru.Cache[string, cachedConn]
}

type cachedConn struct {
	conn   store.Connection
	cached time.Time
}

func newConnCache(cfg ConnectionCache) *connCache {
	if cfg.Size < 0 {
		return nil
	}
	if cfg.Size == 0 {
		cfg.Size = defaultConnectionCacheSize
	}
	if cfg.TTL <= 0 {
		cfg.TTL = defaultConnectionCacheTTL
	}
	return &connCache{ttl: cfg.TTL, records: lru.New[string, cachedConn](cfg.Size)}
}

// get returns the record of connection id, if one is kept, fresh and
// unexpired at now.
func (c *connCache) get(id string, now time.Time) (store.Connection, bool) {
	if c == nil {
		return store.Connection{}, false
	}
	r, ok := c.records.Get(id)
	if !ok {
		return store.Connection{}, false
	}
	if now.Sub(r.cached) >= c.ttl || !r.conn.ExpiresAt.IsZero() && !now.Before(r.conn.ExpiresAt) {
		c.records.Remove(id)
		return store.Connection{}, false
	}
	return r.conn, true
}

// put keeps conn, read or written at now.
func (c *connCache) put(conn store.Connection, now time.Time) {
	if c != nil {
		c.records.Add(conn.ID, cachedConn{conn: conn, cached: now})
	}
}

// drop forgets connection id.
func (c *connCache) drop(id string) {
	if c != nil {
		c.records.Remove(id)
	}
}

// len is how many records are kept.
func (c *connCache) len() int {
	if c == nil {
		return 0
	}
	return c.records.Len()
}
