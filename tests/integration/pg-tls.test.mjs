// Issue 11: TLS to the database.  The daemon reaches PostgreSQL over TCP with sslmode=verify-full
// (the connection string's own libpq settings), its session is encrypted, and a server whose
// certificate the configured CA did not sign is refused at start, saying why.
import assert from 'node:assert/strict';
import { writeFileSync, chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, useStack, needStorage } from '../lib/runner.mjs';
import { userIds, DAEMON_USER } from '../lib/stack.mjs';
import { makeTls } from '../lib/tls.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';

needStorage('postgresql', 'the connection to a PostgreSQL server');
const stack = useStack({ storage: 'postgresql', pgTls: true });

test('over TCP with verify-full: tokens are issued and every session of the daemon is encrypted', async () => {
  assert.match(stack.pg.tlsConninfo, /host=127\.0\.0\.1 .*sslmode=verify-full/);
  const app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  assertToken(await stack.token(app, 'streams'));
  const rows = stack.sql("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) " +
    "WHERE a.application_name = 'flowgated'").split('\n');
  assert.ok(rows.length >= 1 && rows.every((r) => r === 't'), `the daemon's sessions, ssl: ${rows}`);
});

test('a server certificate from another CA: the daemon refuses to start and says why', async () => {
  mkdirSync(join(stack.dir, 'other-ca'));
  const other = makeTls(join(stack.dir, 'other-ca'));
  const good = stack.pg.tlsConninfo;
  const d = userIds(DAEMON_USER);
  const write = (s) => { writeFileSync(stack.paths.conninfoFile, `${s}\n`, { mode: 0o600 }); chownSync(stack.paths.conninfoFile, d.uid, d.gid); };
  await stack.killDaemon('SIGTERM');
  write(good.replace(/sslrootcert=\S+/, `sslrootcert=${other.caCert}`));
  try {
    await assert.rejects(stack.startDaemon(), (err) => {
      assert.match(err.message, /certificate verify failed/, err.message);
      return true;
    });
  } finally {
    write(good);
  }
  await stack.startDaemon();
});
