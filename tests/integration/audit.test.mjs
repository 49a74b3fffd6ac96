// SPEC §5.6: every issuance and refusal is audited, hash-chained, verifiable with
// `flowgatectl audit verify`, holding token fingerprints, never tokens.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync, readdirSync, chownSync, chmodSync } from 'node:fs';
import { join, basename } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken, assertRefused } from '../lib/oauth-assert.mjs';
import { userIds, DAEMON_USER } from '../lib/stack.mjs';

const stack = useStack();
let app;
const tokens = [];

async function verifyCount() {
  const r = await stack.ctl(['audit', 'verify']);
  const m = r.stdout.match(/audit chain ok: (\d+) records/);
  assert.ok(m, `audit verify printed: ${r.stdout} ${r.stderr}`);
  return Number(m[1]);
}

function sqlite(db, sql) {
  return execFileSync('sqlite3', ['-batch', '-bail', db, sql], { encoding: 'utf8' }).trim();
}

test('audit verify passes after activity, and every issuance and refusal adds records', async () => {
  const n0 = await verifyCount();
  app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  const n1 = await verifyCount();
  assert.ok(n1 > n0, 'registering an app was not audited');
  for (const s of ['transcribe', 'streams', 'transcribe streams']) {
    tokens.push(assertToken(await stack.token(app, s)).access_token);
  }
  const n2 = await verifyCount();
  assert.ok(n2 >= n1 + 3, `3 issuances added ${n2 - n1} records`);
  // a cached issuance is still an issuance
  tokens.push(assertToken(await stack.token(app, 'transcribe')).access_token);
  const n3 = await verifyCount();
  assert.ok(n3 > n2, 'an issuance from the cache was not audited');
  assertRefused(await stack.token({ ...app, client_secret: 'not-the-secret-at-all' }, 'transcribe'), 401, 'invalid_client');
  const n4 = await verifyCount();
  assert.ok(n4 > n3, 'an invalid_client refusal was not audited');
  assertRefused(await stack.token(app, 'interactions'), 400, 'invalid_scope');
  const n5 = await verifyCount();
  assert.ok(n5 > n4, 'an invalid_scope refusal was not audited');
});

test('audit records name the app and hold token fingerprints, never the tokens', async () => {
  const plain = await stack.ctl(['audit', 'tail', '-n', '100']);
  const json = await stack.ctl(['audit', 'tail', '-n', '100'], { json: true });
  for (const out of [plain.stdout, json.stdout]) {
    assert.ok(out.includes('svc') || out.includes(app.client_id), 'the audit does not say which app');
    for (const t of tokens) {
      const [, payload, sig] = t.split('.');
      assert.ok(!out.includes(t), 'a token is in the audit log');
      assert.ok(!out.includes(sig), 'a token signature is in the audit log');
      assert.ok(!out.includes(payload), 'a token payload is in the audit log');
    }
  }
  // something fingerprint-like (hex or base64url, >= 16 chars) is recorded for issuances
  assert.match(plain.stdout + json.stdout, /fingerprint|[0-9a-f]{16,}|[A-Za-z0-9_-]{22,}/i, 'no token fingerprint in the audit tail');
  // nor are tokens anywhere in the database files
  const p = stack.paths;
  for (const f of [p.database, p.databaseWal, p.databaseShm].filter(existsSync)) {
    const buf = readFileSync(f);
    for (const t of tokens) assert.equal(buf.indexOf(Buffer.from(t.split('.')[2])), -1, `${basename(f)} holds a token`);
  }
});

test('tampering with an audit row (daemon stopped) makes audit verify fail', async () => {
  const p = stack.paths;
  const exit = await stack.killDaemon('SIGTERM');
  assert.equal(exit.code, 0);
  const tables = sqlite(p.database, "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE '%audit%' ORDER BY name").split('\n').filter(Boolean);
  assert.ok(tables.length >= 1, 'no audit table in the database');
  // the table with the most rows is the log
  const table = tables.map((t) => [t, Number(sqlite(p.database, `SELECT count(*) FROM "${t}"`))]).sort((a, b) => b[1] - a[1])[0];
  const [name, rows] = table;
  assert.ok(rows >= 5, `${name} has ${rows} rows`);
  const cols = sqlite(p.database, `SELECT name || '|' || type FROM pragma_table_info('${name}')`).split('\n')
    .map((l) => { const [n, t] = l.split('|'); return { n, t: (t || '').toUpperCase() }; });
  const textCols = cols.filter((c) => /TEXT|CHAR|CLOB|^$/.test(c.t));
  const col = textCols.find((c) => !/hash|mac|sig|prev|chain|^id$/i.test(c.n)) || textCols[0]
    || cols.find((c) => !/^id$/i.test(c.n));
  assert.ok(col, `no text column in ${name}: ${JSON.stringify(cols)}`);
  // an attacker with file access can drop append-only triggers first
  for (const trg of sqlite(p.database, `SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='${name}'`).split('\n').filter(Boolean)) {
    sqlite(p.database, `DROP TRIGGER "${trg}"`);
  }
  const rowid = Number(sqlite(p.database, `SELECT rowid FROM "${name}" ORDER BY rowid LIMIT 1 OFFSET ${Math.floor(rows / 2)}`));
  const beforeVal = sqlite(p.database, `SELECT quote("${col.n}") FROM "${name}" WHERE rowid = ${rowid}`);
  sqlite(p.database, `UPDATE "${name}" SET "${col.n}" = coalesce("${col.n}", '') || 'X' WHERE rowid = ${rowid}`);
  const afterVal = sqlite(p.database, `SELECT quote("${col.n}") FROM "${name}" WHERE rowid = ${rowid}`);
  assert.notEqual(afterVal, beforeVal, 'the tampering did not change the row');
  // sqlite3 ran as root: give any file it left back to the daemon's user, mode 0600
  const d = userIds(DAEMON_USER);
  for (const f of readdirSync(p.dataDir)) {
    chownSync(join(p.dataDir, f), d.uid, d.gid);
    chmodSync(join(p.dataDir, f), 0o600);
  }
  await stack.startDaemon();
  const v = await stack.ctl(['audit', 'verify'], { expect: null });
  assert.equal(v.code, 1, `audit verify after tampering with ${name}.${col.n} row ${rowid}: exit ${v.code}\n${v.stdout}${v.stderr}`);
  assert.match(v.stdout + v.stderr, /\d+/, 'verify should name the first bad record');
  assert.doesNotMatch(v.stdout, /audit chain ok/);
}, { storage: 'sqlite', why: 'finds the log table through sqlite_master; the postgresql variant follows' });

test('tampering with an audit row on PostgreSQL (triggers disabled, daemon stopped) makes audit verify fail', async () => {
  const exit = await stack.killDaemon('SIGTERM');
  assert.equal(exit.code, 0);
  const rows = Number(stack.sql('SELECT count(*) FROM audit'));
  assert.ok(rows >= 5, `audit has ${rows} rows`);
  const seq = Number(stack.sql(`SELECT seq FROM audit ORDER BY seq LIMIT 1 OFFSET ${Math.floor(rows / 2)}`));
  // the database's owner can switch the append-only triggers off first
  stack.sql('ALTER TABLE audit DISABLE TRIGGER USER');
  stack.sql(`UPDATE audit SET detail = coalesce(detail, '') || 'X' WHERE seq = ${seq}`);
  assert.match(stack.sql(`SELECT detail FROM audit WHERE seq = ${seq}`), /X$/);
  await stack.startDaemon();
  const v = await stack.ctl(['audit', 'verify'], { expect: null });
  assert.equal(v.code, 1, `audit verify after tampering with record ${seq}: exit ${v.code}\n${v.stdout}${v.stderr}`);
  assert.match(v.stdout + v.stderr, new RegExp(String(seq)), 'verify should name the changed record');
  assert.equal(stack.sql("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit'::regclass AND NOT tgisinternal AND tgenabled <> 'D'"), '3',
    'the daemon did not put the triggers back at start');
}, { storage: 'postgresql', why: 'the sqlite variant is above' });
