#!/usr/bin/env node
// Test-only upstream auth server for flowgate: oidc-provider (8.x) mounted per realm with
// Keycloak's paths, over HTTPS on 127.0.0.1, plus test control endpoints under /_control/.
//
//   node tests/upstream/oidc-server.mjs --port 0 --cert C --key K \
//        --realm demo --client-id ID --client-secret S [--redirect-uri URI] \
//        [--client ID2:SECRET2[:SCOPES]] \
//        [--realm other --client-id ...] [--ttl 300] [--scopes "openid transcribe streams interactions"]
//
// Every --client-id/--client-secret/--client belongs to the --realm given before it;
// --redirect-uri (repeatable) belongs to the client before it and enables the code flow for it.
// Client secrets may also be given as --client-secret-file F (first line) so they stay out
// of `ps` when the caller cares.
//
// Prints exactly one line on stdout, {"ready":true,"port":N}, once listening; logs to stderr
// (never a secret or a token). Exits on SIGTERM/SIGINT and when stdin (a pipe) closes, so it
// never outlives the process that started it.
//
// Paths (per realm R):
//   /realms/R/.well-known/openid-configuration
//   /realms/R/protocol/openid-connect/{auth,token,certs,userinfo,token/introspect,revoke,logout}
// Control (this test server only):
//   GET  /_control/stats                 {"token_requests":N,"tls_handshakes":N,"by_client":{..},"by_scope":{..},"by_status":{..}}
//   POST /_control/reset                 zero the counters
//   POST /_control/mode                  {"mode":"normal"|"error500"|"garbage"|"badjson"|"slow","delay_ms":N}
//   POST /_control/ttl                   {"ttl":N}  access-token lifetime for tokens issued from now on
//   POST /_control/clients/{id}/secret   {"secret":"..."}  replace a client's secret (old one stops working)
//   GET  /_control/health                {"ok":true}
// by_scope keys are the requested scope set, de-duplicated and sorted ("openid streams").

import { createServer } from 'node:https';
import { readFileSync, fstatSync } from 'node:fs';
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import * as querystring from 'node:querystring';
import Provider from 'oidc-provider';

const DEFAULT_SCOPES = 'openid transcribe streams interactions';
const TOKEN_PATH = '/protocol/openid-connect/token';

function log(...args) {
  process.stderr.write(`oidc-server: ${args.join(' ')}\n`);
}

function usage(msg) {
  process.stderr.write(`oidc-server: ${msg}\n` +
    'usage: oidc-server.mjs --port N --cert FILE --key FILE --realm NAME --client-id ID ' +
    '(--client-secret S | --client-secret-file F) [--client ID:SECRET[:SCOPES]] [--ttl SECONDS] ' +
    '[--scopes "..."]\n');
  process.exit(2);
}

// ---------- arguments ----------
function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', ttl: 300, scopes: DEFAULT_SCOPES, realms: [] };
  let realm = null;
  let pendingId = null;
  const needRealm = (flag) => {
    if (!realm) usage(`${flag} must follow a --realm`);
    return realm;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--port': opts.port = Number(val()); break;
      case '--host': opts.host = val(); break;
      case '--cert': opts.cert = val(); break;
      case '--key': opts.key = val(); break;
      case '--ttl': opts.ttl = Number(val()); break;
      case '--scopes': opts.scopes = val(); break;
      case '--realm':
        realm = { name: val(), clients: [] };
        if (!/^[A-Za-z0-9._-]+$/.test(realm.name)) usage(`bad realm name ${realm.name}`);
        opts.realms.push(realm);
        pendingId = null;
        break;
      case '--client-id':
        needRealm(a);
        pendingId = { client_id: val() };
        realm.clients.push(pendingId);
        break;
      case '--client-secret':
        needRealm(a);
        if (!pendingId) usage('--client-secret must follow --client-id');
        pendingId.client_secret = val();
        break;
      case '--client-secret-file':
        needRealm(a);
        if (!pendingId) usage('--client-secret-file must follow --client-id');
        pendingId.client_secret = readFileSync(val(), 'utf8').split('\n')[0];
        break;
      case '--redirect-uri': {
        needRealm(a);
        const last = realm.clients[realm.clients.length - 1];
        if (!last) usage('--redirect-uri must follow a client');
        (last.redirect_uris ||= []).push(val());
        break;
      }
      case '--client': {
        needRealm(a);
        const v = val();
        const first = v.indexOf(':');
        if (first < 1) usage('--client wants ID:SECRET[:SCOPES]');
        const id = v.slice(0, first);
        let rest = v.slice(first + 1);
        let scope;
        const second = rest.indexOf(':');
        if (second >= 0) { scope = rest.slice(second + 1); rest = rest.slice(0, second); }
        realm.clients.push({ client_id: id, client_secret: rest, scope });
        pendingId = null;
        break;
      }
      case '-h': case '--help': usage('help');
      // falls through (usage exits)
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!opts.cert || !opts.key) usage('--cert and --key are required');
  if (!opts.realms.length) usage('at least one --realm is required');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port');
  if (!Number.isInteger(opts.ttl) || opts.ttl < 1) usage('bad --ttl');
  for (const r of opts.realms) {
    if (!r.clients.length) usage(`realm ${r.name} has no client`);
    for (const c of r.clients) {
      if (!c.client_secret) usage(`client ${c.client_id} has no secret`);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---------- shared state ----------
const state = {
  mode: 'normal',
  delayMs: 30000,
  ttl: opts.ttl,
  stats: null,
};

function resetStats() {
  state.stats = { token_requests: 0, tls_handshakes: 0, by_client: {}, by_scope: {}, by_status: {}, by_realm: {} };
}
resetStats();

function bump(obj, key) {
  obj[key] = (obj[key] || 0) + 1;
}

function scopeKey(scope) {
  if (typeof scope !== 'string') return '';
  return [...new Set(scope.split(/[ \t]+/).filter(Boolean))].sort().join(' ');
}

// ---------- in-memory adapter; the Client model reads the realm's mutable client table ----------
function makeAdapter(realm) {
  const stores = new Map();
  const grantIndex = new Map();
  const storeFor = (name) => {
    if (!stores.has(name)) stores.set(name, new Map());
    return stores.get(name);
  };
  const alive = (entry) => entry && (!entry.exp || entry.exp > Date.now());

  return class TestAdapter {
    constructor(name) {
      this.name = name;
      this.store = storeFor(name);
    }

    async upsert(id, payload, expiresIn) {
      if (this.name === 'Client') {
        realm.clientTable.set(id, structuredClone(payload));
        return;
      }
      this.store.set(id, { payload: structuredClone(payload), exp: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
      if (payload.grantId) {
        if (!grantIndex.has(payload.grantId)) grantIndex.set(payload.grantId, []);
        grantIndex.get(payload.grantId).push([this.name, id]);
      }
    }

    async find(id) {
      if (this.name === 'Client') {
        const c = realm.clientTable.get(id);
        return c ? structuredClone(c) : undefined;
      }
      const e = this.store.get(id);
      if (!alive(e)) { this.store.delete(id); return undefined; }
      return structuredClone(e.payload);
    }

    async findByUserCode(userCode) {
      for (const e of this.store.values()) if (alive(e) && e.payload.userCode === userCode) return structuredClone(e.payload);
      return undefined;
    }

    async findByUid(uid) {
      for (const e of this.store.values()) if (alive(e) && e.payload.uid === uid) return structuredClone(e.payload);
      return undefined;
    }

    async consume(id) {
      const e = this.store.get(id);
      if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      if (this.name === 'Client') { realm.clientTable.delete(id); return; }
      this.store.delete(id);
    }

    async revokeByGrantId(grantId) {
      for (const [name, id] of grantIndex.get(grantId) || []) storeFor(name).delete(id);
      grantIndex.delete(grantId);
    }
  };
}

// ---------- one provider per realm ----------
const signingKey = (() => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
})();

function clientMetadata(c) {
  // client_credentials always; the code flow only for a client given --redirect-uri
  const code = !!(c.redirect_uris && c.redirect_uris.length);
  return {
    client_id: c.client_id,
    client_secret: c.client_secret,
    token_endpoint_auth_method: 'client_secret_post', // client_secret_basic is accepted too
    grant_types: code ? ['client_credentials', 'authorization_code', 'refresh_token'] : ['client_credentials'],
    response_types: code ? ['code'] : [],
    redirect_uris: code ? c.redirect_uris : [],
    scope: c.scope || opts.scopes,
  };
}

function buildProvider(realm, issuer) {
  const resource = `${issuer}/api`;
  const provider = new Provider(issuer, {
    adapter: makeAdapter(realm),
    clients: [],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: [...new Set(['openid', 'offline_access', ...opts.scopes.split(' ')])],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: opts.scopes,
          audience: resource,
          accessTokenTTL: state.ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: {
      AccessToken: () => state.ttl,
      ClientCredentials: () => state.ttl,
    },
    routes: {
      authorization: '/protocol/openid-connect/auth',
      token: TOKEN_PATH,
      jwks: '/protocol/openid-connect/certs',
      userinfo: '/protocol/openid-connect/userinfo',
      introspection: '/protocol/openid-connect/token/introspect',
      revocation: '/protocol/openid-connect/revoke',
      end_session: '/protocol/openid-connect/logout',
    },
  });
  provider.on('server_error', (ctx, err) => log(`realm ${realm.name} server_error: ${err && err.message}`));
  return provider;
}

const realms = new Map();
for (const r of opts.realms) {
  if (realms.has(r.name)) usage(`realm ${r.name} given twice`);
  const realm = { name: r.name, clientTable: new Map(), provider: null, handler: null };
  for (const c of r.clients) {
    if (realm.clientTable.has(c.client_id)) usage(`client ${c.client_id} given twice in realm ${r.name}`);
    realm.clientTable.set(c.client_id, clientMetadata(c));
  }
  realms.set(r.name, realm);
}

// ---------- HTTP helpers ----------
function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let len = 0;
    req.on('data', (c) => {
      len += c.length;
      if (len > limit) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function clientFromRequest(req, form) {
  const auth = req.headers.authorization;
  if (auth && /^basic /i.test(auth)) {
    try {
      const dec = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
      const i = dec.indexOf(':');
      if (i > 0) return decodeURIComponent(dec.slice(0, i).replace(/\+/g, ' '));
    } catch { /* fall through */ }
  }
  if (form && typeof form.client_id === 'string') return form.client_id;
  return '(none)';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------- control ----------
async function control(req, res, path) {
  if (req.method === 'GET' && path === '/_control/stats') return sendJson(res, 200, state.stats);
  if (req.method === 'GET' && path === '/_control/health') return sendJson(res, 200, { ok: true, mode: state.mode });
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'method_not_allowed' });

  let body = {};
  const raw = await readBody(req);
  if (raw.length) {
    try { body = JSON.parse(raw.toString('utf8')); } catch { return sendJson(res, 400, { error: 'bad_json' }); }
  }
  if (path === '/_control/reset') {
    resetStats();
    log('control: stats reset');
    return sendJson(res, 200, { ok: true });
  }
  if (path === '/_control/mode') {
    const modes = ['normal', 'error500', 'garbage', 'badjson', 'slow'];
    if (!modes.includes(body.mode)) return sendJson(res, 400, { error: 'bad_mode', modes });
    if (body.delay_ms !== undefined && !(Number.isInteger(body.delay_ms) && body.delay_ms >= 0)) {
      return sendJson(res, 400, { error: 'bad_delay_ms' });
    }
    state.mode = body.mode;
    state.delayMs = body.delay_ms ?? 30000;
    log(`control: mode ${state.mode}${state.mode === 'slow' ? ` delay_ms=${state.delayMs}` : ''}`);
    return sendJson(res, 200, { ok: true, mode: state.mode, delay_ms: state.delayMs });
  }
  if (path === '/_control/ttl') {
    if (!(Number.isInteger(body.ttl) && body.ttl > 0)) return sendJson(res, 400, { error: 'bad_ttl' });
    state.ttl = body.ttl;
    log(`control: ttl ${state.ttl}`);
    return sendJson(res, 200, { ok: true, ttl: state.ttl });
  }
  const m = path.match(/^\/_control\/clients\/([^/]+)\/secret$/);
  if (m) {
    const id = decodeURIComponent(m[1]);
    if (typeof body.secret !== 'string' || !body.secret.length) return sendJson(res, 400, { error: 'bad_secret' });
    let changed = 0;
    for (const realm of realms.values()) {
      if (body.realm && body.realm !== realm.name) continue;
      const c = realm.clientTable.get(id);
      if (!c) continue;
      c.client_secret = body.secret;
      changed++;
    }
    if (!changed) return sendJson(res, 404, { error: 'no_such_client' });
    log(`control: secret of client ${id} replaced (${changed} realm(s))`);
    return sendJson(res, 200, { ok: true, realms: changed });
  }
  return sendJson(res, 404, { error: 'not_found' });
}

// ---------- token endpoint interception (counting and failure modes) ----------
async function tokenEndpoint(req, res, realm) {
  const raw = await readBody(req);
  let form = {};
  try { form = querystring.parse(raw.toString('utf8')); } catch { form = {}; }
  const clientId = clientFromRequest(req, form);
  const scope = scopeKey(Array.isArray(form.scope) ? form.scope.join(' ') : form.scope);
  state.stats.token_requests++;
  bump(state.stats.by_client, clientId);
  bump(state.stats.by_scope, scope);
  bump(state.stats.by_realm, realm.name);
  const t0 = Date.now();
  res.on('finish', () => {
    bump(state.stats.by_status, String(res.statusCode));
    log(`token realm=${realm.name} client=${clientId} scope="${scope}" mode=${state.mode} status=${res.statusCode} ${Date.now() - t0}ms`);
  });

  const mode = state.mode;
  if (mode === 'slow') {
    // keep the socket open and answer late (normally) if the peer is still there
    await sleep(state.delayMs);
    if (res.destroyed || req.socket.destroyed) return;
  } else if (mode === 'error500') {
    const body = '<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head>' +
      '<body><h1>Internal Server Error</h1><p>test upstream in mode error500</p></body></html>';
    res.writeHead(500, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  } else if (mode === 'garbage') {
    const body = 'this is not JSON {"access_token": <garbage>\x01\x02';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  } else if (mode === 'badjson') {
    // valid JSON, wrong shape: no access_token, wrong types
    return sendJson(res, 200, { token_type: 'Bearer', expires_in: 'soon', access_token: 42, scope: ['openid'] });
  }
  // hand the already-read body to oidc-provider (it uses req.body when the stream is consumed)
  req.body = raw;
  realm.handler(req, res);
}

// ---------- server ----------
const server = createServer({
  cert: readFileSync(opts.cert),
  key: readFileSync(opts.key),
}, async (req, res) => {
  try {
    const url = new URL(req.url, 'https://127.0.0.1');
    const path = url.pathname;
    if (path.startsWith('/_control/')) return await control(req, res, path);
    const m = path.match(/^\/realms\/([^/]+)(\/.*)?$/);
    const realm = m && realms.get(m[1]);
    if (!realm || !realm.handler) return sendJson(res, 404, { error: 'Realm does not exist' });
    const prefix = `/realms/${m[1]}`;
    req.originalUrl = req.url;
    req.url = req.url.slice(prefix.length) || '/';
    if (req.method === 'POST' && (m[2] || '') === TOKEN_PATH) return await tokenEndpoint(req, res, realm);
    return realm.handler(req, res);
  } catch (err) {
    log(`request error: ${err && err.message}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.destroy();
  }
});

// full TLS handshakes, so tests can tell whether a client reuses its connections
server.on('secureConnection', () => { state.stats.tls_handshakes++; });

// Silence "Unsupported runtime" style attention warnings only where they are noise? No: keep
// oidc-provider's own warnings on stderr, they are useful in the logs.

let exiting = false;
function shutdown(why) {
  if (exiting) return;
  exiting = true;
  log(`exiting (${why})`);
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// Exit when our parent's end of a stdin pipe closes (never for a TTY or /dev/null).
try {
  const st = fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', () => shutdown('stdin closed'));
    process.stdin.on('error', () => shutdown('stdin error'));
    process.stdin.resume();
  }
} catch { /* no stdin */ }

server.on('error', (err) => {
  log(`listen error: ${err.message}`);
  process.exit(1);
});

server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  for (const realm of realms.values()) {
    const issuer = `https://${opts.host}:${port}/realms/${realm.name}`;
    realm.provider = buildProvider(realm, issuer);
    realm.handler = realm.provider.callback();
  }
  log(`listening on https://${opts.host}:${port} realms=${[...realms.keys()].join(',')} ttl=${state.ttl}`);
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
