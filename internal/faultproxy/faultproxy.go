// Package faultproxy is a TCP proxy for tests that puts a fault between a
// client and a real server (DynamoDB Local, redis-server): it passes the
// bytes through, refuses connections, or hangs them, as a store that is
// down or frozen does.
package faultproxy

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Mode is what the proxy does with connections.
type Mode int

const (
	// Pass forwards connections to the target.
	Pass Mode = iota
	// Refuse closes every connection at once (the client sees a reset or
	// EOF, as from a server that is down).
	Refuse
	// Hang accepts connections and never answers, as a frozen server.
	Hang
)

// Proxy listens on a loopback port and forwards to a target.
type Proxy struct {
	// Addr is the proxy's address, host:port.
	Addr string

	target string
	ln     net.Listener

	mu    sync.Mutex
	mode  Mode
	conns map[net.Conn]struct{} // every open connection, both sides
	wg    sync.WaitGroup
}

// New starts a proxy to target (host:port) in mode Pass; it stops when the
// test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Set changes the mode. Connections open at the change are closed, so that
// the client's next call meets the new mode.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	p.mode = m
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		switch mode {
		case Refuse:
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // a reset, as a closed port answers
			}
			c.Close()
		case Hang:
			if !p.track(c) {
				c.Close()
				return
			}
			// Held open, never read, until the mode changes or the
			// proxy stops.
		default:
			if !p.track(c) {
				c.Close()
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	}
}

func (p *Proxy) forward(c net.Conn) {
	defer p.untrack(c)
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
