package apigw

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// This file signs the Client's requests with Signature Version 4. It makes
// the signature aws-sdk-go-v2's v4.Signer makes for the requests the Client
// sends (a differential test and a fuzz target compare the two), without
// that signer's generic work per request: the SDK's signer allocated 44 of
// the 73 allocations of a post and took about a tenth of a fan-out's CPU
// (docs/benchmarks.md, section 4). Here the canonical request is written
// into one pooled buffer, and the signing key is derived once per day,
// region and key instead of on every request.

const (
	signingAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFormat    = "20060102T150405Z"
)

// ignoredHeaders are the headers v4.Signer leaves out of the signature.
var ignoredHeaders = map[string]bool{
	"Authorization":     true,
	"User-Agent":        true,
	"X-Amzn-Trace-Id":   true,
	"Expect":            true,
	"Transfer-Encoding": true,
}

// signer signs requests of one service. It is safe for concurrent use.
type signer struct {
	service string

	// keys holds, per region (a Client posting to APIs of several regions
	// signs for each), the last signing key derived for it: a string →
	// *atomic.Pointer[derivedKey]. Every post reads it, so a key is
	// swapped whole rather than guarded by a lock.
	keys sync.Map
	// stamp is the last second formatted for X-Amz-Date, likewise.
	stamp atomic.Pointer[amzStamp]
}

// derivedKey is a signing key and what it was derived from, with a pool of
// HMACs keyed with it (an HMAC's Reset returns it to its keyed state, which
// spares each signature the key's two SHA-256 blocks and allocations).
type derivedKey struct {
	secret, date, region string
	key                  []byte
	macs                 sync.Pool // of hash.Hash
}

// amzStamp is a Unix second and its X-Amz-Date form.
type amzStamp struct {
	sec  int64
	date string
}

// amzDate returns t in X-Amz-Date's form, formatting it once per second.
func (s *signer) amzDate(t time.Time) string {
	sec := t.Unix()
	if st := s.stamp.Load(); st != nil && st.sec == sec {
		return st.date
	}
	var buf [16]byte
	date := string(t.UTC().AppendFormat(buf[:0], amzDateFormat))
	s.stamp.Store(&amzStamp{sec: sec, date: date})
	return date
}

// bufPool holds the buffers canonical requests are written into.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// sign signs req, whose body hashes to payloadHash (hex SHA-256), for
// region at t with creds: it sets X-Amz-Date, X-Amz-Security-Token (with a
// session token) and Authorization. req has no query and no opaque URL
// (see signable).
func (s *signer) sign(req *http.Request, creds aws.Credentials, payloadHash, region string, t time.Time) {
	amzDate := s.amzDate(t)
	date := amzDate[:8]
	req.Header["X-Amz-Date"] = []string{amzDate}
	if creds.SessionToken != "" {
		req.Header["X-Amz-Security-Token"] = []string{creds.SessionToken}
	}

	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	names := make([]string, 0, 8)
	names = append(names, "host")
	if req.ContentLength > 0 {
		names = append(names, "content-length")
	}
	for k := range req.Header {
		if ignoredHeaders[k] || strings.EqualFold(k, "content-length") {
			continue
		}
		names = append(names, lowerHeader(k))
	}
	slices.Sort(names)
	names = slices.Compact(names)

	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, req.Method...)
	b = append(b, '\n')
	b = appendEscaped(b, cmp.Or(req.URL.EscapedPath(), "/"), true)
	b = append(b, '\n', '\n') // no query
	for _, name := range names {
		b = append(b, name...)
		b = append(b, ':')
		switch name {
		case "host":
			b = appendValue(b, host, false)
		case "content-length":
			b = strconv.AppendInt(b, req.ContentLength, 10)
		default:
			first := true
			for k, vs := range req.Header {
				if ignoredHeaders[k] || !strings.EqualFold(k, name) {
					continue
				}
				for _, v := range vs {
					if !first {
						b = append(b, ',')
					}
					first = false
					b = appendValue(b, v, true)
				}
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	signedStart := len(b)
	for i, name := range names {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	signedHeaders := string(b[signedStart:])
	b = append(b, '\n')
	b = append(b, payloadHash...)
	canonicalHash := sha256.Sum256(b)

	scope := date + "/" + region + "/" + s.service + "/aws4_request"
	b = b[:0]
	b = append(b, signingAlgorithm+"\n"...)
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, canonicalHash[:])
	dk := s.signingKey(creds.SecretAccessKey, date, region)
	mac, _ := dk.macs.Get().(hash.Hash)
	if mac == nil {
		mac = hmac.New(sha256.New, dk.key)
	}
	mac.Write(b)
	var sum [sha256.Size]byte
	signature := mac.Sum(sum[:0])
	mac.Reset()
	dk.macs.Put(mac)

	b = b[:0]
	b = append(b, signingAlgorithm+" Credential="...)
	b = append(b, creds.AccessKeyID...)
	b = append(b, '/')
	b = append(b, scope...)
	b = append(b, ", SignedHeaders="...)
	b = append(b, signedHeaders...)
	b = append(b, ", Signature="...)
	b = hex.AppendEncode(b, signature)
	req.Header["Authorization"] = []string{string(b)}
	*bp = b
	bufPool.Put(bp)
}

// signable reports whether sign can sign req: it has no query string and
// no opaque URL, as every request of the Client. Others go to v4.Signer.
func signable(req *http.Request) bool {
	return req.URL.RawQuery == "" && req.URL.Opaque == ""
}

// signingKey returns the key derived from secret for date, region and the
// signer's service, deriving it only when the secret or the date changed
// since the last key of region.
func (s *signer) signingKey(secret, date, region string) *derivedKey {
	v, ok := s.keys.Load(region)
	if !ok {
		v, _ = s.keys.LoadOrStore(region, new(atomic.Pointer[derivedKey]))
	}
	last := v.(*atomic.Pointer[derivedKey])
	if k := last.Load(); k != nil && k.secret == secret && k.date == date {
		return k
	}
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, s.service)
	key = hmacSHA256(key, "aws4_request")
	k := &derivedKey{secret: secret, date: date, region: region, key: key}
	last.Store(k)
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	return mac.Sum(nil)
}

// lowerHeader returns the lower-case name of header k, without an
// allocation for the headers the Client sets.
func lowerHeader(k string) string {
	switch k {
	case "Content-Type":
		return "content-type"
	case "X-Amz-Date":
		return "x-amz-date"
	case "X-Amz-Security-Token":
		return "x-amz-security-token"
	}
	return strings.ToLower(k)
}

// appendValue appends header value v as v4.Signer canonicalises it:
// without leading and trailing spaces (any white space when trim is set, as
// for values; only ' ' for the host) and with runs of spaces collapsed to
// one.
func appendValue(b []byte, v string, trim bool) []byte {
	if trim {
		v = strings.TrimSpace(v)
	} else {
		v = strings.Trim(v, " ")
	}
	if !strings.Contains(v, "  ") {
		return append(b, v...)
	}
	space := false
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, v[i])
	}
	return b
}
