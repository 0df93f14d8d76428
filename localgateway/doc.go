// Package localgateway emulates an API Gateway WebSocket API on a real
// socket, so that WebSocket Lambda functions run locally, and in tests,
// without an AWS account.
//
// A [Gateway] accepts WebSocket connections and calls a [WebSocketHandler],
// the function Lambda would call, with the $connect, $default and
// $disconnect events API Gateway sends. It serves the @connections
// management API on the same listener, so the production client
// (gateway/apigw's Client) works against it unchanged, and it is itself a
// [gateway.Sender], reaching its connections in process:
//
//	var srv *gqlambda.Server
//	g, err := localgateway.New(localgateway.Options{
//		Handler: func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
//			return srv.WebSocketHandler(ctx, ev)
//		},
//	})
//	...
//	srv, err = gqlambda.New(gqlambda.Config{Engine: engine, Sender: g})
//	...
//	err = g.ListenAndServe(ctx, "127.0.0.1:4000") // clients connect to ws://127.0.0.1:4000/graphql
//
// With the gateway as Sender, close codes reach the clients (graphql-ws's
// 4401, 4403...), which API Gateway cannot do. To run exactly as on AWS,
// give the server an apigw.Client built with any static credentials, or
// set Options.CodelessClose: a client connecting to a loopback address
// makes gqlambda post to http://{host}/{stage}, the gateway's @connections
// endpoint.
//
// # Events
//
// The events have the shape and fields of API Gateway's (compare
// testdata/events): the same requestContext fields (routeKey, eventType,
// extendedRequestId, requestTime as "02/Jan/2006:15:04:05 -0700",
// messageDirection "IN", stage, connectedAt and requestTimeEpoch in
// milliseconds, identity with sourceIp and userAgent, requestId,
// domainName, connectionId, apiId). Connection, request and message ids
// have API Gateway's form: 11 random bytes in padded URL-safe base64, 16
// characters ending in "=" ("VNRXVFJOywMF3-Q=").
//
//   - $connect carries the handshake's headers, without the hop-by-hop ones
//     (Connection, Upgrade...), in their usual spelling (Sec-WebSocket-Key,
//     Sec-WebSocket-Protocol...), with X-Forwarded-For, X-Forwarded-Port,
//     X-Forwarded-Proto and X-Amzn-Trace-Id added; single-value maps hold
//     the last value of a header or query parameter, and the query maps are
//     nil without a query string. domainName is the Host the client used,
//     port included (127.0.0.1:4000), which is what lets gqlambda derive the
//     local @connections endpoint.
//   - The handler runs before the handshake is answered. A status outside
//     2xx refuses the handshake with that status, the response's headers and
//     its body (base64-decoded when IsBase64Encoded); an error or a panic
//     refuses it with 500. Otherwise the response's Sec-WebSocket-Protocol
//     is passed through as it is: a client that did not offer it fails the
//     handshake, as with API Gateway. A refused connection gets no
//     $disconnect.
//   - Every message is a $default event (route selection expressions are
//     not emulated) with a messageId and no headers. A binary message closes
//     the connection with 1003, as API Gateway does, unless
//     Options.AcceptBinary delivers it base64-encoded with IsBase64Encoded.
//     When the handler fails, the client gets API Gateway's
//     {"message": "Internal server error", "connectionId":"…",
//     "requestId":"…"}. The handler's response body is not sent to the
//     client (route responses are not emulated).
//   - The messages of one connection are handled one at a time, in order;
//     connections are handled concurrently. API Gateway may invoke a
//     function for several messages of one connection at once, so a handler
//     must not rely on this order in production.
//   - $disconnect comes exactly once per established connection, with
//     API Gateway's four headers (Host, x-api-key, X-Forwarded-For,
//     x-restapi) and disconnectStatusCode and disconnectReason: the client's
//     close code and reason (1005 for a close frame without code), 1006 for
//     a connection that dropped, or the status the gateway closed with.
//
// # Limits
//
// The limits are API Gateway's by default: MaxMessageBytes 128 KiB,
// MaxFrameBytes 32 KiB, IdleTimeout 10 minutes, MaxConnectionDuration 2
// hours. A frame or message over its limit closes the connection with 1009
// "Message too big". The WebSocket library only shows whole messages, so
// the gateway reads the client's byte stream through a parser of frame
// headers: each data frame is measured, and each message summed over its
// frames, from the headers, before any payload is read, and the messages
// before the offending frame are still delivered. Control frames do not
// count. An idle or too old connection is closed with 1001 "Going away";
// messages either way (not pings or pongs) count as activity. A posted
// message over 32 KiB is sent in frames of at most 32 KiB, as API Gateway
// does.
//
// # The @connections API
//
// POST, GET and DELETE http://{host}/{stage}/@connections/{id} (also
// /@connections/{id}) behave as API Gateway's: POST sends the body as one
// message (text when it is UTF-8, binary otherwise) and answers 200 once it
// is queued for the connection (API Gateway answers once it has accepted a
// message, not once the client has read it), 413 PayloadTooLargeException above MaxMessageBytes; GET
// answers {"connectedAt","identity":{"sourceIp","userAgent"},"lastActiveAt"}
// with ISO 8601 times; DELETE answers 204 and closes the connection with a
// close frame without status code (the client sees 1005), reporting 1000
// "Connection Closed Normally" in $disconnect. A connection that does not
// exist, is closing, or is still in its $connect answers 410 GoneException.
// Errors carry x-amzn-ErrorType, so the AWS SDKs raise their typed
// exceptions (apigw.Client then wraps gateway.ErrGone and
// gateway.ErrPayloadTooLarge). Any Authorization header, or presigned query,
// is accepted without checking the signature; a request with neither is
// refused with 403 ForbiddenException, as AWS refuses unsigned calls.
//
// As an extension, a DELETE with the X-Gqlambda-Close-Code header (and
// optionally X-Gqlambda-Close-Reason) closes with that code and reason.
//
// Each connection has its own queue (QueueLength messages, default 64) and
// its own writer, which writes the queue in order: a slow client never
// holds up the posts to the others. A post that finds the queue full waits
// up to PostTimeout (1 second) for room; a connection whose queue stays
// full is closed with 1008 "Message queue full" and answers 410 from then
// on. A client that cannot take a message within WriteTimeout (10 seconds)
// is disconnected.
//
// # Routes
//
// [Gateway.ServeHTTP] serves one listener: the @connections API;
// WebSocket handshakes at Options.Path (default /graphql), at "/" and at
// "/{stage}"; other requests to Path go to Options.HTTP (GraphQL over
// HTTP), and the rest to Options.Files. TLS is not served.
//
// # Authorizer
//
// Options.Authorizer runs a Lambda REQUEST authorizer ([AuthorizerFunc], the
// signature of the function deployed as the authorizer on AWS) before each
// $connect, as API Gateway does: a handshake without one of the
// Authorizer.IdentitySource values (route.request.querystring.token, say)
// is refused with 401 without calling it; an authorizer that fails with
// "Unauthorized" refuses with 401, a policy that does not allow
// execute-api:Invoke on the $connect method ARN with 403, any other error,
// a panic, a context value that is not a string, number or boolean, or an
// answer over 8 KB with 500; the handler sees none of these. An allowed
// connection's events ($connect, every $default, $disconnect) carry
// requestContext.authorizer: the principalId, the context keys and
// integrationLatency. With Authorizer.HTTP the requests to Options.HTTP are
// authorized the same way (HTTPIdentitySource, such as
// $request.header.Authorization), and the handler reads the context with
// [AuthorizerContext]. Results are not cached.
package localgateway
