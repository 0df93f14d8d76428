package apigw_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
)

// TestPostTrace checks what a Client reports to the PostTrace of a call's
// context: each failed attempt, whether it was throttled, and whether
// another follows; nothing for a post that succeeds at once or for a gone
// connection.
func TestPostTrace(t *testing.T) {
	throttle := response{status: http.StatusTooManyRequests, errorType: "LimitExceededException"}
	fail := response{status: http.StatusInternalServerError, errorType: "InternalServerErrorException"}
	ok := response{status: http.StatusOK}
	tests := []struct {
		name      string
		responses []response
		want      []gateway.AttemptInfo // Err and Delay not compared
		wantErr   error
	}{
		{"at once", []response{ok}, nil, nil},
		{"throttled, then a server error", []response{throttle, fail, ok}, []gateway.AttemptInfo{
			{Attempt: 1, Status: 429, Throttled: true, Retry: true},
			{Attempt: 2, Status: 500, Retry: true},
		}, nil},
		{"failing every attempt", []response{fail}, []gateway.AttemptInfo{
			{Attempt: 1, Status: 500, Retry: true},
			{Attempt: 2, Status: 500, Retry: true},
			{Attempt: 3, Status: 500, Retry: true},
			{Attempt: 4, Status: 500, Retry: true},
			{Attempt: 5, Status: 500},
		}, errors.New("status 500")},
		{"gone", []response{{status: http.StatusGone, errorType: "GoneException"}}, nil, gateway.ErrGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.responses...)
			c := apigw.New(sdkClient(), fastOptions())
			var mu sync.Mutex
			var got []gateway.AttemptInfo
			ctx := gateway.WithPostTrace(context.Background(), &gateway.PostTrace{AttemptFailed: func(info gateway.AttemptInfo) {
				if info.Err == nil || (info.Retry && info.Delay < 0) || (!info.Retry && info.Delay != 0) {
					t.Errorf("attempt %d: error %v, retry %v after %v", info.Attempt, info.Err, info.Retry, info.Delay)
				}
				info.Err, info.Delay = nil, 0
				mu.Lock()
				got = append(got, info)
				mu.Unlock()
			}})
			err := c.Post(ctx, api.URL, "abc", []byte("x"))
			switch {
			case tt.wantErr == nil && err != nil, tt.wantErr != nil && err == nil:
				t.Fatalf("Post = %v, want %v", err, tt.wantErr)
			case errors.Is(tt.wantErr, gateway.ErrGone) && !errors.Is(err, gateway.ErrGone):
				t.Fatalf("Post = %v, want gone", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reported %+v, want %+v", got, tt.want)
			}
		})
	}
}
