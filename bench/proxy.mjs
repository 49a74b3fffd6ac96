#!/usr/bin/env node
// bench/proxy.mjs: a recording upload and download through flowgate's data plane (nginx,
// after the gate said yes) against the same transfer straight to the Corti stand-in, in one
// run; prints throughput, the ratio (proxy / direct, target >= 0.8) and the peak resident
// memory of flowgated, every flowgate-fcgi process and nginx during the proxied transfers.
//
//   FLOWGATE_BUILD_DIR=build node bench/proxy.mjs [--mib 150] [--rounds 2]
//
// Needs root (tests/lib/stack.mjs starts the whole stack as the integration tests do: the
// OIDC server, the Corti stand-in, flowgated, flowgate-fcgi, nginx, every one its child).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { Stack, descendantPids } from '../tests/lib/stack.mjs';
import { basicAuth } from '../tests/lib/util.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MIB = arg('mib', 150);
const ROUNDS = arg('rounds', 2);
const BYTES = MIB * 1024 * 1024;
const PATTERN = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n');

/** One transfer: the body streamed from PATTERN (upload); the answer hashed as it comes. */
function transfer(mod, opts, upload) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = mod.request({ ...opts, agent: false }, (res) => {
      const h = createHash('sha256');
      const head = [];
      let n = 0;
      res.on('data', (c) => {
        n += c.length;
        h.update(c);
        if (n <= 65536) head.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode, bytes: n, sha256: h.digest('hex'),
        seconds: Number(process.hrtime.bigint() - t0) / 1e9, text: Buffer.concat(head).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (!upload) { req.end(opts.body); return; }
    let left = BYTES;
    const more = () => {
      while (left > 0) {
        const c = left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left);
        left -= c.length;
        if (!req.write(c)) { req.once('drain', more); return; }
      }
      req.end();
    };
    more();
  });
}

/** Peak VmRSS (KiB) per process name while fn runs, sampled every 25 ms. */
async function peakRss(stack, fn) {
  const groups = () => ({
    flowgated: [stack.procs.daemon.pid],
    'flowgate-fcgi': [stack.procs.fcgi.pid, ...descendantPids(stack.procs.fcgi.pid)],
    nginx: [stack.procs.nginx.pid, ...descendantPids(stack.procs.nginx.pid)],
  });
  const rssOf = (p) => {
    try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))[1]); } catch { return 0; }
  };
  const before = {};
  const peak = {};
  for (const [k, pids] of Object.entries(groups())) {
    before[k] = Math.max(...pids.map(rssOf));
    peak[k] = before[k];
  }
  const t = setInterval(() => {
    for (const [k, pids] of Object.entries(groups())) peak[k] = Math.max(peak[k], ...pids.map(rssOf));
  }, 25);
  try { return { result: await fn(), before, peak }; } finally { clearInterval(t); }
}

async function main() {
  const stack = new Stack({ cortiApi: true });
  try {
    await stack.start();
    const r = await stack.ctl(['--json', 'app', 'add', 'bench', '--connection', 'demo', '--flow',
      'client_credentials', '--kind', 'backend', '--scopes', 'streams transcribe', '--proxy-methods',
      'GET POST', '--proxy-paths', '/interactions']);
    const app = JSON.parse(r.stdout);
    const token = JSON.parse((await stack.token(app, 'streams transcribe')).body).access_token;
    const ca = readFileSync(stack.tls.caCert);
    const direct = (method, path, headers) => ({ host: '127.0.0.1', port: stack.corti.port, method,
      path: `/api/v2${path}`, ca, headers: { authorization: `Bearer ${token}`, 'tenant-name': 'demo', ...headers } });
    const proxied = (method, path, headers) => ({ host: '127.0.0.1', port: stack.nginxPort, method,
      path: `/api/v1/proxy/demo${path}`, headers: { authorization: basicAuth(app.client_id, app.client_secret), ...headers } });
    const created = await transfer(https, { ...direct('POST', '/interactions/', { 'content-type': 'application/json' }),
      body: JSON.stringify({ encounter: { identifier: 'bench', status: 'planned', type: 'first_consultation' } }) }, false);
    if (created.status !== 201) throw new Error(`interaction: ${created.status} ${created.text}`);
    const id = JSON.parse(created.text).interactionId;
    const up = { 'content-type': 'application/octet-stream', 'content-length': BYTES };
    const rows = [];
    let rss = null;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [how, mk, mod] of [['direct', direct, https], ['proxy', proxied, http]]) {
        const run = async () => {
          const u = await transfer(mod, mk('POST', `/interactions/${id}/recordings/`, up), true);
          if (u.status !== 201) throw new Error(`${how} upload: ${u.status}`);
          const rec = JSON.parse(u.text);
          const d = await transfer(mod, mk('GET', `/interactions/${id}/recordings/${rec.recordingId}`, {}), false);
          if (d.status !== 200 || d.bytes !== BYTES) throw new Error(`${how} download: ${d.status} ${d.bytes}`);
          return { up: u.seconds, down: d.seconds };
        };
        if (how === 'proxy' && round === ROUNDS - 1) {
          const m = await peakRss(stack, run);
          rss = m;
          rows.push({ how, round, ...m.result });
        } else rows.push({ how, round, ...(await run()) });
      }
    }
    const best = (how, k) => Math.min(...rows.filter((x) => x.how === how).map((x) => x[k]));
    const mibs = (s) => (MIB / s).toFixed(0);
    const out = {
      mib: MIB,
      upload: { direct_mib_s: +mibs(best('direct', 'up')), proxy_mib_s: +mibs(best('proxy', 'up')),
        ratio: +(best('direct', 'up') / best('proxy', 'up')).toFixed(2) },
      download: { direct_mib_s: +mibs(best('direct', 'down')), proxy_mib_s: +mibs(best('proxy', 'down')),
        ratio: +(best('direct', 'down') / best('proxy', 'down')).toFixed(2) },
      rss_kib: { before: rss.before, peak: rss.peak },
    };
    console.log(`${MIB} MiB, best of ${ROUNDS}: upload direct ${out.upload.direct_mib_s} MiB/s, proxy ` +
      `${out.upload.proxy_mib_s} MiB/s, ratio ${out.upload.ratio}; download direct ${out.download.direct_mib_s} ` +
      `MiB/s, proxy ${out.download.proxy_mib_s} MiB/s, ratio ${out.download.ratio} (target >= 0.8)`);
    for (const k of Object.keys(rss.peak)) {
      console.log(`peak RSS ${k}: ${rss.peak[k]} KiB (before: ${rss.before[k]} KiB)`);
    }
    console.log(JSON.stringify(out));
  } finally {
    await stack.stop();
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
