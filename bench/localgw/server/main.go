// Command server is gqlambda behind the local gateway for the local gateway
// load benchmark (bench/localgw): subscription { broadcast } on the topic
// BROADCAST, the memory store, graphql-go, and POST /publish, which
// publishes its body's "message" to every subscriber and answers once the
// fan-out has returned.
//
//	server -addr 127.0.0.1:4000 [-sender inprocess|http]
//
// With -sender inprocess (the default, as the chat example's local mode)
// the server posts through the Gateway's Post; with -sender http through
// apigw.Client to the gateway's own @connections endpoint over loopback, as
// a Lambda function behind the local gateway would. It prints one JSON line
// with its URLs once it serves.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/graphql-go/graphql"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/engine/graphqlgo"
	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/gateway/apigw"
	"github.com/gqlambda/gqlambda/localgateway"
	"github.com/gqlambda/gqlambda/store/memory"
)

const topic = "BROADCAST"

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	senderKind := flag.String("sender", "inprocess", "how the server posts: inprocess (Gateway.Post) or http (apigw.Client to the @connections endpoint)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until the process is stopped")
	flag.Parse()
	if err := run(*addr, *senderKind, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func schema() (graphql.Schema, error) {
	return graphql.NewSchema(graphql.SchemaConfig{
		Query: graphql.NewObject(graphql.ObjectConfig{Name: "Query", Fields: graphql.Fields{
			"ok": &graphql.Field{Type: graphql.Boolean, Resolve: func(graphql.ResolveParams) (any, error) { return true, nil }},
		}}),
		Subscription: graphql.NewObject(graphql.ObjectConfig{Name: "Subscription", Fields: graphql.Fields{
			"broadcast": &graphql.Field{
				Type:      graphql.NewNonNull(graphql.String),
				Subscribe: graphqlgo.Subscribe(gqlambda.SubscribeOptions{Topics: []string{topic}}),
				Resolve: func(p graphql.ResolveParams) (any, error) {
					return p.Source.(map[string]any)["message"], nil
				},
			},
		}}),
	})
}

func run(addr, senderKind, cpuProfile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	s, err := schema()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var srv *gqlambda.Server
	publish := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Message string `json:"message"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, "POST {\"message\": ...}", http.StatusBadRequest)
			return
		}
		res, err := srv.Publish(r.Context(), topic, map[string]any{"message": body.Message})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(res)
	})
	gw, err := localgateway.New(localgateway.Options{
		Handler: func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return srv.WebSocketHandler(ctx, ev)
		},
		Path:   "/graphql",
		HTTP:   publish,
		Logger: logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	serving := gw.Serve(ln)
	var sender gateway.Sender = gw
	if senderKind == "http" {
		sender = apigw.New(apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
			Region:      "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		}), nil)
	} else if senderKind != "inprocess" {
		return fmt.Errorf("-sender %q: want inprocess or http", senderKind)
	}
	srv, err = gqlambda.New(gqlambda.Config{
		Engine:   graphqlgo.New(s, nil),
		Store:    memory.New(nil),
		Sender:   sender,
		Endpoint: serving.Endpoint,
		Logger:   logger,
	})
	if err != nil {
		return err
	}
	out, _ := json.Marshal(map[string]string{"websocket": serving.WebSocketURL, "publish": serving.HTTPURL, "pid": fmt.Sprint(os.Getpid())})
	fmt.Println(string(out))
	<-ctx.Done()
	if err := serving.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
