// End-to-end tests of examples/chat with the npm subscriptions-transport-ws
// client (the legacy "graphql-ws" subprotocol), and a mixed test: a legacy
// client and a graphql-ws client on one topic both receive one event.
// Run by examples/chat's TestEndToEndLegacy: CHAT_WS_URL is the WebSocket URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.env.CHAT_WS_URL;
assert.ok(url, 'CHAT_WS_URL must be set');
const run = Math.random().toString(36).slice(2, 8);

const closers = [];
function legacy(connectionParams = {}) {
  const c = new SubscriptionClient(url, { reconnect: false, connectionParams }, WebSocket);
  closers.push(() => c.close());
  return c;
}
function modern() {
  const c = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  closers.push(() => c.dispose());
  return c;
}
test.after(async () => { for (const close of closers) await close(); });

// Collects an observable's results.
function observe(observable) {
  const results = [];
  let error = null, completed = false;
  const sub = observable.subscribe({
    next: (v) => results.push(v),
    error: (e) => { error = e; },
    complete: () => { completed = true; },
  });
  return {
    results, sub,
    get error() { return error; },
    get completed() { return completed; },
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (results.length === 0) {
        if (error) throw new Error('operation failed: ' + JSON.stringify(error));
        if (Date.now() > deadline) throw new Error('no result within ' + timeoutMs + ' ms');
        await new Promise((r) => setTimeout(r, 20));
      }
      return results.shift();
    },
  };
}

async function once(client, request) {
  const o = observe(client.request(request));
  const value = await o.next();
  const deadline = Date.now() + 5000;
  while (!o.completed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(o.completed, 'the operation did not complete');
  return value;
}

test('legacy client: a query answers data then complete', async () => {
  const c = legacy({ name: 'old-timer' });
  assert.deepEqual(await once(c, { query: '{ messages(chatId: "none-' + run + '") { id } }' }), { data: { messages: [] } });
});

test('legacy client: subscribe, receive a broadcast, stop', async () => {
  const c = legacy();
  const sub = observe(c.request({ query: 'subscription { messageBroadcast }' }));
  // A query on the same connection is handled after the start frame.
  await once(c, { query: '{ messages(chatId: "probe") { id } }' });
  await once(legacy(), { query: 'mutation { broadcastMessage(message: "legacy ' + run + '") }' });
  assert.deepEqual(await sub.next(), { data: { messageBroadcast: 'legacy ' + run } });
  sub.sub.unsubscribe();
});

test('legacy client: invalid GraphQL is an error for the operation', async () => {
  const c = legacy();
  const o = observe(c.request({ query: '{ nope }' }));
  const deadline = Date.now() + 5000;
  while (!o.error && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(o.error, 'no error');
  assert.match(JSON.stringify(o.error), /Cannot query field/);
  // The connection is still usable.
  assert.deepEqual(await once(c, { query: '{ messages(chatId: "x") { id } }' }), { data: { messages: [] } });
});

test('a legacy client and a graphql-ws client on one topic both receive one event', async () => {
  const room = 'mixed-' + run;
  const q = 'subscription($c: ID!) { chat(chatId: $c) { chatId text } }';
  const old = legacy();
  const oldSub = observe(old.request({ query: q, variables: { c: room } }));
  await once(old, { query: '{ messages(chatId: "probe") { id } }' });

  const fresh = modern();
  const freshResults = [];
  fresh.subscribe({ query: q, variables: { c: room } }, { next: (v) => freshResults.push(v), error: () => {}, complete: () => {} });
  await new Promise((resolve, reject) => fresh.subscribe({ query: '{ messages(chatId: "probe") { id } }' },
    { next: () => {}, error: reject, complete: resolve }));

  await once(legacy(), { query: 'mutation($c: ID!) { sendMessage(chatId: $c, text: "to both") { id } }', variables: { c: room } });
  const want = { data: { chat: { chatId: room, text: 'to both' } } };
  assert.deepEqual(await oldSub.next(), want);
  const deadline = Date.now() + 5000;
  while (freshResults.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(freshResults, [want]);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(oldSub.results.length, 0, 'the legacy client got the event twice');
  assert.equal(freshResults.length, 1, 'the graphql-ws client got the event twice');
});
