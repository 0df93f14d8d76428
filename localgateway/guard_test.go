package localgateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// frame encodes a masked client frame header followed by n payload bytes.
func frame(fin bool, opcode byte, n int) []byte {
	b := []byte{opcode, 0x80}
	if fin {
		b[0] |= 0x80
	}
	switch {
	case n < 126:
		b[1] |= byte(n)
	case n <= 0xffff:
		b[1] |= 126
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b[1] |= 127
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 1, 2, 3, 4) // masking key
	return append(b, bytes.Repeat([]byte{'x'}, n)...)
}

func concat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func TestFrameGuard(t *testing.T) {
	const maxFrame, maxMessage = 300, 1000
	for _, tc := range []struct {
		name   string
		stream []byte
		// pass is how many bytes get through before the violation, or -1
		// for the whole stream.
		pass int
		// header is the length of the offending frame's header: read byte
		// by byte, all of it but its last byte gets through too.
		header int
	}{
		{"small frames", concat(frame(true, 1, 10), frame(true, 2, 0)), -1, 0},
		{"16-bit length at the limit", frame(true, 1, maxFrame), -1, 0},
		{"16-bit length over the limit", concat(frame(true, 1, 5), frame(true, 1, maxFrame+1)), len(frame(true, 1, 5)), 8},
		{"64-bit length", concat(frame(true, 1, 1), frame(true, 2, 70000)), len(frame(true, 1, 1)), 14},
		{"fragments at the message limit", concat(frame(false, 1, 250), frame(false, 0, 250), frame(false, 0, 250), frame(true, 0, 250)), -1, 0},
		{"fragments over the message limit", concat(frame(false, 1, 300), frame(false, 0, 300), frame(false, 0, 300), frame(true, 0, 101)), 3 * len(frame(false, 0, 300)), 6},
		{"control frames interleaved", concat(frame(false, 1, 300), frame(true, 9, 125), frame(false, 0, 300), frame(true, 10, 0), frame(true, 0, 300), frame(true, 1, 300)), -1, 0},
		{"a new message resets the count", concat(frame(true, 1, 300), frame(true, 1, 300), frame(true, 1, 300), frame(true, 1, 300)), -1, 0},
	} {
		for _, oneByte := range []bool{false, true} {
			name := tc.name
			var r io.Reader = bytes.NewReader(tc.stream)
			if oneByte {
				name += " byte by byte"
				r = iotest.OneByteReader(r)
			}
			t.Run(name, func(t *testing.T) {
				g := &frameGuard{r: r, maxFrame: maxFrame, maxMessage: maxMessage}
				got, err := io.ReadAll(g)
				want := tc.pass
				if want < 0 {
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					want = len(tc.stream)
				} else {
					if !errors.Is(err, errTooBig) || !g.tooBig.Load() {
						t.Fatalf("read: %v, want errTooBig", err)
					}
					if oneByte {
						want += tc.header - 1
					}
				}
				if !bytes.Equal(got, tc.stream[:want]) {
					t.Errorf("%d bytes passed, want %d", len(got), want)
				}
			})
		}
	}
}
