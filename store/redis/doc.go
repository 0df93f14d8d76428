// Package redis is the Redis implementation of [store.Store], on the go-redis
// client (github.com/redis/go-redis/v9). It runs on one Redis server, a
// Sentinel-managed failover group, Redis Cluster, Valkey, and Amazon
// ElastiCache and MemoryDB (including ElastiCache Serverless), Redis 7.0 or
// later. It passes store/storetest against a real redis-server and against a
// three-node Redis Cluster.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"}) // or NewClusterClient, NewUniversalClient
//	srv, err := gqlambda.New(gqlambda.Config{Store: redis.New(rdb, nil), ...})
//
// # Keys
//
// Every key starts with Options.KeyPrefix (default "gqlambda:"), then a kind
// letter and a hash tag, "{...}": Redis Cluster places a key by the tag
// alone, so all keys of one connection share a slot, and each shard of a
// topic has a slot of its own. Ids are escaped ("%", "{" and "}" become
// %25, %7B and %7D), so no id can break out of its tag.
//
//	<prefix>c{<connection id>}       hash: the connection (endpoint, protocol, acknowledgement, context, authorizer, times)
//	<prefix>s{<connection id>}       hash: subscription id → the subscription's record (its expiry, revision, and every field)
//	<prefix>t{<topic>#<shard>}       sorted set, all scores 0: one entry per subscription of the topic in the shard
//	<prefix>x{<connection id>}...    what a deletion removed, kept 30 s for a retry of the same call
//
// A topic entry is "<len>:<connection id><len>:<subscription id><revision>";
// the revision is a fresh token of each CreateSubscription (its time and a
// random part). The shard of a subscription is a hash of its ids modulo
// Options.Shards.
//
// # Guarantees, and how each is kept atomically
//
// Every write that must not race is one Lua script that touches the keys of
// one slot only, as Redis Cluster requires. Scripts rather than
// MULTI/EXEC with WATCH: the writes are conditional (the connection must be
// live, the id free, the connection not yet acknowledged), and a
// transaction cannot branch on what it reads; WATCH makes every such write
// optimistic, at least three round trips and a retry loop whenever another
// client touches the key (concurrent acknowledgements, subscriptions of one
// connection), while a script checks and writes in one round trip, without
// retries, and atomically by construction. Scripts are sent by their SHA-1
// digest (EVALSHA), and in full when the server does not hold them, such as
// after a restart or a failover.
//
//   - A connection id is created once while it lives: the create script
//     refuses an unexpired record and replaces an expired one.
//   - A connection is acknowledged once: the acknowledge script checks and
//     sets the flag together.
//   - A subscription exists only while its connection exists and is
//     unexpired, and a duplicate id is refused: the subscribe script checks
//     the connection's record and the subscriptions hash, and writes the
//     record, in the connection's slot.
//   - Exactly one caller gets each deletion: DeleteConnection's script takes
//     both hashes of the connection away at once (renaming them to keys of
//     its own), DeleteSubscription's takes one field out; whichever runs
//     first gets the records, the other finds none.
//
// A subscription's topic entries live in other slots than its record, so it
// is written in two steps: its entries first (one script per topic shard),
// then its record, by the script above. A reader of a topic counts an entry
// only when the connection's subscriptions hash holds a record of the same
// revision, unexpired: it reads each page of entries (ZRANGE BYLEX, after the
// last entry read) and then the records in one pipeline. So a subscription
// is visible from the moment its record is written to the moment a deletion
// takes it, never longer, and a CreateSubscription racing DeleteConnection
// is either refused (the record script finds no connection) or its record
// is taken by the deletion. The entries of a refused or deleted
// subscription are removed by the call that refused or deleted it, after
// the record; if that call fails half-way (the server went away), readers
// skip the entries left behind and delete those older than 15 minutes (a
// younger one may belong to a CreateSubscription still between its two
// steps). After every call has returned, no entry is left without a record,
// except after such failures.
//
// Each page is read with the last member read as an exclusive lower bound,
// so entries added or removed meanwhile never shift a page: a subscription
// present throughout an iteration is yielded exactly once, and one created
// or deleted during it at most once. The shards of a topic are read one
// after another, at most two pages ahead of the caller's loop.
//
// # Expiry
//
// Records expire at their ExpiresAt, decided by Options.Now (the store's
// clock, time.Now by default), which every method and script uses: an
// expired record is treated as absent even while the server still holds
// it. The server deletes what has expired with native Time to Live: the
// connection hash at the connection's ExpiresAt (PEXPIREAT), the
// subscriptions hash and a topic shard at the latest ExpiresAt of the
// records they hold, extended as records are added (a record that never
// expires makes its key persistent). The keys are set when written; as in
// store/dynamodb, later writes do not refresh them, because the server sets
// ExpiresAt once, at $connect. The server's clock and the store's may
// differ by the usual clock skew: a record is absent from when the earlier
// of the two passes its ExpiresAt.
//
// # Connecting: TLS, authentication, timeouts
//
// The client's own options carry them; the store takes any
// redis.UniversalClient:
//
//   - TLS: Options.TLSConfig (&tls.Config{MinVersion: tls.VersionTLS12},
//     ServerName set from the address by go-redis), or a rediss:// URL with
//     redis.ParseURL. ElastiCache Serverless and clusters with in-transit
//     encryption require it.
//   - AUTH: Options.Username and Password (Redis 6 ACL users, ElastiCache
//     RBAC), or a redis://user:password@host URL.
//   - ElastiCache IAM authentication: Options.CredentialsProviderContext
//     returning the IAM user id and a SigV4-presigned token, made afresh for
//     each new connection (a token lives 15 minutes; ElastiCache closes a
//     connection after 12 hours). See the package's ElastiCache example.
//   - Timeouts: DialTimeout, ReadTimeout and WriteTimeout bound each call
//     while the server is unreachable (go-redis's defaults: 5 s, 3 s, 3 s;
//     in a Lambda, 1 s or less keeps a frozen primary from using up the
//     invocation), and MaxRetries how often go-redis sends a command again
//     after a network error (default 3).
//
// # Failover
//
// While the server is unreachable every method fails with an error that
// names the operation and wraps go-redis's (a refused connection, an i/o
// timeout); nothing is half-written, as each write is one script. When it
// returns, or a replica has been promoted, the store works again: the
// scripts are sent in full to a server that lost them. go-redis sends a
// command again after a network error, so a script may run twice: each call
// carries a token, and a script run again answers as the first run did (a
// deletion keeps what it deleted for 30 s under its token for that). A call
// whose reply is lost for good returns an error although its script may
// have run; of CreateSubscription's two steps, the entries of the first then
// stay until a reader prunes them. Redis replicates asynchronously: the
// writes of the last moments before a primary failed may be lost with it,
// as a new connection or subscription (its client sees no events; API
// Gateway's 410 or the key's Time to Live clears it) or a deletion (the
// records come back until their Time to Live or the next 410).
package redis
