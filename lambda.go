package gqlambda

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"

	"github.com/aws/aws-lambda-go/events"
)

// This file decodes API Gateway's WebSocket events and routes them to the
// connection life cycle ($connect, $disconnect) and the message loop
// ($default).

// WebSocketHandler handles the events of an API Gateway WebSocket API:
// $connect, $disconnect and $default (any other route key is handled as
// $default). It is the function to give lambda.Start:
//
//	lambda.Start(srv.WebSocketHandler)
//
// It returns an error only for events that are not WebSocket events at all.
// Failures while handling a frame are handled: the client gets the
// protocol's answer (an `error` message, or a close), and server-side
// failures go to Hooks.OnError. Returning an error to API Gateway would only
// make it drop the frame.
func (s *Server) WebSocketHandler(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := &req.RequestContext
	if rc.ConnectionID == "" {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest}, errors.New("gqlambda: not an API Gateway WebSocket event: no connectionId")
	}
	ctx, frame := s.tel.StartFrame(ctx, rc.RouteKey, rc.ConnectionID, headerCarrier(req.Headers))
	defer frame.End()
	if s.sender == nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: %s of connection %s: %w", rc.RouteKey, rc.ConnectionID, ErrNoSender),
			slog.String("connection_id", rc.ConnectionID))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError, Body: "Internal Server Error"}, nil
	}
	// Deletions the store failed before are retried once the event is
	// handled (a client's frame is answered first).
	defer s.retryCleanups(ctx)
	switch {
	case rc.EventType == "CONNECT" || rc.RouteKey == "$connect":
		resp := s.connect(ctx, connectRequestOf(&req), s.endpointOf(rc))
		frame.Connected(ctx, resp.StatusCode)
		return resp, nil
	case rc.EventType == "DISCONNECT" || rc.RouteKey == "$disconnect":
		info := DisconnectInfo{Cause: ClientDisconnected, Code: int(rc.DisconnectStatusCode)}
		if rc.DisconnectReason != nil {
			info.Reason = *rc.DisconnectReason
		}
		s.cleanup(ctx, rc.ConnectionID, info)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	default:
		body, err := lambdaBody(req.Body, req.IsBase64Encoded)
		if err != nil {
			body = nil // undecodable: the protocol reports an invalid message
		}
		s.message(ctx, rc.ConnectionID, s.endpointOf(rc), body)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
}

// lambdaBody is the body of a Lambda proxy event, decoded when API Gateway
// sent it in base64.
func lambdaBody(body string, b64 bool) ([]byte, error) {
	if !b64 {
		return []byte(body), nil
	}
	return base64.StdEncoding.DecodeString(body)
}

// connectRequestOf decodes a $connect event into what OnConnect sees; the
// subprotocol is chosen later.
func connectRequestOf(req *events.APIGatewayWebsocketProxyRequest) ConnectRequest {
	rc := &req.RequestContext
	authz, _ := rc.Authorizer.(map[string]any)
	return ConnectRequest{
		ConnectionID: rc.ConnectionID,
		Header:       headerOf(req.Headers, req.MultiValueHeaders),
		Query:        queryOf(req.QueryStringParameters, req.MultiValueQueryStringParameters),
		Authorizer:   authz,
		SourceIP:     rc.Identity.SourceIP,
		Event:        req,
	}
}

// endpointOf is the @connections endpoint for connections of this API.
func (s *Server) endpointOf(rc *events.APIGatewayWebsocketProxyRequestContext) string {
	if s.endpoint != "" {
		return s.endpoint
	}
	scheme := "https://"
	if isLoopback(rc.DomainName) {
		// A local emulator of API Gateway (such as localgateway) serves
		// @connections over plain HTTP on the loopback interface; API
		// Gateway's own domains are never loopback.
		scheme = "http://"
	}
	return scheme + rc.DomainName + "/" + rc.Stage
}

// isLoopback reports whether host (with an optional port) names the loopback
// interface.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// headerOf builds an http.Header from an event's headers, preferring the
// multi-value form.
func headerOf(single map[string]string, multi map[string][]string) http.Header {
	h := make(http.Header, max(len(single), len(multi)))
	if len(multi) > 0 {
		for k, vs := range multi {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		return h
	}
	for k, v := range single {
		h.Add(k, v)
	}
	return h
}

// queryOf builds url.Values from an event's query string parameters.
func queryOf(single map[string]string, multi map[string][]string) url.Values {
	q := make(url.Values, max(len(single), len(multi)))
	if len(multi) > 0 {
		for k, vs := range multi {
			q[k] = append([]string(nil), vs...)
		}
		return q
	}
	for k, v := range single {
		q.Set(k, v)
	}
	return q
}
