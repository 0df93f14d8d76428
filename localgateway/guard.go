package localgateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// errTooBig is returned by the reads of a connection after its client sent a
// frame or a message over the limits. The connection is then closed with
// 1009, as API Gateway does.
var errTooBig = errors.New("localgateway: frame or message too big")

// frameGuard sits between the client's TCP connection and the WebSocket
// library and parses the headers of the frames the client sends, so that
// API Gateway's two size limits are enforced before any payload is read: a
// data frame over maxFrame, or a message whose frames add up to more than
// maxMessage, stops the stream. The bytes of the frames before the
// offending one are still delivered, so the messages that preceded it are
// handled, then every read fails with errTooBig.
//
// Reads are serialised by the WebSocket library; only tooBig is read from
// other goroutines.
type frameGuard struct {
	net.Conn
	r          io.Reader
	maxFrame   int64
	maxMessage int64

	hdr       [14]byte
	hlen      int   // bytes of the current frame header seen so far
	remaining int64 // payload bytes of the current frame still to pass
	message   int64 // payload bytes of the current data message so far
	err       error
	tooBig    atomic.Bool
}

// Read passes the client's bytes through while tracking frame boundaries.
func (g *frameGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	for i := 0; i < n; {
		if g.remaining > 0 {
			skip := int(min(g.remaining, int64(n-i)))
			i += skip
			g.remaining -= int64(skip)
			continue
		}
		start := i - g.hlen // where the header began; negative when it began in an earlier read
		g.hdr[g.hlen] = p[i]
		g.hlen++
		i++
		need := headerLen(g.hdr[:g.hlen])
		if need == 0 || g.hlen < need {
			continue
		}
		fin, opcode, length := parseHeader(g.hdr[:g.hlen])
		g.hlen = 0
		if !g.admit(fin, opcode, length) {
			g.err = errTooBig
			g.tooBig.Store(true)
			return max(start, 0), nil
		}
		g.remaining = length
	}
	return n, err
}

// admit accounts for a frame and reports whether it is within the limits.
// Control frames (at most 125 bytes, checked by the WebSocket library) do
// not count towards messages, which they may interleave.
func (g *frameGuard) admit(fin bool, opcode byte, length int64) bool {
	if opcode >= 0x8 {
		return true
	}
	if length < 0 || length > g.maxFrame {
		return false
	}
	if opcode != 0x0 { // text or binary: a new message
		g.message = 0
	}
	g.message += length
	if g.message > g.maxMessage {
		return false
	}
	if fin {
		g.message = 0
	}
	return true
}

// headerLen returns the length of the frame header that begins with b, or 0
// while b is too short to tell.
func headerLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4 // masking key
	}
	return n
}

// parseHeader decodes a complete frame header.
func parseHeader(b []byte) (fin bool, opcode byte, length int64) {
	fin = b[0]&0x80 != 0
	opcode = b[0] & 0x0f
	switch l := b[1] & 0x7f; l {
	case 126:
		length = int64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		if u > 1<<62 {
			return fin, opcode, -1
		}
		length = int64(u)
	default:
		length = int64(l)
	}
	return fin, opcode, length
}

// guardWriter hands the WebSocket library a hijacked connection whose reads
// go through a frameGuard.
type guardWriter struct {
	http.ResponseWriter
	maxFrame   int64
	maxMessage int64
	// onHijack is called as the handshake's response goes out.
	onHijack func()
	guard    *frameGuard
}

// Hijack hijacks the underlying connection and wraps it. Bytes the HTTP
// server had already buffered (a client may send frames right after its
// handshake) are replayed through the guard too.
func (w *guardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("localgateway: the http.ResponseWriter cannot be hijacked")
	}
	if w.onHijack != nil {
		w.onHijack()
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	var r io.Reader = nc
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(b)), nc)
	}
	w.guard = &frameGuard{Conn: nc, r: r, maxFrame: w.maxFrame, maxMessage: w.maxMessage}
	return w.guard, bufio.NewReadWriter(bufio.NewReader(w.guard), brw.Writer), nil
}
