package lru

import (
	"fmt"
	"sync"
	"testing"
)

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := New[string, int](2)
	c.Add("a", 1)
	c.Add("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v; want 1, true", v, ok)
	}
	c.Add("c", 3) // evicts b, the least recently used
	if _, ok := c.Get("b"); ok {
		t.Error("b should have been evicted")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.Get(k); !ok || v != want {
			t.Errorf("Get(%s) = %d, %v; want %d, true", k, v, ok, want)
		}
	}
	c.Add("a", 10)
	if v, _ := c.Get("a"); v != 10 {
		t.Errorf("Add on an existing key: Get(a) = %d, want 10", v)
	}
	if c.Len() != 2 {
		t.Errorf("Len() = %d, want 2", c.Len())
	}
}

func TestCacheMinimumCapacity(t *testing.T) {
	t.Parallel()
	c := New[int, int](0)
	c.Add(1, 1)
	c.Add(2, 2)
	if c.Len() != 1 {
		t.Fatalf("Len() = %d, want 1", c.Len())
	}
}

func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := New[string, int](64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := fmt.Sprint((g*31 + i) % 100)
				c.Add(k, i)
				c.Get(k)
			}
		})
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Fatalf("Len() = %d, over capacity 64", c.Len())
	}
}

func TestCacheRemove(t *testing.T) {
	c := New[string, int](2)
	c.Add("a", 1)
	c.Add("b", 2)
	c.Remove("a")
	c.Remove("missing")
	if _, ok := c.Get("a"); ok {
		t.Error("a removed entry is returned")
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d after a removal, want 1", c.Len())
	}
	c.Add("c", 3)
	c.Add("d", 4) // evicts b, the least recently used
	if _, ok := c.Get("b"); ok || c.Len() != 2 {
		t.Errorf("after removal and adds: b present %v, Len %d; want false, 2", ok, c.Len())
	}
}
