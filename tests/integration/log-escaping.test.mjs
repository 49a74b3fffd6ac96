// Issue 7: request paths, client_ids and other caller-chosen text are escaped before they reach
// a log line: no raw newline, carriage return or terminal escape from a request gets into the
// FastCGI or daemon logs, and one logged event stays one line.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, useStack } from '../lib/runner.mjs';
import { basicAuth } from '../lib/util.mjs';

const stack = useStack();
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \S+\[\d+\] \w+: /;
let offsets;

/** Send one raw request and read the answer to its end. */
function raw(bytes) {
  return new Promise((resolve) => {
    let out = '';
    const s = net.connect(stack.nginxPort, '127.0.0.1', () => s.write(bytes));
    s.setEncoding('latin1');
    s.on('data', (d) => { out += d; });
    s.on('error', () => {});
    s.on('close', () => resolve(out));
    setTimeout(() => s.destroy(), 5000);
  });
}

/** The fcgi and daemon log text written since the test began. */
function newLogs() {
  const l = stack.readLogs();
  return { fcgi: l.fcgi.slice(offsets.fcgi), daemon: l.daemon.slice(offsets.daemon) };
}

test('setup', async () => {
  await stack.addApp('svc', { scopes: 'streams' });
  const l = stack.readLogs();
  offsets = { fcgi: l.fcgi.length, daemon: l.daemon.length };
});

test('an encoded CR LF and an ANSI escape in a path are logged escaped, on one line', async () => {
  // nginx decodes %0d%0a and %1b into the path it passes on (DOCUMENT_URI)
  const path = '/api/v1/nope%0d%0aFGMARK1%202026-01-01T00:00:00Z%20flowgated[1]%20info:%20forged%1b[2J%1b]0;title%07';
  const r = await stack.http('GET', path);
  assert.equal(r.status, 404, r.body);
  const r2 = await stack.http('POST', '/api/v1/proxy/demo/x%0aFGMARK2%1b[31m', { headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(r2.status, 401, r2.body);
});

test('raw CR, LF and ESC bytes in a request line never reach flowgate-fcgi', async () => {
  const out = await raw('GET /api/v1/FGMARK3\x1b[31m\rX HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 400 /, out);
});

test('quotes, backslashes and non-ASCII in a client_id are logged escaped', async () => {
  const id = 'FGMARK4"\\é\u202e';
  const r = await stack.http('POST', '/oauth2/token', {
    form: { grant_type: 'client_credentials', scope: 'streams' },
    headers: { authorization: basicAuth(id, 'nope') },
  });
  assert.equal(r.status, 401, r.body);
});

test('the logs hold the escaped forms, and every line is one whole event', async () => {
  const logs = newLogs();
  const all = logs.fcgi + logs.daemon;
  for (const [name, text] of Object.entries(logs)) {
    assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f]/, `${name} log holds a raw control character`);
    for (const line of text.split('\n').filter(Boolean)) {
      if (!/FGMARK/.test(line)) continue;
      assert.match(line, STAMP, `${name} log line does not start an event: ${JSON.stringify(line)}`);
    }
    // nothing a caller sent starts a line of its own
    assert.doesNotMatch(text, /^FGMARK|^\S* ?2026-01-01T00:00:00Z flowgated\[1\] info: forged/m, `${name} log has a forged line`);
  }
  assert.match(all, /FGMARK1/, 'the first path was not logged at all');
  assert.match(all, /nope\\x0d\\x0aFGMARK1 2026-01-01T00:00:00Z flowgated\[1\] info: forged\\x1b\[2J\\x1b\]0;title\\x07/);
  assert.match(all, /x\\x0aFGMARK2\\x1b\[31m/);
  assert.doesNotMatch(all, /FGMARK3/, 'a request line with raw control bytes reached flowgate-fcgi');
  assert.match(all, /client_id=FGMARK4\\x22\\x5c\\xc3\\xa9\\xe2\\x80\\xae/);
});
