package legacyws

import "testing"

func TestTruthy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want bool
	}{
		{``, false},
		{`null`, false},
		{`false`, false},
		{`true`, true},
		{`0`, false},
		{`-0`, false},
		{`0.0e5`, false},
		{`1`, true},
		{`-1e-300`, true},
		{`1e400`, true},
		{`""`, false},
		{`" "`, true},
		{`"0"`, true},
		{`[]`, true},
		{`{}`, true},
	}
	for _, tt := range tests {
		var raw []byte
		if tt.raw != "" {
			raw = []byte(tt.raw)
		}
		if got := truthy(raw); got != tt.want {
			t.Errorf("truthy(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}
