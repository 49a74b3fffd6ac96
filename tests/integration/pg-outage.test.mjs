// Issue 11: PostgreSQL stopped under load.  While it is down no token leaves (the audit cannot
// commit) and callers get a JSON error, not a hang; when it is back the daemon reconnects on its
// own and serves again; every token a client received has its committed issuance record, and
// the chain verifies.  The PostgreSQL counterpart of audit-fail-closed and audit-faults.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test, useStack, needStorage } from '../lib/runner.mjs';
import { sleep } from '../lib/util.mjs';

needStorage('postgresql', 'restarts the PostgreSQL server under the daemon');
const stack = useStack({ storage: 'postgresql' });
const fp = (t) => `sha256:${createHash('sha256').update(t).digest('hex').slice(0, 32)}`;
const received = new Map();	// fingerprint -> times handed out
const phases = { before: {}, down: {}, after: {} };
let phase = 'before';
let app;

/** Ask for tokens until stop() says so, tallying answers by phase and status. */
function load(workers) {
  let running = true;
  const one = async () => {
    while (running) {
      const scope = ['transcribe', 'streams', 'transcribe streams'][Math.floor(Math.random() * 3)];
      const r = await stack.token(app, scope);
      const tally = phases[phase];
      tally[r.status] = (tally[r.status] || 0) + 1;
      if (r.status === 200) {
        const t = r.json.access_token;
        received.set(fp(t), (received.get(fp(t)) || 0) + 1);
      } else {
        assert.equal(r.json?.access_token, undefined, 'a refusal carried a token');
        assert.ok(r.json?.error, `status ${r.status} without a JSON error: ${r.body}`);
      }
    }
  };
  const all = Promise.all(Array.from({ length: workers }, one));
  return async () => { running = false; await all; };
}

test('PostgreSQL restarted under load: refusals while it is down, tokens again after, none without its record', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  const stop = load(4);
  try {
    await sleep(1500);
    phase = 'down';
    const restart = stack.pg.restart({ mode: 'immediate', pause: 2500 });
    await restart;
    phase = 'after';
    await sleep(4000);
  } finally {
    await stop();
  }
  console.log(`# answers by status: ${JSON.stringify(phases)}`);
  assert.ok((phases.before[200] || 0) > 20, 'no load before the restart');
  const downRefused = Object.entries(phases.down).filter(([s]) => s !== '200').reduce((n, [, c]) => n + c, 0);
  assert.ok(downRefused > 0, 'nothing was refused while PostgreSQL was down');
  // an outage is worth a retry: 503 temporarily_unavailable, never 500, never a 401 that would
  // tell a good app its credentials are wrong
  const others = Object.keys({ ...phases.down, ...phases.after }).filter((st) => st !== '200' && st !== '503');
  assert.ok((phases.down[503] || 0) > 0 && others.length === 0, `answers: ${JSON.stringify(phases)}`);
  assert.ok((phases.after[200] || 0) > 20, `the daemon did not serve again after the restart: ${JSON.stringify(phases.after)}`);
}, { timeout: 60000 });

test('every token handed out has its issuance record; the chain verifies', async () => {
  const recorded = new Map();
  for (const f of stack.sql("SELECT token_fp FROM audit WHERE event = 'token.issue' AND outcome = 'issued'").split('\n')) {
    recorded.set(f, (recorded.get(f) || 0) + 1);
  }
  const missing = [...received].filter(([f, n]) => (recorded.get(f) || 0) < n);
  assert.deepEqual(missing, [], `tokens handed out more often than recorded: ${JSON.stringify(missing.slice(0, 5))}`);
  const v = await stack.ctl(['audit', 'verify'], { expect: null });
  assert.equal(v.code, 0, v.stdout + v.stderr);
});
