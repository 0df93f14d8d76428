package redis

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/store"
)

// Defaults of [Options].
const (
	// DefaultKeyPrefix starts every key of a Store whose Options.KeyPrefix
	// is empty.
	DefaultKeyPrefix = "gqlambda:"
	defaultPageSize  = 500
)

// firstPageSize bounds the first page of each topic shard, so that a
// fan-out has its first subscriptions after a small read.
const firstPageSize = 64

// keepDeleted is how long a deletion keeps what it deleted under its own
// keys, so that the client's retry of the same call (after a lost reply)
// gets the same answer. go-redis gives up retrying long before.
const keepDeleted = 30 * time.Second

// pruneAfter is how old an entry of a topic index must be before a reader
// that finds no record for it deletes it. An entry is written before its
// record (see [Store]); a younger entry without a record may belong to a
// CreateSubscription still under way, which a Lambda invocation of up to
// 15 minutes may hold that long.
const pruneAfter = 15 * time.Minute

// Options configures a [Store]. The zero value, and a nil *Options, give the
// defaults.
type Options struct {
	// KeyPrefix starts every key the store writes, so that several
	// applications (or stages) can share one database. Default
	// DefaultKeyPrefix, "gqlambda:". Braces and "%" in it are escaped, so
	// that it never changes the keys' hash tags.
	KeyPrefix string

	// Shards is the number of keys (each in a cluster slot of its own) over
	// which the subscriptions of each topic are spread, by a hash of the
	// connection and subscription ids; TopicSubscriptions reads them in
	// turn. More than one spreads a very busy topic over several nodes of a
	// cluster. It must stay the same for the life of the data. Default 1.
	Shards int

	// PageSize is how many entries of a topic shard TopicSubscriptions reads
	// per request (the first page of each shard is at most 64). Default 500.
	PageSize int

	// Now is the clock that decides whether a record has expired. It must be
	// safe for concurrent use. Default: time.Now. The server's clock only
	// runs the keys' Time to Live, set from the records' ExpiresAt, which
	// deletes what has expired.
	Now func() time.Time

	// Logger receives debug records about clean-ups that did not finish and
	// index entries pruned. Default: discard.
	Logger *slog.Logger
}

// Store is a [store.Store] on Redis (or Valkey, ElastiCache, MemoryDB), on
// the go-redis client. Create it with [New]; the zero value is not usable.
// It is safe for concurrent use, and any number of Stores, in any number of
// processes, may share one database.
//
// The package documentation describes the keys and how each guarantee of
// [store.Store] is kept.
type Store struct {
	rdb      redis.UniversalClient
	keys     keys
	shards   int
	pageSize int
	now      func() time.Time
	log      *slog.Logger
	scripts  scripts
}

var _ store.Store = (*Store)(nil)

// New returns a Store on the database that client reaches: a *redis.Client
// (one server, or a Sentinel-managed failover group from
// redis.NewFailoverClient), a *redis.ClusterClient, or what
// redis.NewUniversalClient returns. The client's options set the address,
// TLS, authentication and timeouts (see the package documentation). opts
// may be nil.
//
// The server must be Redis 7.0 or later, or Valkey (the scripts use
// PEXPIRETIME).
func New(client redis.UniversalClient, opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Store{
		rdb:      client,
		shards:   max(o.Shards, 1),
		pageSize: o.PageSize,
		now:      o.Now,
		log:      o.Logger,
		scripts:  newScripts(),
	}
	prefix := o.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	s.keys = keys{prefix: escape(prefix)}
	if s.pageSize <= 0 {
		s.pageSize = defaultPageSize
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// newToken returns a fresh random token identifying one call.
func newToken() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}

// newRev returns a fresh revision of a subscription: the time it is written
// (Unix ms, base 36, which tells a reader the age of an index entry) and a
// random part. It contains no space.
func newRev(now time.Time) string {
	return strconv.FormatInt(now.UnixMilli(), 36) + "." + strconv.FormatUint(rand.Uint64(), 36)
}

// revTime returns when revision rev was made, and false if it is not one.
func revTime(rev string) (time.Time, bool) {
	for i := range len(rev) {
		if rev[i] == '.' {
			ms, err := strconv.ParseInt(rev[:i], 36, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.UnixMilli(ms), true
		}
	}
	return time.Time{}, false
}

// run runs one script, by digest and, if the server does not hold it, in
// full.
func (s *Store) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	return script.Run(ctx, s.rdb, keys, args...)
}

// unexpected is the error of a script reply the store does not know.
func unexpected(v any) error {
	return fmt.Errorf("unexpected reply %v (%T)", v, v)
}
