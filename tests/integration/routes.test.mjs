// The route table is the one list of routes: every row `flowgate-fcgi -R` prints answers through
// nginx with one of its own answers (never the table's "no route" 404 nor a 405), a listed path
// with another method is 405 with Allow naming the table's methods, an unlisted path is 404.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test, useStack } from '../lib/runner.mjs';
import { binaries } from '../lib/stack.mjs';

const stack = useStack();
let rows;

// a concrete path for a pattern: '*' a name, '+' a static file, '**' any rest
const concrete = (pattern) => pattern.replaceAll('**', 'probe/rest').replaceAll('*', 'routes-probe')
  .replaceAll('+', 'app.css');
// the table's own "no route" answers: the admin and sign-in pages' and the JSON one
const noRoute = (r) => r.status === 404 &&
  (/There is no page at this address/.test(r.body) || /^\{"error":"not_found"\}$/.test(r.body.trim()));

test('flowgate-fcgi -R prints the route table', () => {
  const out = execFileSync(binaries().fcgi, ['-R'], { encoding: 'utf8' });
  rows = out.trim().split('\n').map((l) => {
    const [methods, pattern, flags] = l.split('\t');
    return { methods: methods.split(', '), pattern, flags: flags.split(',').filter(Boolean) };
  });
  assert.ok(rows.length >= 40, `only ${rows.length} rows`);
  for (const p of ['/oauth2/token', '/healthz', '/metrics', '/login/*', '/callback', '/logout',
    '/api/v1/session/token', '/api/v1/proxy/*/**', '/admin/', '/admin/apps/*', '/admin/audit/export']) {
    assert.ok(rows.some((r) => r.pattern === p), `${p} is not in the table`);
  }
  for (const r of rows) {
    assert.ok(r.flags.includes('json') || r.flags.includes('page') || r.flags.includes('admin'),
      `${r.pattern}: no error style`);
  }
});

test('every row answers through nginx with its own answer', async () => {
  for (const row of rows) {
    for (const m of row.methods) {
      const path = concrete(row.pattern);
      const r = await stack.http(m, path, {});
      assert.notEqual(r.status, 405, `${m} ${path}: 405`);
      assert.ok(!noRoute(r), `${m} ${path}: the table's 404 (${r.body.slice(0, 80)})`);
      assert.ok(r.status < 500 || r.status === 503, `${m} ${path}: ${r.status}`);
    }
  }
});

test('a listed path with another method is 405, Allow naming the methods of the table', async () => {
  for (const row of rows) {
    if (row.methods.includes('DELETE')) continue;
    const path = concrete(row.pattern);
    const methods = rows.filter((o) => concrete(o.pattern) === path).flatMap((o) => o.methods);
    const r = await stack.http('DELETE', path, {});
    // nginx itself sends /admin on to /admin/ (its prefix location's slash redirect)
    if (r.status === 301 && path === '/admin') continue;
    // nginx-internal: reachable only as auth_request's subrequest (the data plane's question)
    if (path === '/flowgate-authorize') continue;
    assert.equal(r.status, 405, `DELETE ${path}: ${r.status}`);
    assert.deepEqual(r.headers.allow.split(', ').sort(), [...new Set(methods)].sort(), `DELETE ${path}`);
  }
});

test('an unlisted path is 404', async () => {
  for (const p of ['/no/such/route', '/admin/no/such/page', '/api/v1/nothing', '/oauth2/other',
    '/login/a/b', '/admin/apps/Not_A_Name', '/admin/apps/-lead', '/api/v1/proxy/conn']) {
    const r = await stack.http('GET', p, {});
    assert.equal(r.status, 404, `GET ${p}: ${r.status} ${r.body.slice(0, 80)}`);
  }
});
