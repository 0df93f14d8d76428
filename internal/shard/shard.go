// Package shard spreads the subscriptions of a hot topic over key shards the
// same way in every store, so that a topic's readers and writers agree on
// where a subscription lives whatever store holds it.
package shard

import "hash/fnv"

// Of returns the key shard of subscription subID of connection connID: a
// stable hash (FNV-1a of the two ids, separated by a zero byte) modulo
// shards, and 0 when shards is 1 or less. The hash never changes: stored
// subscriptions are found by it.
func Of(connID, subID string, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(connID))
	h.Write([]byte{0})
	h.Write([]byte(subID))
	return int(h.Sum32() % uint32(shards))
}

// OfConnection returns the shard of connection connID in an index spread
// over shards (the stores' activity index): FNV-1a of the id modulo shards,
// and 0 when shards is 1 or less. Like Of, the hash never changes.
func OfConnection(connID string, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(connID))
	return int(h.Sum32() % uint32(shards))
}
