#!/usr/bin/env node
// Test-only upstream auth server for flowgate: oidc-provider (8.x) mounted per realm with
// Keycloak's paths, over HTTPS on 127.0.0.1, plus test control endpoints under /_control/.
//
//   node tests/upstream/oidc-server.mjs --port 0 --cert C --key K \
//        --realm demo --client-id ID --client-secret S [--redirect-uri URI] \
//        [--client ID2:SECRET2[:SCOPES]] \
//        [--code-client ID3 (--code-client-secret S | --public) --redirect-uri URI \
//           [--post-logout-redirect-uri URI] [--grants authorization_code,refresh_token,password] \
//           [--client-scope "..."]] \
//        [--user NAME:PASSWORD ...] [--users-file F] [--refresh-always] [--refresh-ttl 1800] \
//        [--realm other --client-id ...] [--ttl 300] [--scopes "openid transcribe streams interactions"]
//
// Every --client-id/--code-client/--client belongs to the --realm given before it; the
// per-client flags (--client-secret[-file], --code-client-secret[-file], --public, --redirect-uri,
// --post-logout-redirect-uri, --grants, --client-scope) belong to the client before them.
// --redirect-uri (repeatable) enables the code flow (authorization_code + refresh_token) for its
// client. --public makes the client public (token_endpoint_auth_method none, no secret).
// --grants sets the client's grant types exactly (comma-separated: client_credentials,
// authorization_code, refresh_token, password). Client secrets may also be given as
// --client-secret-file F (first line) so they stay out of `ps` when the caller cares.
// Users (--user NAME:PASSWORD, repeatable, or --users-file F with one NAME:PASSWORD a line) are
// shared by every realm; sub is a UUID derived from the name, email NAME@example.test.
//
// Prints exactly one line on stdout, {"ready":true,"port":N}, once listening; logs to stderr
// (never a secret, a password or a token). Exits on SIGTERM/SIGINT and when stdin (a pipe)
// closes, so it never outlives the process that started it.
//
// Paths (per realm R):
//   /realms/R/.well-known/openid-configuration
//   /realms/R/protocol/openid-connect/{auth,token,certs,userinfo,token/introspect,revoke,logout}
//   /realms/R/interaction/UID            login page (form #username #password #login), consent is
//                                        granted automatically (no consent screen, like Keycloak)
// Control (this test server only):
//   GET  /_control/stats                 {"token_requests":N,"tls_handshakes":N,"by_client":{..},"by_scope":{..},
//                                         "by_status":{..},"by_realm":{..},"by_grant":{..},"logins":N,
//                                         "login_failures":N,"revocations":N}
//   POST /_control/reset                 zero the counters
//   POST /_control/mode                  {"mode":"normal"|"error500"|"garbage"|"badjson"|"slow","delay_ms":N}
//   POST /_control/ttl                   {"ttl":N, "refresh_ttl":N}  lifetimes for tokens issued from now on
//   POST /_control/answer                {"status":N,"headers":{..},"body":"raw text","count":K,"client":ID}
//                                        the next K token requests (of client ID if given, any realm) get
//                                        exactly this answer; count 0 clears
//   POST /_control/clients/{id}/secret   {"secret":"..."}  replace a client's secret (old one stops working)
//   POST /_control/clients               {"client_id","client_secret"|"public":true,"redirect_uris":[..],
//                                         "post_logout_redirect_uris":[..],"grants":[..],"scope":"..","realm":R}
//                                        add a client, or change one (fields not given are kept)
//   GET  /_control/users                 [{"username","sub","email"}]  (never passwords)
//   POST /_control/users                 {"username","password"}  add (or replace) a user
//   POST /_control/users/{name}/logout   revoke every grant (all its tokens) and session of that user
//   GET  /_control/health                {"ok":true}
//   POST /_control/discovery             {"mode":"normal"|"wrong-issuer"|"oversized"|"garbage"|"error500"}
//                                        what every realm's discovery document is from now on
//   POST /_control/rotate                a new RS256 signing key (new kid) published in the JWKS beside
//                                        the old one; ID tokens from the token endpoint are signed with it
//   POST /_control/idtoken               {"mode":"normal"|"foreign-key"|"forged"|"tamper"|"none"|"hs256"|"rs384"
//                                                |"other-sub"|"wrong-aud"|"no-nonce"}
//                                        how the ID tokens of token answers (code and refresh) are spoiled
//                                        from now on
// by_scope keys are the requested scope set, de-duplicated and sorted ("openid streams").

import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { serveUntilParentGoes } from './lifecycle.mjs';
import {
  randomBytes, generateKeyPairSync, createHash, timingSafeEqual, createPublicKey, verify as cryptoVerify,
  createPrivateKey, createHmac, sign as cryptoSign,
} from 'node:crypto';
import * as querystring from 'node:querystring';
import Provider, { errors as oidcErrors } from 'oidc-provider';

const DEFAULT_SCOPES = 'openid transcribe streams interactions';
const TOKEN_PATH = '/protocol/openid-connect/token';
const AUTH_PATH = '/protocol/openid-connect/auth';
const REVOKE_PATH = '/protocol/openid-connect/revoke';
const USERINFO_PATH = '/protocol/openid-connect/userinfo';
// OIDC scopes every realm knows besides the API scopes (Keycloak's default client scopes)
const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];
const USER_GRANTS = ['authorization_code', 'refresh_token', 'password'];
const KNOWN_GRANTS = ['client_credentials', ...USER_GRANTS];

function log(...args) {
  process.stderr.write(`oidc-server: ${args.join(' ')}\n`);
}

function usage(msg) {
  process.stderr.write(`oidc-server: ${msg}\n` +
    'usage: oidc-server.mjs --port N --cert FILE --key FILE --realm NAME --client-id ID ' +
    '(--client-secret S | --client-secret-file F) [--redirect-uri URI] [--client ID:SECRET[:SCOPES]] ' +
    '[--code-client ID (--code-client-secret S | --code-client-secret-file F | --public) --redirect-uri URI ' +
    '[--post-logout-redirect-uri URI] [--grants G1,G2] [--client-scope "..."]] ' +
    '[--user NAME:PASSWORD] [--users-file F] [--refresh-always] [--refresh-ttl SECONDS] [--ttl SECONDS] ' +
    '[--scopes "..."]\n');
  process.exit(2);
}

// ---------- arguments ----------
function parseArgs(argv) {
  const opts = {
    port: 0, host: '127.0.0.1', ttl: 300, refreshTtl: 1800, refreshAlways: false,
    scopes: DEFAULT_SCOPES, realms: [], users: [],
  };
  let realm = null;
  let pendingId = null;
  const needRealm = (flag) => {
    if (!realm) usage(`${flag} must follow a --realm`);
    return realm;
  };
  const lastClient = (flag) => {
    needRealm(flag);
    const last = realm.clients[realm.clients.length - 1];
    if (!last) usage(`${flag} must follow a client`);
    return last;
  };
  const addUser = (v, where) => {
    const i = v.indexOf(':');
    if (i < 1 || i === v.length - 1) usage(`${where}: a user is NAME:PASSWORD`);
    opts.users.push([v.slice(0, i), v.slice(i + 1)]);
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
      case '--refresh-ttl': opts.refreshTtl = Number(val()); break;
      case '--refresh-always': opts.refreshAlways = true; break;
      case '--user': addUser(val(), '--user'); break;
      case '--users-file': {
        const f = val();
        for (const line of readFileSync(f, 'utf8').split('\n')) {
          const l = line.replace(/\r$/, '');
          if (l.trim() && !l.startsWith('#')) addUser(l, f);
        }
        break;
      }
      case '--scopes': opts.scopes = val(); break;
      case '--realm':
        realm = { name: val(), clients: [] };
        if (!/^[A-Za-z0-9._-]+$/.test(realm.name)) usage(`bad realm name ${realm.name}`);
        opts.realms.push(realm);
        pendingId = null;
        break;
      case '--client-id':
      case '--code-client':
        needRealm(a);
        pendingId = { client_id: val() };
        realm.clients.push(pendingId);
        break;
      case '--client-secret':
      case '--code-client-secret':
        needRealm(a);
        if (!pendingId) usage('--client-secret must follow --client-id');
        pendingId.client_secret = val();
        break;
      case '--client-secret-file':
      case '--code-client-secret-file':
        needRealm(a);
        if (!pendingId) usage('--client-secret-file must follow --client-id');
        pendingId.client_secret = readFileSync(val(), 'utf8').split('\n')[0];
        break;
      case '--redirect-uri': {
        const last = lastClient(a);
        const v = val();
        try { new URL(v); } catch { usage(`bad --redirect-uri ${v}`); }
        (last.redirect_uris ||= []).push(v);
        break;
      }
      case '--post-logout-redirect-uri':
        (lastClient(a).post_logout_redirect_uris ||= []).push(val());
        break;
      case '--public':
        lastClient(a).public = true;
        break;
      case '--grants': {
        const last = lastClient(a);
        const g = val().split(/[\s,]+/).filter(Boolean);
        for (const x of g) if (!KNOWN_GRANTS.includes(x)) usage(`unknown grant ${x} (know ${KNOWN_GRANTS.join(', ')})`);
        last.grants = [...new Set(g)];
        break;
      }
      case '--client-scope':
        lastClient(a).scope = val();
        break;
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
  if (!Number.isInteger(opts.refreshTtl) || opts.refreshTtl < 1) usage('bad --refresh-ttl');
  for (const r of opts.realms) {
    if (!r.clients.length) usage(`realm ${r.name} has no client`);
    for (const c of r.clients) {
      const why = clientSpecProblem(c);
      if (why) usage(`client ${c.client_id}: ${why}`);
    }
  }
  return opts;
}

/** Why a client spec (from the command line or /_control/clients) cannot work, or null. */
function clientSpecProblem(c) {
  if (typeof c.client_id !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(c.client_id)) return 'bad client_id';
  if (c.public && c.client_secret) return 'public and a secret exclude each other';
  if (!c.public && !(typeof c.client_secret === 'string' && c.client_secret.length)) return 'no secret (or public)';
  if (c.grants !== undefined) {
    if (!Array.isArray(c.grants) || c.grants.some((g) => !KNOWN_GRANTS.includes(g))) {
      return `grants must be a list of ${KNOWN_GRANTS.join(', ')}`;
    }
    if (c.public && c.grants.includes('client_credentials')) return 'a public client cannot use client_credentials';
    if (c.grants.includes('authorization_code') && !(c.redirect_uris && c.redirect_uris.length)) {
      return 'authorization_code needs a redirect URI';
    }
  } else if (c.public && !(c.redirect_uris && c.redirect_uris.length)) {
    return 'a public client needs a redirect URI or grants';
  }
  for (const u of [...(c.redirect_uris || []), ...(c.post_logout_redirect_uris || [])]) {
    try { new URL(u); } catch { return `bad URI ${u}`; }
  }
  if (c.scope !== undefined && typeof c.scope !== 'string') return 'scope must be a string';
  return null;
}

const opts = parseArgs(process.argv.slice(2));

// ---------- shared state ----------
const state = {
  mode: 'normal',
  delayMs: 30000,
  answer: null, // a scripted raw answer for the next answer.count token requests
  ttl: opts.ttl,
  refreshTtl: opts.refreshTtl,
  stats: null,
  discoveryMode: 'normal', // what the discovery documents are (/_control/discovery)
  idtokenMode: 'normal', // how ID tokens are spoiled (/_control/idtoken)
  rotated: [], // signing keys added by /_control/rotate, newest last (private JWKs)
};

function resetStats() {
  state.stats = {
    token_requests: 0, tls_handshakes: 0, by_client: {}, by_scope: {}, by_status: {}, by_realm: {},
    by_grant: Object.fromEntries(KNOWN_GRANTS.map((g) => [g, 0])),
    logins: 0, login_failures: 0, revocations: 0, discovery_requests: 0, jwks_requests: 0,
  };
}
resetStats();

function bump(obj, key) {
  obj[key] = (obj[key] || 0) + 1;
}

function scopeKey(scope) {
  if (typeof scope !== 'string') return '';
  return [...new Set(scope.split(/[ \t]+/).filter(Boolean))].sort().join(' ');
}

// ---------- users (shared by every realm) ----------
function subFor(name) {
  // a stable UUID-shaped subject, like Keycloak's user ids
  const h = createHash('sha256').update(`flowgate-test-user:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
const users = new Map(); // username -> {username, sub, email, pwHash}
const usersBySub = new Map();
function pwHash(pw) { return createHash('sha256').update(`flowgate-test-pw:${pw}`).digest(); }
function setUser(name, password) {
  const u = { username: name, sub: subFor(name), email: `${name}@example.test`, pwHash: pwHash(password) };
  users.set(name, u);
  usersBySub.set(u.sub, u);
  return u;
}
for (const [n, p] of opts.users) setUser(n, p);
function checkUser(name, password) {
  const u = typeof name === 'string' ? users.get(name) : undefined;
  const given = pwHash(typeof password === 'string' ? password : '');
  // compare anyway, so unknown users cost the same
  const ok = timingSafeEqual(given, u ? u.pwHash : pwHash(`\u0000${randomBytes(8).toString('hex')}`));
  return ok && u ? u : null;
}
function publicUser(u) { return { username: u.username, sub: u.sub, email: u.email }; }
function userClaims(u) {
  return {
    sub: u.sub, preferred_username: u.username, name: u.username, email: u.email, email_verified: true,
  };
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

    // test control: every grant id and session id of an account
    static accountGrants(accountId) {
      const ids = [];
      for (const [id, e] of storeFor('Grant')) if (alive(e) && e.payload.accountId === accountId) ids.push(id);
      return ids;
    }

    static dropSessions(accountId) {
      let n = 0;
      for (const [id, e] of storeFor('Session')) {
        if (e.payload.accountId === accountId) { storeFor('Session').delete(id); n++; }
      }
      return n;
    }
  };
}

// ---------- one provider per realm ----------
function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}
const signingKey = newSigningKey();

function clientMetadata(c) {
  // Default grants: client_credentials; plus authorization_code + refresh_token for a client given
  // --redirect-uri; --grants replaces the list; a public client never gets client_credentials.
  const hasRedirect = !!(c.redirect_uris && c.redirect_uris.length);
  let grants = c.grants;
  if (!grants) {
    grants = c.public ? [] : ['client_credentials'];
    if (hasRedirect) grants.push('authorization_code', 'refresh_token');
  }
  const code = grants.includes('authorization_code');
  const userFlows = grants.some((g) => USER_GRANTS.includes(g));
  const md = {
    client_id: c.client_id,
    token_endpoint_auth_method: c.public ? 'none' : 'client_secret_post', // client_secret_basic is accepted too
    grant_types: grants,
    response_types: code ? ['code'] : [],
    redirect_uris: code ? c.redirect_uris : [],
    // user-facing clients may also ask for Keycloak's default OIDC scopes
    scope: c.scope || (userFlows ? [...new Set([...opts.scopes.split(' '), ...OIDC_SCOPES])].join(' ') : opts.scopes),
  };
  if (!c.public) md.client_secret = c.client_secret;
  if (c.post_logout_redirect_uris) md.post_logout_redirect_uris = c.post_logout_redirect_uris;
  return md;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[ch]));
}

// The resource server (the API) every access token is issued for: JWT (RS256, typ at+jwt) with
// the granted scope. Its scopes include the OIDC ones so a user token's `scope` lists them too.
function resourceInfo() {
  return {
    scope: [...new Set([...opts.scopes.split(' '), ...OIDC_SCOPES])].join(' '),
    audience: null, // set per realm
    accessTokenTTL: state.ttl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

// ROPC (grant_type=password), which oidc-provider does not ship: check the user table, grant
// the requested scopes the client may have, issue an access token for the API (+ a refresh token
// with offline_access or --refresh-always, + an ID token with openid), like Keycloak's direct grant.
function registerPasswordGrant(provider, realm, resource) {
  const { InvalidGrant, InvalidRequest, InvalidScope } = oidcErrors;
  provider.registerGrantType('password', async (ctx, next) => {
    const { client, params } = ctx.oidc;
    if (!params.username || !params.password) throw new InvalidRequest('missing username or password');
    const user = checkUser(params.username, params.password);
    if (!user) {
      log(`realm ${realm.name} password grant: invalid credentials for user "${params.username}"`);
      throw new InvalidGrant('invalid user credentials');
    }
    const known = new Set([...opts.scopes.split(' '), ...OIDC_SCOPES]);
    const requested = [...new Set(String(params.scope || '').split(' ').filter(Boolean))].filter((x) => known.has(x));
    const allow = new Set(String(client.scope || opts.scopes).split(' '));
    for (const x of requested) if (!allow.has(x)) throw new InvalidScope('requested scope is not allowed', x);
    let scopes = requested;
    if (scopes.includes('offline_access') && !client.grantTypeAllowed('refresh_token')) {
      scopes = scopes.filter((x) => x !== 'offline_access');
    }
    const scope = scopes.join(' ');
    const info = { ...resourceInfo(), audience: resource };
    const rs = new provider.ResourceServer(resource, info);
    const rsScope = scopes.filter((x) => rs.scopes.has(x)).join(' ');

    const grant = new provider.Grant({ clientId: client.clientId, accountId: user.sub });
    const oidcScope = scopes.filter((x) => OIDC_SCOPES.includes(x)).join(' ');
    if (oidcScope) grant.addOIDCScope(oidcScope);
    if (rsScope) grant.addResourceScope(resource, rsScope);
    const grantId = await grant.save();
    ctx.oidc.entity('Grant', grant);
    const account = await provider.Account.findAccount(ctx, user.sub);
    ctx.oidc.entity('Account', account);

    const at = new provider.AccessToken({
      accountId: user.sub, client, grantId, gty: 'password', scope: rsScope || undefined,
    });
    at.resourceServer = rs;
    ctx.oidc.entity('AccessToken', at);
    const accessToken = await at.save();

    let refreshToken;
    if (client.grantTypeAllowed('refresh_token') && (scopes.includes('offline_access') || opts.refreshAlways)) {
      const rt = new provider.RefreshToken({
        accountId: user.sub, client, grantId, gty: 'password', resource, rotations: 0,
        scope: scope || undefined, authTime: Math.floor(Date.now() / 1000),
      });
      ctx.oidc.entity('RefreshToken', rt);
      refreshToken = await rt.save();
    }

    let idToken;
    if (scopes.includes('openid')) {
      const token = new provider.IdToken({
        ...await account.claims('id_token', scope, {}, []),
        auth_time: Math.floor(Date.now() / 1000),
      }, { ctx });
      token.scope = oidcScope;
      token.set('at_hash', accessToken);
      idToken = await token.issue({ use: 'idtoken' });
    }

    ctx.body = {
      access_token: accessToken,
      expires_in: at.expiration,
      id_token: idToken,
      refresh_token: refreshToken,
      scope: at.scope || undefined,
      token_type: at.tokenType,
    };
    await next();
  }, ['username', 'password', 'scope']);
}

function buildProvider(realm, issuer) {
  const resource = `${issuer}/api`;
  const prefix = `/realms/${realm.name}`;
  const provider = new Provider(issuer, {
    adapter: realm.Adapter,
    clients: [],
    jwks: { keys: [signingKey] },
    cookies: {
      keys: [randomBytes(32).toString('hex')],
      names: {
        session: `_session.${realm.name}`,
        interaction: `_interaction.${realm.name}`,
        resume: `_interaction_resume.${realm.name}`,
      },
    },
    scopes: [...new Set([...OIDC_SCOPES, ...opts.scopes.split(' ')])],
    claims: {
      // Keycloak puts the user's name and email in every ID token (default client scopes)
      openid: ['sub', 'preferred_username', 'name', 'email', 'email_verified'],
      profile: ['preferred_username', 'name'],
      email: ['email', 'email_verified'],
    },
    conformIdTokenClaims: false,
    findAccount: async (ctx, sub) => {
      const u = usersBySub.get(sub);
      if (!u) return undefined;
      return { accountId: sub, claims: async () => userClaims(u) };
    },
    extraTokenClaims: async (ctx, token) => {
      const u = token.accountId && usersBySub.get(token.accountId);
      return u ? { preferred_username: u.username } : undefined;
    },
    interactions: {
      url: async (ctx, interaction) => `${prefix}/interaction/${interaction.uid}`,
    },
    issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && (opts.refreshAlways || code.scopes.has('offline_access')),
    rotateRefreshToken: true,
    pkce: { methods: ['S256'] },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        // no confirmation screen: the form is submitted at once (Keycloak with id_token_hint);
        // #logout is there for a browser without scripts
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Logging out</title></head><body>
${form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>')}
<p>Logging out of realm ${esc(realm.name)}&hellip;</p>
<button id="logout" type="submit" form="op.logoutForm" value="yes" name="logout">Log out</button>
<script>document.getElementById('op.logoutForm').submit();</script>
</body></html>`;
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Logged out</title></head>' +
            `<body><h1 id="logged-out">You are logged out of realm ${esc(realm.name)}</h1></body></html>`;
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({ ...resourceInfo(), audience: resource }),
      },
    },
    ttl: {
      AccessToken: () => state.ttl,
      ClientCredentials: () => state.ttl,
      // sliding, like Keycloak's SSO session idle timeout: every rotation gets a full lifetime
      RefreshToken: () => state.refreshTtl,
      Grant: () => 14 * 24 * 3600,
      Session: () => 14 * 24 * 3600,
      Interaction: () => 3600,
      AuthorizationCode: () => 60,
      IdToken: () => 3600,
    },
    routes: {
      authorization: AUTH_PATH,
      token: TOKEN_PATH,
      jwks: '/protocol/openid-connect/certs',
      userinfo: USERINFO_PATH,
      introspection: '/protocol/openid-connect/token/introspect',
      revocation: REVOKE_PATH,
      end_session: '/protocol/openid-connect/logout',
      pushed_authorization_request: '/protocol/openid-connect/ext/par/request',
    },
  });
  registerPasswordGrant(provider, realm, resource);
  provider.on('server_error', (ctx, err) => log(`realm ${realm.name} server_error: ${err && err.message}`));
  provider.on('grant.error', (ctx, err) => {
    log(`realm ${realm.name} grant error: ${err && err.message}${err && err.error_detail ? ` (${err.error_detail})` : ''}`);
  });
  return provider;
}

const realms = new Map();
for (const r of opts.realms) {
  if (realms.has(r.name)) usage(`realm ${r.name} given twice`);
  const realm = { name: r.name, clientTable: new Map(), clientSpecs: new Map(), provider: null, handler: null };
  realm.Adapter = makeAdapter(realm);
  for (const c of r.clients) {
    if (realm.clientTable.has(c.client_id)) usage(`client ${c.client_id} given twice in realm ${r.name}`);
    realm.clientSpecs.set(c.client_id, c);
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
  if (req.method === 'GET' && path === '/_control/users') return sendJson(res, 200, [...users.values()].map(publicUser));
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
  if (path === '/_control/answer') {
    const a = body;
    const count = a.count ?? 1;
    if (!Number.isInteger(count) || count < 0 || count > 10000) return sendJson(res, 400, { error: 'bad_count' });
    if (count === 0) {
      state.answer = null;
      return sendJson(res, 200, { ok: true, count: 0 });
    }
    if (!Number.isInteger(a.status) || a.status < 100 || a.status > 599) return sendJson(res, 400, { error: 'bad_status' });
    if (typeof a.body !== 'string') return sendJson(res, 400, { error: 'bad_body' });
    if (a.client !== undefined && typeof a.client !== 'string') return sendJson(res, 400, { error: 'bad_client' });
    const headers = a.headers ?? {};
    if (typeof headers !== 'object' || Array.isArray(headers)
        || Object.values(headers).some((v) => typeof v !== 'string')) {
      return sendJson(res, 400, { error: 'bad_headers' });
    }
    state.answer = { status: a.status, headers, body: Buffer.from(a.body, 'utf8'), count, client: a.client };
    log(`control: the next ${count} token answer(s)${a.client ? ` to ${a.client}` : ''}: HTTP ${a.status}, ${state.answer.body.length} bytes`);
    return sendJson(res, 200, { ok: true, count });
  }
  if (path === '/_control/ttl') {
    const good = (v) => v === undefined || (Number.isInteger(v) && v > 0);
    if (!good(body.ttl) || !good(body.refresh_ttl) || (body.ttl === undefined && body.refresh_ttl === undefined)) {
      return sendJson(res, 400, { error: 'bad_ttl' });
    }
    if (body.ttl !== undefined) state.ttl = body.ttl;
    if (body.refresh_ttl !== undefined) state.refreshTtl = body.refresh_ttl;
    log(`control: ttl ${state.ttl} refresh_ttl ${state.refreshTtl}`);
    return sendJson(res, 200, { ok: true, ttl: state.ttl, refresh_ttl: state.refreshTtl });
  }
  if (path === '/_control/users') {
    if (typeof body.username !== 'string' || !/^[^:\s]{1,64}$/.test(body.username)
        || typeof body.password !== 'string' || !body.password.length) {
      return sendJson(res, 400, { error: 'bad_user' });
    }
    const u = setUser(body.username, body.password);
    log(`control: user ${u.username} set`);
    return sendJson(res, 200, publicUser(u));
  }
  const lo = path.match(/^\/_control\/users\/([^/]+)\/logout$/);
  if (lo) {
    const u = users.get(decodeURIComponent(lo[1]));
    if (!u) return sendJson(res, 404, { error: 'no_such_user' });
    let grants = 0; let sessions = 0;
    for (const realm of realms.values()) {
      for (const gid of realm.Adapter.accountGrants(u.sub)) {
        // the Grant itself and every token of it
        await new realm.Adapter('Grant').revokeByGrantId(gid);
        await new realm.Adapter('Grant').destroy(gid);
        grants++;
      }
      sessions += realm.Adapter.dropSessions(u.sub);
    }
    log(`control: user ${u.username} logged out (${grants} grant(s), ${sessions} session(s))`);
    return sendJson(res, 200, { ok: true, grants, sessions });
  }
  if (path === '/_control/clients') {
    // add a client, or change one (fields not given are kept)
    const realm = realms.get(body.realm || [...realms.keys()][0]);
    if (!realm) return sendJson(res, 404, { error: 'no_such_realm' });
    const old = realm.clientSpecs.get(body.client_id) || {};
    const spec = { ...old };
    for (const k of ['client_id', 'client_secret', 'public', 'redirect_uris', 'post_logout_redirect_uris', 'grants', 'scope']) {
      if (body[k] !== undefined) spec[k] = body[k];
    }
    if (body.public === true) delete spec.client_secret;
    if (body.public === false) spec.public = false;
    const why = clientSpecProblem(spec);
    if (why) return sendJson(res, 400, { error: 'bad_client', detail: why });
    realm.clientSpecs.set(spec.client_id, spec);
    realm.clientTable.set(spec.client_id, clientMetadata(spec));
    const md = realm.clientTable.get(spec.client_id);
    log(`control: client ${spec.client_id} ${old.client_id ? 'changed' : 'added'} in realm ${realm.name} (grants ${md.grant_types.join(',')})`);
    const { client_secret: omit, ...shown } = md;
    void omit;
    return sendJson(res, 200, { ok: true, realm: realm.name, client: shown });
  }
  if (path === '/_control/discovery') {
    const modes = ['normal', 'wrong-issuer', 'oversized', 'garbage', 'error500'];
    if (!modes.includes(body.mode)) return sendJson(res, 400, { error: 'bad_mode', modes });
    state.discoveryMode = body.mode;
    log(`control: discovery documents ${state.discoveryMode}`);
    return sendJson(res, 200, { ok: true, mode: state.discoveryMode });
  }
  if (path === '/_control/idtoken') {
    const modes = ['normal', 'foreign-key', 'forged', 'tamper', 'none', 'hs256', 'rs384', 'other-sub', 'wrong-aud',
      'no-nonce'];
    if (!modes.includes(body.mode)) return sendJson(res, 400, { error: 'bad_mode', modes });
    state.idtokenMode = body.mode;
    log(`control: ID tokens ${state.idtokenMode}`);
    return sendJson(res, 200, { ok: true, mode: state.idtokenMode });
  }
  if (path === '/_control/rotate') {
    const k = newSigningKey();
    state.rotated.push(k);
    log(`control: new signing key ${k.kid}`);
    return sendJson(res, 200, { ok: true, kid: k.kid });
  }
  const m = path.match(/^\/_control\/clients\/([^/]+)\/secret$/);
  if (m) {
    const id = decodeURIComponent(m[1]);
    if (typeof body.secret !== 'string' || !body.secret.length) return sendJson(res, 400, { error: 'bad_secret' });
    let changed = 0;
    for (const realm of realms.values()) {
      if (body.realm && body.realm !== realm.name) continue;
      const c = realm.clientTable.get(id);
      if (!c || c.token_endpoint_auth_method === 'none') continue;
      c.client_secret = body.secret;
      if (realm.clientSpecs.has(id)) realm.clientSpecs.get(id).client_secret = body.secret;
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
  const grantType = typeof form.grant_type === 'string' ? form.grant_type : '(none)';
  state.stats.token_requests++;
  bump(state.stats.by_grant, grantType);
  bump(state.stats.by_client, clientId);
  bump(state.stats.by_scope, scope);
  bump(state.stats.by_realm, realm.name);
  const t0 = Date.now();
  res.on('finish', () => {
    bump(state.stats.by_status, String(res.statusCode));
    log(`token realm=${realm.name} client=${clientId} grant=${grantType} scope="${scope}" mode=${state.mode} status=${res.statusCode} ${Date.now() - t0}ms`);
  });

  if (state.answer && (!state.answer.client || state.answer.client === clientId)) {
    // exactly the scripted answer: status, headers (Content-Type defaults to JSON) and raw body
    const a = state.answer;
    if (--a.count <= 0) state.answer = null;
    const headers = { ...a.headers };
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    headers['content-length'] = String(a.body.length);
    res.writeHead(a.status, headers);
    res.end(a.body);
    return;
  }
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
  if (state.idtokenMode !== 'normal' || state.rotated.length) respoilIdTokens(res);
  realm.handler(req, res);
}

// ---------- ID tokens re-signed or spoiled (/_control/rotate, /_control/idtoken) ----------
const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const publicJwk = ({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use });

// Sign header.payload with a private JWK (RS256 or RS384).
function signJwt(header, payload, jwk) {
  const data = `${b64u(header)}.${b64u(payload)}`;
  const hash = header.alg === 'RS384' ? 'sha384' : 'sha256';
  return `${data}.${cryptoSign(hash, Buffer.from(data), createPrivateKey({ key: jwk, format: 'jwk' })).toString('base64url')}`;
}

// What the ID token becomes in the current modes.
function respoil(idToken) {
  const [h, p, sig] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  const signer = state.rotated.length ? state.rotated[state.rotated.length - 1] : signingKey;
  switch (state.idtokenMode) {
    case 'foreign-key': { // a key nobody published, under its own kid
      const k = newSigningKey();
      return signJwt({ ...header, kid: k.kid }, payload, k);
    }
    case 'forged': // a key nobody published, claiming the real key's kid
      return signJwt({ ...header, kid: signer.kid }, payload, newSigningKey());
    case 'tamper': // the real signature over other claims
      return `${h}.${b64u({ ...payload, preferred_username: 'mallory' })}.${sig}`;
    case 'none':
      return `${b64u({ alg: 'none', typ: 'JWT' })}.${p}.`;
    case 'hs256': { // HMAC keyed with the public key's PEM: the algorithm-confusion forgery
      const hdr = b64u({ alg: 'HS256', typ: 'JWT', kid: signer.kid });
      const pem = createPublicKey({ key: signer, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      return `${hdr}.${p}.${createHmac('sha256', pem).update(`${hdr}.${p}`).digest('base64url')}`;
    }
    case 'rs384': // the real key, an algorithm the discovery document does not offer
      return signJwt({ ...header, alg: 'RS384', kid: signer.kid }, payload, signer);
    case 'other-sub': // validly signed, about another user
      return signJwt({ ...header, kid: signer.kid }, { ...payload, sub: `${payload.sub}-other` }, signer);
    case 'wrong-aud': // validly signed, for another client
      return signJwt({ ...header, kid: signer.kid }, { ...payload, aud: 'another-client' }, signer);
    case 'no-nonce': { // validly signed, without the nonce (a refresh may leave it out: OIDC Core 12.2)
      const { nonce, ...rest } = payload;
      void nonce;
      return signJwt({ ...header, kid: signer.kid }, rest, signer);
    }
    default:
      return signJwt({ ...header, kid: signer.kid }, payload, signer);
  }
}

// Rewrite the id_token of the JSON answer oidc-provider is about to send on res.
function respoilIdTokens(res) {
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    try {
      const body = JSON.parse(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
      if (typeof body.id_token === 'string') {
        body.id_token = respoil(body.id_token);
        const out = JSON.stringify(body);
        if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(out));
        return end(out, ...rest);
      }
    } catch { /* not a JSON answer: leave it */ }
    return end(chunk, ...rest);
  };
}

// ---------- discovery documents and JWKS (counted; /_control/discovery, /_control/rotate) ----------
function discovery(res, realm) {
  state.stats.discovery_requests++;
  const mode = state.discoveryMode;
  if (mode === 'normal') return false;
  const iss = realm.provider.issuer;
  const doc = {
    issuer: mode === 'wrong-issuer' ? `${iss}-evil` : iss,
    authorization_endpoint: `${iss}${AUTH_PATH}`, token_endpoint: `${iss}${TOKEN_PATH}`,
    jwks_uri: `${iss}/protocol/openid-connect/certs`, id_token_signing_alg_values_supported: ['RS256'],
  };
  if (mode === 'oversized') doc.x_padding = 'x'.repeat(70 * 1024);
  if (mode === 'garbage') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('<html>this is not a discovery document');
  } else if (mode === 'error500') {
    res.writeHead(500, { 'content-type': 'text/html' });
    res.end('<html>500</html>');
  } else {
    sendJson(res, 200, doc);
  }
  return true;
}

function jwks(res) {
  state.stats.jwks_requests++;
  if (!state.rotated.length) return false;
  sendJson(res, 200, { keys: [signingKey, ...state.rotated].map(publicJwk) });
  return true;
}

// ---------- userinfo for our JWT access tokens ----------
// oidc-provider's userinfo only knows opaque tokens; Keycloak accepts its (JWT) access tokens, so
// answer those here: signature, issuer, expiry, a known user. Anything else goes to the provider.
const signingPublicKey = createPublicKey({ key: signingKey, format: 'jwk' });
function verifyOwnJwt(token, issuer) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    if (header.alg !== 'RS256' || header.kid !== signingKey.kid) return null;
    if (!cryptoVerify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), signingPublicKey, Buffer.from(parts[2], 'base64url'))) return null;
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (payload.iss !== issuer || !(payload.exp > Date.now() / 1000)) return null;
    return payload;
  } catch {
    return null;
  }
}

function userinfo(req, res, realm) {
  const m = /^Bearer +(\S+)$/i.exec(req.headers.authorization || '');
  if (!m || m[1].split('.').length !== 3) return false; // not ours: let oidc-provider answer
  const payload = verifyOwnJwt(m[1], realm.provider.issuer);
  const u = payload && payload.sub && usersBySub.get(payload.sub);
  if (!u) {
    res.writeHead(401, {
      'www-authenticate': 'Bearer realm="userinfo", error="invalid_token", error_description="invalid token provided"',
      'content-type': 'application/json', 'cache-control': 'no-store',
    });
    res.end(JSON.stringify({ error: 'invalid_token', error_description: 'invalid token provided' }));
    return true;
  }
  sendJson(res, 200, userClaims(u));
  return true;
}

// ---------- login page (devInteractions off): our own, Keycloak-like ----------
function loginPage(res, realm, uid, { username = '', error = '', client = '', status = 200 } = {}) {
  const action = `/realms/${encodeURIComponent(realm.name)}/interaction/${encodeURIComponent(uid)}`;
  const body = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to ${esc(realm.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<main>
<h1 id="kc-page-title">Sign in to your account</h1>
<p>Realm <strong>${esc(realm.name)}</strong>${client ? `, application <strong id="client-id">${esc(client)}</strong>` : ''}</p>
${error ? `<p id="error" role="alert">${esc(error)}</p>` : ''}
<form id="kc-form-login" method="post" action="${action}/login">
<p><label for="username">Username</label><br><input id="username" name="username" type="text" autocomplete="username" value="${esc(username)}" autofocus required></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button id="login" name="login" type="submit">Sign In</button></p>
</form>
<form id="cancel-form" method="post" action="${action}/abort"><button id="cancel" type="submit">Cancel</button></form>
</main>
</body></html>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function errorPage(res, status, title, detail) {
  const body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head>` +
    `<body><h1 id="error-title">${esc(title)}</h1><p id="error">${esc(detail)}</p></body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// Consent is granted at once for everything requested (Keycloak has no consent screen by default).
async function autoConsent(provider, details) {
  const { prompt: { details: d }, params, session } = details;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  grant ||= new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  if (d.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
  }
  // always a consent result: a requested prompt=consent is satisfied only by one
  return { consent: { grantId: await grant.save() } };
}

async function interaction(req, res, realm, uid, action) {
  const provider = realm.provider;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return errorPage(res, 400, 'Login session not found', `${err.message} (start again from the application)`);
  }
  if (details.uid !== uid) return errorPage(res, 400, 'Login session mismatch', 'this page does not belong to the current login');
  const { prompt, params } = details;

  if (action === 'abort') {
    if (req.method !== 'POST') return errorPage(res, 405, 'Method not allowed', 'POST only');
    log(`realm ${realm.name} login cancelled (client ${params.client_id})`);
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User cancelled the login',
    }, { mergeWithLastSubmission: false });
  }

  if (action === 'login') {
    if (req.method !== 'POST') return errorPage(res, 405, 'Method not allowed', 'POST only');
    if (prompt.name !== 'login') return errorPage(res, 400, 'Unexpected login', `this interaction wants ${prompt.name}`);
    const raw = await readBody(req, 16 * 1024);
    const form = querystring.parse(raw.toString('utf8'));
    const username = typeof form.username === 'string' ? form.username : '';
    const user = checkUser(username, form.password);
    if (!user) {
      state.stats.login_failures++;
      log(`realm ${realm.name} login failed for user "${username}" (client ${params.client_id})`);
      return loginPage(res, realm, uid, { username, error: 'Invalid username or password.', client: params.client_id });
    }
    state.stats.logins++;
    log(`realm ${realm.name} login ok: user "${user.username}" sub ${user.sub} (client ${params.client_id})`);
    return provider.interactionFinished(req, res, {
      login: { accountId: user.sub, amr: ['pwd'], acr: '1' },
    }, { mergeWithLastSubmission: false });
  }

  if (req.method !== 'GET') return errorPage(res, 405, 'Method not allowed', 'GET only');
  if (prompt.name === 'login') return loginPage(res, realm, uid, { client: params.client_id });
  if (prompt.name === 'consent') {
    const result = await autoConsent(provider, details);
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  }
  return errorPage(res, 400, 'Unsupported prompt', prompt.name);
}

// oidc-provider drops offline_access unless prompt=consent (OIDC Core 11); Keycloak honours it
// without. Add consent to the prompt (our consent step is automatic, so the user sees no change).
function honourOfflineAccess(req) {
  const q = req.url.indexOf('?');
  if (q < 0) return;
  const params = new URLSearchParams(req.url.slice(q + 1));
  const scope = params.get('scope') || '';
  if (!scope.split(' ').includes('offline_access')) return;
  const prompt = (params.get('prompt') || '').split(' ').filter(Boolean);
  if (prompt.includes('consent') || prompt.includes('none')) return;
  params.set('prompt', [...prompt, 'consent'].join(' '));
  req.url = `${req.url.slice(0, q)}?${params.toString()}`;
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
    const sub = m[2] || '';
    if (req.method === 'POST' && sub === TOKEN_PATH) return await tokenEndpoint(req, res, realm);
    const im = sub.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/);
    if (im) return await interaction(req, res, realm, im[1], im[2] || '');
    if (req.method === 'GET' && sub === AUTH_PATH) {
      honourOfflineAccess(req);
      req.originalUrl = prefix + req.url; // oidc-provider derives its mount path from the two
    }
    if (req.method === 'POST' && sub === REVOKE_PATH) state.stats.revocations++;
    if (req.method === 'GET' && sub === '/.well-known/openid-configuration' && discovery(res, realm)) return undefined;
    if (req.method === 'GET' && sub === '/protocol/openid-connect/certs' && jwks(res)) return undefined;
    if ((req.method === 'GET' || req.method === 'POST') && sub === USERINFO_PATH && userinfo(req, res, realm)) return undefined;
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

serveUntilParentGoes(server, log);

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
