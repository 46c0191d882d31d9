import assert from 'node:assert/strict';
import { createServer, request, type RequestListener } from 'node:http';
import { Writable } from 'node:stream';
import { after, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { logRequest } from '../../lib/log.ts';
import { close, listen } from '../../lib/server.ts';
import { poll } from '../support/wait.ts';

const lines: Record<string, unknown>[] = [];
const log = pino(
  { level: 'info', base: undefined, timestamp: false },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  }),
);

let handler: RequestListener = () => {};
const server = createServer((req, res) => {
  logRequest(log, req, res);
  handler(req, res);
});
const port = await listen(server, 0, '127.0.0.1');
after(() => close(server));
beforeEach(() => (lines.length = 0));

const requestLines = () => lines.filter((l) => l.msg === 'request');

describe('logRequest', () => {
  it('logs one line per request: method, path without the query, status, ms; nothing from headers', async () => {
    handler = (req, res) => {
      req.url = '/rewritten/by/a/router'; // what koa-mount or a rewrite does after the line was started
      res.writeHead(201, { 'content-type': 'text/plain' }).end('ok');
    };
    const res = await fetch(`http://127.0.0.1:${port}/a/b?code=secret-code`, { method: 'POST', headers: { authorization: 'Bearer secret-token' } });
    await res.text();
    const [line, ...more] = await poll(requestLines, (l) => l.length > 0);
    assert.deepEqual(more, []);
    const { ms, ...rest } = line!;
    assert.deepEqual(rest, { level: 30, method: 'POST', path: '/a/b', status: 201, msg: 'request' });
    assert.equal(typeof ms, 'number');
    assert.ok(!JSON.stringify(lines).includes('secret'));
  });

  it('logs a 5xx at error level', async () => {
    handler = (_req, res) => res.writeHead(503).end();
    await (await fetch(`http://127.0.0.1:${port}/x`)).arrayBuffer();
    const [line] = await poll(requestLines, (l) => l.length > 0);
    assert.deepEqual({ level: line!.level, status: line!.status }, { level: 50, status: 503 });
  });

  it('marks a request whose client went away before the answer as aborted, in one line', async () => {
    let answer!: () => void;
    handler = (_req, res) => (answer = () => res.writeHead(200).end('late'));
    const req = request({ host: '127.0.0.1', port, path: '/slow' });
    req.on('error', () => {}); // the reset we cause
    req.end();
    await poll(() => answer, Boolean);
    req.destroy();
    const [line, ...more] = await poll(requestLines, (l) => l.length > 0);
    answer(); // writing after the close must not log again
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(more, []);
    assert.equal(requestLines().length, 1);
    assert.deepEqual({ path: line!.path, status: line!.status, aborted: line!.aborted }, { path: '/slow', status: 200, aborted: true });
  });
});
