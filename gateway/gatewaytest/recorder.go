// Package gatewaytest provides a recording, in-memory stand-in for the API
// Gateway @connections API, for tests of code that sends frames to WebSocket
// connections.
package gatewaytest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/gqlambda/gqlambda/gateway"
)

var (
	_ gateway.Sender    = (*Recorder)(nil)
	_ gateway.Inspector = (*Recorder)(nil)
)

// Recorder records the frames posted to each connection and the connections
// closed, the way API Gateway's @connections API would see them. A post to a
// connection that was closed, or marked gone with [Recorder.SetGone], fails
// with [gateway.ErrGone], as API Gateway answers 410 Gone. The zero value is
// not usable: create one with [NewRecorder]. A Recorder is safe for
// concurrent use.
type Recorder struct {
	// Hook, when set, is called before every post is recorded. A non-nil
	// error is returned to the caller and the frame is not recorded, which
	// lets a test simulate throttling, slow connections or failures. Set it
	// before the Recorder is used concurrently.
	Hook func(ctx context.Context, endpoint, connectionID string, frame []byte) error

	mu     sync.Mutex
	conns  map[string]*record
	posts  int
	closes int
	gets   int
}

type record struct {
	frames    []string
	endpoints []string
	closed    bool
	code      int
	reason    string
	gone      bool
	info      gateway.ConnectionInfo
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{conns: map[string]*record{}}
}

func (r *Recorder) get(id string) *record {
	c, ok := r.conns[id]
	if !ok {
		c = &record{}
		r.conns[id] = c
	}
	return c
}

// Post records frame as sent to connectionID through endpoint. It fails with
// an error wrapping [gateway.ErrGone] when the connection is closed or gone,
// and with the error of [Recorder.Hook] when that fails.
func (r *Recorder) Post(ctx context.Context, endpoint, connectionID string, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gatewaytest: post to %s: %w", connectionID, err)
	}
	if r.Hook != nil {
		if err := r.Hook(ctx, endpoint, connectionID, frame); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.get(connectionID)
	if c.closed || c.gone {
		return fmt.Errorf("gatewaytest: post to %s: %w", connectionID, gateway.ErrGone)
	}
	c.frames = append(c.frames, string(frame))
	c.endpoints = append(c.endpoints, endpoint)
	r.posts++
	return nil
}

// Close records that the server closed connectionID with code and reason.
// Closing a connection twice keeps the first code and reason and succeeds, as
// deleting a gone connection does.
func (r *Recorder) Close(ctx context.Context, endpoint, connectionID string, code int, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.get(connectionID)
	c.endpoints = append(c.endpoints, endpoint)
	if c.closed {
		return nil
	}
	c.closed, c.code, c.reason = true, code, reason
	r.closes++
	return nil
}

// Get returns what [Recorder.SetInfo] set for connectionID (the zero
// ConnectionInfo if nothing), as API Gateway's GetConnection answers, and
// counts the call. It fails with an error wrapping [gateway.ErrGone] when
// the connection is closed or gone.
func (r *Recorder) Get(ctx context.Context, endpoint, connectionID string) (gateway.ConnectionInfo, error) {
	if err := ctx.Err(); err != nil {
		return gateway.ConnectionInfo{}, fmt.Errorf("gatewaytest: get %s: %w", connectionID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets++
	c := r.get(connectionID)
	if c.closed || c.gone {
		return gateway.ConnectionInfo{}, fmt.Errorf("gatewaytest: get %s: %w", connectionID, gateway.ErrGone)
	}
	return c.info, nil
}

// SetInfo sets what [Recorder.Get] answers for connectionID.
func (r *Recorder) SetInfo(connectionID string, info gateway.ConnectionInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(connectionID).info = info
}

// Gets returns how many times [Recorder.Get] was called.
func (r *Recorder) Gets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets
}

// SetGone marks connectionID as gone, as if the client vanished without a
// $disconnect: later posts to it fail with [gateway.ErrGone].
func (r *Recorder) SetGone(connectionID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(connectionID).gone = true
}

// Frames returns the frames posted to connectionID, oldest first.
func (r *Recorder) Frames(connectionID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.conns[connectionID]; ok {
		return slices.Clone(c.frames)
	}
	return nil
}

// Endpoints returns the endpoints of the posts and closes for connectionID,
// oldest first.
func (r *Recorder) Endpoints(connectionID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.conns[connectionID]; ok {
		return slices.Clone(c.endpoints)
	}
	return nil
}

// Closed reports whether connectionID was closed, and with which code and
// reason.
func (r *Recorder) Closed(connectionID string) (code int, reason string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, found := r.conns[connectionID]; found && c.closed {
		return c.code, c.reason, true
	}
	return 0, "", false
}

// Posts returns the number of frames recorded, over all connections.
func (r *Recorder) Posts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts
}

// Closes returns the number of connections closed.
func (r *Recorder) Closes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closes
}

// Connections returns the ids of the connections that received a frame, a
// close or [Recorder.SetGone], sorted.
func (r *Recorder) Connections() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.conns))
	for id := range r.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Reset forgets everything recorded, including closed and gone connections.
// It keeps Hook.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.conns)
	r.posts, r.closes = 0, 0
}
