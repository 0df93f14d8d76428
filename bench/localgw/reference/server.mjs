// The graphql-ws reference server for the local gateway load benchmark
// (bench/localgw): graphql-ws's own useServer on a ws WebSocketServer, with
// the same schema as bench/localgw/server (subscription { broadcast } fed by
// an in-process pub/sub) and the same POST /publish {"message": …}. Run with
// the e2e folder's node_modules (graphql, graphql-ws, ws):
//
//   NODE_PATH=e2e/node_modules node bench/localgw/reference/server.mjs [port]
//
// It prints one JSON line with its URLs once it listens.
import { createRequire } from 'node:module';
import http from 'node:http';
import path from 'node:path';

const require = createRequire(path.join(path.resolve(process.env.NODE_PATH || 'e2e/node_modules'), 'x.js'));
const { GraphQLObjectType, GraphQLSchema, GraphQLString, GraphQLNonNull, GraphQLBoolean } = require('graphql');
const { WebSocketServer } = require('ws');
const { useServer } = require('graphql-ws/use/ws');

// An unbounded in-process pub/sub: each subscriber gets an async iterator.
const subscribers = new Set();
function subscribe() {
  const queue = [];
  let wake = null;
  let done = false;
  const sub = {
    push(v) {
      if (wake) { const w = wake; wake = null; w({ value: v, done: false }); } else queue.push(v);
    },
  };
  subscribers.add(sub);
  return {
    [Symbol.asyncIterator]() { return this; },
    next() {
      if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => { wake = resolve; });
    },
    return() {
      done = true;
      subscribers.delete(sub);
      if (wake) { const w = wake; wake = null; w({ value: undefined, done: true }); }
      return Promise.resolve({ value: undefined, done: true });
    },
  };
}

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLBoolean, resolve: () => true } } }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      broadcast: {
        type: new GraphQLNonNull(GraphQLString),
        subscribe: () => subscribe(),
        resolve: (payload) => payload.message,
      },
    },
  }),
});

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404).end();
    return;
  }
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const { message } = JSON.parse(body);
    for (const s of subscribers) s.push({ message });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ matched: subscribers.size }));
  });
});
const wss = new WebSocketServer({ server, path: '/graphql' });
useServer({ schema }, wss);
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  const { port } = server.address();
  console.log(JSON.stringify({ websocket: `ws://127.0.0.1:${port}/graphql`, publish: `http://127.0.0.1:${port}/publish`, pid: String(process.pid) }));
});
