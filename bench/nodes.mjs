// bench/nodes.mjs — bench/run --nodes N: the cached token path on one SQLite node, one
// PostgreSQL node and N PostgreSQL nodes behind one nginx upstream group, in one run; then the
// cold miss: 1,000 concurrent requests for a scope set no node has, spread over the nodes by
// nginx, and how many token requests the upstream saw (the target is exactly 1).
//
// usage: node bench/nodes.mjs [--nodes 3] [--duration 8s] [--connections 32] [--workers 4]
// Builds each topology with tests/lib/stack.mjs (the same parts the integration tests run),
// every process a child stopped by pid at the end. Needs root, like the tests.
import { execFileSync } from 'node:child_process';
import { Stack } from '../tests/lib/stack.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const NODES = Number(opt('nodes', 3));
const DURATION = opt('duration', '8s');
const CONNS = Number(opt('connections', 32));
const WORKERS = Number(opt('workers', 4));

/** wrk with bench/token.lua against base's token endpoint; its BENCH_RESULT. */
function wrk(base, app, scope) {
  const out = execFileSync('wrk', ['-t2', `-c${CONNS}`, `-d${DURATION}`, '--latency', '-s', 'bench/token.lua',
    `${base}/oauth2/token`], {
    encoding: 'utf8',
    env: { ...process.env, FG_BENCH_AUTH: Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64'), FG_BENCH_SCOPE: scope },
  });
  const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  return JSON.parse(line.slice('BENCH_RESULT '.length));
}

/** One topology: the first stack (and its peers), started; what run() returns; all stopped. */
async function topology(label, storage, n, run) {
  const first = new Stack({ storage, fcgiWorkers: WORKERS });
  const peers = [];
  try {
    await first.start();
    for (let i = 1; i < n; i++) {
      const p = new Stack({ storage, peerOf: first, noNginx: true, fcgiWorkers: WORKERS });
      peers.push(p);
      await p.start();
    }
    if (peers.length) await first.serveNodes(peers);
    return await run(first, peers, label);
  } finally {
    for (const p of peers) await p.stop().catch(() => {});
    await first.stop().catch(() => {});
  }
}

async function cached(first, peers, label) {
  const app = await first.addApp('bench', { scopes: 'transcribe streams' });
  for (let i = 0; i < 3 * (peers.length + 1); i++) await first.token(app, 'streams');	// every node warm
  const r = wrk(first.baseUrl, app, 'streams');
  console.log(`${label.padEnd(34)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50_ms.toFixed(2)} ms   p99 ${r.p99_ms.toFixed(2)} ms   non-2xx ${r.errors_status}`);
  return { first, app, r };
}

const results = {};
console.log(`bench/nodes: cached token path, wrk -c${CONNS} -d${DURATION}, ${WORKERS} FastCGI workers per node`);
results.sqlite = await topology('1 node, SQLite', 'sqlite', 1, async (f, p, l) => (await cached(f, p, l)).r);
results.pg1 = await topology('1 node, PostgreSQL', 'postgresql', 1, async (f, p, l) => (await cached(f, p, l)).r);
results.pgN = await topology(`${NODES} nodes, PostgreSQL, one nginx`, 'postgresql', NODES, async (f, p, l) => {
  const { app, r } = await cached(f, p, l);
  // the cold miss: a scope set nobody asked for yet, 1,000 requests at once through nginx
  const before = (await f.upstreamStats()).token_requests;
  const answers = await Promise.all(Array.from({ length: 1000 }, () => f.token(app, 'transcribe')));
  const upstream = (await f.upstreamStats()).token_requests - before;
  const ok = answers.filter((a) => a.status === 200).length;
  console.log(`cold miss, 1000 concurrent over ${NODES} nodes: ${ok} answered 200, upstream token requests: ${upstream} (target 1)`);
  return { ...r, cold_upstream: upstream, cold_ok: ok };
});
console.log(`ratios: ${NODES} nodes / 1 PostgreSQL node ${(results.pgN.rps / results.pg1.rps).toFixed(2)}, ` +
  `1 PostgreSQL node / 1 SQLite node ${(results.pg1.rps / results.sqlite.rps).toFixed(2)}; ` +
  `p99 ${results.sqlite.p99_ms.toFixed(2)} / ${results.pg1.p99_ms.toFixed(2)} / ${results.pgN.p99_ms.toFixed(2)} ms`);
console.log(`BENCH_NODES ${JSON.stringify(results)}`);
process.exit(0);
