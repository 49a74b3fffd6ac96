// Issue 7, "a matrix test generated from the policy table": every route x flow x kind x
// connection state x app state x caller type x scope set, through nginx -> FastCGI -> daemon ->
// the real OIDC server and the Corti stand-in.  The expected answer of each cell is DERIVED from
// schema/policy.json (its `gate` and `routes` sections are the contract; there is no hand-written
// table of expected answers here).  Routes and flows are enumerated from the policy, so a new one
// appears in the matrix without editing this file; the only per-route code is DRIVERS, which says
// how to call a route over HTTP, and a route without a driver fails with "no driver for route X".
//
// Derivation (policy.gate.order, the first failing step decides; its code is gate.errors[step]
// (per caller type where that is an object), its HTTP status gate.statuses[route.style][code]):
//   caller      app: the app's broker credential (always presented); session: a session cookie
//               from logging in to that app (only for apps whose flow/kind the `login` route
//               allows to a browser; else no session); browser: anonymous, always a caller
//   app         revoked -> refused
//   connection  stopped or removed -> refused (removed only with revoked apps: a connection
//               with active apps cannot be removed, asserted in setup; those cells are unreachable)
//   route       (caller, flow, kind) matches no routes[R].allow row -> refused
//   scopes      "asked": asked must be a subset of the registration and, when routes[R].limited,
//               of policy.limited_scopes; a fixed list: a subset of the registration;
//               "registered": nothing to check
//   audit       cannot fail from outside; always passes here
// Cross-checks: a successful cell's token scope stays within what the route allows; a refused cell
// reaches neither the OIDC server's token endpoint nor the Corti API, and (when a daemon-side step
// refused it) leaves an audit refusal record carrying the app's name when the caller authenticated.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { REPO_DIR } from '../lib/stack.mjs';
import { scriptedLogin } from '../lib/oidc-login.mjs';
import { decodeJwt, scopeSet } from '../lib/util.mjs';

const policy = JSON.parse(readFileSync(join(REPO_DIR, 'schema', 'policy.json'), 'utf8'));
const USER = ['mira', 'mira-password-matrix-1'];
const stack = useStack({
  connection: null,
  cortiApi: true,
  oidcUsers: [USER],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token', 'password'] },
});

// ---------- the dimensions, from the policy ----------
const uniq = (xs) => [...new Set(xs)];
const ROUTES = Object.keys(policy.routes || {});
const FLOWS = Object.keys(policy.flows);
const KINDS = uniq([
  ...FLOWS.flatMap((f) => policy.flows[f].kinds || []),
  ...ROUTES.flatMap((r) => (policy.routes[r].allow || []).flatMap((a) => a.kinds || [])),
  ...(policy.rows || []).map((r) => r.kind),
].filter(Boolean)).sort();
const CONN_STATES = ['active', 'stopped', 'removed'];
const APP_STATES = ['active', 'revoked'];
const CONN_NAME = { active: 'm-active', stopped: 'm-stopped', removed: 'm-removed' };
const LIMITED = policy.limited_scopes;
const REG_SCOPES = [...LIMITED];                   // every registration asks for the limited set
const BROAD_EXTRA = 'interactions';                 // the upstream knows it; no registration has it
const ORDER = policy.gate.order;
const JUSTIFICATION = 'Matrix test: a terminal without a browser, replaced by PKCE later.';
const ENCOUNTER = { encounter: { identifier: 'x', status: 'planned', type: 'consultation' } };

const registrable = (flow, kind) => (policy.flows[flow].kinds || []).includes(kind);
const allowRow = (route, caller, flow, kind) => (policy.routes[route].allow || [])
  .some((a) => a.caller === caller && (a.flows || []).includes(flow) && (a.kinds || []).includes(kind));
// a user session exists only for apps a browser may log in to
const sessionCapable = (flow, kind) => !!policy.routes.login && allowRow('login', 'browser', flow, kind);
const callersOf = (route) => uniq((policy.routes[route].allow || []).map((a) => a.caller));
const subset = (a, b) => a.every((x) => b.includes(x));
const appName = (flow, kind, conn, st) => `m-${flow}-${kind}-${conn}-${st}`.replace(/_/g, '-').slice(0, 64);

/** The scope sets of a route: [{label, scopes (array | undefined: the route chooses)}]. */
function scopeSets(route) {
  const s = policy.routes[route].scopes;
  if (s === 'asked') {
    return [
      { label: 'allowed', scopes: [...REG_SCOPES] },
      { label: 'limited', scopes: [LIMITED[0]] },
      { label: 'too-broad', scopes: [...REG_SCOPES, BROAD_EXTRA] },
    ];
  }
  if (Array.isArray(s)) return [{ label: `fixed(${s.join(' ')})`, scopes: undefined }];
  if (s === 'registered') return [{ label: 'registered', scopes: undefined }];
  throw new Error(`route ${route}: unknown scopes rule ${JSON.stringify(s)}`);
}

/** The scopes (without openid) a successful answer of this cell may carry at most. */
function scopeBound(cell) {
  const r = policy.routes[cell.route];
  let bound = r.scopes === 'asked' ? cell.scopes : Array.isArray(r.scopes) ? r.scopes : REG_SCOPES;
  bound = bound.filter((x) => REG_SCOPES.includes(x));
  if (r.limited) bound = bound.filter((x) => LIMITED.includes(x));
  return bound;
}

// ---------- the expected answer of a cell, from policy.gate ----------
const STEPS = {
  // removing a connection deletes its (revoked) apps: a credential or an app name in a login
  // path then names nobody (an open session still names its user)
  caller: (c) => (c.caller !== 'session' || sessionCapable(c.flow, c.kind)) &&
    !(c.caller !== 'session' && c.connState === 'removed'),
  app: (c) => c.appState === 'active',
  connection: (c) => c.connState === 'active',
  route: (c) => allowRow(c.route, c.caller, c.flow, c.kind),
  scopes: (c) => {
    const r = policy.routes[c.route];
    if (r.scopes === 'asked') return subset(c.scopes, REG_SCOPES) && (!r.limited || subset(c.scopes, LIMITED));
    if (Array.isArray(r.scopes)) return subset(r.scopes, REG_SCOPES);
    return true;
  },
  audit: () => true,
};

function expected(cell) {
  const style = policy.routes[cell.route].style;
  for (const step of ORDER) {
    if (!STEPS[step]) throw new Error(`no evaluator for gate step ${step} (policy.gate.order)`);
    if (STEPS[step](cell)) continue;
    const e = policy.gate.errors[step];
    const code = typeof e === 'string' ? e : e && e[cell.caller];
    if (!code) throw new Error(`policy.gate.errors.${step} has no code for caller ${cell.caller}`);
    const status = (policy.gate.statuses[style] || {})[code];
    if (!status) throw new Error(`policy.gate.statuses.${style} has no status for ${code}`);
    return { ok: false, step, code, status };
  }
  return { ok: true, status: DRIVERS[cell.route].successStatus };
}

// ---------- the state built in setup ----------
const apps = {};        // name -> {name, flow, kind, connState, appState, client_id, client_secret, connection}
const sessions = {};    // app name -> {cookie} | {error}
let setupDone = false;
const setupErrors = [];
const counts = { total: 0, succeeded: 0, refused: {}, nonRegistrable: 0, unreachable: 0, mismatched: 0 };
for (const s of ORDER) counts.refused[s] = 0;
const perRoute = {};

// ---------- how to call each route ----------
const sessionHeaders = (c) => {
  const s = sessions[c.app.name];
  return s && s.cookie ? { cookie: s.cookie, 'x-requested-with': 'fetch' } : { 'x-requested-with': 'fetch' };
};
/** The caller's credentials as stack.http options. */
function auth(c, headers = {}) {
  switch (c.caller) {
    case 'app': return { basic: [c.app.client_id, c.app.client_secret], headers };
    case 'session': return { headers: { ...headers, ...sessionHeaders(c) } };
    case 'browser': return { headers };
    default: throw new Error(`no way to act as caller type ${c.caller}`);
  }
}
const scopeParam = (c) => (c.scopes ? { scope: c.scopes.join(' ') } : {});

/** Problems with a token (string) and its reported scope against the cell's bound. */
function tokenScopeProblems(c, accessToken, reportedScope) {
  const out = [];
  const bound = ['openid', ...scopeBound(c)];
  if (typeof accessToken !== 'string' || !accessToken) return ['no access_token'];
  if (reportedScope !== undefined && !subset(scopeSet(reportedScope), bound)) {
    out.push(`reported scope "${reportedScope}" exceeds "${bound.join(' ')}"`);
  }
  try {
    const jwtScope = decodeJwt(accessToken).payload.scope;
    if (!subset(scopeSet(jwtScope), bound)) out.push(`token scope "${jwtScope}" exceeds "${bound.join(' ')}"`);
  } catch { /* not a JWT: nothing more to read */ }
  return out;
}

const DRIVERS = {
  token: {
    successStatus: 200,
    call: (c) => stack.http('POST', '/oauth2/token', { form: { grant_type: 'client_credentials', ...scopeParam(c) }, ...auth(c) }),
    check: (c, r) => [...(r.json && r.json.scope ? [] : ['no scope in the answer']), ...tokenScopeProblems(c, r.json?.access_token, r.json?.scope)],
  },
  ropc: {
    successStatus: 200,
    call: (c) => stack.http('POST', '/oauth2/token',
      { form: { grant_type: 'password', username: USER[0], password: USER[1], ...scopeParam(c) }, ...auth(c) }),
    check: (c, r) => [...(r.json && r.json.scope ? [] : ['no scope in the answer']), ...tokenScopeProblems(c, r.json?.access_token, r.json?.scope)],
  },
  stream_session: {
    successStatus: 201,
    call: (c) => stack.http('POST', '/api/v1/stream-sessions',
      { ...auth(c, { 'content-type': 'application/json' }), body: JSON.stringify(ENCOUNTER) }),
    check: (c, r) => [
      ...(r.json?.interactionId ? [] : ['no interactionId']),
      ...(/^wss:\/\//.test(r.json?.websocketUrl || '') ? [] : ['no wss websocketUrl']),
      ...tokenScopeProblems(c, r.json?.access_token, r.json?.scope),
    ],
  },
  transcribe_session: {
    successStatus: 201,
    call: (c) => stack.http('POST', '/api/v1/transcribe-sessions', auth(c)),
    check: (c, r) => [
      ...(/^wss:\/\//.test(r.json?.websocketUrl || '') ? [] : ['no wss websocketUrl']),
      ...(r.json?.access_token ? tokenScopeProblems(c, r.json.access_token, r.json.scope) : []),
    ],
  },
  proxy: {
    successStatus: 200,
    call: (c) => stack.http('GET', `/api/v1/proxy/${c.app.connection}/interactions/`, auth(c)),
    check: async (c, r) => {
      const out = Array.isArray(r.json?.interactions) ? [] : ['not the stand-in\'s interaction list'];
      const last = (await stack.cortiRequests()).filter((x) => x.method === 'GET').pop();
      const bearer = (last?.headers?.authorization || '').replace(/^Bearer /, '');
      return [...out, ...(bearer ? tokenScopeProblems(c, bearer) : ['the stand-in saw no bearer'])];
    },
  },
  session_token: {
    successStatus: 200,
    call: (c) => stack.http('POST', '/api/v1/session/token', { form: scopeParam(c), ...auth(c) }),
    check: (c, r) => tokenScopeProblems(c, r.json?.access_token, r.json?.scope),
  },
  assistant_credentials: {
    successStatus: 200,
    call: (c) => stack.http('POST', '/api/v1/session/assistant-credentials', auth(c)),
    // the user's own whole set: the login's grant (offline_access included), four fields
    check: (c, r) => {
      const j = r.json || {};
      const out = ['access_token', 'refresh_token', 'id_token'].filter((k) => typeof j[k] !== 'string' || !j[k])
        .map((k) => `no ${k}`);
      if (j.token_type !== 'Bearer') out.push(`token_type ${j.token_type}`);
      const bound = ['openid', 'offline_access', ...scopeBound(c)];
      if (!subset(scopeSet(j.scope || ''), bound)) out.push(`scope "${j.scope}" exceeds "${bound.join(' ')}"`);
      return out;
    },
  },
  relay_ticket: {
    successStatus: 201,
    call: (c) => stack.http('POST', '/api/v1/relay-tickets',
      { ...auth(c, { 'content-type': 'application/json' }), body: JSON.stringify({ connection: c.app.connection, kind: 'transcribe' }) }),
    check: (c, r) => [
      ...(/^[A-Za-z0-9_-]{43}$/.test(r.json?.ticket || '') ? [] : ['no ticket']),
      ...(r.json?.expires_in > 0 ? [] : ['no expires_in']),
      ...(r.json?.access_token ? ['a ticket answer carries an access_token'] : []),
    ],
  },
  login: {
    successStatus: 302,
    call: (c) => stack.http('GET', `/login/${c.app.name}`, auth(c)),
    check: (c, r) => {
      let u;
      try { u = new URL(r.headers.location); } catch { return [`Location ${r.headers.location}`]; }
      const out = [];
      if (u.origin !== stack.upstream.base || u.pathname !== `/realms/${stack.upstream.realm}/protocol/openid-connect/auth`) {
        out.push(`redirects to ${u.origin}${u.pathname}, not the upstream's authorization endpoint`);
      }
      const asked = scopeSet(u.searchParams.get('scope'));
      if (!subset(asked, ['openid', 'offline_access', ...scopeBound(c)])) out.push(`asks the upstream for "${asked.join(' ')}"`);
      return out;
    },
  },
};

// ---------- running a cell ----------
const cellName = (c) => `${c.route} ${c.flow}/${c.kind} conn=${c.connState} app=${c.appState} caller=${c.caller} scopes=${c.scopeLabel}`;
const describe = (r) => {
  if (r.json && typeof r.json.error === 'string') return `${r.json.error} (${r.status})`;
  if (r.status >= 200 && r.status < 400) return `ok (${r.status})`;
  if (/problem\+json/.test(r.headers['content-type'] || '')) return `problem "${(JSON.parse(r.body || '{}').title) || ''}" (${r.status})`;
  const h1 = /<h1>([^<]*)<\/h1>/.exec(r.body || '');
  if (h1) return `page "${h1[1]}" (${r.status})`;
  return `${(r.body || '').replace(/\s+/g, ' ').slice(0, 60) || 'empty body'} (${r.status})`;
};
const describeExp = (e) => (e.ok ? `ok (${e.status})` : `${e.code} (${e.status}) at step ${e.step}`);

async function upstreamCounters() {
  const [u, a] = await Promise.all([stack.upstreamStats(), stack.cortiStats()]);
  return { token: u.token_requests, api: a.requests };
}

/** Run one cell; returns a list of problems (empty: as derived). */
async function runCell(c, exp) {
  const driver = DRIVERS[c.route];
  const before = exp.ok ? null : await upstreamCounters();
  const r = await driver.call(c);
  const problems = [];
  const style = policy.routes[c.route].style;
  const got = describe(r);
  if (exp.ok) {
    if (r.status !== exp.status) problems.push(`expected ${describeExp(exp)} got ${got}`);
    else {
      const bad = await driver.check(c, r);
      if (bad.length) problems.push(`expected ${describeExp(exp)} got ${got} but ${bad.join('; ')}`);
    }
  } else {
    // the redirect style answers pages: only the status is observable there
    const codeOk = style === 'redirect' || (r.json && r.json.error === exp.code);
    if (r.status !== exp.status || !codeOk) problems.push(`expected ${describeExp(exp)} got ${got}`);
    if (/access_token/.test(r.body || '')) problems.push('a refused answer carries an access_token');
    const after = await upstreamCounters();
    const dt = after.token - before.token;
    const da = after.api - before.api;
    if (dt || da) problems.push(`refused cell reached the upstream (${dt} token request(s), ${da} API request(s)); answer ${got}`);
  }
  if (c.caller === 'session' && sessionCapable(c.flow, c.kind) && sessions[c.app.name]?.error) {
    problems.push(`(setup: no session: ${sessions[c.app.name].error})`);
  }
  return problems;
}

// ---------- audit ----------
async function auditTail(n = 1000) {
  const r = await stack.ctl(['audit', 'tail', '-n', String(n)], { json: true });
  return (r.json && r.json.records) || [];
}

/**
 * Whether a refused cell must leave an audit refusal record, and whether that record must name
 * the app: every refusal decided past the caller step (the caller step refuses requests that
 * named nobody); the app's name when the caller authenticated (an app or session caller refused
 * after the app step).
 */
function auditExpectation(c, exp) {
  if (exp.ok || exp.step === 'caller') return null;
  const authenticated = (c.caller === 'app' || c.caller === 'session') && ORDER.indexOf(exp.step) > ORDER.indexOf('app');
  return { code: exp.code, app: authenticated ? c.app.name : null };
}

/** Match the refused cells to the refusal records after seq `since`; problems for the ones without. */
function auditProblems(records, since, wanted) {
  // a refusal record: any event whose outcome is an error code (token.refuse, proxy.call, ...)
  const refusals = records.filter((r) => r.seq > since && typeof r.outcome === 'string' && !['ok', 'issued'].includes(r.outcome));
  const used = new Set();
  const take = (pred) => {
    const i = refusals.findIndex((r, k) => !used.has(k) && pred(r));
    if (i >= 0) used.add(i);
    return i >= 0;
  };
  const out = [];
  // specific ones (naming an app) first, then the rest with any record of the same outcome
  for (const w of [...wanted.filter((x) => x.want.app), ...wanted.filter((x) => !x.want.app)]) {
    const ok = w.want.app
      ? take((r) => r.outcome === w.want.code && r.app === w.want.app)
      : take((r) => r.outcome === w.want.code);
    if (!ok) {
      const near = refusals.filter((r) => r.outcome === w.want.code).map((r) => r.app || '-');
      out.push(`${w.name}: no audit refusal record with outcome ${w.want.code}${w.want.app ? ` naming app ${w.want.app}` : ''}` +
        (w.want.app && near.length ? ` (records with that outcome name: ${uniq(near).join(', ')})` : ''));
    }
  }
  return out;
}

// ---------- setup ----------
function regArgs(flow, kind) {
  const f = policy.flows[flow];
  const args = ['--flow', flow, '--kind', kind, '--scopes', REG_SCOPES.join(' '),
    '--proxy-methods', 'GET', '--proxy-paths', '/interactions'];
  if (f.requires_internal) args.push('--internal');
  if (f.requires_no_redirect) args.push('--no-redirect');
  if (f.requires_justification) args.push('--justification', JUSTIFICATION);
  if (f.requires_redirect) args.push('--redirect-uri', `${stack.baseUrl}/callback`, '--return-url', `${stack.baseUrl}/healthz`);
  return args;
}

async function login(name) {
  const begin = await stack.http('GET', `/login/${name}`);
  if (begin.status !== 302) throw new Error(`/login/${name}: ${begin.status} ${begin.body.slice(0, 120)}`);
  const lc = [].concat(begin.headers['set-cookie'] || []).find((x) => x.startsWith('fg_login='));
  if (!lc) throw new Error(`/login/${name}: no fg_login cookie`);
  const back = await scriptedLogin(begin.headers.location, USER[0], USER[1],
    { caFile: stack.tls.caCert, returnPrefix: `${stack.baseUrl}/callback` });
  if (!back.code) throw new Error(`login ${name}: ${JSON.stringify(back)}`);
  const cb = await stack.http('GET', `/callback${new URL(back.url).search}`, { headers: { cookie: lc.split(';')[0] } });
  const uc = [].concat(cb.headers['set-cookie'] || []).find((x) => x.startsWith('fg_user=') && !/Max-Age=0/.test(x));
  if (cb.status !== 302 || !uc) throw new Error(`/callback for ${name}: ${cb.status} ${cb.body.slice(0, 120)}`);
  return uc.split(';')[0];
}

test('setup: three connections, one app per registrable flow/kind and state, sessions, then stops, revocations, removal', async () => {
  assert.ok(ROUTES.length > 0, 'policy.routes is empty');
  assert.ok(!LIMITED.includes(BROAD_EXTRA), `${BROAD_EXTRA} is a limited scope: pick another "too broad" scope`);
  for (const st of CONN_STATES) await stack.addConnection(CONN_NAME[st]);

  // registrations the policy forbids: refused, once per (flow, kind)
  for (const flow of FLOWS) {
    for (const kind of KINDS) {
      if (registrable(flow, kind)) continue;
      const name = `nr-${flow}-${kind}`.replace(/_/g, '-');
      const r = await stack.ctl(['app', 'add', name, '--connection', CONN_NAME.active, ...regArgs(flow, kind)], { expect: null });
      if (r.code === 0) setupErrors.push(`app add ${flow}/${kind} was accepted; the policy does not list kind ${kind} for ${flow}`);
    }
  }

  for (const flow of FLOWS) {
    for (const kind of KINDS) {
      if (!registrable(flow, kind)) continue;
      for (const connState of CONN_STATES) {
        for (const appState of APP_STATES) {
          if (connState === 'removed' && appState === 'active') continue; // unreachable
          const name = appName(flow, kind, connState, appState);
          const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', CONN_NAME[connState], ...regArgs(flow, kind)], { expect: null });
          let j;
          try { j = JSON.parse(r.stdout.trim().split('\n').pop()); } catch { /* below */ }
          if (r.code !== 0 || !j?.client_secret) {
            setupErrors.push(`app add ${name} (${flow}/${kind}) refused: ${(r.stdout + r.stderr).trim().slice(0, 200)}`);
            continue;
          }
          apps[name] = { name, flow, kind, connState, appState, connection: CONN_NAME[connState], client_id: j.client_id, client_secret: j.client_secret };
          if (sessionCapable(flow, kind)) {
            try { sessions[name] = { cookie: await login(name) }; } catch (err) { sessions[name] = { error: err.message }; }
          }
        }
      }
    }
  }

  // state changes, after the sessions are open: they must apply to those sessions too
  await stack.ctl(['connection', 'stop', CONN_NAME.stopped]);
  const early = await stack.ctl(['connection', 'remove', CONN_NAME.removed], { expect: null });
  const onRemoved = Object.values(apps).filter((a) => a.connState === 'removed');
  if (onRemoved.length && early.code === 0) setupErrors.push(`connection remove ${CONN_NAME.removed} succeeded while it had active apps`);
  for (const a of Object.values(apps)) if (a.appState === 'revoked') await stack.ctl(['app', 'revoke', a.name]);
  if (early.code !== 0) await stack.ctl(['connection', 'remove', CONN_NAME.removed]);
  const conns = (await stack.ctl(['connection', 'list'], { json: true })).json;
  const names = (conns?.connections || conns || []).map((x) => x.name);
  assert.ok(!names.includes(CONN_NAME.removed), `${CONN_NAME.removed} still listed: ${JSON.stringify(names)}`);
  setupDone = true;
  const failedLogins = Object.entries(sessions).filter(([, s]) => s.error).map(([n, s]) => `${n}: ${s.error}`);
  assert.deepEqual([...setupErrors, ...failedLogins], [], 'setup problems');
}, { timeout: 120000 });

// ---------- one test per route ----------
for (const route of ROUTES) {
  test(`route ${route} (${policy.routes[route].label || ''}): every cell as policy.json derives it`, async () => {
    if (!DRIVERS[route]) throw Object.assign(new Error(`no driver for route ${route}`), { brief: true });
    assert.ok(setupDone, 'setup did not finish');
    for (const caller of callersOf(route)) if (!['app', 'session', 'browser'].includes(caller)) throw new Error(`no way to act as caller type ${caller} (route ${route})`);
    const rc = perRoute[route] = { total: 0, succeeded: 0, refused: {}, nonRegistrable: 0, unreachable: 0, mismatched: 0 };
    const mismatches = [];
    const wanted = [];
    const since = (await auditTail(1)).map((r) => r.seq).pop() ?? 0;
    const sets = scopeSets(route);
    const callers = callersOf(route);
    const cellsPerState = callers.length * sets.length;
    for (const flow of FLOWS) {
      for (const kind of KINDS) {
        if (!registrable(flow, kind)) {
          rc.nonRegistrable += CONN_STATES.length * APP_STATES.length * cellsPerState;
          continue;
        }
        for (const connState of CONN_STATES) {
          for (const appState of APP_STATES) {
            if (connState === 'removed' && appState === 'active') { rc.unreachable += cellsPerState; continue; }
            const app = apps[appName(flow, kind, connState, appState)];
            for (const caller of callers) {
              for (const set of sets) {
                const c = { route, flow, kind, connState, appState, caller, scopes: set.scopes, scopeLabel: set.label, app };
                const exp = expected(c);
                if (exp.ok) rc.succeeded++; else rc.refused[exp.step] = (rc.refused[exp.step] || 0) + 1;
                if (!app) { mismatches.push(`${cellName(c)}: app not registered in setup`); continue; }
                let problems;
                try { problems = await runCell(c, exp); } catch (err) { problems = [`threw ${err.message}`]; }
                if (problems.length) mismatches.push(`${cellName(c)}: ${problems.join('; ')}`);
                const want = auditExpectation(c, exp);
                if (want) wanted.push({ name: cellName(c), want });
              }
            }
          }
        }
      }
    }
    // one audit read for the whole route
    const records = await auditTail(1000);
    if (records.length && records[0].seq > since + 1) mismatches.push(`audit window larger than one read (${records[0].seq - since} records); audit check partial`);
    mismatches.push(...auditProblems(records, since, wanted));
    rc.total = rc.succeeded + Object.values(rc.refused).reduce((a, b) => a + b, 0) + rc.nonRegistrable + rc.unreachable;
    rc.mismatched = mismatches.length;
    counts.total += rc.total;
    counts.succeeded += rc.succeeded;
    counts.nonRegistrable += rc.nonRegistrable;
    counts.unreachable += rc.unreachable;
    counts.mismatched += mismatches.length;
    for (const [s, n] of Object.entries(rc.refused)) counts.refused[s] = (counts.refused[s] || 0) + n;
    if (mismatches.length) {
      throw Object.assign(new Error(`route ${route}: ${mismatches.length} cell(s) differ from policy.json:\n${mismatches.join('\n')}`), { brief: true });
    }
  }, { timeout: 120000 });
}

test('matrix size (for the closing note)', () => {
  const lines = [`gate matrix: ${counts.total} cells; ${counts.succeeded} succeed, ` +
    `refused by ${ORDER.map((s) => `${s} ${counts.refused[s] || 0}`).join(', ')}; ` +
    `${counts.nonRegistrable} non-registrable, ${counts.unreachable} unreachable (removed connection with active apps); ` +
    `${counts.mismatched} mismatch line(s)`];
  for (const [r, rc] of Object.entries(perRoute)) {
    lines.push(`  ${r}: ${rc.total} cells, ${rc.succeeded} succeed, refused ${JSON.stringify(rc.refused)}, ` +
      `${rc.nonRegistrable} non-registrable, ${rc.unreachable} unreachable, ${rc.mismatched} mismatch line(s)`);
  }
  console.log(lines.map((l) => `# ${l}`).join('\n'));
  assert.equal(Object.keys(perRoute).length, ROUTES.length, 'not every route ran');
});
