// A stand-in for Corti's embedded Assistant (https://assistant.{region}.corti.app/embedded) on
// an origin of its own, for flowgate's host page (GET /embed/{app}): the browser test and
// script/server frame it.
//
//   node tests/upstream/assistant.mjs --port 0 --cert C --key K --host-origin http://127.0.0.1:P \
//        --jwks https://127.0.0.1:Q/realms/demo/protocol/openid-connect/certs --ca CA_FILE
//
// Prints {"ready":true,"port":N} once listening; logs to stderr (never a token).
//
//   GET  /embedded       the Assistant's page.  It tells its parent, pinned to --host-origin,
//                        {type:"CORTI_EMBEDDED_EVENT", event:"embedded.ready", payload:{version:"v1"}}
//                        and takes {type:"CORTI_EMBEDDED", version:"v1", action:"auth", payload,
//                        requestId} only from --host-origin (anything else is ignored, and logged);
//                        it answers {type:"CORTI_EMBEDDED_RESPONSE", action, requestId, success:true,
//                        payload:{id, email}} or success:false with errorCode INVALID_PAYLOAD (the
//                        four fields missing or not tokens), UNAUTHORIZED (a bad signature, another
//                        issuer, expired) or INTERNAL_ERROR.
//   GET  /embedded.js    its script (no inline script: the page's CSP is script-src 'self')
//   POST /_auth          the page's check of a payload, here: access_token and id_token RS256 JWTs
//                        signed by a key of --jwks, unexpired, same sub; refresh_token a non-empty
//                        string (Keycloak's is a JWT, the test OIDC server's is opaque);
//                        token_type Bearer
//   GET  /_control/log   [{origin, action, outcome, id?, email?}] every message the page saw
//   POST /_control/log   {origin, outcome}: the page's report of a message it ignored
//   POST /_control/reset forget the log (and stop refusing)
//   POST /_control/refuse every auth from now on answers UNAUTHORIZED (a refusing Assistant)
import { createServer } from 'node:https';
import * as https from 'node:https';
import { readFileSync } from 'node:fs';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { serveUntilParentGoes } from './lifecycle.mjs';

const log = (...a) => process.stderr.write(`assistant: ${a.join(' ')}\n`);
const seen = [];
let refusing = false;

function usage(msg) {
  process.stderr.write(`assistant: ${msg}\nusage: assistant.mjs --port N --cert FILE --key FILE ` +
    '--host-origin ORIGIN --jwks URL --ca FILE [--host 127.0.0.1]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: 0, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${argv[i]} needs a value`));
    switch (argv[i]) {
      case '--port': o.port = Number(val()); break;
      case '--host': o.host = val(); break;
      case '--cert': o.cert = val(); break;
      case '--key': o.key = val(); break;
      case '--host-origin': o.hostOrigin = val(); break;
      case '--jwks': o.jwks = val(); break;
      case '--ca': o.ca = val(); break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  for (const k of ['cert', 'key', 'hostOrigin', 'jwks', 'ca']) if (!o[k]) usage(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is required`);
  if (new URL(o.hostOrigin).origin !== o.hostOrigin) usage('--host-origin must be an origin (scheme://host:port)');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const caPem = readFileSync(opts.ca);

/** The issuer's signing keys by kid (fetched for each check: a rotated key is picked up). */
function fetchKeys() {
  return new Promise((resolve, reject) => {
    https.get(opts.jwks, { ca: caPem, timeout: 5000, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          const keys = new Map();
          for (const k of JSON.parse(Buffer.concat(chunks).toString('utf8')).keys || []) {
            if (k.kty === 'RSA') keys.set(k.kid || '', createPublicKey({ key: k, format: 'jwk' }));
          }
          resolve(keys);
        } catch (err) { reject(err); }
      });
    }).on('error', reject);
  });
}

const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

/** The claims of a signed, unexpired JWT, or a string saying why not. */
function verifyJwt(jwt, keys) {
  const [h, p, s] = jwt.split('.');
  let header; let claims;
  try { header = b64json(h); claims = b64json(p); } catch { return 'not a JWT'; }
  const key = keys.get(header.kid || '');
  if (header.alg !== 'RS256' || !key) return 'signed by an unknown key';
  if (!cryptoVerify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) return 'bad signature';
  if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) return 'expired';
  return claims;
}

/** {ok, id, email} or {errorCode, error} for an auth payload, like the Assistant answers. */
async function checkAuth(p) {
  if (refusing) return { errorCode: 'UNAUTHORIZED', error: 'this Assistant refuses every sign-in (test control)' };
  const fields = ['access_token', 'refresh_token', 'id_token', 'token_type'];
  if (!p || typeof p !== 'object' || fields.some((f) => typeof p[f] !== 'string' || !p[f])) {
    return { errorCode: 'INVALID_PAYLOAD', error: `the payload needs ${fields.join(', ')}` };
  }
  if (!JWT_RE.test(p.access_token) || !JWT_RE.test(p.id_token) || p.token_type !== 'Bearer') {
    return { errorCode: 'INVALID_PAYLOAD', error: 'access_token and id_token must be JWTs, token_type Bearer' };
  }
  let keys;
  try { keys = await fetchKeys(); } catch (err) { return { errorCode: 'INTERNAL_ERROR', error: err.message }; }
  const at = verifyJwt(p.access_token, keys);
  const id = verifyJwt(p.id_token, keys);
  if (typeof at === 'string') return { errorCode: 'UNAUTHORIZED', error: `access_token: ${at}` };
  if (typeof id === 'string') return { errorCode: 'UNAUTHORIZED', error: `id_token: ${id}` };
  if (at.sub !== id.sub) return { errorCode: 'UNAUTHORIZED', error: 'the tokens name different users' };
  return { ok: true, id: id.sub, email: id.email };
}

const PAGE = `<!DOCTYPE html>
<html lang="en" data-host="${opts.hostOrigin}">
<head><meta charset="utf-8"><title>Corti Assistant (stand-in)</title>
<script src="/embedded.js" defer></script></head>
<body><h1>Corti Assistant (test stand-in)</h1><p id="who">Waiting for the host's sign-in&hellip;</p></body>
</html>
`;

const SCRIPT = `'use strict';
const HOST = document.documentElement.dataset.host;
const who = document.getElementById('who');
const report = (o) => fetch('/_control/log', { method: 'POST', body: JSON.stringify(o) });
window.addEventListener('message', async (ev) => {
  const d = ev.data;
  if (ev.origin !== HOST) { report({ origin: ev.origin, outcome: 'ignored' }); return; }
  if (!d || d.type !== 'CORTI_EMBEDDED' || d.version !== 'v1' || typeof d.requestId !== 'string') return;
  let j = { errorCode: 'INVALID_PAYLOAD', error: 'unknown action' };
  if (d.action === 'auth') {
    const r = await fetch('/_auth', { method: 'POST', body: JSON.stringify(d.payload === undefined ? null : d.payload) });
    j = await r.json();
  }
  who.textContent = j.ok ? 'Signed in as ' + j.email + ' (' + j.id + ')' : 'Refused: ' + j.errorCode;
  ev.source.postMessage({ type: 'CORTI_EMBEDDED_RESPONSE', action: d.action, requestId: d.requestId,
    success: !!j.ok, payload: j.ok ? { id: j.id, email: j.email } : undefined,
    error: j.ok ? undefined : j.error, errorCode: j.ok ? undefined : j.errorCode }, HOST);
});
if (window.parent !== window) {
  window.parent.postMessage({ type: 'CORTI_EMBEDDED_EVENT', event: 'embedded.ready', payload: { version: 'v1' } }, HOST);
}
`;

function body(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let len = 0;
    req.on('data', (c) => { len += c.length; if (len <= 65536) chunks.push(c); });
    req.on('end', () => {
      try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))); } catch { resolve(undefined); }
    });
  });
}

function send(res, status, type, text) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

const server = createServer({ cert: readFileSync(opts.cert), key: readFileSync(opts.key) }, async (req, res) => {
  const path = new URL(req.url, 'https://x').pathname;
  if (req.method === 'GET' && (path === '/embedded' || path === '/embedded/')) {
    // any page may frame it (like the real one): the message's origin is what it checks
    res.setHeader('content-security-policy', "default-src 'none'; script-src 'self'; connect-src 'self'");
    return send(res, 200, 'text/html; charset=utf-8', PAGE);
  }
  if (req.method === 'GET' && path === '/embedded.js') return send(res, 200, 'text/javascript', SCRIPT);
  if (req.method === 'POST' && path === '/_auth') {
    const out = await checkAuth(await body(req));
    seen.push({ origin: opts.hostOrigin, action: 'auth', outcome: out.ok ? 'ok' : out.errorCode, id: out.id, email: out.email });
    log(`auth: ${out.ok ? `ok ${out.id}` : `${out.errorCode} (${out.error})`}`);
    return send(res, 200, 'application/json', JSON.stringify(out));
  }
  if (req.method === 'GET' && path === '/_control/log') return send(res, 200, 'application/json', JSON.stringify(seen));
  if (req.method === 'POST' && path === '/_control/log') {
    const b = await body(req);
    if (b && typeof b.origin === 'string') seen.push({ origin: b.origin.slice(0, 200), action: null, outcome: 'ignored' });
    return send(res, 204, 'text/plain', '');
  }
  if (req.method === 'POST' && path === '/_control/reset') { seen.length = 0; refusing = false; return send(res, 204, 'text/plain', ''); }
  if (req.method === 'POST' && path === '/_control/refuse') { refusing = true; return send(res, 204, 'text/plain', ''); }
  return send(res, 404, 'text/plain', 'not found\n');
});

serveUntilParentGoes(server, log);
server.listen(opts.port, opts.host, () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: server.address().port })}\n`);
  log(`listening on https://${opts.host}:${server.address().port} for host ${opts.hostOrigin}`);
});
