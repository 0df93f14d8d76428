package wire

import (
	"bytes"
	"errors"
	"iter"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The scanning functions walk JSON that json.Valid accepted, finding members
// and elements without decoding them. On such input they visit every member
// or element exactly once; on any other input they stop early, never reading
// out of bounds and always making progress.

// ScanObject sets vals[i] to the raw value of the member of obj named
// names[i], the last one when the name repeats, or leaves it nil when there
// is none. Names are compared after unescaping, case-sensitively. obj must be
// a valid JSON object; the values are slices of it.
func ScanObject(obj []byte, names []string, vals [][]byte) {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return
		}
		if obj[i] == ',' {
			i++
			continue
		}
		if obj[i] != '"' {
			return
		}
		keyStart := i
		i = skipString(obj, i)
		key := obj[keyStart:i]
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = SkipSpace(obj, i+1)
		valStart := i
		i = skipValue(obj, i)
		if i == valStart {
			return
		}
		for n, name := range names {
			if keyIs(key, name) {
				vals[n] = obj[valStart:i]
			}
		}
	}
}

// Elements yields the index and raw value of every element of arr, a valid
// JSON array, in order. The values are slices of arr.
func Elements(arr []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		i := SkipSpace(arr, 0)
		if i >= len(arr) || arr[i] != '[' {
			return
		}
		i++
		for n := 0; ; {
			i = SkipSpace(arr, i)
			if i >= len(arr) || arr[i] == ']' {
				return
			}
			if arr[i] == ',' {
				i++
				continue
			}
			start := i
			i = skipValue(arr, i)
			if i == start || !yield(n, arr[start:i]) {
				return
			}
			n++
		}
	}
}

// keyIs reports whether key, a quoted JSON string, spells name.
func keyIs(key []byte, name string) bool {
	if len(key) < 2 {
		return false
	}
	inner := key[1 : len(key)-1]
	if len(inner) == len(name) && string(inner) == name {
		return true
	}
	if bytes.IndexByte(inner, '\\') < 0 {
		return false
	}
	s, err := Unquote(key) // an escaped spelling
	return err == nil && s == name
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at b[i], a
// quote.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++ // the escaped byte; \uXXXX digits are plain bytes
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	// A number, true, false or null: up to the next delimiter.
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
		i++
	}
	return i
}

// errBadString reports a string Unquote cannot decode; it never happens to a
// string of a valid JSON document.
var errBadString = errors.New("invalid JSON string")

// Unquote decodes raw, a JSON string of a valid JSON document, as
// encoding/json does: a surrogate escape that is not part of a valid pair
// becomes U+FFFD. raw must be valid UTF-8.
func Unquote(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errBadString
	}
	s := raw[1 : len(raw)-1]
	i := bytes.IndexByte(s, '\\')
	if i < 0 {
		return string(s), nil
	}
	var b strings.Builder
	b.Grow(len(s))
	b.Write(s[:i])
	for i < len(s) {
		if s[i] != '\\' {
			n := bytes.IndexByte(s[i:], '\\')
			if n < 0 {
				b.Write(s[i:])
				break
			}
			b.Write(s[i : i+n])
			i += n
			continue
		}
		if i+1 >= len(s) {
			return "", errBadString
		}
		switch c := s[i+1]; c {
		case '"', '\\', '/':
			b.WriteByte(c)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(s[i+2:])
			if !ok {
				return "", errBadString
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hexEscape(s[i:]); ok {
					if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
						b.WriteRune(pair)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b.WriteRune(r)
			continue
		default:
			return "", errBadString
		}
		i += 2
	}
	return b.String(), nil
}

// hexEscape decodes the \uXXXX escape s starts with, if it does.
func hexEscape(s []byte) (rune, bool) {
	if len(s) < 2 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	return hex4(s[2:])
}

// hex4 decodes the four hexadecimal digits s starts with.
func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
