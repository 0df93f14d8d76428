package redis

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlambda/gqlambda/internal/redistest"
	"github.com/gqlambda/gqlambda/store"
	"github.com/gqlambda/gqlambda/store/storetest"
)

// sharedClient returns a client of the shared redis-server with a pool
// large enough for the conformance suite's parallel cases.
func sharedClient(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.PoolSize = 128
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// conformanceRuns are the store configurations the conformance suite runs
// over, on one server or a cluster.
var conformanceRuns = []struct {
	name  string
	opts  Options
	suite storetest.Options
}{
	{"defaults", Options{}, storetest.Options{}},
	// Four shards read in pages of 50: 1,000 subscriptions of a topic are
	// about 250 a shard, five pages each.
	{"shards-4-pages-50", Options{Shards: 4, PageSize: 50}, storetest.Options{ManySubscriptions: 1000, RacePairs: 500}},
}

// runConformance runs the conformance suite over every configuration of
// conformanceRuns on client.
func runConformance(t *testing.T, client redis.UniversalClient) {
	for _, tc := range conformanceRuns {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prefix := redistest.Prefix(t)
			newStore := func(now func() time.Time) store.Store {
				o := tc.opts
				o.KeyPrefix, o.Now = prefix, now
				return New(client, &o)
			}
			suite := tc.suite
			// The clocked cases move the store's clock, which decides
			// expiry; the server's clock, which runs the keys' Time to
			// Live, stays behind, so the keys outlive what the store
			// treats as expired, as they may on any server.
			suite.NewClockedStore = func(_ *testing.T, now func() time.Time) store.Store { return newStore(now) }
			storetest.Run(t, func(*testing.T) store.Store { return newStore(nil) }, &suite)
		})
	}
}

func TestConformance(t *testing.T) {
	runConformance(t, sharedClient(t))
}

// clusterClient starts a three-node Redis Cluster of the test's own and
// returns a client of it.
func clusterClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	addrs := redistest.StartCluster(t, 3)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, PoolSize: 64})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConformanceCluster runs the conformance suite on a real Redis Cluster
// of three primaries: a script whose keys were not all in one slot would
// fail with CROSSSLOT, and one touching a key it did not declare would be
// refused.
func TestConformanceCluster(t *testing.T) {
	runConformance(t, clusterClient(t))
}
