// The Corti stand-in's WebSockets (tests/upstream/corti-api.mjs): /audio-bridge/v2/transcribe and
// /api/v2/interactions/{id}/streams, answering only in the message shapes @corti/sdk's schemas
// accept (serialization/resources/{transcribe,stream}/client/socket/*SocketResponse), so the SDK
// never logs "Failed to validate". What each message means is in tests/upstream/README.md.
//
//   first message: {"type":"config","configuration":{..}} within 10 s, else the deadline's
//                  status (transcribe CONFIG_TIMEOUT, streams CONFIG_NOT_PROVIDED) and close 1008;
//                  audio first -> CONFIG_MISSING, anything else -> CONFIG_DENIED (close 1008)
//   accepted:      {"type":"CONFIG_ACCEPTED"} (+ "sessionId" on transcribe, as its schema requires)
//   audio chunk N: a final transcript whose text is "chunk N: B bytes sha256 HEX" (what arrived),
//                  timed as 16 kHz 16-bit mono (32000 bytes a second)
//   {"type":"flush"} -> {"type":"flushed"};   {"type":"config"} again -> CONFIG_ALREADY_RECEIVED
//   {"type":"end"}   -> {"type":"usage","credits":SECONDS} then ended ("ended" / "ENDED"), close 1000
//   anything else    -> {"type":"error","error":{id,title,status,details,doc}} (the session stays)
import { createHash, randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';

const CONFIG_DEADLINE_MS = 10000;
const BYTES_PER_SECOND = 32000;
const KEEP_SESSIONS = 50;
const DOC = 'https://docs.corti.ai/api-reference/';

/** The two sockets' differences, from the SDK's schemas. */
const KINDS = {
  transcribe: { scope: 'transcribe', deadline: 'CONFIG_TIMEOUT', ended: 'ended', sessionId: true },
  streams: { scope: 'streams', deadline: 'CONFIG_NOT_PROVIDED', ended: 'ENDED', sessionId: false },
};

/** The last sessions, for GET /_control/ws: what each socket received. */
export const wsSessions = [];

function transcript(kind, text, start, end) {
  if (kind === 'transcribe') {
    return { type: 'transcript', data: { text, rawTranscriptText: text, start, end, isFinal: true } };
  }
  return {
    type: 'transcript',
    data: [{ id: randomUUID(), transcript: text, final: true, speakerId: 0, participant: { channel: 0 }, time: { start, end } }],
  };
}

const wsError = (status, title, details) => ({
  type: 'error', error: { id: randomUUID(), title, status, details, doc: DOC },
});

/** One session: the configuration first, then answers to audio and control messages. */
function wsSession(ws, kind, info) {
  const k = KINDS[kind];
  const sessionId = randomUUID();
  const audio = createHash('sha256');
  const say = (m) => ws.send(JSON.stringify(m));
  const status = (type, reason) => say({ type, ...(reason ? { reason } : {}), ...(k.sessionId ? { sessionId } : {}) });
  let done = false;	// after a refusal or "end": later messages are ignored
  const finish = () => { if (info.sha256 === null) info.sha256 = audio.digest('hex'); done = true; };
  const refuse = (type, reason) => { status(type, reason); finish(); ws.close(1008, type); };
  const timer = setTimeout(() => refuse(k.deadline, 'no configuration within 10 seconds'), CONFIG_DEADLINE_MS);

  ws.on('message', (data, isBinary) => {
    if (done) return;
    let msg = null;
    if (!isBinary) try { msg = JSON.parse(data.toString('utf8')); } catch { /* not JSON */ }
    const type = msg && typeof msg === 'object' ? msg.type : undefined;
    if (info.configuration === null) {
      clearTimeout(timer);
      if (isBinary) return refuse('CONFIG_MISSING', 'audio arrived before the configuration');
      if (type !== 'config' || !msg.configuration || typeof msg.configuration !== 'object') {
        return refuse('CONFIG_DENIED', 'the first message must be {"type":"config","configuration":{...}}');
      }
      info.configuration = msg.configuration;
      return status('CONFIG_ACCEPTED');
    }
    if (isBinary) {
      const start = info.bytes / BYTES_PER_SECOND;
      info.chunks++;
      info.bytes += data.length;
      audio.update(data);
      const hex = createHash('sha256').update(data).digest('hex');
      return say(transcript(kind, `chunk ${info.chunks}: ${data.length} bytes sha256 ${hex}`, start, info.bytes / BYTES_PER_SECOND));
    }
    if (type === 'flush') return say({ type: 'flushed' });
    if (type === 'config') return status('CONFIG_ALREADY_RECEIVED');
    if (type === 'end') {
      finish();
      say({ type: 'usage', credits: info.bytes / BYTES_PER_SECOND });
      say({ type: k.ended });
      return ws.close(1000);
    }
    return say(wsError(400, 'Bad Request', `unknown message ${type === undefined ? '(not a JSON object with a type)' : JSON.stringify(type)}`));
  });
  ws.on('close', (code) => {
    clearTimeout(timer);
    finish();
    info.closed = code;
  });
}

/**
 * Serve both WebSockets on server's upgrades.  o: {tenant, checkBearer, scopesOf, log, record,
 * titles}; record(req, url) returns the /_control/requests entry (its status is set here).
 */
export function serveWebSockets(server, o) {
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'https://127.0.0.1');
    const entry = o.record(req, url);
    const refuse = (code, why) => {
      o.log(`ws ${url.pathname}: refused ${code} (${why})`);
      entry.status = code;
      socket.end(`HTTP/1.1 ${code} ${o.titles[code]}\r\nConnection: close\r\n\r\n`);
    };
    const ia = /^\/api\/v2\/interactions\/([^/]+)\/streams$/.exec(url.pathname);
    const kind = url.pathname === '/audio-bridge/v2/transcribe' ? 'transcribe' : ia ? 'streams' : null;
    if (!kind) return refuse(404, 'no such WebSocket');
    o.checkBearer(url.searchParams.get('token') || '').then((auth) => {
      if (auth.error) return refuse(401, auth.error);
      if (url.searchParams.get('tenant-name') !== o.tenant) return refuse(403, 'tenant');
      if (!o.scopesOf(auth.claims).has(KINDS[kind].scope)) return refuse(403, `scope ${kind} missing`);
      entry.status = 101;
      const info = { kind, interactionId: ia ? ia[1] : null, opened: new Date().toISOString(), configuration: null,
        chunks: 0, bytes: 0, sha256: null, closed: null };
      wsSessions.push(info);
      if (wsSessions.length > KEEP_SESSIONS) wsSessions.splice(0, wsSessions.length - KEEP_SESSIONS);
      o.log(`ws ${url.pathname}: open`);
      return wss.handleUpgrade(req, socket, head, (ws) => wsSession(ws, kind, info));
    }).catch(() => socket.destroy());
    return undefined;
  });
}
