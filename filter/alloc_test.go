//go:build !race

package filter_test

import "testing"

// TestMatchAllocs checks that Match does not allocate on a map[string]any
// payload, for every operator and for list values of any slice type. (The
// race detector's instrumentation may allocate, hence the build constraint.)
func TestMatchAllocs(t *testing.T) {
	p := benchEvent()
	for _, bf := range benchFilters {
		if !bf.f.Match(p) {
			t.Errorf("%s: does not match", bf.name)
		}
		if n := testing.AllocsPerRun(100, func() { bf.f.Match(p) }); n != 0 {
			t.Errorf("%s: Match allocates %v times per call, want 0", bf.name, n)
		}
	}
}
