// Small helpers shared by the harness and the tests (no dependencies).
import { randomBytes, createPublicKey, verify as cryptoVerify } from 'node:crypto';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Shared run state: the runner sets `interrupted` on SIGINT/SIGTERM so waits stop early. */
export const runState = { interrupted: false };

/**
 * Poll fn until it returns a truthy value (returned) or the deadline passes (throws).
 * An error thrown by fn is retried, unless it has `abort: true` (then it is rethrown at once).
 */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    if (runState.interrupted) throw abort(`interrupted while waiting for ${what}`);
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      if (err && err.abort) throw err;
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${lastErr.message}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** A long, random, easy-to-grep secret. */
export function randomSecret(tag = 'FGSECRET') {
  return `${tag}-${randomBytes(24).toString('hex')}-${randomBytes(8).toString('base64url')}`;
}

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** Decode a JWT without verifying it: {header, payload, signature}. Throws on a non-JWT. */
export function decodeJwt(token) {
  if (typeof token !== 'string') throw new Error(`not a JWT: ${typeof token}`);
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not a JWT (want 3 parts)');
  return { header: b64urlJson(parts[0]), payload: b64urlJson(parts[1]), signature: parts[2] };
}

/** Verify an RS256 JWT against a JWKS object ({keys:[...]}); returns the payload or throws. */
export function verifyJwtRs256(token, jwks) {
  const { header, payload } = decodeJwt(token);
  if (header.alg !== 'RS256') throw new Error(`unexpected alg ${header.alg}`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid) || (jwks.keys.length === 1 ? jwks.keys[0] : null);
  if (!jwk) throw new Error(`no key ${header.kid} in JWKS`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const [h, p, s] = token.split('.');
  if (!cryptoVerify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) {
    throw new Error('JWT signature does not verify');
  }
  return payload;
}

/** A scope string as a sorted, de-duplicated array. */
export function scopeSet(s) {
  return [...new Set(String(s || '').split(/\s+/).filter(Boolean))].sort();
}

/** application/x-www-form-urlencoded from an object or an array of [k, v] pairs (duplicates allowed). */
export function formEncode(fields) {
  const pairs = Array.isArray(fields) ? fields : Object.entries(fields);
  return pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
export function basicAuth(id, secret) {
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** All the encodings of a secret that a careless implementation might leave somewhere. */
export function secretNeedles(secret) {
  const b = Buffer.from(secret, 'utf8');
  return [
    { how: 'plain', bytes: b },
    { how: 'hex', bytes: Buffer.from(b.toString('hex')) },
    { how: 'HEX', bytes: Buffer.from(b.toString('hex').toUpperCase()) },
    { how: 'base64', bytes: Buffer.from(b.toString('base64').replace(/=+$/, '')) },
    { how: 'base64url', bytes: Buffer.from(b.toString('base64url')) },
    { how: 'url-encoded', bytes: Buffer.from(encodeURIComponent(secret)) },
  ];
}

/** Which needles (by name) occur in buf. */
export function findNeedles(buf, needles) {
  return needles.filter((n) => buf.indexOf(n.bytes) !== -1).map((n) => n.how);
}

/** An error that stops waitFor at once. */
export function abort(message) {
  return Object.assign(new Error(message), { abort: true });
}
