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

// The daemon's schema caps fields (client_id 128, client_secret 256, scope 512, username 256,
// password 1024 bytes). A longer field under the body cap is the caller's mistake, never a 500:
// an over-long credential cannot be one flowgate issued (401 invalid_client, as a wrong one is),
// any other field is a malformed request (400 invalid_request).
const enc = encodeURIComponent;
const longFields = () => [
  ['client_id of 129 bytes (Basic)', () => post('grant_type=client_credentials&scope=transcribe', { basic: false, headers: { authorization: basicAuth('c'.repeat(129), app.client_secret) } }), 401, 'invalid_client', /client_id longer than 128/],
  ['client_id of 129 bytes (form)', () => post(`grant_type=client_credentials&scope=transcribe&client_id=${'c'.repeat(129)}&client_secret=${enc(app.client_secret)}`, { basic: false }), 401, 'invalid_client', /client_id longer than 128/],
  ['client_secret of 257 bytes (Basic)', () => post('grant_type=client_credentials&scope=transcribe', { basic: false, headers: { authorization: basicAuth(app.client_id, 's'.repeat(257)) } }), 401, 'invalid_client', /client_secret longer than 256/],
  ['client_secret of 257 bytes (form)', () => post(`grant_type=client_credentials&scope=transcribe&client_id=${enc(app.client_id)}&client_secret=${'s'.repeat(257)}`, { basic: false }), 401, 'invalid_client', /client_secret longer than 256/],
  ['client_secret of 1000 bytes (form)', () => post(`grant_type=client_credentials&scope=transcribe&client_id=${enc(app.client_id)}&client_secret=${'s'.repeat(1000)}`, { basic: false }), 401, 'invalid_client', /client_secret longer than 256/],
  ['scope of 513 bytes', () => post(`grant_type=client_credentials&scope=${'transcribe+'.repeat(47)}a`), 400, 'invalid_request', /scope longer than 512/],
  ['scope of 4000 bytes', () => post(`grant_type=client_credentials&scope=${'s'.repeat(4000)}`), 400, 'invalid_request', /scope longer than 512/],
  ['username of 257 bytes (password grant)', () => post(`grant_type=password&username=${'u'.repeat(257)}&password=p`), 400, 'invalid_request', /username longer than 256/],
  ['password of 1025 bytes (password grant)', () => post(`grant_type=password&username=u&password=${'p'.repeat(1025)}`), 400, 'invalid_request', /password longer than 1024/],
  // at the limits the daemon decides, and says something a client understands
  ['client_id of exactly 128 bytes (unknown)', () => post('grant_type=client_credentials&scope=transcribe', { basic: false, headers: { authorization: basicAuth('c'.repeat(128), app.client_secret) } }), 401, 'invalid_client', null],
  ['client_secret of exactly 256 bytes (wrong)', () => post('grant_type=client_credentials&scope=transcribe', { basic: false, headers: { authorization: basicAuth(app.client_id, 's'.repeat(256)) } }), 401, 'invalid_client', null],
  ['scope of exactly 512 bytes (not registered)', () => post(`grant_type=client_credentials&scope=${'transcribe+'.repeat(46)}${'x'.repeat(6)}`), 400, 'invalid_scope', null],
];

test('over-long fields on /oauth2/token: 400 invalid_request or 401 invalid_client, never 500', async () => {
  for (const [name, run, status, error, desc] of longFields()) {
    const r = await run();
    try {
      assertOAuthError(r, status, error);
      if (desc) assert.match(r.json.error_description || '', desc);
      if (status === 401) assert.match(r.headers['www-authenticate'] || '', /^Basic /);
    } catch (err) {
      err.message = `${name}: ${err.message}`;
      throw err;
    }
  }
});

// The API routes: an over-long app credential is 401 invalid_client; any other field the daemon's
// schema refuses (bad_request) is answered 400 invalid_request, never 500 or a private code.
test('over-long fields on the API routes: 401 invalid_client or 400 invalid_request, never 500', async () => {
  const json = { 'content-type': 'application/json' };
  const stream = JSON.stringify({ assignedUserId: '00000000-0000-4000-8000-000000000000' });
  const longId = basicAuth('c'.repeat(129), app.client_secret);
  const longSecret = basicAuth(app.client_id, 's'.repeat(257));
  const session = `fg_user=${'a'.repeat(43)}`;
  const cases = [
    ['stream-sessions, client_id 129', 'POST', '/api/v1/stream-sessions', { ...json, authorization: longId }, stream, 401, 'invalid_client'],
    ['stream-sessions, client_secret 257', 'POST', '/api/v1/stream-sessions', { ...json, authorization: longSecret }, stream, 401, 'invalid_client'],
    ['transcribe-sessions, client_id 129', 'POST', '/api/v1/transcribe-sessions', { ...json, authorization: longId }, '{}', 401, 'invalid_client'],
    ['transcribe-sessions, client_secret 257', 'POST', '/api/v1/transcribe-sessions', { ...json, authorization: longSecret }, '{}', 401, 'invalid_client'],
    ['proxy, client_id 129', 'GET', '/api/v1/proxy/demo/interactions', { authorization: longId }, undefined, 401, 'invalid_client'],
    ['proxy, client_secret 257', 'GET', '/api/v1/proxy/demo/interactions', { authorization: longSecret }, undefined, 401, 'invalid_client'],
    ['proxy, a query of 3000 bytes', 'GET', `/api/v1/proxy/demo/interactions?q=${'q'.repeat(3000)}`, { authorization: auth }, undefined, 400, 'invalid_request'],
    ['proxy, a Content-Type of 200 bytes', 'POST', '/api/v1/proxy/demo/interactions', { authorization: auth, 'content-type': `application/json; x=${'y'.repeat(200)}` }, '{}', 400, 'invalid_request'],
    ['session token, scope of 513 bytes', 'POST', '/api/v1/session/token', { ...json, cookie: session }, JSON.stringify({ scope: 's'.repeat(513) }), 400, 'invalid_request'],
    ['session token, a session cookie of 65 bytes', 'POST', '/api/v1/session/token', { ...json, cookie: `fg_user=${'a'.repeat(65)}` }, '{}', 401, 'unauthenticated'],
  ];
  for (const [name, method, path, headers, body, status, error] of cases) {
    const r = await stack.http(method, path, { headers, body });
    try {
      assert.equal(r.status, status, `HTTP ${r.status} ${r.body.slice(0, 300)}`);
      assertJson(r);
      assert.equal(r.json.error, error);
      assert.equal(r.json.access_token, undefined);
    } catch (err) {
      err.message = `${name}: ${err.message}`;
      throw err;
    }
  }
});

test('after all that: same workers, same daemon, good requests served', async () => {
  assert.deepEqual(stack.fcgiPids(), pidsBefore, 'a FastCGI worker died or was restarted');
  assert.ok(stack.daemonAlive());
  for (let i = 0; i < 5; i++) assertToken(await post('grant_type=client_credentials&scope=transcribe'), ['openid', 'transcribe']);
  const logs = stack.readLogs();
  assert.doesNotMatch(logs.fcgi + logs.daemon, /AddressSanitizer|runtime error:|Segmentation|core dumped/);
});
