// SPEC §5.6: the chain alone cannot show records cut off its end; the MAC'd head, anchored
// once a second and on shutdown, does.  On either store: the tampering is written in each dialect.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, useStack, STORAGE } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { userIds, DAEMON_USER } from '../lib/stack.mjs';

const stack = useStack();

const sql = (q) => stack.sql(q);
const pg = STORAGE === 'postgresql';
const dropTrigger = (t) => (pg ? `DROP TRIGGER ${t} ON audit;` : `DROP TRIGGER ${t};`);
const triggerCount = (t) => (pg ? `SELECT count(*) FROM pg_trigger WHERE tgname = '${t}' AND tgenabled <> 'D'`
  : `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = '${t}'`);

// stop the daemon (a clean stop anchors the head), run fn on the file, give it back, restart
async function offline(fn) {
  const exit = await stack.killDaemon('SIGTERM');
  assert.equal(exit.code, 0);
  const out = fn();
  const d = userIds(DAEMON_USER);
  for (const f of readdirSync(stack.paths.dataDir).filter(() => !pg)) {
    chownSync(join(stack.paths.dataDir, f), d.uid, d.gid);
    chmodSync(join(stack.paths.dataDir, f), 0o600);
  }
  await stack.startDaemon();
  return out;
}

async function verify() {
  return stack.ctl(['audit', 'verify'], { expect: null });
}

test('after activity and a clean restart the chain verifies', async () => {
  const app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  for (const s of ['transcribe', 'streams', 'transcribe', 'streams']) assertToken(await stack.token(app, s));
  await offline(() => {});
  const v = await verify();
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('dropping the append-only triggers and deleting the newest 3 records is detected', async () => {
  const last = await offline(() => {
    sql(dropTrigger('audit_no_delete') + dropTrigger('audit_no_update') + (pg ? dropTrigger('audit_no_truncate') : ''));
    const n = Number(sql('SELECT max(seq) FROM audit'));
    sql(`DELETE FROM audit WHERE seq > ${n - 3}`);
    return n;
  });
  const v = await verify();
  assert.equal(v.code, 1, `verify after cutting records ${last - 2}..${last}: exit ${v.code}\n${v.stdout}${v.stderr}`);
  assert.match(v.stderr + v.stdout, /missing|cut off/, v.stderr + v.stdout);
});

test('moving the head back to match the cut does not help: its MAC needs the key', async () => {
  await offline(() => {
    const n = Number(sql('SELECT max(seq) FROM audit'));
    sql(`UPDATE audit_head SET seq = ${n}, hash = (SELECT hash FROM audit WHERE seq = ${n})`);
  });
  const v = await verify();
  assert.equal(v.code, 1, `verify with a forged head: exit ${v.code}\n${v.stdout}${v.stderr}`);
  // the restart after the cut recorded it (audit.tamper) and anchored there, so the forged
  // head may even match; the gap the cut left is what verification reports then
  assert.match(v.stderr + v.stdout, /head|missing/, v.stderr + v.stdout);
});

test('the reproduced cut: triggers dropped, newest records AND the head row deleted, restart: detected', async () => {
  const cut = await offline(() => {
    sql(dropTrigger('audit_no_delete'));
    const n = Number(sql('SELECT max(seq) FROM audit'));
    sql(`DELETE FROM audit WHERE seq > ${n - 2}; DELETE FROM audit_head;`);
    return n;
  });
  const v = await verify();
  assert.equal(v.code, 1, `verify after cutting ${cut - 1}..${cut} and the head: exit ${v.code}\n${v.stdout}${v.stderr}`);
  assert.match(v.stderr + v.stdout, /tamper/, v.stderr + v.stdout);
  // the daemon put the trigger back and wrote down what it found, in the chain itself
  const t = JSON.parse((await stack.ctl(['--json', 'audit', 'query', '--event', 'audit.tamper'], { expect: null })).stdout || '{}');
  const recs = t.records || [];
  assert.ok(recs.some((r) => /head was missing/.test(r.detail)), JSON.stringify(t));
  assert.ok(recs.some((r) => /triggers/.test(r.detail)), JSON.stringify(t));
  const triggers = await offline(() => sql(triggerCount('audit_no_delete')));
  assert.equal(triggers, '1');
});
