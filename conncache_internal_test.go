package gqlambda

import (
	"testing"
	"time"

	"github.com/gqlambda/gqlambda/store"
)

func TestConnCache(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	conn := func(id string) store.Connection {
		return store.Connection{ID: id, ExpiresAt: t0.Add(time.Hour)}
	}
	t.Run("bounded, least recently used first out", func(t *testing.T) {
		c := newConnCache(ConnectionCache{Size: 3})
		for _, id := range []string{"a", "b", "c"} {
			c.put(conn(id), t0)
		}
		c.put(conn("a"), t0) // a is now the most recently used
		c.put(conn("d"), t0) // b goes
		for id, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
			if _, ok := c.get(id, t0); ok != want {
				t.Errorf("get(%s) = %v, want %v", id, ok, want)
			}
		}
		if n := c.len(); n != 3 {
			t.Errorf("len = %d, want 3", n)
		}
	})
	t.Run("fresh for TTL, and only until the connection expires", func(t *testing.T) {
		c := newConnCache(ConnectionCache{TTL: time.Minute})
		c.put(conn("a"), t0)
		if _, ok := c.get("a", t0.Add(59*time.Second)); !ok {
			t.Error("a record 59 s old is not returned")
		}
		if _, ok := c.get("a", t0.Add(time.Minute)); ok {
			t.Error("a record a TTL old is returned")
		}
		c.put(store.Connection{ID: "b", ExpiresAt: t0.Add(time.Second)}, t0)
		if _, ok := c.get("b", t0.Add(time.Second)); ok {
			t.Error("an expired connection's record is returned")
		}
		if n := c.len(); n != 0 {
			t.Errorf("len = %d after the stale records were asked for, want 0", n)
		}
	})
	t.Run("drop", func(t *testing.T) {
		c := newConnCache(ConnectionCache{})
		c.put(conn("a"), t0)
		c.drop("a")
		c.drop("unknown")
		if _, ok := c.get("a", t0); ok {
			t.Error("a dropped record is returned")
		}
	})
	t.Run("churn stays bounded", func(t *testing.T) {
		c := newConnCache(ConnectionCache{Size: 100})
		for i := range 10_000 {
			id := string(rune('a'+i%26)) + time.Duration(i).String()
			c.put(conn(id), t0)
			c.put(conn(id), t0) // acknowledged
			if i%2 == 0 {
				c.drop(id)
			}
		}
		if n := c.len(); n != 100 {
			t.Errorf("after churn: %d records; want 100", n)
		}
	})
	t.Run("off", func(t *testing.T) {
		c := newConnCache(ConnectionCache{Size: -1})
		c.put(conn("a"), t0)
		if _, ok := c.get("a", t0); ok || c.len() != 0 {
			t.Error("a disabled cache keeps records")
		}
		c.drop("a")
	})
}
