#!/usr/bin/env node
// bench/ws.mjs: WebSocket round trips through flowgate's relay (nginx, after the gate) against
// the same round trips straight to the Corti stand-in, in one run: N concurrent transcribe
// streams, each sending M audio chunks of 250 ms (8000 bytes) and waiting for the echo; prints
// p50/p99 per message for both and the relay's added latency (SPEC target: < 1 ms p99 at 100
// concurrent streams).
//
//   FLOWGATE_BUILD_DIR=build node bench/ws.mjs [--streams 100] [--messages 50]
//
// Needs root (tests/lib/stack.mjs starts the whole stack, every process its child).
import { readFileSync } from 'node:fs';
import WebSocket from '../tests/node_modules/ws/wrapper.mjs';
import { Stack } from '../tests/lib/stack.mjs';
import { basicAuth } from '../tests/lib/util.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const STREAMS = arg('streams', 100);
const MESSAGES = arg('messages', 50);
const CHUNK = Buffer.alloc(8000, 7);

/** One stream: open, configure, then MESSAGES round trips; their times in ms. */
function stream(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const times = [];
    let t0 = 0;
    ws.once('open', () => ws.send(JSON.stringify({ type: 'config', configuration: { primaryLanguage: 'en' } })));
    ws.on('message', (data, binary) => {
      const type = binary ? null : JSON.parse(data).type;	// each chunk is answered by a transcript
      if (type === 'transcript') times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      else if (type !== 'CONFIG_ACCEPTED') reject(new Error(String(data)));
      if (times.length === MESSAGES) { ws.close(); resolve(times); return; }
      t0 = process.hrtime.bigint();
      ws.send(CHUNK);
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function run(name, mk) {
  const all = (await Promise.all(Array.from({ length: STREAMS }, mk))).flat().sort((a, b) => a - b);
  return { name, n: all.length, p50: pct(all, 0.5), p99: pct(all, 0.99) };
}

async function main() {
  const stack = new Stack({ cortiApi: true });
  try {
    await stack.start();
    const app = JSON.parse((await stack.ctl(['--json', 'app', 'add', 'wsbench', '--connection', 'demo',
      '--flow', 'client_credentials', '--kind', 'backend', '--scopes', 'transcribe'])).stdout);
    const token = JSON.parse((await stack.token(app, 'transcribe')).body).access_token;
    const ca = readFileSync(stack.tls.caCert);
    const direct = () => stream(`wss://127.0.0.1:${stack.corti.port}/audio-bridge/v2/transcribe` +
      `?tenant-name=demo&token=Bearer%20${token}`, { ca });
    const relay = () => stream(`ws://127.0.0.1:${stack.nginxPort}/ws/demo/transcribe`,
      { headers: { authorization: basicAuth(app.client_id, app.client_secret) } });
    await run('warm-up', relay);
    const rows = [await run('direct', direct), await run('relay', relay), await run('direct', direct),
      await run('relay', relay)];
    const best = (name, k) => Math.min(...rows.filter((r) => r.name === name).map((r) => r[k]));
    const out = { streams: STREAMS, messages: MESSAGES,
      direct: { p50_ms: +best('direct', 'p50').toFixed(3), p99_ms: +best('direct', 'p99').toFixed(3) },
      relay: { p50_ms: +best('relay', 'p50').toFixed(3), p99_ms: +best('relay', 'p99').toFixed(3) } };
    out.added_ms = { p50: +(out.relay.p50_ms - out.direct.p50_ms).toFixed(3),
      p99: +(out.relay.p99_ms - out.direct.p99_ms).toFixed(3) };
    console.log(`${STREAMS} concurrent streams x ${MESSAGES} chunks of 8000 bytes, best of 2: direct p50 ` +
      `${out.direct.p50_ms} ms p99 ${out.direct.p99_ms} ms; relay p50 ${out.relay.p50_ms} ms p99 ` +
      `${out.relay.p99_ms} ms; added p50 ${out.added_ms.p50} ms, p99 ${out.added_ms.p99} ms (target < 1 ms p99)`);
    console.log(JSON.stringify(out));
  } finally {
    await stack.stop();
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
