// End-to-end test of examples/translate with the npm graphql-ws client over
// real sockets: two subscribers of one chat and one of another; a putEvent
// brings each subscriber of that chat every translation exactly once, and
// nothing to the other chat. Run by examples/translate's TestEndToEnd:
// TRANSLATE_WS_URL is the WebSocket URL, TRANSLATE_EXPECT the JSON list of
// the translations of "Good morning" (one per language).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.env.TRANSLATE_WS_URL;
assert.ok(url, 'TRANSLATE_WS_URL must be set');
const expected = JSON.parse(process.env.TRANSLATE_EXPECT || '[]');
assert.ok(expected.length > 0, 'TRANSLATE_EXPECT must list the translations');
const run = Math.random().toString(36).slice(2, 8); // keeps chats of parallel runs apart

const clients = [];
function client() {
  const c = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  clients.push(c);
  return c;
}

function subscribe(c, payload) {
  const results = [];
  const errors = [];
  const dispose = c.subscribe(payload, {
    next: (v) => results.push(v),
    error: (e) => errors.push(e),
    complete: () => {},
  });
  return { dispose, results, errors };
}

async function execute(c, payload) {
  const out = [];
  await new Promise((resolve, reject) => {
    c.subscribe(payload, { next: (v) => out.push(v), error: (e) => reject(new Error(JSON.stringify(e))), complete: resolve });
  });
  return out;
}

// A query answered on a connection means its earlier subscribe was handled.
const settled = (c) => execute(c, { query: '{ getEvent }' });

async function until(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test.after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
});

test('each subscriber of the chat receives every translation exactly once, the other chat nothing', async () => {
  const room = 'room-' + run, other = 'other-' + run;
  const a = client(), b = client(), c = client(), sender = client();
  const sa = subscribe(a, { query: 'subscription($c: String!) { chat(chatId: $c) }', variables: { c: room } });
  const sb = subscribe(b, { query: 'subscription($c: String!) { translations(chatId: $c) { chatId language message original error } }', variables: { c: room } });
  const sc = subscribe(c, { query: 'subscription($c: String!) { chat(chatId: $c) }', variables: { c: other } });
  await Promise.all([settled(a), settled(b), settled(c)]);

  const started = Date.now();
  const put = await execute(sender, {
    query: 'mutation($m: String!, $c: String!) { putEvent(message: $m, chatId: $c) { Entries { EventId ErrorCode ErrorMessage } FailedEntries } }',
    variables: { m: 'Good morning', c: room },
  });
  assert.equal(put.length, 1);
  assert.equal(put[0].errors, undefined, JSON.stringify(put[0]));
  assert.equal(put[0].data.putEvent.FailedEntries, 0);
  assert.match(put[0].data.putEvent.Entries[0].EventId, /^[0-9a-f-]{36}$/);
  assert.equal(put[0].data.putEvent.Entries[0].ErrorCode, null);

  await until(() => sa.results.length >= expected.length && sb.results.length >= expected.length, 10_000, 'the translations');
  const elapsed = Date.now() - started;
  // Anything duplicated would arrive now.
  await new Promise((r) => setTimeout(r, 750));

  assert.deepEqual(sa.errors, []);
  assert.deepEqual(sa.results.map((r) => r.data.chat).sort(), [...expected].sort());
  assert.deepEqual(sb.results.map((r) => r.data.translations.message).sort(), [...expected].sort());
  for (const r of sb.results) {
    assert.equal(r.data.translations.chatId, room);
    assert.equal(r.data.translations.original, 'Good morning');
    assert.equal(r.data.translations.error, null);
  }
  assert.equal(new Set(sb.results.map((r) => r.data.translations.language)).size, expected.length);
  assert.deepEqual(sc.results, [], 'the other chat received ' + JSON.stringify(sc.results));
  console.log(`translations arrived within ${elapsed} ms: ${sa.results.map((r) => r.data.chat).join(', ')}`);
  sa.dispose(); sb.dispose(); sc.dispose();
});
