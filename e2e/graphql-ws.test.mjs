// End-to-end tests of examples/chat with the npm graphql-ws client (the
// graphql-transport-ws protocol) over a real socket to the local gateway.
// Run by examples/chat's TestEndToEnd: CHAT_WS_URL is the WebSocket URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.env.CHAT_WS_URL;
assert.ok(url, 'CHAT_WS_URL must be set');
const run = Math.random().toString(36).slice(2, 8); // keeps rooms of parallel runs apart

const clients = [];
function client(options = {}) {
  const c = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, ...options });
  clients.push(c);
  return c;
}

// Subscribes and resolves with an async queue of results.
function subscribe(c, payload) {
  const results = [];
  const waiters = [];
  let done = false, failure = null;
  const dispose = c.subscribe(payload, {
    next: (v) => { results.push(v); waiters.splice(0).forEach((w) => w()); },
    error: (e) => { failure = e; done = true; waiters.splice(0).forEach((w) => w()); },
    complete: () => { done = true; waiters.splice(0).forEach((w) => w()); },
  });
  return {
    dispose, results,
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (results.length === 0) {
        if (failure) throw new Error('subscription failed: ' + JSON.stringify(failure));
        if (done) throw new Error('subscription completed without a result');
        if (Date.now() > deadline) throw new Error('no result within ' + timeoutMs + ' ms');
        await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
      }
      return results.shift();
    },
  };
}

async function execute(c, payload) {
  const out = [];
  let completed = false;
  await new Promise((resolve, reject) => {
    c.subscribe(payload, {
      next: (v) => out.push(v),
      error: (e) => reject(new Error(JSON.stringify(e))),
      complete: () => { completed = true; resolve(); },
    });
  });
  return { out, completed };
}

// Waits until the server stored the subscriptions: a subscribe frame is
// handled before the next frame of the same connection (the local gateway
// runs one connection's frames in order), so a query answered on the same
// connection proves the earlier subscribe was handled.
async function settled(c) {
  await execute(c, { query: '{ messages(chatId: "probe") { id } }' });
}

test.after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
});

test('two subscribers receive a broadcast sent by a third client', async () => {
  const a = client(), b = client(), sender = client();
  const sa = subscribe(a, { query: 'subscription { messageBroadcast }' });
  const sb = subscribe(b, { query: 'subscription { messageBroadcast }' });
  await Promise.all([settled(a), settled(b)]);
  const { out } = await execute(sender, { query: 'mutation($m: String!) { broadcastMessage(message: $m) }', variables: { m: 'hello ' + run } });
  assert.deepEqual(out, [{ data: { broadcastMessage: 'hello ' + run } }]);
  assert.deepEqual(await sa.next(), { data: { messageBroadcast: 'hello ' + run } });
  assert.deepEqual(await sb.next(), { data: { messageBroadcast: 'hello ' + run } });
  sa.dispose(); sb.dispose();
});

test('chat rooms are isolated by the stored filter', async () => {
  // Without an authorizer (this run), the author is the name the sender gave
  // in connection_init; auth.test.mjs runs the chat with one.
  const inRoom = client(), elsewhere = client(), sender = client({ connectionParams: { name: 'ann' } });
  const room = 'room-' + run, other = 'other-' + run;
  const q = 'subscription($c: ID!) { chat(chatId: $c) { chatId text author } }';
  const s1 = subscribe(inRoom, { query: q, variables: { c: room } });
  const s2 = subscribe(elsewhere, { query: q, variables: { c: other } });
  await Promise.all([settled(inRoom), settled(elsewhere)]);
  const send = 'mutation($c: ID!, $t: String!) { sendMessage(chatId: $c, text: $t) { id chatId text } }';
  const { out } = await execute(sender, { query: send, variables: { c: room, t: 'only for ' + room } });
  assert.equal(out[0].data.sendMessage.chatId, room);
  assert.deepEqual(await s1.next(), { data: { chat: { chatId: room, text: 'only for ' + room, author: 'ann' } } });
  await execute(sender, { query: send, variables: { c: other, t: 'for ' + other } });
  assert.deepEqual(await s2.next(), { data: { chat: { chatId: other, text: 'for ' + other, author: 'ann' } } });
  // The first room's subscriber got nothing of the other room.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(s1.results.length, 0, 'a message of another room arrived: ' + JSON.stringify(s1.results));
  const { out: history } = await execute(sender, { query: '{ messages(chatId: "' + room + '") { text } }' });
  assert.deepEqual(history, [{ data: { messages: [{ text: 'only for ' + room }] } }]);
  s1.dispose(); s2.dispose();
});

test('a client cannot name the author of its message', async () => {
  const c = client({ connectionParams: { name: 'ann' } });
  await assert.rejects(execute(c, { query: 'mutation { sendMessage(chatId: "x-' + run + '", text: "forged", author: "bob") { author } }' }),
    /Unknown argument \\?"author/);
});

test('a query over the socket answers next then complete', async () => {
  const c = client();
  const { out, completed } = await execute(c, { query: 'query { messages(chatId: "nobody-' + run + '") { id } }' });
  assert.deepEqual(out, [{ data: { messages: [] } }]);
  assert.ok(completed);
});

test('invalid GraphQL is an error message, and the connection stays open', async () => {
  const c = client();
  await assert.rejects(execute(c, { query: '{ nope }' }), /Cannot query field/);
  const { out } = await execute(c, { query: '{ messages(chatId: "x") { id } }' });
  assert.deepEqual(out, [{ data: { messages: [] } }]);
});

test('ping is answered with pong', async () => {
  let pongs = 0;
  const c = client({ keepAlive: 100, on: { pong: (received) => { if (received) pongs++; } } });
  await settled(c);
  const deadline = Date.now() + 5000;
  while (pongs < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(pongs >= 2, `got ${pongs} pongs`);
});

// Raw sockets for the protocol violations the client library never commits.
function raw() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-transport-ws');
    const frames = [];
    let waiter = null;
    ws.on('message', (d) => { frames.push(JSON.parse(d.toString())); waiter && waiter(); });
    ws.on('open', () => resolve({
      ws, frames,
      send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)),
      async frame(timeoutMs = 5000) {
        const deadline = Date.now() + timeoutMs;
        while (frames.length === 0) {
          if (Date.now() > deadline) throw new Error('no frame');
          await new Promise((r) => { waiter = r; setTimeout(r, 50); });
        }
        return frames.shift();
      },
      closed: new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() }))),
    }));
    ws.on('error', reject);
  });
}

async function acked() {
  const c = await raw();
  c.send({ type: 'connection_init' });
  assert.deepEqual(await c.frame(), { type: 'connection_ack' });
  return c;
}

test('protocol violations close with their codes', async (t) => {
  await t.test('subscribe before connection_init: 4401', async () => {
    const c = await raw();
    c.send({ type: 'subscribe', id: '1', payload: { query: 'subscription { messageBroadcast }' } });
    const { code, reason } = await c.closed;
    assert.equal(code, 4401);
    assert.equal(reason, 'Unauthorized');
  });
  await t.test('second connection_init: 4429', async () => {
    const c = await acked();
    c.send({ type: 'connection_init' });
    assert.equal((await c.closed).code, 4429);
  });
  await t.test('duplicate subscription id: 4409', async () => {
    const c = await acked();
    const sub = { type: 'subscribe', id: 'dup', payload: { query: 'subscription { messageBroadcast }' } };
    c.send(sub);
    c.send(sub);
    const { code, reason } = await c.closed;
    assert.equal(code, 4409);
    assert.equal(reason, 'Subscriber for dup already exists');
  });
  await t.test('malformed frame: 4400', async () => {
    const c = await acked();
    c.send('{not json');
    assert.equal((await c.closed).code, 4400);
  });
  await t.test('unknown message type: 4400', async () => {
    const c = await acked();
    c.send({ type: 'subscribe_me' });
    assert.equal((await c.closed).code, 4400);
  });
  await t.test('connection_init refused by the server: 4403', async () => {
    const c = await raw();
    c.send({ type: 'connection_init', payload: { name: 42 } });
    const { code, reason } = await c.closed;
    assert.equal(code, 4403);
    assert.equal(reason, 'Forbidden');
  });
  await t.test('oversized message: 1009', async () => {
    const c = await acked();
    c.send({ type: 'ping', payload: { pad: 'x'.repeat(130 * 1024) } });
    assert.equal((await c.closed).code, 1009);
  });
});

test('a client complete stops its subscription', async () => {
  const c = await acked();
  c.send({ type: 'subscribe', id: 's', payload: { query: 'subscription { messageBroadcast }' } });
  c.send({ type: 'complete', id: 's' });
  // Both frames are handled in order; a ping proves they were.
  c.send({ type: 'ping' });
  assert.deepEqual(await c.frame(), { type: 'pong' });
  const sender = client();
  await execute(sender, { query: 'mutation { broadcastMessage(message: "after complete") }' });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(c.frames, [], 'frames after complete: ' + JSON.stringify(c.frames));
  c.ws.close(1000);
  await c.closed;
});
