package backoff

import (
	"context"
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	tests := []struct {
		attempt     int
		base, limit time.Duration
		want        time.Duration
	}{
		{0, 25 * time.Millisecond, time.Second, 25 * time.Millisecond},
		{1, 25 * time.Millisecond, time.Second, 50 * time.Millisecond},
		{5, 25 * time.Millisecond, time.Second, 800 * time.Millisecond},
		{6, 25 * time.Millisecond, time.Second, time.Second},
		{62, 25 * time.Millisecond, time.Second, time.Second},
		{63, 25 * time.Millisecond, time.Second, time.Second},
		{1000, time.Nanosecond, time.Hour, time.Hour},
		{3, 0, time.Second, 0},
	}
	for _, tt := range tests {
		if got := Ceiling(tt.attempt, tt.base, tt.limit); got != tt.want {
			t.Errorf("Ceiling(%d, %v, %v) = %v, want %v", tt.attempt, tt.base, tt.limit, got, tt.want)
		}
		for range 100 {
			if d := Full(tt.attempt, tt.base, tt.limit); d < 0 || d > tt.want {
				t.Fatalf("Full(%d, %v, %v) = %v, want within [0, %v]", tt.attempt, tt.base, tt.limit, d, tt.want)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep of 1 ms with a live context reported false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep with a done context reported true")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Sleep with a done context took %v", took)
	}
	if Sleep(ctx, 0) || !Sleep(context.Background(), -time.Second) {
		t.Error("Sleep of no time must report whether the context is live")
	}
}
