// Issue 7: requests nginx itself refuses (malformed, headers or URI too long, bad chunked
// encoding, a body over the cap, a dead FastCGI pool) answer RFC 6749 JSON on the token endpoint
// and the APIs, through the shipped nginx site; the admin UI keeps nginx's HTML pages.
// Raw sockets: node's HTTP client would refuse to send most of these.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { basicAuth } from '../lib/util.mjs';

const stack = useStack();
let app;

/** Send bytes on a fresh connection (half-close after them with end), read until close. */
function raw(bytes, { end = false, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const s = net.connect(stack.nginxPort, '127.0.0.1', () => {
      s.write(bytes);
      if (end) s.end();
    });
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no close within ${timeoutMs} ms`)); }, timeoutMs);
    s.on('data', (d) => {
      chunks.push(d);
      const r = parse(Buffer.concat(chunks));
      if (r && r.complete) s.destroy();
    });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve(parse(Buffer.concat(chunks)) || { status: 0, raw: '' }); });
  });
}

/** One HTTP/1.1 response from its bytes; null before the header is complete. */
function parse(buf) {
  const text = buf.toString('latin1');
  const i = text.indexOf('\r\n\r\n');
  if (i < 0) return null;
  const [line, ...lines] = text.slice(0, i).split('\r\n');
  const headers = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  const body = text.slice(i + 4);
  const len = Number(headers['content-length']);
  return { status: Number(line.split(' ')[1]), line, headers, body, raw: text, complete: body.length >= len };
}

/** An RFC 6749 §5.2 error from nginx: status, JSON, no-store, the error and a description. */
function assertJsonError(r, status, error, description) {
  const show = `\n${r.raw.slice(0, 600)}`;
  assert.equal(r.status, status, `want HTTP ${status}${show}`);
  assert.match(r.headers['content-type'] || '', /^application\/json/, `not JSON${show}`);
  assert.match(r.headers['cache-control'] || '', /no-store/, `Cache-Control: no-store missing${show}`);
  const j = JSON.parse(r.body);
  assert.equal(j.error, error, show);
  if (description) assert.match(j.error_description, description, show);
  assert.doesNotMatch(r.body, /<html|nginx/i, show);
}

const TOKEN = '/oauth2/token';
const FORM = 'Content-Type: application/x-www-form-urlencoded\r\n';
const BODY = 'grant_type=client_credentials&scope=streams';
const big = 'x'.repeat(9000);

test('setup: a backend app gets a token through the rendered contrib site', async () => {
  app = await stack.addApp('svc', { scopes: 'streams' });
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  // and raw: the helper itself reads a good answer
  const r = await raw(`POST ${TOKEN} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicAuth(app.client_id, app.client_secret)}\r\n${FORM}Content-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`);
  assert.equal(r.status, 200, r.raw);
});

const cases = [
  ['a duplicate Authorization header', () => `POST ${TOKEN} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicAuth(app.client_id, app.client_secret)}\r\nAuthorization: Basic YTpi\r\n${FORM}Content-Length: ${BODY.length}\r\n\r\n${BODY}`, 400, /malformed/],
  ['a header over 8 KiB', () => `POST ${TOKEN} HTTP/1.1\r\nHost: x\r\nX-Pad: ${big}\r\n${FORM}Content-Length: ${BODY.length}\r\n\r\n${BODY}`, 431, /headers too large/],
  ['a header over 8 KiB on the Keycloak-style token path', () => `POST /realms/demo/protocol/openid-connect/token HTTP/1.1\r\nHost: x\r\nX-Pad: ${big}\r\n\r\n`, 431, /headers too large/],
  ['a URI over 8 KiB', () => `POST ${TOKEN}?${big} HTTP/1.1\r\nHost: x\r\n\r\n`, 414, /URI too long/],
  ['bad chunked encoding', () => `POST ${TOKEN} HTTP/1.1\r\nHost: x\r\n${FORM}Transfer-Encoding: chunked\r\n\r\nzz\r\n${BODY}\r\n0\r\n\r\n`, 400, /malformed/],
  ['Content-Length and chunked at once', () => `POST ${TOKEN} HTTP/1.1\r\nHost: x\r\n${FORM}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, /malformed/],
  ['a Content-Length that is not a number', () => `POST ${TOKEN} HTTP/1.1\r\nHost: x\r\n${FORM}Content-Length: 12abc\r\n\r\n${BODY}`, 400, /malformed/],
  ['two Content-Length headers', () => `POST ${TOKEN} HTTP/1.1\r\nHost: x\r\n${FORM}Content-Length: ${BODY.length}\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`, 400, /malformed/],
  ['no Host header in HTTP/1.1', () => `POST ${TOKEN} HTTP/1.1\r\n${FORM}Content-Length: ${BODY.length}\r\n\r\n${BODY}`, 400, /malformed/],
  ['a request line that is not HTTP', () => 'GARBAGE\r\n\r\n', 400, /malformed/],
  ['a body over the 16 KiB cap (Content-Length)', () => `POST ${TOKEN} HTTP/1.1\r\nHost: x\r\n${FORM}Content-Length: 20000\r\n\r\n`, 413, /request body too large/],
  ['a chunked body over the 16 KiB cap', () => `POST ${TOKEN} HTTP/1.1\r\nHost: x\r\n${FORM}Transfer-Encoding: chunked\r\n\r\n${(20000).toString(16)}\r\n${'a'.repeat(20000)}\r\n0\r\n\r\n`, 413, /request body too large/],
  ['a body over the cap on an API route', () => `POST /api/v1/stream-sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n`, 413, /request body too large/],
];

for (const [name, bytes, status, description] of cases) {
  test(`nginx refuses ${name}: HTTP ${status} RFC 6749 JSON`, async () => {
    assertJsonError(await raw(bytes()), status, 'invalid_request', description);
  });
}

test('a lying Content-Length (a shorter body, then close): no HTML page, nothing reaches FastCGI', async () => {
  const before = stack.readLogs().fcgi.length;
  const r = await raw(`POST ${TOKEN} HTTP/1.1\r\nHost: x\r\n${FORM}Content-Length: 500\r\n\r\n${BODY}`, { end: true });
  // nginx drops a request whose client went away mid-body without answering; if it ever answers,
  // it must be our JSON
  if (r.status !== 0) assertJsonError(r, 400, 'invalid_request');
  else assert.equal(r.raw, '');
  await new Promise((res) => setTimeout(res, 200));
  assert.doesNotMatch(stack.readLogs().fcgi.slice(before), /refused POST \/oauth2\/token/, 'a partial body reached flowgate-fcgi');
});

test('the admin UI keeps nginx\'s HTML page for its own paths', async () => {
  const r = await raw(`GET /admin/ HTTP/1.1\r\nHost: x\r\nX-Pad: ${big}\r\n\r\n`);
  assert.equal(r.status, 400, r.raw);
  assert.match(r.headers['content-type'], /^text\/html/, r.raw);
  assert.match(r.body, /Request Header Or Cookie Too Large/);
});

test('the FastCGI pool down: 503 temporarily_unavailable with Retry-After, JSON; HTML for the admin UI', async () => {
  await stack.procs.fcgi.stop(10000);
  try {
    const r = await raw(`POST ${TOKEN} HTTP/1.1\r\nHost: x\r\n${FORM}Content-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`);
    assertJsonError(r, 503, 'temporarily_unavailable');
    assert.match(r.headers['retry-after'] || '', /^\d+$/, `Retry-After missing\n${r.raw}`);
    const api = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assertJsonError(api, 503, 'temporarily_unavailable');
    const page = await raw('GET /admin/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(page.status, 503, page.raw);
    assert.match(page.headers['content-type'], /^text\/html/, page.raw);
  } finally {
    await stack.startFcgi();
  }
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
});

test('answers flowgate-fcgi sends itself pass through untouched', async () => {
  // a 401 from flowgate-fcgi keeps its own description and WWW-Authenticate
  const r = await raw(`POST ${TOKEN} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicAuth(app.client_id, 'wrong-secret')}\r\n${FORM}Content-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`);
  assertJsonError(r, 401, 'invalid_client');
  assert.match(r.headers['www-authenticate'] || '', /^Basic /);
});
