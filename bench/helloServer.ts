// This machine's ceiling for one Node process: node:http answering a small JSON body, nothing else.
import { createServer } from 'node:http';
import { listen } from '../lib/server.ts';
import { serveCommands } from './children.ts';

const body = JSON.stringify({ hello: 'world' });
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
const port = await listen(server, 0, '127.0.0.1');
serveCommands({ port }, {});
