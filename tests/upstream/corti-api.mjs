#!/usr/bin/env node
// Test-only stand-in for Corti's own REST API (the one fake in the test setup: the auth server is
// the real oidc-provider). Built from the documented request/response shapes (Corti's public docs
// and its JavaScript SDK, corticph/corti-sdk-javascript): HTTPS on 127.0.0.1, base path /api/v2.
//
//   node tests/upstream/corti-api.mjs --port 0 --cert C --key K --tenant demo \
//        --jwks https://127.0.0.1:P/realms/demo/protocol/openid-connect/certs --ca CA_FILE \
//        [--issuer https://127.0.0.1:P/realms/demo] [--max-body 1048576]
//
// Every /api/v2 request needs `Authorization: Bearer <JWT>` (RS256, signature checked against
// --jwks fetched over TLS verified with --ca; unexpired; `iss` equal to --issuer, which defaults
// to the JWKS URL without /protocol/openid-connect/certs) and `Tenant-Name: <--tenant>`.
// Errors are RFC 9457 problem JSON (application/problem+json) with Corti's fields:
// {type, title, status, detail, requestid[, validationErrors]}.
//
// API (base /api/v2):
//   POST /interactions/        scope must include `streams` (403 otherwise); JSON body
//                              {assignedUserId?, encounter: {identifier, status, type, period?, title?},
//                               patient?}; unknown fields -> 400.  201 {interactionId, websocketUrl}
//                              with websocketUrl wss://127.0.0.1:PORT/api/v2/interactions/ID/streams?tenant-name=T
//   GET  /interactions/        {interactions: [...]}
//   GET  /interactions/{id}    the interaction (404 problem if unknown)
//   POST /interactions/{id}/recordings/   application/octet-stream, streamed (never held whole):
//                              201 {recordingId, bytes, sha256} of what arrived
//   GET  /interactions/{id}/recordings/{rid}   the recording's length of the /large pattern,
//                              streamed with back-pressure (the client hashes it to compare)
//   POST /agentic/agents/{agentId}/a2a/message:stream?events=N&ms=M   needs `A2A-Version: 1.0`;
//                              text/event-stream: N events (default 3), M ms apart (default 300),
//                              each `data: {"seq":i,...}`, the first written at once
//   ANY  /echo[/...]           {method, path, query, headers, authorization, bodyLength, bodySha256}:
//                              what this server received; the Authorization value is NOT echoed
//                              (headers.authorization is left out; `authorization` says its scheme,
//                              sha256 and the JWT's claims) so a token never travels back through a proxy
//   GET  /large?bytes=N[&chunked=1]   N bytes (application/octet-stream; chunked: no Content-Length)
//   GET  /slow?ms=N            answers {"slept":N} after N ms
//   GET  /drip?bytes=N&ms=M    headers at once, then N bytes spread over M ms
//   GET  /status/{code}        that status with a problem JSON body
//   GET  /response-headers?Name=Value...   200 with those response headers set
//   POST /interactions/{id}/transcripts/   JSON {recordingId (of this interaction), primaryLanguage, ...}:
//                              200 the transcript (below); GET .../transcripts/{tid} the same again:
//                              {id, metadata, transcripts: one segment per 4 KiB of the recording, each
//                              text 1000 characters "segment i of n of recording R. lorem ipsum ...",
//                              usageInfo, recordingId, status:"completed"} (5 MiB of recording: 1.4 MB)
// WebSockets (corti-ws.mjs), authenticated as Corti's: ?tenant-name=T&token=Bearer%20JWT
//   /audio-bridge/v2/transcribe            scope transcribe
//   /api/v2/interactions/{id}/streams      scope streams
//   (else the upgrade is refused 401/403/404). Only messages in the shapes @corti/sdk's schemas
//   accept: the config within 10 s (else CONFIG_TIMEOUT / CONFIG_NOT_PROVIDED), CONFIG_ACCEPTED,
//   a transcript "chunk N: B bytes sha256 HEX" per audio chunk, flushed, usage + ended/ENDED on
//   "end", error for anything else; see corti-ws.mjs. Upgrades are in /_control/requests.
// Control (this test server only, no auth):
//   POST /_control/mode        {"mode":"normal"|"errorNNN"(e.g. error400, error403, error500, error504)|
//                               "slow"|"garbage"|"badjson","delay_ms":N}  applies to /interactions
//                               (errorNNN: that status with a problem JSON body; slow: answer after
//                               delay_ms, default 30000; garbage: 201 non-JSON; badjson: 201 JSON without
//                               interactionId)
//   GET  /_control/requests    the last 50 requests received, oldest first: {time, method, path, query,
//                               headers (raw, including Authorization), body (parsed JSON, text, or
//                               {length}), status}
//   GET  /_control/upgrades    the last 50 WebSocket upgrades received: {path, query, headers}
//   GET  /_control/ws          the last 50 WebSocket sessions: {kind, interactionId, opened, configuration
//                               (as received), chunks, bytes, sha256 (of all audio, once closed), closed}
//   GET  /_control/stats       {"requests":N,"by_path":{..},"by_status":{..},"interactions_created":N}
//   POST /_control/reset       forget requests, interactions and counters; mode normal
//   GET  /_control/health      {"ok":true,...}
//
// Prints exactly one line on stdout, {"ready":true,"port":N}, once listening; logs to stderr
// (never a token). Exits on SIGTERM/SIGINT and when stdin (a pipe) closes.

import { createServer } from 'node:https';
import * as https from 'node:https';
import { readFileSync } from 'node:fs';
import { serveWebSockets, wsSessions } from './corti-ws.mjs';
import { serveUntilParentGoes } from './lifecycle.mjs';
import { createHash, createPublicKey, verify as cryptoVerify, randomUUID } from 'node:crypto';

const API_PREFIX = '/api/v2';
const KEEP_REQUESTS = 50;
const ENCOUNTER_STATUS = ['planned', 'in-progress', 'on-hold', 'completed', 'cancelled', 'deleted'];
const ENCOUNTER_TYPE = ['first_consultation', 'consultation', 'emergency', 'inpatient', 'outpatient'];
const GENDER = ['male', 'female', 'unknown', 'other'];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function log(...args) {
  process.stderr.write(`corti-api: ${args.join(' ')}\n`);
}

function usage(msg) {
  process.stderr.write(`corti-api: ${msg}\n` +
    'usage: corti-api.mjs --port N --cert FILE --key FILE --tenant NAME --jwks URL --ca FILE ' +
    '[--issuer URL] [--host 127.0.0.1] [--max-body BYTES]\n');
  process.exit(2);
}

// ---------- arguments ----------
function parseArgs(argv) {
  const o = { port: 0, host: '127.0.0.1', maxBody: 1024 * 1024 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--port': o.port = Number(val()); break;
      case '--host': o.host = val(); break;
      case '--cert': o.cert = val(); break;
      case '--key': o.key = val(); break;
      case '--tenant': o.tenant = val(); break;
      case '--jwks': o.jwks = val(); break;
      case '--ca': o.ca = val(); break;
      case '--issuer': o.issuer = val(); break;
      case '--max-body': o.maxBody = Number(val()); break;
      case '-h': case '--help': usage('help');
      // falls through (usage exits)
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!o.cert || !o.key) usage('--cert and --key are required');
  if (!o.tenant) usage('--tenant is required');
  if (!o.jwks) usage('--jwks is required');
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) usage('bad --port');
  if (!Number.isInteger(o.maxBody) || o.maxBody < 1) usage('bad --max-body');
  try { new URL(o.jwks); } catch { usage('bad --jwks URL'); }
  if (!o.issuer) o.issuer = o.jwks.replace(/\/protocol\/openid-connect\/certs\/?$/, '');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const caPem = opts.ca ? readFileSync(opts.ca) : undefined;

// ---------- state ----------
const state = {
  mode: 'normal',
  delayMs: 30000,
  requests: [],
  upgrades: [],
  interactions: new Map(),
  recordings: new Map(),
  transcripts: new Map(),
  stats: null,
};
function resetStats() {
  state.stats = { requests: 0, by_path: {}, by_status: {}, interactions_created: 0 };
}
resetStats();
const bump = (obj, k) => { obj[k] = (obj[k] || 0) + 1; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------- JWKS and JWT ----------
const jwks = { keys: new Map(), fetchedAt: 0, inflight: null };

function fetchJwks() {
  if (jwks.inflight) return jwks.inflight;
  jwks.inflight = new Promise((resolve, reject) => {
    const req = https.get(opts.jwks, { ca: caPem, timeout: 5000, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`JWKS answered ${res.statusCode}`);
          const doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          const keys = new Map();
          for (const k of doc.keys || []) {
            if (k.kty !== 'RSA' || (k.use && k.use !== 'sig')) continue;
            keys.set(k.kid || '', createPublicKey({ key: k, format: 'jwk' }));
          }
          jwks.keys = keys;
          jwks.fetchedAt = Date.now();
          resolve(keys);
        } catch (err) { reject(err); }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('JWKS fetch timed out')));
    req.on('error', reject);
  }).finally(() => { jwks.inflight = null; });
  return jwks.inflight;
}

async function keyFor(kid) {
  if (jwks.keys.has(kid)) return jwks.keys.get(kid);
  // unknown kid: refetch, at most once a second
  if (Date.now() - jwks.fetchedAt > 1000) {
    try { await fetchJwks(); } catch (err) { log(`JWKS fetch failed: ${err.message}`); }
  }
  return jwks.keys.get(kid) || (kid === '' && jwks.keys.size === 1 ? [...jwks.keys.values()][0] : undefined);
}

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

/** {claims} or {error: 'why'} for an Authorization header value. */
async function checkBearer(value) {
  const m = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i.exec(value || '');
  if (!m) return { error: value ? 'Authorization is not a Bearer JWT' : 'Authorization header is missing' };
  const [h, p, s] = m[1].split('.');
  let header; let claims;
  try { header = b64json(h); claims = b64json(p); } catch { return { error: 'token is not a JWT' }; }
  if (header.alg !== 'RS256') return { error: `token alg ${header.alg} not accepted` };
  const key = await keyFor(header.kid || '');
  if (!key) return { error: 'token signed by an unknown key' };
  if (!cryptoVerify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) {
    return { error: 'token signature invalid' };
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== 'number' || claims.exp <= now) return { error: 'token expired' };
  if (typeof claims.nbf === 'number' && claims.nbf > now + 5) return { error: 'token not yet valid' };
  if (claims.iss !== opts.issuer) return { error: 'token issuer not accepted' };
  return { claims, token: m[1] };
}

const scopesOf = (claims) => new Set(String(claims.scope || '').split(' ').filter(Boolean));

// ---------- HTTP helpers ----------
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let len = 0;
    let over = false;
    req.on('data', (c) => {
      len += c.length;
      if (len > limit) { over = true; return; } // keep draining, keep nothing
      chunks.push(c);
    });
    req.on('end', () => resolve({ buf: over ? null : Buffer.concat(chunks), length: len, over }));
    req.on('error', reject);
  });
}

function send(res, status, headers, body) {
  if (res.headersSent || res.destroyed) return;
  const b = body === undefined ? '' : body;
  res.writeHead(status, { 'content-length': Buffer.byteLength(b), ...headers });
  res.end(b);
}

function sendJson(res, status, obj, extra = {}) {
  send(res, status, { 'content-type': 'application/json', ...extra }, JSON.stringify(obj));
}

const TITLES = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity',
  429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function problem(res, status, detail, extra = {}, headers = {}) {
  const body = {
    type: `https://api.corti.app/problems/${status}`,
    title: TITLES[status] || 'Error',
    status,
    detail,
    requestid: res.requestId,
    ...extra,
  };
  send(res, status, { 'content-type': 'application/problem+json', ...headers }, JSON.stringify(body));
}

function websocketUrl(id) {
  const { port } = server.address();
  return `wss://${opts.host}:${port}${API_PREFIX}/interactions/${id}/streams?tenant-name=${encodeURIComponent(opts.tenant)}`;
}

// ---------- validation of the create body ----------
const isStr = (v) => typeof v === 'string';
const isDate = (v) => isStr(v) && !Number.isNaN(Date.parse(v));

function validateCreate(body) {
  const errs = [];
  const bad = (field, msg) => errs.push({ [field]: msg });
  const only = (obj, allowed, where) => {
    for (const k of Object.keys(obj)) if (!allowed.includes(k)) bad(`${where}${k}`, 'unknown field');
  };
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    bad('body', 'must be a JSON object');
    return errs;
  }
  only(body, ['assignedUserId', 'encounter', 'patient'], '');
  if (body.assignedUserId !== undefined && body.assignedUserId !== null
      && !(isStr(body.assignedUserId) && UUID_RE.test(body.assignedUserId))) {
    bad('assignedUserId', 'must be a UUID');
  }
  const e = body.encounter;
  if (!e || typeof e !== 'object' || Array.isArray(e)) {
    bad('encounter', 'is required and must be an object');
  } else {
    only(e, ['identifier', 'status', 'type', 'period', 'title'], 'encounter.');
    if (!isStr(e.identifier) || !e.identifier.length) bad('encounter.identifier', 'is required (string)');
    if (!ENCOUNTER_STATUS.includes(e.status)) bad('encounter.status', `must be one of ${ENCOUNTER_STATUS.join(', ')}`);
    if (!ENCOUNTER_TYPE.includes(e.type)) bad('encounter.type', `must be one of ${ENCOUNTER_TYPE.join(', ')}`);
    if (e.title !== undefined && e.title !== null && !isStr(e.title)) bad('encounter.title', 'must be a string');
    if (e.period !== undefined && e.period !== null) {
      if (typeof e.period !== 'object' || Array.isArray(e.period)) {
        bad('encounter.period', 'must be an object');
      } else {
        only(e.period, ['startedAt', 'endedAt'], 'encounter.period.');
        for (const k of ['startedAt', 'endedAt']) {
          if (e.period[k] !== undefined && e.period[k] !== null && !isDate(e.period[k])) bad(`encounter.period.${k}`, 'must be a date-time');
        }
      }
    }
  }
  const p = body.patient;
  if (p !== undefined && p !== null) {
    if (typeof p !== 'object' || Array.isArray(p)) {
      bad('patient', 'must be an object');
    } else {
      only(p, ['identifier', 'name', 'gender', 'birthDate', 'pronouns'], 'patient.');
      if (!isStr(p.identifier) || !p.identifier.length) bad('patient.identifier', 'is required (string)');
      for (const k of ['name', 'pronouns']) if (p[k] !== undefined && p[k] !== null && !isStr(p[k])) bad(`patient.${k}`, 'must be a string');
      if (p.gender !== undefined && p.gender !== null && !GENDER.includes(p.gender)) bad('patient.gender', `must be one of ${GENDER.join(', ')}`);
      if (p.birthDate !== undefined && p.birthDate !== null && !isDate(p.birthDate)) bad('patient.birthDate', 'must be a date');
    }
  }
  return errs;
}

// ---------- request record ----------
function record(req, url, body) {
  let parsed;
  if (body.over) parsed = { length: body.length, truncated: true };
  else if (!body.length) parsed = undefined;
  else if (/json/i.test(req.headers['content-type'] || '')) {
    try { parsed = JSON.parse(body.buf.toString('utf8')); } catch { parsed = body.buf.toString('utf8').slice(0, 4096); }
  } else if (body.length <= 4096) parsed = body.buf.toString('utf8');
  else parsed = { length: body.length };
  const entry = {
    time: new Date().toISOString(),
    method: req.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: { ...req.headers },
    body: parsed,
    status: null,
  };
  state.requests.push(entry);
  if (state.requests.length > KEEP_REQUESTS) state.requests.splice(0, state.requests.length - KEEP_REQUESTS);
  return entry;
}

// ---------- control ----------
async function control(req, res, path) {
  if (req.method === 'GET' && path === '/_control/requests') return sendJson(res, 200, state.requests);
  if (req.method === 'GET' && path === '/_control/upgrades') return sendJson(res, 200, state.upgrades);
  if (req.method === 'GET' && path === '/_control/stats') return sendJson(res, 200, state.stats);
  if (req.method === 'GET' && path === '/_control/ws') return sendJson(res, 200, wsSessions);
  if (req.method === 'GET' && path === '/_control/health') {
    return sendJson(res, 200, { ok: true, mode: state.mode, tenant: opts.tenant, issuer: opts.issuer, jwks_keys: jwks.keys.size });
  }
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'method_not_allowed' });
  const raw = await readBody(req, 64 * 1024);
  let body = {};
  if (raw.over) return sendJson(res, 413, { error: 'too_large' });
  if (raw.length) {
    try { body = JSON.parse(raw.buf.toString('utf8')); } catch { return sendJson(res, 400, { error: 'bad_json' }); }
  }
  if (path === '/_control/reset') {
    state.requests = [];
    state.upgrades = [];
    state.interactions.clear();
    state.recordings.clear();
    state.transcripts.clear();
    wsSessions.length = 0;
    state.mode = 'normal';
    state.delayMs = 30000;
    resetStats();
    log('control: reset');
    return sendJson(res, 200, { ok: true });
  }
  if (path === '/_control/mode') {
    const m = body.mode;
    const ok = ['normal', 'slow', 'garbage', 'badjson'].includes(m) || /^error[45]\d\d$/.test(m || '');
    if (!ok) return sendJson(res, 400, { error: 'bad_mode', modes: ['normal', 'errorNNN', 'slow', 'garbage', 'badjson'] });
    if (body.delay_ms !== undefined && !(Number.isInteger(body.delay_ms) && body.delay_ms >= 0)) {
      return sendJson(res, 400, { error: 'bad_delay_ms' });
    }
    state.mode = m;
    state.delayMs = body.delay_ms ?? 30000;
    log(`control: mode ${m}${m === 'slow' ? ` delay_ms=${state.delayMs}` : ''}`);
    return sendJson(res, 200, { ok: true, mode: state.mode, delay_ms: state.delayMs });
  }
  return sendJson(res, 404, { error: 'not_found' });
}

// ---------- the API ----------
const ERROR_DETAIL = {
  400: 'The request was invalid (test upstream in an error mode).',
  401: 'The access token is invalid or expired (test upstream in an error mode).',
  403: 'The access token does not allow this operation (test upstream in an error mode).',
  404: 'Not found (test upstream in an error mode).',
  500: 'An unexpected error occurred (test upstream in an error mode).',
  502: 'Bad gateway (test upstream in an error mode).',
  503: 'Service unavailable (test upstream in an error mode).',
  504: 'The upstream timed out (test upstream in an error mode).',
};

/** Applies the control mode to an interactions request; true when it answered. */
async function applyMode(req, res) {
  const mode = state.mode;
  if (mode === 'normal') return false;
  if (mode === 'slow') {
    await sleep(state.delayMs);
    return res.destroyed || req.socket.destroyed; // peer gone: nothing more to do
  }
  if (mode === 'garbage') {
    send(res, 201, { 'content-type': 'application/json' }, 'this is not JSON {"interactionId": <garbage>\x01');
    return true;
  }
  if (mode === 'badjson') {
    sendJson(res, 201, { id: 42, websocketUrl: null });
    return true;
  }
  const status = Number(mode.slice(5));
  const extra = status === 400 ? { validationErrors: [{ encounter: 'rejected by the test upstream (mode error400)' }] } : {};
  problem(res, status, ERROR_DETAIL[status] || `test upstream in mode ${mode}`, extra);
  return true;
}

const PATTERN = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
const RECORDINGS_RE = /^\/interactions\/([^/]+)\/recordings\/?$/;
const RECORDING_RE = /^\/interactions\/([^/]+)\/recordings\/([0-9a-f-]{36})$/;

/** n bytes of PATTERN to res, with back-pressure; stops when the client goes. */
function pump(res, n) {
  let left = n;
  const more = () => {
    while (left > 0 && !res.destroyed) {
      const c = left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left);
      left -= c.length;
      if (!res.write(c)) { res.once('drain', more); return; }
    }
    if (!res.destroyed) res.end();
  };
  res.on('close', () => { left = 0; });
  more();
}

/** A recording upload, hashed and counted as it streams in (never held whole). */
function uploadRecording(req, res, interactionId) {
  if (!/^application\/octet-stream\b/i.test(req.headers['content-type'] || '')) {
    req.resume();
    return problem(res, 415, 'Content-Type must be application/octet-stream.');
  }
  const h = createHash('sha256');
  let bytes = 0;
  req.on('data', (c) => { bytes += c.length; h.update(c); });
  req.on('end', () => {
    const rec = { recordingId: randomUUID(), interactionId, bytes, sha256: h.digest('hex') };
    state.recordings.set(rec.recordingId, rec);
    log(`recording ${rec.recordingId} uploaded: ${bytes} bytes`);
    sendJson(res, 201, rec);
  });
  return undefined;
}

/** Upload and download of recordings, streamed; true when it answered. */
function recordings(req, res, sub) {
  let m = sub.match(RECORDINGS_RE);
  if (m && req.method === 'POST') return uploadRecording(req, res, m[1]) ?? true;
  m = sub.match(RECORDING_RE);
  if (m && req.method === 'GET') {
    const rec = state.recordings.get(m[2]);
    if (!rec || rec.interactionId !== m[1]) return problem(res, 404, 'No such recording.') ?? true;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': rec.bytes });
    pump(res, rec.bytes);
    return true;
  }
  return false;
}

const TRANSCRIPTS_RE = /^\/interactions\/([^/]+)\/transcripts\/?$/;
const TRANSCRIPT_RE = /^\/interactions\/([^/]+)\/transcripts\/([0-9a-f-]{36})$/;
const SEGMENT_BYTES = 4096;	// one transcript segment per 4 KiB of the recording
const SEGMENT_TEXT = 1000;	// characters of each segment's text

/** A transcript of a recording, in the SDK's TranscriptsResponse shape, made when asked. */
function transcriptDoc(t) {
  const rec = state.recordings.get(t.recordingId);
  const n = Math.ceil(rec.bytes / SEGMENT_BYTES);
  const sec = SEGMENT_BYTES / 32000;	// 16 kHz 16-bit mono
  const transcripts = [];
  for (let i = 0; i < n; i++) {
    const head = `segment ${i + 1} of ${n} of recording ${rec.recordingId}.`;
    transcripts.push({ channel: 0, participant: 0, speakerId: 0, text: head.padEnd(SEGMENT_TEXT, ' lorem ipsum'),
      start: i * sec, end: (i + 1) * sec });
  }
  return { id: t.id, metadata: { participantsRoles: [{ channel: 0, role: 'multiple' }] }, transcripts,
    usageInfo: { creditsConsumed: rec.bytes / 32000 }, recordingId: rec.recordingId, status: 'completed' };
}

/** POST /interactions/{id}/transcripts/ and GET .../transcripts/{tid}; true when it answered. */
function transcripts(req, res, sub, body) {
  let m = sub.match(TRANSCRIPTS_RE);
  if (m && req.method === 'POST') {
    let doc = null;
    try { doc = JSON.parse(body.buf.toString('utf8')); } catch { /* answered below */ }
    const rec = doc && state.recordings.get(doc.recordingId);
    if (!doc || typeof doc.primaryLanguage !== 'string') {
      problem(res, 400, 'The request body failed validation.', { validationErrors: [{ primaryLanguage: 'is required (string)' }] });
    } else if (!rec || rec.interactionId !== m[1]) {
      problem(res, 404, 'No such recording in this interaction.');
    } else {
      const t = { id: randomUUID(), interactionId: m[1], recordingId: rec.recordingId };
      state.transcripts.set(t.id, t);
      sendJson(res, 200, transcriptDoc(t));
    }
    return true;
  }
  m = sub.match(TRANSCRIPT_RE);
  if (!m || req.method !== 'GET') return false;
  const t = state.transcripts.get(m[2]);
  if (!t || t.interactionId !== m[1]) problem(res, 404, 'No such transcript.');
  else sendJson(res, 200, transcriptDoc(t));
  return true;
}

/** A2A message:stream: server-sent events written one by one, ms apart. */
async function messageStream(req, res, q) {
  if (req.headers['a2a-version'] !== '1.0') return problem(res, 400, 'Header A2A-Version: 1.0 is required.');
  const n = Number(q.get('events') ?? 3);
  const ms = Number(q.get('ms') ?? 300);
  if (!Number.isSafeInteger(n) || n < 1 || n > 1000 || !Number.isSafeInteger(ms) || ms < 0 || ms > 60000) {
    return problem(res, 400, 'events must be 1..1000 and ms 0..60000');
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (let i = 0; i < n && !res.destroyed; i++) {
    if (i > 0) await sleep(ms);
    res.write(`id: ${i}\ndata: ${JSON.stringify({ seq: i, sentAt: Date.now(), last: i === n - 1 })}\n\n`);
  }
  if (!res.destroyed) res.end();
  return undefined;
}

async function api(req, res, url, body, auth) {
  const sub = url.pathname.slice(API_PREFIX.length) || '/';
  const q = url.searchParams;

  // interactions
  if (sub === '/interactions' || sub === '/interactions/') {
    if (req.method === 'POST') {
      if (!scopesOf(auth.claims).has('streams')) {
        return problem(res, 403, 'The access token lacks the scope required to create an interaction (streams).');
      }
      if (await applyMode(req, res)) return undefined;
      if (body.over) return problem(res, 413, `The request body is larger than ${opts.maxBody} bytes.`);
      if (!/^application\/json\b/i.test(req.headers['content-type'] || '')) {
        return problem(res, 415, 'Content-Type must be application/json.');
      }
      let doc;
      try { doc = JSON.parse(body.buf.toString('utf8')); } catch {
        return problem(res, 400, 'The request body is not valid JSON.');
      }
      const errs = validateCreate(doc);
      if (errs.length) return problem(res, 400, 'The request body failed validation.', { validationErrors: errs });
      const id = randomUUID();
      const now = new Date().toISOString();
      const it = {
        id,
        assignedUserId: doc.assignedUserId || randomUUID(),
        encounter: { ...doc.encounter, period: doc.encounter.period || { startedAt: now } },
        patient: doc.patient || { identifier: '' },	// the SDK's schema requires the object
        endedAt: null,
        createdAt: now,
        updatedAt: now,
        lastUpdated: now,
        websocketUrl: websocketUrl(id),
      };
      state.interactions.set(id, it);
      state.stats.interactions_created++;
      log(`interaction ${id} created (tenant ${opts.tenant}, sub ${auth.claims.sub || '-'}, client ${auth.claims.client_id || '-'})`);
      return sendJson(res, 201, { interactionId: id, websocketUrl: it.websocketUrl },
        { location: `${API_PREFIX}/interactions/${id}` });
    }
    if (req.method === 'GET') {
      if (await applyMode(req, res)) return undefined;
      return sendJson(res, 200, { interactions: [...state.interactions.values()] });
    }
    return problem(res, 405, `${req.method} is not allowed here.`, {}, { allow: 'GET, POST' });
  }
  const im = sub.match(/^\/interactions\/([^/]+)\/?$/);
  if (im) {
    if (req.method !== 'GET') return problem(res, 405, `${req.method} is not allowed here.`, {}, { allow: 'GET' });
    if (await applyMode(req, res)) return undefined;
    const it = state.interactions.get(decodeURIComponent(im[1]));
    if (!it) return problem(res, 404, `Interaction ${im[1]} was not found.`);
    return sendJson(res, 200, it);
  }

  if (transcripts(req, res, sub, body)) return undefined;
  if (/^\/agentic\/agents\/[^/]+\/a2a\/message:stream$/.test(sub) && req.method === 'POST') {
    return messageStream(req, res, q);
  }

  // generic endpoints for the backend proxy tests
  if (sub === '/echo' || sub.startsWith('/echo/')) {
    const headers = { ...req.headers };
    delete headers.authorization;
    const a = req.headers.authorization || '';
    const sp = a.indexOf(' ');
    const authorization = a ? {
      scheme: sp > 0 ? a.slice(0, sp) : a,
      sha256: createHash('sha256').update(a.slice(sp + 1).trim()).digest('hex'),
      claims: auth.claims,
    } : null;
    return sendJson(res, 200, {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(q),
      headers,
      authorization,
      bodyLength: body.length,
      bodySha256: body.buf ? createHash('sha256').update(body.buf).digest('hex') : null,
    });
  }
  if (sub === '/large' && (req.method === 'GET' || req.method === 'HEAD')) {
    const n = Number(q.get('bytes') ?? 1024 * 1024);
    if (!Number.isSafeInteger(n) || n < 0 || n > 4 * 1024 * 1024 * 1024) return problem(res, 400, 'bytes must be 0..4 GiB');
    const chunked = q.get('chunked') === '1';
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...(chunked ? {} : { 'content-length': n }) });
    if (req.method === 'HEAD') return res.end();
    const block = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
    let left = n;
    const pump = () => {
      while (left > 0 && !res.destroyed) {
        const c = left >= block.length ? block : block.subarray(0, left);
        left -= c.length;
        if (!res.write(c)) { res.once('drain', pump); return; }
      }
      if (!res.destroyed) res.end();
    };
    res.on('close', () => { left = 0; });
    return pump();
  }
  if (sub === '/slow') {
    const ms = Number(q.get('ms') ?? 30000);
    if (!Number.isSafeInteger(ms) || ms < 0 || ms > 600000) return problem(res, 400, 'ms must be 0..600000');
    await sleep(ms);
    if (res.destroyed || req.socket.destroyed) return undefined;
    return sendJson(res, 200, { slept: ms });
  }
  if (sub === '/drip') {
    const n = Number(q.get('bytes') ?? 1024);
    const ms = Number(q.get('ms') ?? 10000);
    if (!Number.isSafeInteger(n) || n < 1 || n > 64 * 1024 * 1024 || !Number.isSafeInteger(ms) || ms < 0 || ms > 600000) {
      return problem(res, 400, 'bytes must be 1..64 MiB and ms 0..600000');
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
    const steps = Math.max(1, Math.min(n, Math.ceil(ms / 100)));
    const per = Math.ceil(n / steps);
    let sent = 0;
    for (let i = 0; i < steps && sent < n; i++) {
      if (res.destroyed) return undefined;
      const c = Math.min(per, n - sent);
      res.write(Buffer.alloc(c, 'd'));
      sent += c;
      if (sent < n) await sleep(ms / steps);
    }
    if (!res.destroyed) res.end();
    return undefined;
  }
  const sm = sub.match(/^\/status\/(\d{3})$/);
  if (sm) {
    const status = Number(sm[1]);
    if (status < 200 || status > 599) return problem(res, 400, 'status must be 200..599');
    if (status === 204 || status === 304) { res.writeHead(status); return res.end(); }
    if (status < 400) return sendJson(res, status, { status });
    return problem(res, status, `test upstream answered ${status} on request`);
  }
  if (sub === '/response-headers') {
    const h = {};
    for (const [k, v] of q) {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(k) || /[\r\n]/.test(v)) return problem(res, 400, `bad header ${k}`);
      if (h[k]) h[k] = [].concat(h[k], v); else h[k] = v;
    }
    return sendJson(res, 200, { headers: h }, h);
  }
  return problem(res, 404, `No route for ${req.method} ${url.pathname}.`);
}

async function handle(req, res) {
  res.requestId = randomUUID();
  const url = new URL(req.url, 'https://127.0.0.1');
  if (url.pathname.startsWith('/_control/')) return control(req, res, url.pathname);

  const streamed = url.pathname.startsWith(`${API_PREFIX}/interactions/`) &&
    /\/recordings(\/|$)/.test(url.pathname);
  const body = streamed ? { buf: null, length: 0, over: false } : await readBody(req, opts.maxBody);
  const entry = record(req, url, body);
  state.stats.requests++;
  bump(state.stats.by_path, url.pathname);
  const t0 = Date.now();
  res.on('finish', () => {
    entry.status = res.statusCode;
    bump(state.stats.by_status, String(res.statusCode));
    log(`${req.method} ${url.pathname} tenant=${JSON.stringify(req.headers['tenant-name'] ?? null)} mode=${state.mode} ` +
      `status=${res.statusCode} ${Date.now() - t0}ms`);
  });
  res.on('close', () => { if (entry.status === null) entry.status = res.headersSent ? res.statusCode : 'closed'; });
  res.setHeader('x-request-id', res.requestId);

  if (url.pathname !== API_PREFIX && !url.pathname.startsWith(`${API_PREFIX}/`)) {
    return problem(res, 404, `No route for ${url.pathname}.`);
  }
  const auth = await checkBearer(req.headers.authorization);
  if (auth.error) {
    return problem(res, 401, auth.error, {}, { 'www-authenticate': 'Bearer error="invalid_token"' });
  }
  const tenant = req.headers['tenant-name'];
  if (tenant === undefined || tenant === '') return problem(res, 400, 'The Tenant-Name header is required.');
  if (tenant !== opts.tenant) return problem(res, 403, `Tenant ${tenant} is not accessible with this token.`);
  if (streamed) {
    if (recordings(req, res, url.pathname.slice(API_PREFIX.length))) return undefined;
    req.resume();
    return problem(res, 404, `No route for ${req.method} ${url.pathname}.`);
  }
  return api(req, res, url, body, auth);
}

// ---------- server ----------
const server = createServer({ cert: readFileSync(opts.cert), key: readFileSync(opts.key) }, (req, res) => {
  handle(req, res).catch((err) => {
    log(`request error: ${err && err.message}`);
    if (!res.headersSent) problem(res, 500, 'internal error in the test upstream');
    else res.destroy();
  });
});
server.requestTimeout = 0; // /slow and slow mode hold requests open on purpose
server.headersTimeout = 60000;

// ---------- WebSockets (corti-ws.mjs) ----------
serveWebSockets(server, {
  tenant: opts.tenant, checkBearer, scopesOf, log, titles: TITLES,
  record: (req, url) => {
    state.upgrades.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), headers: { ...req.headers } });
    if (state.upgrades.length > KEEP_REQUESTS) state.upgrades.shift();
    bump(state.stats.by_path, url.pathname);
    return record(req, url, { buf: null, length: 0, over: false });
  },
});

serveUntilParentGoes(server, log);

server.listen(opts.port, opts.host, async () => {
  const { port } = server.address();
  try { await fetchJwks(); } catch (err) { log(`JWKS not fetched yet (${err.message}); will retry on demand`); }
  log(`listening on https://${opts.host}:${port}${API_PREFIX} tenant=${opts.tenant} issuer=${opts.issuer} keys=${jwks.keys.size}`);
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
