// Package localsqs is an emulator of Amazon SQS for local runs and tests:
// standard queues served on a real socket in the AWS JSON 1.0 protocol, as
// aws-sdk-go-v2's SQS client calls them (X-Amz-Target "AmazonSQS.<Action>"),
// with visibility timeouts, long polling, receive counts and redrive to a
// dead-letter queue after maxReceiveCount receives; and [ESM], a poller that
// stands in for Lambda's SQS event source mapping, invoking a handler with
// events.SQSEvent batches and deleting what it did not report as failed.
//
// Served actions: CreateQueue, GetQueueUrl, GetQueueAttributes,
// SetQueueAttributes, ListQueues, DeleteQueue, PurgeQueue, SendMessage,
// SendMessageBatch, ReceiveMessage, DeleteMessage, DeleteMessageBatch,
// ChangeMessageVisibility and ChangeMessageVisibilityBatch. Not served: FIFO
// queues, message attributes, delays, permissions, tags and message move
// tasks; a request for them is refused with UnsupportedOperation or
// InvalidAttributeName.
//
// The `gqlambda sqs` command serves one; in Go:
//
//	srv := localsqs.New(nil)
//	ts := httptest.NewServer(srv)
//	client := sqs.New(sqs.Options{BaseEndpoint: &ts.URL, Region: "us-east-1", Credentials: ...})
package localsqs

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits of SQS the emulator keeps.
const (
	maxMessageBytes = 256 << 10 // a message body
	maxRequestBytes = 2 << 20   // a request: ten messages and their envelope
	maxBatch        = 10
	maxWait         = 20 * time.Second
	maxVisibility   = 12 * time.Hour
	accountID       = "000000000000"
)

// Options configures a [Server]. The zero value, and a nil *Options, give
// the defaults.
type Options struct {
	// Region is written into queue ARNs. Default "us-east-1".
	Region string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives one debug record per request. Default: discard.
	Logger *slog.Logger
	// BodyTimeout bounds the reading of a request's body, so that a client
	// that sends it slowly or never is answered and does not hold a
	// handler. Default 5 s.
	BodyTimeout time.Duration
}

// Server is the emulator, an http.Handler. It is safe for concurrent use.
type Server struct {
	o Options

	mu     sync.Mutex
	queues map[string]*queue // by name
	wake   chan struct{}     // closed and replaced when messages may have become receivable
}

// New returns an emulator with no queues. opts may be nil.
func New(opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 5 * time.Second
	}
	return &Server{o: o, queues: map[string]*queue{}, wake: make(chan struct{})}
}

type queue struct {
	name, arn  string
	attrs      map[string]string // as set
	visibility time.Duration
	wait       time.Duration
	dlqARN     string
	maxRecv    int
	msgs       []*message // in send order
	byHandle   map[string]*message
	created    time.Time
}

type message struct {
	id, body, md5 string
	sent          time.Time
	firstRecv     time.Time
	receives      int
	visibleAt     time.Time
	handle        string // of the last receive; "" before
}

// apiError is an error answer of the API.
type apiError struct {
	status     int
	code       string // such as "QueueDoesNotExist"
	queryError string // the x-amzn-query-error code, such as "AWS.SimpleQueueService.NonExistentQueue"
	msg        string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

var errNoQueue = &apiError{status: http.StatusBadRequest, code: "QueueDoesNotExist", queryError: "AWS.SimpleQueueService.NonExistentQueue",
	msg: "The specified queue does not exist."}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, &apiError{status: http.StatusMethodNotAllowed, code: "UnsupportedOperation", msg: "only POST requests of the JSON protocol are served"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, "AmazonSQS.")
	if !ok {
		s.fail(w, badRequest("InvalidAction", "X-Amz-Target %q is not an SQS action of the JSON protocol (the query protocol is not served)", target))
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, badRequest("InvalidParameterValue", "reading the request: %v", err))
		return
	}
	if len(body) > maxRequestBytes {
		s.fail(w, badRequest("BatchRequestTooLong", "the request is over %d bytes", maxRequestBytes))
		return
	}
	out, err := s.do(r.Context(), action, body)
	s.o.Logger.DebugContext(r.Context(), "localsqs", slog.String("action", action), slog.Any("error", err))
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = badRequest("InvalidParameterValue", "%v", err)
		}
		s.fail(w, ae)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.fail(w, &apiError{status: 500, code: "InternalError", msg: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-RequestId", rand.Text())
	w.Write(b)
}

// readBody reads up to maxRequestBytes+1 bytes of the request's body
// within Options.BodyTimeout. The deadline is lifted once the whole body is
// read, so that it bounds the body only, not the rest of the request (a
// long poll); it stays when the body is not read whole, so that the
// server's discarding of the rest ends too. A ResponseWriter without read
// deadlines reads without one.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.o.BodyTimeout)) == nil
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if deadline && err == nil && len(body) <= maxRequestBytes {
		rc.SetReadDeadline(time.Time{})
	}
	return body, err
}

func (s *Server) fail(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-RequestId", rand.Text())
	if e.queryError != "" {
		w.Header().Set("x-amzn-query-error", e.queryError+";Sender")
	}
	w.WriteHeader(e.status)
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.sqs#" + e.code, "message": e.msg})
	w.Write(b)
}

// decode decodes a request body strictly enough to refuse what is not one.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("InvalidParameterValue", "the request body is not the action's JSON: %v", err)
	}
	return nil
}

func (s *Server) do(ctx context.Context, action string, body []byte) (any, error) {
	switch action {
	case "CreateQueue":
		var in struct {
			QueueName  string
			Attributes map[string]string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return s.createQueue(ctx, in.QueueName, in.Attributes)
	case "GetQueueUrl":
		var in struct{ QueueName string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.queues[in.QueueName] == nil {
			return nil, errNoQueue
		}
		return map[string]string{"QueueUrl": s.url(ctx, in.QueueName)}, nil
	case "ListQueues":
		var in struct{ QueueNamePrefix string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var urls []string
		for name := range s.queues {
			if strings.HasPrefix(name, in.QueueNamePrefix) {
				urls = append(urls, s.url(ctx, name))
			}
		}
		slices.Sort(urls)
		return map[string][]string{"QueueUrls": urls}, nil
	}
	var in struct {
		QueueURL string `json:"QueueUrl"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue(in.QueueURL)
	if q == nil {
		return nil, errNoQueue
	}
	switch action {
	case "DeleteQueue":
		delete(s.queues, q.name)
		return struct{}{}, nil
	case "PurgeQueue":
		q.msgs, q.byHandle = nil, map[string]*message{}
		return struct{}{}, nil
	case "GetQueueAttributes":
		return map[string]map[string]string{"Attributes": s.attributes(q)}, nil
	case "SetQueueAttributes":
		var in struct{ Attributes map[string]string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return struct{}{}, s.setAttributes(q, in.Attributes)
	case "SendMessage":
		var in sendEntry
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		res, err := s.send(q, in)
		if err != nil {
			return nil, err
		}
		return map[string]string{"MessageId": res.MessageID, "MD5OfMessageBody": res.MD5}, nil
	case "SendMessageBatch":
		var in struct{ Entries []sendEntry }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return batch(in.Entries, func(e sendEntry) string { return e.ID }, func(e sendEntry) (sendResult, error) {
			return s.send(q, e)
		})
	case "ReceiveMessage":
		var in struct {
			MaxNumberOfMessages int
			VisibilityTimeout   *int
			WaitTimeSeconds     *int
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return s.receive(ctx, q, in.MaxNumberOfMessages, in.VisibilityTimeout, in.WaitTimeSeconds)
	case "DeleteMessage":
		var in struct{ ReceiptHandle string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return struct{}{}, s.deleteMessage(q, in.ReceiptHandle)
	case "DeleteMessageBatch":
		type entry struct {
			ID            string `json:"Id"`
			ReceiptHandle string
		}
		var in struct{ Entries []entry }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return batch(in.Entries, func(e entry) string { return e.ID }, func(e entry) (idOnly, error) {
			return idOnly{e.ID}, s.deleteMessage(q, e.ReceiptHandle)
		})
	case "ChangeMessageVisibility":
		var in struct {
			ReceiptHandle     string
			VisibilityTimeout int
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return struct{}{}, s.changeVisibility(q, in.ReceiptHandle, in.VisibilityTimeout)
	case "ChangeMessageVisibilityBatch":
		type entry struct {
			ID                string `json:"Id"`
			ReceiptHandle     string
			VisibilityTimeout int
		}
		var in struct{ Entries []entry }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return batch(in.Entries, func(e entry) string { return e.ID }, func(e entry) (idOnly, error) {
			return idOnly{e.ID}, s.changeVisibility(q, e.ReceiptHandle, e.VisibilityTimeout)
		})
	}
	return nil, badRequest("UnsupportedOperation", "action %s is not served by the emulator", action)
}

type sendEntry struct {
	ID                string `json:"Id"`
	MessageBody       string
	DelaySeconds      int
	MessageAttributes map[string]any
	MessageGroupID    string `json:"MessageGroupId"`
}

type sendResult struct {
	ID        string `json:"Id"`
	MessageID string `json:"MessageId"`
	MD5       string `json:"MD5OfMessageBody"`
}

type idOnly struct {
	ID string `json:"Id"`
}

type batchError struct {
	ID          string `json:"Id"`
	Code        string
	Message     string
	SenderFault bool
}

type batchOut[T any] struct {
	Successful []T
	Failed     []batchError
}

func entryError(id string, err error) batchError {
	var ae *apiError
	if errors.As(err, &ae) {
		return batchError{ID: id, Code: ae.code, Message: ae.msg, SenderFault: true}
	}
	return batchError{ID: id, Code: "InternalError", Message: err.Error()}
}

var batchIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// batch answers a batch action: it checks the number and ids of entries,
// then does each entry, answering its result or its error.
func batch[E, R any](entries []E, id func(E) string, do func(E) (R, error)) (any, error) {
	switch n := len(entries); {
	case n == 0:
		return nil, badRequest("EmptyBatchRequest", "the batch has no entries")
	case n > maxBatch:
		return nil, badRequest("TooManyEntriesInBatchRequest", "the batch has %d entries, at most %d", n, maxBatch)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if !batchIDRE.MatchString(id(e)) {
			return nil, badRequest("InvalidBatchEntryId", "batch entry id %q is not 1 to 80 letters, digits, - and _", id(e))
		}
		if seen[id(e)] {
			return nil, badRequest("BatchEntryIdsNotDistinct", "batch entry id %q appears twice", id(e))
		}
		seen[id(e)] = true
	}
	out := batchOut[R]{Successful: []R{}, Failed: []batchError{}}
	for _, e := range entries {
		if res, err := do(e); err != nil {
			out.Failed = append(out.Failed, entryError(id(e), err))
		} else {
			out.Successful = append(out.Successful, res)
		}
	}
	return out, nil
}

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// url returns the URL of queue name, on the host of the request ctx
// carries (set by the serving http.Server) or localhost.
func (s *Server) url(ctx context.Context, name string) string {
	host := "localhost"
	if addr, ok := ctx.Value(http.LocalAddrContextKey).(interface{ String() string }); ok {
		host = addr.String()
	}
	return "http://" + host + "/" + accountID + "/" + name
}

// queue returns the queue a URL names (its last path segment), or nil.
// The caller holds s.mu.
func (s *Server) queue(url string) *queue {
	i := strings.LastIndexByte(url, '/')
	return s.queues[url[i+1:]]
}

func (s *Server) createQueue(ctx context.Context, name string, attrs map[string]string) (any, error) {
	if !queueNameRE.MatchString(name) {
		return nil, badRequest("InvalidParameterValue", "queue name %q is not 1 to 80 letters, digits, - and _ (FIFO queues are not served)", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[name]; q != nil {
		for k, v := range attrs {
			if q.attrs[k] != v {
				return nil, badRequest("QueueNameExists", "queue %s exists with a different %s", name, k)
			}
		}
		return map[string]string{"QueueUrl": s.url(ctx, name)}, nil
	}
	q := &queue{name: name, arn: "arn:aws:sqs:" + s.o.Region + ":" + accountID + ":" + name, attrs: map[string]string{},
		visibility: 30 * time.Second, byHandle: map[string]*message{}, created: s.o.Now()}
	if err := s.setAttributes(q, attrs); err != nil {
		return nil, err
	}
	s.queues[name] = q
	return map[string]string{"QueueUrl": s.url(ctx, name)}, nil
}

// setAttributes applies attrs to q. The caller holds s.mu (or owns q).
func (s *Server) setAttributes(q *queue, attrs map[string]string) error {
	seconds := func(k, v string, limit time.Duration) (time.Duration, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > limit {
			return 0, badRequest("InvalidAttributeValue", "%s %q is not a number of seconds from 0 to %d", k, v, int(limit.Seconds()))
		}
		return time.Duration(n) * time.Second, nil
	}
	for k, v := range attrs {
		var err error
		switch k {
		case "VisibilityTimeout":
			q.visibility, err = seconds(k, v, maxVisibility)
		case "ReceiveMessageWaitTimeSeconds":
			q.wait, err = seconds(k, v, maxWait)
		case "MessageRetentionPeriod", "MaximumMessageSize", "DelaySeconds", "SqsManagedSseEnabled":
			// Accepted and kept; messages are not deleted by age and not delayed.
		case "RedrivePolicy":
			var p struct {
				DeadLetterTargetArn string `json:"deadLetterTargetArn"`
				MaxReceiveCount     any    `json:"maxReceiveCount"`
			}
			if json.Unmarshal([]byte(v), &p) != nil || p.DeadLetterTargetArn == "" {
				return badRequest("InvalidAttributeValue", "RedrivePolicy %q is not {\"deadLetterTargetArn\": ..., \"maxReceiveCount\": ...}", v)
			}
			n, _ := strconv.Atoi(strings.Trim(fmt.Sprint(p.MaxReceiveCount), `"`))
			if n < 1 || n > 1000 {
				return badRequest("InvalidAttributeValue", "RedrivePolicy maxReceiveCount %v is not 1 to 1000", p.MaxReceiveCount)
			}
			q.dlqARN, q.maxRecv = p.DeadLetterTargetArn, n
		default:
			return badRequest("InvalidAttributeName", "attribute %s is not served by the emulator", k)
		}
		if err != nil {
			return err
		}
		q.attrs[k] = v
	}
	return nil
}

// attributes returns q's attributes. The caller holds s.mu.
func (s *Server) attributes(q *queue) map[string]string {
	now := s.o.Now()
	visible, inFlight := 0, 0
	for _, m := range q.msgs {
		if m.visibleAt.After(now) {
			inFlight++
		} else {
			visible++
		}
	}
	out := map[string]string{
		"QueueArn":                              q.arn,
		"VisibilityTimeout":                     strconv.Itoa(int(q.visibility.Seconds())),
		"ReceiveMessageWaitTimeSeconds":         strconv.Itoa(int(q.wait.Seconds())),
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inFlight),
		"ApproximateNumberOfMessagesDelayed":    "0",
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
	}
	for k, v := range q.attrs {
		out[k] = v
	}
	return out
}

// send adds a message to q. The caller holds s.mu.
func (s *Server) send(q *queue, e sendEntry) (sendResult, error) {
	switch {
	case e.MessageBody == "":
		return sendResult{}, badRequest("MissingParameter", "the message body is empty")
	case len(e.MessageBody) > maxMessageBytes:
		return sendResult{}, badRequest("InvalidParameterValue", "the message body is %d bytes, at most %d", len(e.MessageBody), maxMessageBytes)
	case e.DelaySeconds != 0, len(e.MessageAttributes) > 0, e.MessageGroupID != "":
		return sendResult{}, badRequest("UnsupportedOperation", "delays, message attributes and message groups are not served by the emulator")
	}
	sum := md5.Sum([]byte(e.MessageBody))
	m := &message{id: newID(), body: e.MessageBody, md5: hex.EncodeToString(sum[:]), sent: s.o.Now()}
	q.msgs = append(q.msgs, m)
	s.notify()
	return sendResult{ID: e.ID, MessageID: m.id, MD5: m.md5}, nil
}

// notify wakes the long polls. The caller holds s.mu.
func (s *Server) notify() {
	close(s.wake)
	s.wake = make(chan struct{})
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

type received struct {
	MessageID     string `json:"MessageId"`
	ReceiptHandle string
	MD5OfBody     string
	Body          string
	Attributes    map[string]string
}

// receive answers ReceiveMessage, long polling up to the wait time. It is
// called with s.mu held, and returns with it held.
func (s *Server) receive(ctx context.Context, q *queue, max int, visibility, wait *int) (any, error) {
	if max == 0 {
		max = 1
	}
	if max < 1 || max > maxBatch {
		return nil, badRequest("InvalidParameterValue", "MaxNumberOfMessages %d is not 1 to %d", max, maxBatch)
	}
	vis := q.visibility
	if visibility != nil {
		if *visibility < 0 || time.Duration(*visibility)*time.Second > maxVisibility {
			return nil, badRequest("InvalidParameterValue", "VisibilityTimeout %d is out of range", *visibility)
		}
		vis = time.Duration(*visibility) * time.Second
	}
	waitFor := q.wait
	if wait != nil {
		if *wait < 0 || time.Duration(*wait)*time.Second > maxWait {
			return nil, badRequest("InvalidParameterValue", "WaitTimeSeconds %d is not 0 to 20", *wait)
		}
		waitFor = time.Duration(*wait) * time.Second
	}
	deadline := s.o.Now().Add(waitFor)
	for {
		name := q.name
		if out := s.take(q, max, vis); len(out) > 0 {
			return map[string][]received{"Messages": out}, nil
		}
		now := s.o.Now()
		if !now.Before(deadline) {
			return struct{}{}, nil
		}
		// Wait for a send, a change of visibility, a message's visibility
		// timeout (checked every 50 ms), the deadline or the caller.
		wake := s.wake
		s.mu.Unlock()
		t := time.NewTimer(min(deadline.Sub(now), 50*time.Millisecond))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		s.mu.Lock()
		if ctx.Err() != nil {
			return struct{}{}, nil
		}
		if q = s.queues[name]; q == nil {
			return nil, errNoQueue
		}
	}
}

// take receives up to max visible messages of q, hiding them for vis, and
// moves to the dead-letter queue those received maxReceiveCount times
// already. The caller holds s.mu.
func (s *Server) take(q *queue, max int, vis time.Duration) []received {
	now := s.o.Now()
	var out []received
	var dead []*message
	for _, m := range q.msgs {
		if len(out) == max {
			break
		}
		if m.visibleAt.After(now) {
			continue
		}
		if q.maxRecv > 0 && m.receives >= q.maxRecv {
			dead = append(dead, m)
			continue
		}
		if m.handle != "" {
			delete(q.byHandle, m.handle)
		}
		m.receives++
		if m.firstRecv.IsZero() {
			m.firstRecv = now
		}
		m.handle = rand.Text() + rand.Text()
		q.byHandle[m.handle] = m
		m.visibleAt = now.Add(vis)
		out = append(out, received{MessageID: m.id, ReceiptHandle: m.handle, MD5OfBody: m.md5, Body: m.body, Attributes: map[string]string{
			"ApproximateReceiveCount":          strconv.Itoa(m.receives),
			"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstRecv.UnixMilli(), 10),
			"SenderId":                         accountID,
		}})
	}
	if len(dead) > 0 {
		s.redrive(q, dead)
	}
	return out
}

// redrive moves msgs of q to its dead-letter queue (or drops them when that
// queue does not exist, as SQS does). The caller holds s.mu.
func (s *Server) redrive(q *queue, msgs []*message) {
	var dlq *queue
	for _, c := range s.queues {
		if c.arn == q.dlqARN {
			dlq = c
		}
	}
	for _, m := range msgs {
		q.remove(m)
		if dlq != nil {
			// The message keeps its id, body and receive count, as SQS keeps them.
			moved := &message{id: m.id, body: m.body, md5: m.md5, sent: m.sent, firstRecv: m.firstRecv, receives: m.receives}
			dlq.msgs = append(dlq.msgs, moved)
		}
	}
	s.notify()
}

func (q *queue) remove(m *message) {
	if i := slices.Index(q.msgs, m); i >= 0 {
		q.msgs = slices.Delete(q.msgs, i, i+1)
	}
	if m.handle != "" {
		delete(q.byHandle, m.handle)
	}
}

var errBadHandle = badRequest("ReceiptHandleIsInvalid", "the receipt handle is not valid for this queue")

// deleteMessage deletes the message of handle. A handle of a message
// deleted already is accepted, as SQS accepts it. The caller holds s.mu.
func (s *Server) deleteMessage(q *queue, handle string) error {
	if handle == "" {
		return errBadHandle
	}
	if m := q.byHandle[handle]; m != nil {
		q.remove(m)
	}
	return nil
}

// changeVisibility sets the visibility timeout of the message of handle
// from now. The caller holds s.mu.
func (s *Server) changeVisibility(q *queue, handle string, seconds int) error {
	if seconds < 0 || time.Duration(seconds)*time.Second > maxVisibility {
		return badRequest("InvalidParameterValue", "VisibilityTimeout %d is out of range", seconds)
	}
	m := q.byHandle[handle]
	now := s.o.Now()
	if m == nil || !m.visibleAt.After(now) {
		return &apiError{status: http.StatusBadRequest, code: "MessageNotInflight", queryError: "AWS.SimpleQueueService.MessageNotInflight",
			msg: "the message is not in flight"}
	}
	m.visibleAt = now.Add(time.Duration(seconds) * time.Second)
	if seconds == 0 {
		s.notify()
	}
	return nil
}
