package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket"

	"github.com/gqlambda/gqlambda/internal/backoff"
	"github.com/gqlambda/gqlambda/store/dynamodb"
)

// Options configure a soak run; see defaultOptions for the command's
// defaults.
type Options struct {
	// Duration is how long new clients keep coming.
	Duration time.Duration
	// Chat is the chat binary; empty: build ./examples/chat of the module
	// the command runs in.
	Chat string
	// DynamoDB is the endpoint of DynamoDB (Local) the chat runs on, with
	// tables of a prefix of their own; empty: the in-memory store.
	DynamoDB string
	// Clients is the number of clients connected at any time; each stays a
	// random time between LifetimeMin and LifetimeMax.
	Clients                  int
	LifetimeMin, LifetimeMax time.Duration
	// Rooms is the number of chat rooms; Rate the messages a second over
	// all of them, one room after another.
	Rooms int
	Rate  float64
	// Sample is the interval between samples.
	Sample time.Duration
	// Drain bounds a leaving client's wait for its messages, and the wait
	// of one that has received none yet for its first (so a client may
	// stay up to twice Drain past its lifetime).
	Drain time.Duration
	// ChatLog receives the chat's log; empty: discarded.
	ChatLog string
	// Progress receives one line per sample; nil: nothing.
	Progress io.Writer
}

// Report is the outcome of a run.
type Report struct {
	Mode     string    `json:"mode"`
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Options  struct {
		Clients     int     `json:"clients"`
		LifetimeMin string  `json:"lifetimeMin"`
		LifetimeMax string  `json:"lifetimeMax"`
		Rooms       int     `json:"rooms"`
		Rate        float64 `json:"messagesPerSecond"`
	} `json:"options"`
	CPUs int `json:"cpus"`

	Connects     int64 `json:"connects"`
	Disconnects  int64 `json:"disconnects"`
	ClientErrors int64 `json:"clientErrors"`
	NeverArmed   int64 `json:"neverArmed"`     // clients that received no message in their stay and Drain after it
	LateFirst    int64 `json:"firstAfterStay"` // clients whose first message came after their stay, within Drain
	Published    int64 `json:"published"`
	PublishFail  int64 `json:"publishFailed"`
	Expected     int64 `json:"expected"`
	Delivered    int64 `json:"delivered"` // receipts of messages, expected or not
	Lost         int64 `json:"lost"`
	Duplicated   int64 `json:"duplicated"`

	Latency    Percentiles `json:"latencyMs"` // publish request sent → message read by the client
	ConnectMs  Percentiles `json:"connectMs"` // dial → connection_ack
	PublishMs  Percentiles `json:"publishMs"` // the sendMessage request's round trip
	Samples    []Sample    `json:"samples"`
	Flatness   Flatness    `json:"flatness"`
	LogWarns   int64       `json:"chatLogWarnings"`
	LogErrors  int64       `json:"chatLogErrors"`
	FirstLogs  []string    `json:"chatLogFirstProblems,omitempty"`
	RowsLeft   *Rows       `json:"rowsLeft,omitempty"`
	ChatExitOK bool        `json:"chatExitedCleanly"`
	LoadAvg    string      `json:"loadAverageAtEnd"`
	Errors     []string    `json:"firstClientErrors,omitempty"`
	// GoroutinesAtEnd is the chat's goroutine profile once every client
	// has gone (GET /debug/goroutines).
	GoroutinesAtEnd string `json:"goroutinesAtEnd"`
}

// Percentiles of a set of durations, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Sample is the state at one point of the run.
type Sample struct {
	At         float64 `json:"atSeconds"`
	RSSMB      float64 `json:"rssMB"`
	HeapLiveMB float64 `json:"heapLiveMB"` // after a collection
	SysMB      float64 `json:"sysMB"`
	Goroutines int     `json:"goroutines"`
	Clients    int64   `json:"clientsConnected"`
	Connects   int64   `json:"connects"`
	Delivered  int64   `json:"delivered"`
	Lost       int64   `json:"lost"`
	P50Ms      float64 `json:"p50Ms"` // latencies of the interval since the previous sample
	P99Ms      float64 `json:"p99Ms"`
	Load1      string  `json:"load1"`
}

// Flatness summarises the samples of the second half of the churn (the
// first half includes the warm-up): least-squares slopes, and the range.
type Flatness struct {
	RSSSlopeMBPerHour     float64 `json:"rssSlopeMBPerHour"`
	HeapSlopeMBPerHour    float64 `json:"heapSlopeMBPerHour"`
	GoroutineSlopePerHour float64 `json:"goroutineSlopePerHour"`
	RSSMinMB, RSSMaxMB    float64
	HeapMinMB, HeapMaxMB  float64
	GoroutinesMin         int
	GoroutinesMax         int
	GoroutinesBefore      int `json:"goroutinesBeforeClients"`
	GoroutinesAfter       int `json:"goroutinesAfterClients"`
	// GoroutinesAfterInHTTPPool are those of GoroutinesAfter that serve
	// the idle keep-alive connections of the chat's HTTP clients (to
	// DynamoDB), two per connection, bounded by the pool's size.
	GoroutinesAfterInHTTPPool int `json:"goroutinesAfterInHttpPool"`
	HeapBeforeMB              float64
	HeapAfterMB               float64
	SamplesInSecondHalf       int
	P99FirstHalfMs            float64
	P99SecondHalfMs           float64
	DeliveriesPerSecondAvg    float64
}

// Rows are the store's rows once every client has gone.
type Rows struct {
	Connections   int32 `json:"connections"`
	Subscriptions int32 `json:"subscriptions"`
}

// Failures lists what makes the run a failure; empty when it passed.
func (r *Report) Failures() []string {
	var f []string
	if r.Lost > 0 {
		f = append(f, fmt.Sprintf("%d messages lost", r.Lost))
	}
	if r.Duplicated > 0 {
		f = append(f, fmt.Sprintf("%d messages duplicated", r.Duplicated))
	}
	if r.ClientErrors > 0 {
		f = append(f, fmt.Sprintf("%d clients failed", r.ClientErrors))
	}
	if r.NeverArmed > 0 {
		f = append(f, fmt.Sprintf("%d clients received nothing", r.NeverArmed))
	}
	if r.PublishFail > 0 {
		f = append(f, fmt.Sprintf("%d publishes failed", r.PublishFail))
	}
	if r.RowsLeft != nil && (r.RowsLeft.Connections > 0 || r.RowsLeft.Subscriptions > 0) {
		f = append(f, fmt.Sprintf("rows left: %d connections, %d subscriptions", r.RowsLeft.Connections, r.RowsLeft.Subscriptions))
	}
	if r.Delivered == 0 {
		f = append(f, "nothing was delivered")
	}
	if !r.ChatExitOK {
		f = append(f, "the chat did not exit cleanly")
	}
	return f
}

// message is one published message.
type message struct {
	start, end atomic.Int64 // Unix ns; end 0 until answered
	ok         atomic.Bool
}

// room is the messages published to one room, by sequence number.
type room struct {
	mu   sync.RWMutex
	msgs []*message
}

func (r *room) get(seq int) *message {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if seq < 0 || seq >= len(r.msgs) {
		return nil
	}
	return r.msgs[seq]
}

func (r *room) add() (int, *message) {
	m := &message{}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return len(r.msgs) - 1, m
}

// snapshot returns the messages of the room so far.
func (r *room) snapshot() []*message {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.msgs)
}

// run is the state shared by the parts of a run.
type run struct {
	o       Options
	wsURL   string
	httpURL string
	rooms   []*room

	connected, connects, disconnects, clientErrors, neverArmed, lateFirst atomic.Int64
	published, publishFail, expected, delivered, lost, dups               atomic.Int64

	latMu     sync.Mutex
	latAll    []float64
	latWindow []float64
	connectMs []float64
	publishMs []float64

	errMu  sync.Mutex
	errors []string
}

func (r *run) recordLatency(ms float64) {
	r.latMu.Lock()
	r.latAll = append(r.latAll, ms)
	r.latWindow = append(r.latWindow, ms)
	r.latMu.Unlock()
}

func (r *run) fail(err error) {
	r.clientErrors.Add(1)
	r.errMu.Lock()
	if len(r.errors) < 10 {
		r.errors = append(r.errors, err.Error())
	}
	r.errMu.Unlock()
}

// Run runs a soak and returns its report; the error is about the run
// itself (the chat did not start), not about what it measured.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Clients <= 0 || o.Rooms <= 0 || o.Rate <= 0 || o.Duration <= 0 || o.Sample <= 0 ||
		o.LifetimeMin <= 0 || o.LifetimeMax < o.LifetimeMin {
		return nil, errors.New("clients, rooms, rate, duration, sample and lifetimes must be positive, lifetime-max ≥ lifetime-min")
	}
	binary := o.Chat
	if binary == "" {
		dir, err := os.MkdirTemp("", "soak-chat-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "chat")
		build := exec.CommandContext(ctx, "go", "build", "-o", binary, "github.com/gqlambda/gqlambda/examples/chat")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build the chat: %w", err)
		}
	}

	rep := &Report{Mode: "in-memory store", Started: time.Now().UTC(), Duration: o.Duration.String(), CPUs: runtime.NumCPU()}
	rep.Options.Clients, rep.Options.Rooms, rep.Options.Rate = o.Clients, o.Rooms, o.Rate
	rep.Options.LifetimeMin, rep.Options.LifetimeMax = o.LifetimeMin.String(), o.LifetimeMax.String()

	args := []string{"-addr", "127.0.0.1:0", "-debug-addr", "127.0.0.1:0"}
	prefix := ""
	if o.DynamoDB != "" {
		prefix = "soak-" + strings.ToLower(rand.Text()[:8]) + "-"
		args = append(args, "-dynamodb", o.DynamoDB, "-table-prefix", prefix)
		rep.Mode = "DynamoDB Local"
	}
	chat, err := startChat(binary, args, o.ChatLog)
	if err != nil {
		return nil, err
	}
	defer chat.kill()

	r := &run{o: o, wsURL: chat.ws, httpURL: chat.http, rooms: make([]*room, o.Rooms)}
	for i := range r.rooms {
		r.rooms[i] = &room{}
	}

	before, err := chat.stats()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	sampleOnce := func() Sample {
		s := Sample{At: time.Since(start).Seconds(), RSSMB: rssMB(chat.cmd.Process.Pid), Load1: loadAvg1()}
		if st, err := chat.stats(); err == nil {
			s.HeapLiveMB, s.SysMB, s.Goroutines = mb(st.HeapAlloc), mb(st.Sys), st.Goroutines
		}
		s.Clients, s.Connects, s.Delivered, s.Lost = r.connected.Load(), r.connects.Load(), r.delivered.Load(), r.lost.Load()
		r.latMu.Lock()
		w := r.latWindow
		r.latWindow = nil
		r.latMu.Unlock()
		p := percentiles(w)
		s.P50Ms, s.P99Ms = p.P50, p.P99
		return s
	}
	rep.Samples = append(rep.Samples, sampleOnce())

	// The churn: each slot keeps one client connected, one after another,
	// until the duration is over. The publisher runs until every client has
	// left, so that leaving clients get the messages they wait for.
	churnCtx, stopChurn := context.WithTimeout(ctx, o.Duration)
	defer stopChurn()
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	var pubDone sync.WaitGroup
	pubDone.Go(func() { r.publish(pubCtx) })

	var slots sync.WaitGroup
	for i := range o.Clients {
		slots.Go(func() {
			// Staggered, so that the clients do not all leave at once.
			first := time.Duration(float64(o.LifetimeMax) * float64(i) / float64(o.Clients))
			if !backoff.Sleep(churnCtx, first/2) {
				return
			}
			for k := 0; churnCtx.Err() == nil; k++ {
				lifetime := o.LifetimeMin + time.Duration(mrand.Int64N(int64(o.LifetimeMax-o.LifetimeMin)+1))
				if k == 0 {
					lifetime = lifetime/2 + first/2
				}
				r.client(ctx, churnCtx, i, lifetime)
			}
		})
	}

	ticker := time.NewTicker(o.Sample)
	allLeft := make(chan struct{})
	go func() { slots.Wait(); close(allLeft) }()
	for waiting := true; waiting; {
		select {
		case <-ticker.C:
			if churnCtx.Err() != nil || time.Since(start) > o.Duration-o.Sample/4 {
				continue // the clients are leaving: not a sample of the steady state
			}
			s := sampleOnce()
			rep.Samples = append(rep.Samples, s)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "soak %6.0fs rss %6.1f MB heap %6.1f MB goroutines %5d clients %4d connects %7d delivered %8d lost %d p50 %.1f ms p99 %.1f ms load %s\n",
					s.At, s.RSSMB, s.HeapLiveMB, s.Goroutines, s.Clients, s.Connects, s.Delivered, s.Lost, s.P50Ms, s.P99Ms, s.Load1)
			}
		case <-allLeft:
			waiting = false
		}
	}
	ticker.Stop()
	stopPub()
	pubDone.Wait()
	elapsed := time.Since(start)
	churnSamples := len(rep.Samples)

	// Every client has gone: let the server finish its $disconnects, then
	// sample what is left.
	backoff.Sleep(ctx, 2*time.Second)
	after, _ := chat.stats()
	rep.GoroutinesAtEnd = chat.goroutines()
	pooled := keepAliveGoroutines(rep.GoroutinesAtEnd)

	if o.DynamoDB != "" {
		rows, err := countRows(ctx, o.DynamoDB, prefix)
		if err != nil {
			return nil, fmt.Errorf("count the rows left: %w", err)
		}
		rep.RowsLeft = rows
	}

	rep.ChatExitOK = chat.stop(30 * time.Second)
	rep.LogWarns, rep.LogErrors, rep.FirstLogs = chat.logCounts()
	rep.LoadAvg = loadAvg()

	rep.Connects, rep.Disconnects, rep.ClientErrors, rep.NeverArmed = r.connects.Load(), r.disconnects.Load(), r.clientErrors.Load(), r.neverArmed.Load()
	rep.LateFirst = r.lateFirst.Load()
	rep.Published, rep.PublishFail = r.published.Load(), r.publishFail.Load()
	rep.Expected, rep.Delivered, rep.Lost, rep.Duplicated = r.expected.Load(), r.delivered.Load(), r.lost.Load(), r.dups.Load()
	rep.Latency, rep.ConnectMs, rep.PublishMs = percentiles(r.latAll), percentiles(r.connectMs), percentiles(r.publishMs)
	rep.Errors = r.errors
	rep.Flatness = flatness(rep.Samples[:churnSamples], before, after)
	rep.Flatness.DeliveriesPerSecondAvg = float64(rep.Delivered) / elapsed.Seconds()
	rep.Flatness.GoroutinesAfterInHTTPPool = pooled
	return rep, nil
}

// publish sends messages at the configured rate, one room after another,
// each on its own goroutine, until ctx ends.
func (r *run) publish(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / r.o.Rate)
	client := &http.Client{Timeout: 30 * time.Second}
	var inflight sync.WaitGroup
	defer client.CloseIdleConnections() // the chat's goroutines of them end before the last sample
	defer inflight.Wait()
	start := time.Now()
	for i := 0; ; i++ {
		if !backoff.Sleep(ctx, time.Until(start.Add(time.Duration(i)*interval))) {
			return
		}
		ri := i % len(r.rooms)
		seq, m := r.rooms[ri].add()
		inflight.Go(func() {
			m.start.Store(time.Now().UnixNano())
			err := sendMessage(ctx, client, r.httpURL, roomID(ri), fmt.Sprintf("r%d#%d", ri, seq))
			end := time.Now()
			if err != nil {
				if ctx.Err() == nil {
					r.publishFail.Add(1)
					r.errMu.Lock()
					if len(r.errors) < 10 {
						r.errors = append(r.errors, "publish: "+err.Error())
					}
					r.errMu.Unlock()
				}
				m.end.Store(end.UnixNano())
				return
			}
			m.ok.Store(true)
			m.end.Store(end.UnixNano())
			r.published.Add(1)
			r.latMu.Lock()
			r.publishMs = append(r.publishMs, float64(end.UnixNano()-m.start.Load())/1e6)
			r.latMu.Unlock()
		})
	}
}

func roomID(i int) string { return "soak-room-" + strconv.Itoa(i) }

// sendMessage posts the chat's sendMessage mutation over HTTP.
func sendMessage(ctx context.Context, c *http.Client, url, chatID, text string) error {
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($c: ID!, $t: String!) { sendMessage(chatId: $c, text: $t) { id } }`,
		"variables": map[string]string{"c": chatID, "t": text},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"errors"`)) {
		return fmt.Errorf("sendMessage: status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// client is one client's stay: connect, subscribe to a room, read until
// lifetime has passed (or churn ends), wait for the messages it must
// receive, disconnect.
func (r *run) client(ctx, churn context.Context, slot int, lifetime time.Duration) {
	ri := mrand.IntN(len(r.rooms))
	rm := r.rooms[ri]
	dialStart := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ws, _, err := websocket.Dial(cctx, r.wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		cancel()
		if churn.Err() == nil {
			r.fail(fmt.Errorf("dial: %w", err))
			backoff.Sleep(churn, time.Second) // no busy loop while the chat is unreachable
		}
		return
	}
	defer ws.CloseNow()
	err = ws.Write(cctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":{"name":"soak"}}`))
	var ack []byte
	if err == nil {
		_, ack, err = ws.Read(cctx)
	}
	if err == nil && !bytes.Contains(ack, []byte(`"connection_ack"`)) {
		err = fmt.Errorf("want connection_ack, got %.200s", ack)
	}
	if err == nil {
		sub, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{
			"query":     `subscription($c: ID!) { chat(chatId: $c) { text } }`,
			"variables": map[string]string{"c": roomID(ri)},
		}})
		err = ws.Write(cctx, websocket.MessageText, sub)
	}
	cancel()
	if err != nil {
		r.fail(fmt.Errorf("slot %d: set up: %w", slot, err))
		backoff.Sleep(churn, time.Second)
		return
	}
	r.connects.Add(1)
	r.connected.Add(1)
	defer r.connected.Add(-1)
	r.latMu.Lock()
	r.connectMs = append(r.connectMs, float64(time.Since(dialStart).Microseconds())/1000)
	r.latMu.Unlock()

	var (
		mu      sync.Mutex
		got     = map[int]int{}
		firstAt int64 // Unix ns of the first receipt
		changed = make(chan struct{}, 1)
	)
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	readErr := make(chan error, 1)
	go func() {
		marker := []byte(`"text":"r`)
		for {
			_, msg, err := ws.Read(readCtx)
			now := time.Now().UnixNano()
			if err != nil {
				readErr <- err
				return
			}
			i := bytes.Index(msg, marker)
			if i < 0 {
				if bytes.Contains(msg, []byte(`"type":"ping"`)) {
					_ = ws.Write(readCtx, websocket.MessageText, []byte(`{"type":"pong"}`))
				} else if !bytes.Contains(msg, []byte(`"type":"pong"`)) {
					readErr <- fmt.Errorf("unexpected frame %.200s", msg)
					return
				}
				continue
			}
			v := msg[i+len(marker):]
			v = v[:max(0, bytes.IndexByte(v, '"'))]
			roomPart, seqPart, ok := strings.Cut(string(v), "#")
			seq, err := strconv.Atoi(seqPart)
			if !ok || roomPart != strconv.Itoa(ri) || err != nil {
				readErr <- fmt.Errorf("message of another room or malformed: %.200s", msg)
				return
			}
			r.delivered.Add(1)
			if m := rm.get(seq); m != nil {
				r.recordLatency(float64(now-m.start.Load()) / 1e6)
			}
			mu.Lock()
			got[seq]++
			if got[seq] == 2 {
				r.dups.Add(1)
			}
			if firstAt == 0 {
				firstAt = now
			}
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()

	// Stay.
	select {
	case <-time.After(lifetime):
	case <-churn.Done():
	case err := <-readErr:
		r.fail(fmt.Errorf("slot %d: %w", slot, err))
		return
	}

	// Leave: wait for every message sent after the first receipt and
	// answered by now.
	first := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return firstAt
	}
	armed := first()
	if armed == 0 {
		if churn.Err() != nil && time.Since(dialStart) < r.o.LifetimeMin {
			// Joined just before the end of the churn: too short a stay to
			// expect anything.
			stopRead()
			_ = ws.Close(websocket.StatusNormalClosure, "")
			r.disconnects.Add(1)
			return
		}
		// A stay can be shorter than a loaded machine's delivery latency:
		// give the room's first message up to Drain more before calling
		// this client one that received nothing.
		deadline := time.After(r.o.Drain)
	await:
		for armed == 0 {
			select {
			case <-changed:
				armed = first()
			case <-deadline:
				break await
			case err := <-readErr:
				r.fail(fmt.Errorf("slot %d: %w", slot, err))
				return
			}
		}
		if armed == 0 {
			r.neverArmed.Add(1)
			r.fail(fmt.Errorf("slot %d: no message of room %d in %v", slot, ri, time.Since(dialStart).Round(time.Millisecond)))
			return
		}
		r.lateFirst.Add(1)
	}
	leaveAt := time.Now().UnixNano()
	var want []int
	for seq, m := range rm.snapshot() {
		if m.ok.Load() && m.start.Load() > armed && m.end.Load() != 0 && m.end.Load() <= leaveAt {
			want = append(want, seq)
		}
	}
	r.expected.Add(int64(len(want)))
	missing := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, seq := range want {
			if got[seq] == 0 {
				n++
			}
		}
		return n
	}
	deadline := time.After(r.o.Drain)
drain:
	for n := missing(); n > 0; n = missing() {
		select {
		case <-changed:
		case <-deadline:
			r.lost.Add(int64(n))
			r.errMu.Lock()
			if len(r.errors) < 10 {
				r.errors = append(r.errors, fmt.Sprintf("slot %d: room %d: %d of %d messages missing after %v", slot, ri, n, len(want), r.o.Drain))
			}
			r.errMu.Unlock()
			break drain
		case err := <-readErr:
			r.lost.Add(int64(n))
			r.fail(fmt.Errorf("slot %d: while draining: %w", slot, err))
			return
		}
	}
	stopRead()
	_ = ws.Close(websocket.StatusNormalClosure, "")
	r.disconnects.Add(1)
}

// chatProcess is the chat running as a child process.
type chatProcess struct {
	cmd       *exec.Cmd
	ws, http  string
	debug     string
	exited    chan struct{}
	waitErr   error
	logMu     sync.Mutex
	warns     int64
	errs      int64
	firstLogs []string
	logDone   chan struct{}
}

// startChat starts the chat and reads its URLs from its standard output.
func startChat(binary string, args []string, logFile string) (*chatProcess, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_FUNCTION_NAME=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the chat: %w", err)
	}
	c := &chatProcess{cmd: cmd, exited: make(chan struct{}), logDone: make(chan struct{})}
	var logOut io.Writer = io.Discard
	if logFile != "" {
		f, err := os.Create(logFile)
		if err != nil {
			_ = cmd.Process.Kill()
			return nil, err
		}
		logOut = f
		defer func() {
			go func() { <-c.logDone; f.Close() }()
		}()
	}
	go func() {
		defer close(c.logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logOut, line)
			warn, bad := strings.Contains(line, "level=WARN"), strings.Contains(line, "level=ERROR")
			if warn || bad {
				c.logMu.Lock()
				if warn {
					c.warns++
				} else {
					c.errs++
				}
				if len(c.firstLogs) < 10 {
					c.firstLogs = append(c.firstLogs, line)
				}
				c.logMu.Unlock()
			}
		}
	}()
	urls := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var err error = errors.New("the chat printed no URLs")
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 {
				switch f[0] {
				case "WebSocket":
					c.ws = f[1]
				case "HTTP":
					c.http = f[1]
				case "Debug":
					c.debug = f[1]
					err = nil
					urls <- nil
				}
			}
		}
		if err != nil {
			urls <- err
		}
	}()
	go func() { c.waitErr = cmd.Wait(); close(c.exited) }()
	select {
	case err := <-urls:
		if err != nil || c.ws == "" || c.http == "" {
			c.kill()
			<-c.logDone
			_, _, logs := c.logCounts()
			return nil, fmt.Errorf("start the chat: %v %s", err, strings.Join(logs, "\n"))
		}
	case <-c.exited:
		<-c.logDone
		_, _, logs := c.logCounts()
		return nil, fmt.Errorf("the chat exited at start: %v %s", c.waitErr, strings.Join(logs, "\n"))
	case <-time.After(2 * time.Minute):
		c.kill()
		return nil, errors.New("the chat did not start within 2 minutes")
	}
	return c, nil
}

// stats reads the chat's runtime statistics, after a collection.
func (c *chatProcess) stats() (RuntimeStats, error) {
	var st RuntimeStats
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(c.debug + "?gc=1")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("debug: status %d", resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// goroutines returns the chat's goroutine profile, or the error reading it.
func (c *chatProcess) goroutines() string {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(strings.TrimSuffix(c.debug, "/runtime") + "/goroutines")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b)
}

// keepAliveGoroutines counts, in a goroutine profile of debug level 1, the
// goroutines of net/http's client connections (persistConn's read and write
// loops).
func keepAliveGoroutines(profile string) int {
	n := 0
	for block := range strings.SplitSeq(profile, "\n\n") {
		block = strings.TrimPrefix(block, "goroutine profile: ") // the first block starts with the total
		if _, rest, ok := strings.Cut(block, "\n"); ok && !strings.Contains(block[:len(block)-len(rest)], " @ ") {
			block = rest
		}
		head, _, _ := strings.Cut(block, "\n")
		count, _, ok := strings.Cut(head, " @ ")
		if c, err := strconv.Atoi(count); ok && err == nil && strings.Contains(block, "net/http.(*persistConn)") {
			n += c
		}
	}
	return n
}

// RuntimeStats is the chat's answer to GET /debug/runtime
// (examples/chat/app.RuntimeStats).
type RuntimeStats struct {
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heapAlloc"`
	Sys        uint64 `json:"sys"`
}

// stop sends SIGTERM and reports whether the chat exited with status 0
// within d.
func (c *chatProcess) stop(d time.Duration) bool {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		<-c.logDone
		return c.waitErr == nil
	case <-time.After(d):
		c.kill()
		return false
	}
}

func (c *chatProcess) kill() {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

func (c *chatProcess) logCounts() (warns, errs int64, first []string) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	return c.warns, c.errs, slices.Clone(c.firstLogs)
}

// countRows counts the connections and subscriptions left in the run's
// tables, with strongly consistent scans.
func countRows(ctx context.Context, endpoint, prefix string) (*Rows, error) {
	client := awsdynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
		func(o *awsdynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	tables := dynamodb.PrefixedTables(prefix)
	// count counts the items of table, leaving out those whose pk ends in
	// skip: the subscriptions table also holds the delivery records that
	// keep redelivered events from reaching a subscription twice (pk
	// "<event id>#d"), which expire by their own Time to Live.
	count := func(table, skip string) (int32, error) {
		var n int32
		var start map[string]types.AttributeValue
		for {
			out, err := client.Scan(ctx, &awsdynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
				ExclusiveStartKey: start})
			if err != nil {
				return 0, err
			}
			for _, it := range out.Items {
				if pk, ok := it["pk"].(*types.AttributeValueMemberS); skip != "" && ok && strings.HasSuffix(pk.Value, skip) {
					continue
				}
				n++
			}
			if len(out.LastEvaluatedKey) == 0 {
				return n, nil
			}
			start = out.LastEvaluatedKey
		}
	}
	var rows Rows
	var err error
	if rows.Connections, err = count(tables.Connections, ""); err != nil {
		return nil, err
	}
	if rows.Subscriptions, err = count(tables.Subscriptions, "#d"); err != nil {
		return nil, err
	}
	return &rows, nil
}

func percentiles(v []float64) Percentiles {
	if len(v) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(p float64) float64 { return round(s[min(len(s)-1, int(p*float64(len(s))))]) }
	return Percentiles{N: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: round(s[len(s)-1])}
}

func round(f float64) float64 { return math.Round(f*100) / 100 }

func mb(b uint64) float64 { return round(float64(b) / (1 << 20)) }

// flatness summarises the samples of the churn's second half.
func flatness(samples []Sample, before, after RuntimeStats) Flatness {
	f := Flatness{GoroutinesBefore: before.Goroutines, GoroutinesAfter: after.Goroutines,
		HeapBeforeMB: mb(before.HeapAlloc), HeapAfterMB: mb(after.HeapAlloc)}
	if len(samples) == 0 {
		return f
	}
	end := samples[len(samples)-1].At
	var half []Sample
	var p99First, p99Second []float64
	for _, s := range samples[1:] {
		if s.At >= end/2 {
			half = append(half, s)
			p99Second = append(p99Second, s.P99Ms)
		} else {
			p99First = append(p99First, s.P99Ms)
		}
	}
	f.SamplesInSecondHalf = len(half)
	if len(half) == 0 {
		return f
	}
	f.RSSMinMB, f.HeapMinMB, f.GoroutinesMin = math.Inf(1), math.Inf(1), math.MaxInt
	for _, s := range half {
		f.RSSMinMB, f.RSSMaxMB = math.Min(f.RSSMinMB, s.RSSMB), math.Max(f.RSSMaxMB, s.RSSMB)
		f.HeapMinMB, f.HeapMaxMB = math.Min(f.HeapMinMB, s.HeapLiveMB), math.Max(f.HeapMaxMB, s.HeapLiveMB)
		f.GoroutinesMin, f.GoroutinesMax = min(f.GoroutinesMin, s.Goroutines), max(f.GoroutinesMax, s.Goroutines)
	}
	f.RSSSlopeMBPerHour = round(slope(half, func(s Sample) float64 { return s.RSSMB }) * 3600)
	f.HeapSlopeMBPerHour = round(slope(half, func(s Sample) float64 { return s.HeapLiveMB }) * 3600)
	f.GoroutineSlopePerHour = round(slope(half, func(s Sample) float64 { return float64(s.Goroutines) }) * 3600)
	f.P99FirstHalfMs, f.P99SecondHalfMs = median(p99First), median(p99Second)
	return f
}

// slope is the least-squares slope of y over the samples' times, per second.
func slope(s []Sample, y func(Sample) float64) float64 {
	if len(s) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(s))
	for _, p := range s {
		x, v := p.At, y(p)
		sx, sy, sxx, sxy = sx+x, sy+v, sxx+x*x, sxy+x*v
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// rssMB returns VmRSS of process pid in MB.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return round(kb / 1024)
		}
	}
	return 0
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func loadAvg1() string {
	l := loadAvg()
	first, _, _ := strings.Cut(l, " ")
	return first
}

// Markdown renders the report as the tables docs/benchmarks.md shows.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Soak on the %s, %s from %s, %d CPUs; load average at the end %s\n\n", rep.Mode, rep.Duration,
		rep.Started.Format(time.RFC3339), rep.CPUs, rep.LoadAvg)
	fmt.Fprintf(&b, "%d clients at a time staying %s–%s, %d rooms, %.0f messages/s\n\n", rep.Options.Clients,
		rep.Options.LifetimeMin, rep.Options.LifetimeMax, rep.Options.Rooms, rep.Options.Rate)
	fmt.Fprintf(&b, "| connects | disconnects | client errors | first message after the stay | published | publish failed | expected | delivered | lost | duplicated |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n\n", rep.Connects, rep.Disconnects, rep.ClientErrors, rep.LateFirst,
		rep.Published, rep.PublishFail, rep.Expected, rep.Delivered, rep.Lost, rep.Duplicated)
	fmt.Fprintf(&b, "| latency (ms) | n | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		p    Percentiles
	}{{"publish → client", rep.Latency}, {"connect → ack", rep.ConnectMs}, {"sendMessage round trip", rep.PublishMs}} {
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f | %.1f |\n", row.name, row.p.N, row.p.P50, row.p.P90, row.p.P99, row.p.Max)
	}
	f := rep.Flatness
	fmt.Fprintf(&b, "\n| second half of the churn | min | max | slope per hour |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| RSS (MB) | %.1f | %.1f | %+.1f |\n", f.RSSMinMB, f.RSSMaxMB, f.RSSSlopeMBPerHour)
	fmt.Fprintf(&b, "| live heap (MB) | %.1f | %.1f | %+.1f |\n", f.HeapMinMB, f.HeapMaxMB, f.HeapSlopeMBPerHour)
	fmt.Fprintf(&b, "| goroutines | %d | %d | %+.1f |\n\n", f.GoroutinesMin, f.GoroutinesMax, f.GoroutineSlopePerHour)
	fmt.Fprintf(&b, "Before the first client: %d goroutines, %.1f MB live heap; after the last left: %d goroutines, %.1f MB. p99 (median of the samples) first half %.1f ms, second half %.1f ms. Chat log: %d WARN, %d ERROR lines.",
		f.GoroutinesBefore, f.HeapBeforeMB, f.GoroutinesAfter, f.HeapAfterMB, f.P99FirstHalfMs, f.P99SecondHalfMs, rep.LogWarns, rep.LogErrors)
	if rep.RowsLeft != nil {
		fmt.Fprintf(&b, " Rows left: %d connections, %d subscriptions.", rep.RowsLeft.Connections, rep.RowsLeft.Subscriptions)
	}
	fmt.Fprintf(&b, "\n\n| t (s) | RSS (MB) | live heap (MB) | goroutines | clients | connects | delivered | p50 (ms) | p99 (ms) | load |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range rep.Samples {
		fmt.Fprintf(&b, "| %.0f | %.1f | %.1f | %d | %d | %d | %d | %.1f | %.1f | %s |\n", s.At, s.RSSMB, s.HeapLiveMB, s.Goroutines,
			s.Clients, s.Connects, s.Delivered, s.P50Ms, s.P99Ms, s.Load1)
	}
	return b.String()
}
