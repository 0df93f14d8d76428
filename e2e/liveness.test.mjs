// The sweeper's ping/pong against the npm graphql-ws client: run by the
// chat's end-to-end tests (apptest's Liveness) on a chat that sweeps every
// 200 ms, pings connections idle for 300 ms and closes those that have not
// answered 2 s later. CHAT_WS_URL is its WebSocket URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.env.CHAT_WS_URL;
assert.ok(url, 'CHAT_WS_URL must be set');
const run = Math.random().toString(36).slice(2, 8);

const clients = [];
function client(options = {}) {
  const c = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, ...options });
  clients.push(c);
  return c;
}

async function until(what, check, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test.after(() => Promise.all(clients.map((c) => c.dispose())));

test('a graphql-ws client answers the pings of the sweeper and stays subscribed', async () => {
  let pings = 0;
  const results = [];
  let failure = null;
  const c = client({ on: { ping: (received) => { if (received) pings++; } } });
  c.subscribe({ query: 'subscription { messageBroadcast }' }, {
    next: (v) => results.push(v),
    error: (e) => { failure = e; },
    complete: () => { failure = 'completed'; },
  });
  // Three pings, each answered by the client with its pong (graphql-ws
  // answers on its own), so three sweeps found it alive.
  await until('three pings', () => pings >= 3 || failure !== null);
  assert.equal(failure, null, 'the subscription ended: ' + JSON.stringify(failure));

  const sender = client();
  const message = 'still here ' + run;
  await new Promise((resolve, reject) => sender.subscribe(
    { query: 'mutation($m: String!) { broadcastMessage(message: $m) }', variables: { m: message } },
    { next: () => {}, error: (e) => reject(new Error(JSON.stringify(e))), complete: resolve }));
  await until('the broadcast', () => results.length > 0 || failure !== null);
  assert.equal(failure, null, 'the subscription ended: ' + JSON.stringify(failure));
  assert.deepEqual(results[0], { data: { messageBroadcast: message } });
});

test('a client that does not answer pings is closed by the sweeper', async () => {
  let closed = null;
  let pings = 0;
  const c = client({
    disablePong: true,
    on: { ping: (received) => { if (received) pings++; }, closed: (e) => { closed = e; } },
  });
  c.subscribe({ query: 'subscription { messageBroadcast }' }, { next: () => {}, error: () => {}, complete: () => {} });
  await until('the close', () => closed !== null);
  assert.ok(pings >= 1, 'closed before any ping');
  assert.equal(closed.code, 1001);
  assert.equal(closed.reason, 'Pong not received');
});
