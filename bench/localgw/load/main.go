// Command load is the load generator of the local gateway benchmark
// (bench/localgw): it opens N graphql-transport-ws clients to a server,
// subscribes each to subscription { broadcast }, then publishes B broadcasts
// one after another through the server's POST /publish and measures, for
// every client and broadcast, the time from the publish request to the
// client's receipt of the message. It prints one JSON line: the latency
// percentiles, what was lost or duplicated, and the server's CPU time.
//
//	load -ws ws://127.0.0.1:4000/graphql -publish http://127.0.0.1:4000/graphql \
//	  -clients 2000 -broadcasts 20 [-server-pid PID] [-label NAME]
//
// With -interval 0 (closed loop) each broadcast is sent once every client
// has the previous one (or after -wait), then -gap later: the latency of one
// broadcast at a time. With -interval D (open loop) broadcast k is sent at
// k×D from the first, whether or not the ones before it have arrived, each
// publish request on its own goroutine: the latency under a load the server
// may not keep up with. Before the measured broadcasts, warm-up broadcasts
// are sent until every client has received one: the subscriptions are then
// in place on either server.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	var o options
	flag.StringVar(&o.ws, "ws", "", "WebSocket URL of the server")
	flag.StringVar(&o.publish, "publish", "", "URL of the server's POST /publish")
	flag.IntVar(&o.clients, "clients", 2000, "clients")
	flag.IntVar(&o.broadcasts, "broadcasts", 20, "measured broadcasts")
	flag.IntVar(&o.connectConcurrency, "connect-concurrency", 64, "clients connecting at once")
	flag.DurationVar(&o.gap, "gap", 50*time.Millisecond, "pause between one broadcast's last receipt and the next broadcast")
	flag.DurationVar(&o.wait, "wait", 10*time.Second, "longest wait for a broadcast to reach every client")
	flag.DurationVar(&o.interval, "interval", 0, "open loop: send a broadcast every interval (0: closed loop)")
	flag.IntVar(&o.serverPID, "server-pid", 0, "process whose CPU time to report")
	flag.StringVar(&o.label, "label", "", "label of the result line")
	flag.Parse()
	if o.ws == "" || o.publish == "" {
		fmt.Fprintln(os.Stderr, "load: -ws and -publish are required")
		os.Exit(2)
	}
	res, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

type options struct {
	ws, publish        string
	clients            int
	broadcasts         int
	connectConcurrency int
	gap, wait          time.Duration
	interval           time.Duration
	serverPID          int
	label              string
}

// result is the JSON line the command prints.
type result struct {
	Label        string  `json:"label"`
	Clients      int     `json:"clients"`
	Broadcasts   int     `json:"broadcasts"`
	Expected     int     `json:"expected"`
	Received     int     `json:"received"`
	Lost         int     `json:"lost"`
	Duplicates   int     `json:"duplicates"`
	P50Ms        float64 `json:"p50Ms"`
	P90Ms        float64 `json:"p90Ms"`
	P99Ms        float64 `json:"p99Ms"`
	MaxMs        float64 `json:"maxMs"`
	MeanMs       float64 `json:"meanMs"`
	ConnectMs    float64 `json:"connectMs"`
	Mode         string  `json:"mode"`
	LoadCPUUs    float64 `json:"loadCpuUsPerMessage"`
	ServerCPUMs  float64 `json:"serverCpuMs,omitempty"`
	ServerRSSMB  float64 `json:"serverPeakRssMb,omitempty"`
	CPUPerMsgUs  float64 `json:"serverCpuUsPerMessage,omitempty"`
	MeasuredFrom string  `json:"measuredFrom"`
}

// client is one WebSocket client; its reader records when each measured
// broadcast arrived.
type client struct {
	ws   *websocket.Conn
	got  []atomic.Int64 // Unix ns of the receipt of broadcast k; 0: not yet
	dups atomic.Int64
	warm atomic.Bool
}

func run(ctx context.Context, o options) (*result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clients := make([]*client, o.clients)
	received := make([]atomic.Int64, o.broadcasts) // clients that have broadcast k
	var warm atomic.Int64

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, o.clients)
	sem := make(chan struct{}, o.connectConcurrency)
	for i := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := connect(ctx, o)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	connectMs := float64(time.Since(start).Microseconds()) / 1000

	var readers sync.WaitGroup
	// Reads without a context that can end: the WebSocket library then sets
	// up no timer per frame (CloseNow ends them), which keeps the load
	// generator's own CPU down.
	rctx := context.WithoutCancel(ctx)
	for _, c := range clients {
		readers.Go(func() { c.read(rctx, &warm, received) })
	}
	defer func() {
		for _, c := range clients {
			c.ws.CloseNow()
		}
		readers.Wait()
	}()

	// Warm up until every subscription is in place.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; warm.Load() < int64(o.clients); i++ {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("after 30 s of warm-up broadcasts, %d of %d clients have one", warm.Load(), o.clients)
		}
		if err := publish(ctx, o.publish, fmt.Sprintf("w%d", i)); err != nil {
			return nil, err
		}
		waitFor(func() bool { return warm.Load() >= int64(o.clients) }, 200*time.Millisecond)
	}
	time.Sleep(o.gap) // a pause between the warm-up and the first measured broadcast

	cpu0, _ := cpuMs(o.serverPID)
	self0 := selfCPU()
	sent := make([]int64, o.broadcasts)
	mode := "closed loop"
	if o.interval > 0 {
		mode = fmt.Sprintf("open loop, every %v", o.interval)
		start := time.Now()
		var pubs sync.WaitGroup
		perr := make(chan error, o.broadcasts)
		for k := range o.broadcasts {
			time.Sleep(time.Until(start.Add(time.Duration(k) * o.interval)))
			sent[k] = time.Now().UnixNano()
			pubs.Go(func() {
				if err := publish(ctx, o.publish, "b"+strconv.Itoa(k)); err != nil {
					perr <- err
				}
			})
		}
		pubs.Wait()
		close(perr)
		if err := <-perr; err != nil {
			return nil, err
		}
		waitFor(func() bool {
			for k := range received {
				if received[k].Load() < int64(o.clients) {
					return false
				}
			}
			return true
		}, o.wait)
	} else {
		for k := range o.broadcasts {
			sent[k] = time.Now().UnixNano()
			if err := publish(ctx, o.publish, "b"+strconv.Itoa(k)); err != nil {
				return nil, err
			}
			waitFor(func() bool { return received[k].Load() >= int64(o.clients) }, o.wait)
			time.Sleep(o.gap)
		}
	}
	cpu1, _ := cpuMs(o.serverPID)
	self := selfCPU() - self0

	res := &result{Label: o.label, Clients: o.clients, Broadcasts: o.broadcasts, Expected: o.clients * o.broadcasts,
		ConnectMs: connectMs, Mode: mode, MeasuredFrom: "publish request sent -> message read by the client"}
	var lat []float64
	for _, c := range clients {
		res.Duplicates += int(c.dups.Load())
		for k := range c.got {
			if at := c.got[k].Load(); at != 0 {
				lat = append(lat, float64(at-sent[k])/1e6)
			}
		}
	}
	res.Received = len(lat)
	res.Lost = res.Expected - res.Received
	res.LoadCPUUs = float64(self.Microseconds()) / float64(max(res.Received, 1))
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs = pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1]
		sum := 0.0
		for _, l := range lat {
			sum += l
		}
		res.MeanMs = sum / float64(len(lat))
	}
	if o.serverPID > 0 {
		res.ServerCPUMs = cpu1 - cpu0
		res.CPUPerMsgUs = res.ServerCPUMs * 1000 / float64(max(res.Received, 1))
		res.ServerRSSMB = peakRSSMB(o.serverPID)
	}
	return res, nil
}

// connect opens a client, initialises it and subscribes.
func connect(ctx context.Context, o options) (*client, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(cctx, o.ws, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	if err := ws.Write(cctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":{}}`)); err != nil {
		return nil, err
	}
	_, ack, err := ws.Read(cctx)
	if err != nil {
		return nil, fmt.Errorf("connection_ack: %w", err)
	}
	if !bytes.Contains(ack, []byte(`"connection_ack"`)) {
		return nil, fmt.Errorf("want connection_ack, got %s", ack)
	}
	if err := ws.Write(cctx, websocket.MessageText, []byte(`{"type":"subscribe","id":"1","payload":{"query":"subscription { broadcast }"}}`)); err != nil {
		return nil, err
	}
	return &client{ws: ws, got: make([]atomic.Int64, o.broadcasts)}, nil
}

// read records the broadcasts the client receives until the connection
// ends: {"type":"next","id":"1","payload":{"data":{"broadcast":"b7"}}}.
func (c *client) read(ctx context.Context, warm *atomic.Int64, received []atomic.Int64) {
	marker := []byte(`"broadcast":"`)
	var buf bytes.Buffer
	for {
		_, r, err := c.ws.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		now := time.Now().UnixNano()
		if err != nil {
			return
		}
		msg := buf.Bytes()
		i := bytes.Index(msg, marker)
		if i < 0 {
			if bytes.Contains(msg, []byte(`"ping"`)) {
				_ = c.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
			}
			continue
		}
		v := msg[i+len(marker):]
		v = v[:max(0, bytes.IndexByte(v, '"'))]
		switch {
		case len(v) > 0 && v[0] == 'w':
			if !c.warm.Swap(true) {
				warm.Add(1)
			}
		case len(v) > 0 && v[0] == 'b':
			k, err := strconv.Atoi(string(v[1:]))
			if err != nil || k < 0 || k >= len(c.got) {
				continue
			}
			if !c.got[k].CompareAndSwap(0, now) {
				c.dups.Add(1)
				continue
			}
			received[k].Add(1)
		}
	}
}

// publish asks the server to broadcast message.
func publish(ctx context.Context, url, message string) error {
	body, _ := json.Marshal(map[string]string{"message": message})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("publish %s: status %d", message, resp.StatusCode)
	}
	return nil
}

// waitFor polls cond every millisecond until it holds or d has passed.
func waitFor(cond func() bool, d time.Duration) {
	deadline := time.Now().Add(d)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// cpuMs returns the user and system CPU time of process pid in ms.
func cpuMs(pid int) (float64, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) * 10, nil // clock ticks of 10 ms
}

// selfCPU returns the user and system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMB returns VmHWM of process pid in MB.
func peakRSSMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
