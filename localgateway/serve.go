package localgateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is a Gateway serving on a listener, started by [Gateway.Serve].
type Server struct {
	// URL is the base URL, for instance http://127.0.0.1:4000.
	URL string
	// WebSocketURL is where clients connect, for instance
	// ws://127.0.0.1:4000/graphql.
	WebSocketURL string
	// HTTPURL is where Options.HTTP is served, for instance
	// http://127.0.0.1:4000/graphql.
	HTTPURL string
	// Endpoint is the @connections endpoint, for instance
	// http://127.0.0.1:4000/local: the endpoint gqlambda derives from the
	// events of clients that connect to a loopback address.
	Endpoint string

	gw   *Gateway
	srv  *http.Server
	done chan error
}

// Serve serves g on ln in the background until [Server.Shutdown].
func (g *Gateway) Serve(ln net.Listener) *Server {
	host := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		// Listening on every interface: name the loopback one.
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	s := &Server{
		URL:          "http://" + host,
		WebSocketURL: "ws://" + host + g.path,
		HTTPURL:      "http://" + host + g.path,
		Endpoint:     "http://" + host + "/" + g.stage,
		gw:           g,
		srv: &http.Server{
			Handler:           g,
			ReadHeaderTimeout: min(10*time.Second, g.readTimeout),
			ReadTimeout:       g.readTimeout,
			MaxHeaderBytes:    64 << 10,
		},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s
}

// Shutdown shuts the gateway down (see [Gateway.Shutdown]), then the HTTP
// server.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.gw.Shutdown(ctx)
	if herr := s.srv.Shutdown(ctx); herr != nil && err == nil {
		err = fmt.Errorf("localgateway: shutdown: %w", herr)
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("localgateway: serve: %w", serr)
	}
	return err
}

// ListenAndServe listens on addr (such as "127.0.0.1:4000", or
// "127.0.0.1:0" for any free port), logs the URLs at info level and serves
// until ctx ends, then shuts down gracefully, allowing 5 seconds.
func (g *Gateway) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("localgateway: %w", err)
	}
	s := g.Serve(ln)
	g.log.InfoContext(ctx, "localgateway: serving",
		slog.String("websocket", s.WebSocketURL), slog.String("http", s.HTTPURL),
		slog.String("connections_endpoint", s.Endpoint), slog.String("stage", g.stage), slog.String("api_id", g.apiID))
	select {
	case <-ctx.Done():
	case err := <-s.done:
		s.done <- err // for Shutdown
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}
