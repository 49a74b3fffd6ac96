// SPEC §5.9: bad input at /oauth2/token gets a clear RFC 6749 error with the right status,
// and never takes a process down.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken, assertOAuthError, assertJson } from '../lib/oauth-assert.mjs';
import { basicAuth } from '../lib/util.mjs';

const FCGI_MAX_BODY = 8192;
const stack = useStack({ fcgiMaxBody: FCGI_MAX_BODY });
let app;
let pidsBefore;
let auth;
const FORM = 'application/x-www-form-urlencoded';

function post(body, { headers = {}, basic = true, method = 'POST', path = '/oauth2/token' } = {}) {
  const h = { 'content-type': FORM, ...headers };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  if (basic) h.authorization = auth;
  return stack.http(method, path, { headers: h, body });
}

test('setup: a backend app, and a good request works', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  auth = basicAuth(app.client_id, app.client_secret);
  assertToken(await post('grant_type=client_credentials&scope=transcribe'), ['openid', 'transcribe']);
  pidsBefore = stack.fcgiPids();
  assert.ok(pidsBefore.master && pidsBefore.workers.length >= 1);
});

// [name, request thunk, statuses, errors]
const cases = [
  ['missing grant_type', () => post('scope=transcribe'), 400, 'invalid_request'],
  ['empty body', () => post(''), 400, 'invalid_request'],
  ['empty grant_type', () => post('grant_type=&scope=transcribe'), 400, ['invalid_request', 'unsupported_grant_type']],
  ['duplicate grant_type', () => post('grant_type=client_credentials&grant_type=client_credentials&scope=transcribe'), 400, 'invalid_request'],
  ['duplicate scope', () => post('grant_type=client_credentials&scope=transcribe&scope=streams'), 400, 'invalid_request'],
  ['duplicate client_id (form auth)', () => post(`grant_type=client_credentials&scope=transcribe&client_id=${encodeURIComponent(app.client_id)}&client_id=${encodeURIComponent(app.client_id)}&client_secret=${encodeURIComponent(app.client_secret)}`, { basic: false }), [400, 401], ['invalid_request', 'invalid_client']],
  ['Basic and form credentials at once', () => post(`grant_type=client_credentials&scope=transcribe&client_id=${encodeURIComponent(app.client_id)}&client_secret=${encodeURIComponent(app.client_secret)}`), [400, 401], ['invalid_request', 'invalid_client']],
  ['unknown grant type', () => post('grant_type=urn:example:magic&scope=transcribe'), 400, 'unsupported_grant_type'],
  ['password grant for a client-credentials app', () => post('grant_type=password&username=u&password=p&scope=transcribe'), 400, ['unauthorized_client', 'unsupported_grant_type']],
  ['authorization_code grant for a client-credentials app', () => post('grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fx'), 400, ['unauthorized_client', 'unsupported_grant_type', 'invalid_grant', 'invalid_request']],
  ['invalid percent-encoding (%ZZ)', () => post('grant_type=client_credentials&scope=%ZZtranscribe'), 400, 'invalid_request'],
  ['truncated percent-encoding (%2)', () => post('grant_type=client_credentials&scope=transcribe%2'), 400, 'invalid_request'],
  ['truncated percent-encoding at the end (%)', () => post('grant_type=client_credentials&scope=transcribe%'), 400, 'invalid_request'],
  ['percent-encoded non-UTF-8 (%FF%FE)', () => post('grant_type=client_credentials&scope=transcribe%FF%FE'), 400, 'invalid_request'],
  ['overlong UTF-8 (%C0%AF)', () => post('grant_type=client_credentials&scope=%C0%AFtranscribe'), 400, 'invalid_request'],
  ['raw non-UTF-8 bytes in the body', () => post(Buffer.concat([Buffer.from('grant_type=client_credentials&scope=transcribe'), Buffer.from([0xff, 0xfe, 0x80])])), 400, 'invalid_request'],
  ['NUL in a value', () => post('grant_type=client_credentials&scope=transcribe%00streams'), 400, ['invalid_request', 'invalid_scope']],
  ['JSON content type', () => post(JSON.stringify({ grant_type: 'client_credentials', scope: 'transcribe' }), { headers: { 'content-type': 'application/json' } }), 400, 'invalid_request'],
  ['text/plain content type', () => post('grant_type=client_credentials&scope=transcribe', { headers: { 'content-type': 'text/plain' } }), 400, 'invalid_request'],
  ['multipart content type', () => post('--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--\r\n', { headers: { 'content-type': 'multipart/form-data; boundary=x' } }), 400, 'invalid_request'],
  ['no content type', () => post('grant_type=client_credentials&scope=transcribe', { headers: { 'content-type': undefined } }), 400, 'invalid_request'],
  ['malformed Basic header', () => post('grant_type=client_credentials&scope=transcribe', { basic: false, headers: { authorization: 'Basic !!!not-base64***' } }), [400, 401], ['invalid_request', 'invalid_client']],
  ['Basic without a colon', () => post('grant_type=client_credentials&scope=transcribe', { basic: false, headers: { authorization: `Basic ${Buffer.from('justanid').toString('base64')}` } }), [400, 401], ['invalid_request', 'invalid_client']],
  ['over the FastCGI body cap, under nginx\'s', () => post(`grant_type=client_credentials&scope=transcribe&pad=${'a'.repeat(FCGI_MAX_BODY + 3000)}`), [400, 413], 'invalid_request'],
];

for (const [name, run, status, errors] of cases) {
  test(`bad input: ${name}`, async () => {
    const r = await run();
    assertOAuthError(r, status, errors);
  });
}

test('bad input: a body over nginx\'s 16k limit gets 413', async () => {
  const r = await post(`grant_type=client_credentials&scope=transcribe&pad=${'a'.repeat(20000)}`);
  assert.equal(r.status, 413, `HTTP ${r.status} ${r.body.slice(0, 200)}`);
});

test('bad input: GET and PUT are refused with a clear JSON error, never a token', async () => {
  for (const [method, path] of [['GET', '/oauth2/token'], ['GET', `/oauth2/token?grant_type=client_credentials&scope=transcribe`], ['PUT', '/oauth2/token']]) {
    const r = await post(method === 'PUT' ? 'grant_type=client_credentials&scope=transcribe' : undefined, { method, path });
    assert.ok([400, 405].includes(r.status), `${method} ${path}: HTTP ${r.status} ${r.body}`);
    assertJson(r);
    assert.equal(typeof r.json.error, 'string');
    assert.equal(r.json.access_token, undefined);
    if (r.status === 405) assert.match(r.headers.allow || '', /POST/, 'a 405 should say Allow: POST');
  }
});

test('bad input: an unknown path under /oauth2/ is a JSON 404', async () => {
  const r = await post('grant_type=client_credentials', { path: '/oauth2/nope' });
  assert.equal(r.status, 404);
  assertJson(r);
});

test('good input in less common but valid shapes is accepted', async () => {
  // '+' is a space in form encoding
  assertToken(await post('grant_type=client_credentials&scope=transcribe+streams'), ['openid', 'streams', 'transcribe']);
  // a charset parameter on the content type
  assertToken(await post('grant_type=client_credentials&scope=transcribe', { headers: { 'content-type': `${FORM}; charset=UTF-8` } }), ['openid', 'transcribe']);
  // percent-encoded names and values
  assertToken(await post('grant%5Ftype=client%5Fcredentials&scope=%74ranscribe'), ['openid', 'transcribe']);
  // a chunked request body (nginx buffers it and passes CONTENT_LENGTH)
  assertToken(await post('grant_type=client_credentials&scope=streams', { headers: { 'transfer-encoding': 'chunked' } }), ['openid', 'streams']);
});

test('after all that: same workers, same daemon, good requests served', async () => {
  assert.deepEqual(stack.fcgiPids(), pidsBefore, 'a FastCGI worker died or was restarted');
  assert.ok(stack.daemonAlive());
  for (let i = 0; i < 5; i++) assertToken(await post('grant_type=client_credentials&scope=transcribe'), ['openid', 'transcribe']);
  const logs = stack.readLogs();
  assert.doesNotMatch(logs.fcgi + logs.daemon, /AddressSanitizer|runtime error:|Segmentation|core dumped/);
});
