// End-to-end tests of examples/chat run with -auth dev: the local gateway
// runs the chat's Lambda authorizer (the code deployed on AWS) on every
// WebSocket handshake and GraphQL over HTTP request, and the chat issues
// dev tokens at /auth/dev-token. Run by the chat's TestEndToEnd: CHAT_URL is
// the chat's base URL (http://127.0.0.1:PORT).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = process.env.CHAT_URL;
assert.ok(base, 'CHAT_URL must be set');
const wsURL = base.replace(/^http/, 'ws') + '/graphql';
const run = Math.random().toString(36).slice(2, 8);

async function devToken(name) {
  const r = await fetch(base + '/auth/dev-token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name }) });
  assert.equal(r.status, 200, await r.clone().text());
  const { token, expiresAt } = await r.json();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.ok(Date.parse(expiresAt) > Date.now());
  return token;
}

// handshake opens a raw WebSocket and resolves with its HTTP status: 101
// when it opened, the refusal's status otherwise.
function handshake(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-transport-ws');
    ws.on('open', () => { ws.close(1000); resolve(101); });
    ws.on('unexpected-response', (req, res) => { resolve(res.statusCode); res.resume(); req.destroy(); });
    ws.on('error', (e) => { if (!String(e.message).includes('Unexpected server response')) reject(e); });
  });
}

const clients = [];
function client(token, options = {}) {
  const c = createClient({ url: wsURL + '?token=' + encodeURIComponent(token), webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, ...options });
  clients.push(c);
  return c;
}
test.after(async () => { await Promise.all(clients.map((c) => c.dispose())); });

function execute(c, payload) {
  const out = [];
  return new Promise((resolve, reject) => {
    c.subscribe(payload, { next: (v) => out.push(v), error: (e) => reject(new Error(JSON.stringify(e))), complete: () => resolve(out) });
  });
}

function graphqlHTTP(body, authorization) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (authorization) headers.Authorization = authorization;
  return fetch(base + '/graphql', { method: 'POST', headers, body: JSON.stringify(body) });
}

test('a handshake without a valid token is refused before $connect', async () => {
  assert.equal(await handshake(wsURL), 401); // identity source missing
  assert.equal(await handshake(wsURL + '?token='), 401);
  assert.equal(await handshake(wsURL + '?token=not-a-token'), 401);
  const [h, p] = (await devToken('eve')).split('.');
  assert.equal(await handshake(wsURL + '?token=' + h + '.' + p + '.AAAA'), 401); // forged signature
  assert.equal(await handshake(wsURL + '?token=' + encodeURIComponent(await devToken('eve'))), 101);
});

test('the author comes from the token, not from connection_init or the client', async () => {
  const room = 'auth-' + run;
  const reader = client(await devToken('reader'));
  // bob names himself mallory in connection_init: his token says bob.
  const bob = client(await devToken('bob'), { connectionParams: { name: 'mallory' } });
  const got = [];
  let resolveGot;
  const arrived = new Promise((r) => { resolveGot = r; });
  reader.subscribe({ query: 'subscription($c: ID!) { chat(chatId: $c) { text author } }', variables: { c: room } },
    { next: (v) => { got.push(v); resolveGot(); }, error: (e) => assert.fail(JSON.stringify(e)), complete: () => {} });
  await execute(reader, { query: '{ messages(chatId: "probe") { id } }' }); // the subscribe was handled
  const sent = await execute(bob, { query: 'mutation($c: ID!) { sendMessage(chatId: $c, text: "hi from bob") { author } }', variables: { c: room } });
  assert.deepEqual(sent, [{ data: { sendMessage: { author: 'bob' } } }]);
  await Promise.race([arrived, new Promise((_, rej) => setTimeout(() => rej(new Error('no delivery within 5 s')), 5000))]);
  assert.deepEqual(got, [{ data: { chat: { text: 'hi from bob', author: 'bob' } } }]);
  await assert.rejects(execute(bob, { query: 'mutation { sendMessage(chatId: "x", text: "t", author: "ann") { author } }' }), /Unknown argument \\?"author/);
});

test('GraphQL over HTTP takes the token in the Authorization header', async () => {
  const room = 'auth-http-' + run;
  const mutation = { query: 'mutation($c: ID!) { sendMessage(chatId: $c, text: "over http") { author } }', variables: { c: room } };
  let r = await graphqlHTTP(mutation);
  assert.equal(r.status, 401);
  assert.deepEqual(await r.json(), { message: 'Unauthorized' });
  r = await graphqlHTTP(mutation, 'Bearer nonsense');
  assert.equal(r.status, 401);
  r = await graphqlHTTP(mutation, 'Bearer ' + await devToken('carol'));
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { data: { sendMessage: { author: 'carol' } } });
  r = await graphqlHTTP({ query: '{ messages(chatId: "' + room + '") { text author } }' }, 'Bearer ' + await devToken('dan'));
  assert.deepEqual(await r.json(), { data: { messages: [{ text: 'over http', author: 'carol' }] } });
});

test('the dev token endpoint checks what it is asked', async () => {
  assert.equal((await fetch(base + '/auth/dev-token')).status, 405);
  for (const body of ['', '{"name":""}', '{"name":"' + 'x'.repeat(41) + '"}', '{"name":1}', '{"name":"a","admin":true}']) {
    const r = await fetch(base + '/auth/dev-token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    assert.equal(r.status, 400, body);
  }
});
