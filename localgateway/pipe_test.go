package localgateway_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/localgateway"
)

// pipeListener is a net.Listener whose connections are the server ends of
// net.Pipes, the client ends of which its dial returns: HTTP over it stays
// in the process, so that a test may run in a synctest bubble, where the
// gateway's timers run on the bubble's clock.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr("127.0.0.1:80") }

// dial returns the client end of a new connection to l.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- addrConn{server, pipeAddr("127.0.0.1:80"), pipeAddr("127.0.0.1:50000")}:
		return addrConn{client, pipeAddr("127.0.0.1:50000"), pipeAddr("127.0.0.1:80")}, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pipeAddr is a TCP-looking address, for the gateway's sourceIp.
type pipeAddr string

func (a pipeAddr) Network() string { return "tcp" }
func (a pipeAddr) String() string  { return string(a) }

// addrConn is a net.Conn with the addresses given.
type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// startPipe serves a gateway with opts (Handler defaulting to rec.handle)
// on a pipeListener until the test ends, and returns the options that
// dial it.
func startPipe(t *testing.T, rec *recorder, opts localgateway.Options) (*localgateway.Gateway, *localgateway.Server, *websocket.DialOptions) {
	t.Helper()
	if opts.Handler == nil {
		opts.Handler = rec.handle
	}
	g, err := localgateway.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln := newPipeListener()
	srv := g.Serve(ln)
	tr := &http.Transport{DialContext: ln.dial}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return g, srv, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}
}
