// Assertions for RFC 6749 token-endpoint answers (node:assert, no framework).
import assert from 'node:assert/strict';
import { scopeSet } from './util.mjs';

export const OAUTH_ERRORS = ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client',
  'unsupported_grant_type', 'invalid_scope', 'temporarily_unavailable', 'server_error'];

function show(r) {
  return `HTTP ${r.status} ${r.headers['content-type'] || ''}\n${r.body.slice(0, 600)}`;
}

export function assertNoStore(r) {
  assert.match(r.headers['cache-control'] || '', /no-store/i, `Cache-Control: no-store missing\n${show(r)}`);
}

export function assertJson(r) {
  assert.match(r.headers['content-type'] || '', /^application\/json/i, `not JSON\n${show(r)}`);
  assert.ok(r.json && typeof r.json === 'object', `body is not a JSON object\n${show(r)}`);
}

/**
 * A §5.1 success: status 200, JSON, no-store, access_token, token_type bearer (any case),
 * expires_in in (0, maxTtl], and scope equal (as a set) to wantScopes (array or string) when given.
 * @returns the parsed body
 */
export function assertToken(r, wantScopes, { maxTtl = 300 } = {}) {
  assert.equal(r.status, 200, `want a token\n${show(r)}`);
  assertJson(r);
  assertNoStore(r);
  const j = r.json;
  assert.equal(typeof j.access_token, 'string', `access_token missing\n${show(r)}`);
  assert.ok(j.access_token.length > 20, 'access_token too short');
  assert.match(String(j.token_type), /^bearer$/i, `token_type ${j.token_type}`);
  assert.ok(Number.isInteger(j.expires_in) && j.expires_in > 0 && j.expires_in <= maxTtl,
    `expires_in ${j.expires_in} not in (0, ${maxTtl}]`);
  assert.equal(j.refresh_token, undefined, 'client_credentials must not return a refresh_token');
  if (wantScopes !== undefined) {
    const want = Array.isArray(wantScopes) ? [...wantScopes].sort() : scopeSet(wantScopes);
    assert.deepEqual(scopeSet(j.scope), want, `scope "${j.scope}"`);
  }
  return j;
}

/**
 * A §5.2 error: the status, JSON body with `error` one of `errors` (string or array), no token.
 * @returns the parsed body
 */
export function assertOAuthError(r, status, errors, { noStore = true } = {}) {
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(statuses.includes(r.status), `want HTTP ${statuses.join('|')}\n${show(r)}`);
  assertJson(r);
  const want = Array.isArray(errors) ? errors : [errors];
  assert.ok(want.includes(r.json.error), `want error ${want.join('|')}, got ${JSON.stringify(r.json.error)}\n${show(r)}`);
  assert.equal(r.json.access_token, undefined, 'an error must not carry a token');
  if (r.json.error_description !== undefined) {
    assert.equal(typeof r.json.error_description, 'string');
    // RFC 6749 §5.2: error_description is ASCII without '"' and '\'
    assert.match(r.json.error_description, /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/, 'error_description charset');
  }
  if (noStore) assertNoStore(r);
  return r.json;
}

/** 503 temporarily_unavailable with a Retry-After of whole seconds. */
export function assertUnavailable(r) {
  const j = assertOAuthError(r, 503, 'temporarily_unavailable');
  assert.match(String(r.headers['retry-after'] || ''), /^[1-9]\d*$/, `Retry-After "${r.headers['retry-after']}"\n${show(r)}`);
  return j;
}

/** Just the status and the error code (for tests about something else than the error format). */
export function assertRefused(r, status, error) {
  assert.equal(r.status, status, show(r));
  assert.equal(r.json && r.json.error, error, show(r));
}
