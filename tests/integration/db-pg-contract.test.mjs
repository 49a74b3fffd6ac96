// The storage interface's contract on PostgreSQL: tests/unit/test_db_contract (every check of
// db.h's promises, through db-pg.c) against a server of this file's own (tests/lib/postgres.mjs),
// and that server's own promises: a Unix socket only, fsync on, nothing left once stopped.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { test, before, after } from '../lib/runner.mjs';
import { startPostgres } from '../lib/postgres.mjs';
import { buildDir, pidAlive, descendantPids } from '../lib/stack.mjs';

let pg;

before(async () => { pg = await startPostgres(); });
after(async ({ failed }) => { if (pg) await pg.stop({ keep: failed }); });

/** Run a program to its end, killed after timeoutMs (a backend that deadlocks): {code, signal, stdout, stderr}. */
function runProgram(bin, env, timeoutMs = 50000) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = []; const err = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

test('the server listens on its Unix socket only, with fsync on', async () => {
  assert.equal(pg.psql('SHOW listen_addresses'), '');
  assert.equal(pg.psql('SHOW unix_socket_directories'), pg.socketDir);
  assert.equal(pg.psql('SHOW fsync'), 'on');
  assert.equal(pg.psql('SELECT current_database()'), 'flowgate');
});

test('every check of the storage contract passes on PostgreSQL', async () => {
  const bin = join(buildDir(), 'tests/unit/test_db_contract');
  // a check program, which plain make does not build: bring it up to date with the backend
  execFileSync('make', ['-s', '-C', buildDir(), 'tests/unit/test_db_contract'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const r = await runProgram(bin, { FG_TEST_PG_CONNINFO: pg.conninfo });
  const notOk = r.stdout.split('\n').filter((l) => l.startsWith('not ok') || l.startsWith('# '));
  assert.equal(r.code, 0, `test_db_contract exited ${r.code ?? r.signal}:\n${notOk.join('\n')}\n${r.stderr}`);
  const plan = /^1\.\.(\d+)$/m.exec(r.stdout);
  assert.ok(plan && Number(plan[1]) > 300, `a plan of the whole contract, not a skip: ${plan?.[0]}`);
  assert.doesNotMatch(r.stdout, /^not ok/m);
  assert.match(r.stdout, /^# postgresql, persistent statements$/m);
});

test('stop ends the server and every process of it', async () => {
  const kids = descendantPids(pg.pid);
  assert.ok(kids.length > 0, 'the postmaster has its background processes');
  await pg.stop({ keep: true });
  assert.equal(pidAlive(pg.pid), false);
  for (const k of kids) assert.equal(pidAlive(k), false, `postgres child ${k} still alive`);
  assert.equal(existsSync(join(pg.socketDir, '.s.PGSQL.5432')), false, 'the socket is gone');
});
