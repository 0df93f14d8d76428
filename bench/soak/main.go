// Command soak runs the chat example (examples/chat) under a steady churn for
// a long time and reports whether it stays flat: clients connect, subscribe
// to a chat room, receive its messages for a while and disconnect, replaced
// at once by new ones, while a publisher sends messages to the rooms at a
// fixed rate over GraphQL over HTTP. Every interval it samples the chat
// process's resident memory, live Go heap and goroutines (through the chat's
// -debug-addr listener) and the delivery latencies of that interval; at the
// end it reports the latency percentiles of the whole run, every message a
// client should have received and did not (lost) or received twice
// (duplicated), and, on DynamoDB, the connection and subscription rows left
// once every client has gone.
//
//	go run ./bench/soak                                  # 30 minutes, in-memory store
//	go run ./bench/soak -dynamodb http://127.0.0.1:8000  # 30 minutes, DynamoDB Local
//	go run ./bench/soak -duration 2m -out /tmp/soak.json
//
// A message counts as one a client must receive when the publisher sent it
// after the client had received its first message (so its subscription was
// stored) and the publish was answered before the client decided to leave;
// the client then stays until it has every such message, or -drain has
// passed. A client with no message at the end of its stay waits up to
// -drain for its first; the report counts those ("first message after the
// stay"), and one that gets none in that time fails the run. The command exits 1 when a message was lost or duplicated, a
// client failed, or rows were left.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	o := defaultOptions()
	flag.DurationVar(&o.Duration, "duration", o.Duration, "how long the churn runs")
	flag.StringVar(&o.Chat, "chat", "", "chat binary to run (default: build ./examples/chat into a temporary folder)")
	flag.StringVar(&o.DynamoDB, "dynamodb", "", "DynamoDB endpoint the chat runs on (default: its in-memory store)")
	flag.IntVar(&o.Clients, "clients", o.Clients, "clients connected at any time")
	flag.DurationVar(&o.LifetimeMin, "lifetime-min", o.LifetimeMin, "shortest time a client stays")
	flag.DurationVar(&o.LifetimeMax, "lifetime-max", o.LifetimeMax, "longest time a client stays")
	flag.IntVar(&o.Rooms, "rooms", o.Rooms, "chat rooms the clients and messages are spread over")
	flag.Float64Var(&o.Rate, "rate", o.Rate, "messages published per second, over all rooms")
	flag.DurationVar(&o.Sample, "sample", o.Sample, "interval between samples")
	flag.DurationVar(&o.Drain, "drain", o.Drain, "longest wait of a leaving client for its first message, and then for the messages it must receive")
	flag.StringVar(&o.ChatLog, "chat-log", "", "file the chat's log goes to (default: discarded, WARN and ERROR lines counted)")
	out := flag.String("out", "", "file to write the JSON report to")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Progress = os.Stderr
	rep, err := Run(ctx, o)
	if rep != nil {
		fmt.Print(rep.Markdown())
		if *out != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(*out, append(b, '\n'), 0o644); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if f := rep.Failures(); len(f) > 0 {
		fmt.Fprintln(os.Stderr, "soak: FAILED:", f)
		os.Exit(1)
	}
}

// defaultOptions are the command's defaults: 30 minutes of 100 clients
// staying 5 to 15 s each (10 connects and 10 disconnects a second), 20
// messages a second over 10 rooms (about 200 deliveries a second).
func defaultOptions() Options {
	return Options{
		Duration:    30 * time.Minute,
		Clients:     100,
		LifetimeMin: 5 * time.Second,
		LifetimeMax: 15 * time.Second,
		Rooms:       10,
		Rate:        20,
		Sample:      30 * time.Second,
		Drain:       15 * time.Second,
	}
}
