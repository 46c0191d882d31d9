import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import Koa from 'koa';
import { close, listen } from '../../lib/server.ts';
import { jsonErrors } from '../src/errors.ts';
import { refuseOtherMethods, routeTable } from '../src/routing.ts';
import { call } from './helpers.ts';

// A route table and refuseOtherMethods in a bare Koa app, with a fallback that shows what went on.
const server = createServer();
let origin: string;
before(async () => {
  const app = new Koa();
  app.use(jsonErrors(() => {}));
  const table = routeTable()
    .get('/things', (ctx) => {
      ctx.body = { listed: true };
    })
    .post('/things', (ctx) => {
      ctx.status = 201;
    })
    .delete('/things/:id', (ctx) => {
      ctx.status = 204;
    });
  app.use(table.routes());
  app.use(refuseOtherMethods);
  app.use((ctx) => {
    ctx.body = { fellThrough: ctx.path };
  });
  server.on('request', app.callback());
  origin = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
});
after(() => close(server));

test('a path the table serves under other methods is 405 naming them in registration order, HEAD left out', async () => {
  for (const [method, path, allow] of [['PUT', '/things', 'GET, POST'], ['OPTIONS', '/things', 'GET, POST'], ['GET', '/things/1', 'DELETE'], ['PROPFIND', '/things/1', 'DELETE']]) {
    const res = await call(`${origin}${path}`, { method });
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.get('allow'), allow);
    assert.deepEqual(res.body, { error: 'invalid_request', error_description: `method not allowed; allowed: ${allow}` });
  }
});

test('the served methods are answered, HEAD too', async () => {
  assert.deepEqual((await call(`${origin}/things`)).body, { listed: true });
  assert.equal((await call(`${origin}/things`, { method: 'HEAD' })).status, 200);
  assert.equal((await call(`${origin}/things`, { method: 'POST' })).status, 201);
  assert.equal((await call(`${origin}/things/1`, { method: 'DELETE' })).status, 204);
});

test('any other path goes on, also one that differs in case or by a trailing slash', async () => {
  for (const path of ['/other', '/Things', '/things/', '/things/1/x']) {
    const res = await call(`${origin}${path}`, { method: 'PUT' });
    assert.equal(res.status, 200, path);
    assert.deepEqual(res.body, { fellThrough: path });
  }
});
