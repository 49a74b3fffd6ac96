// Issue 11: the master key as a systemd credential.  `key_file = credential:NAME` is read from
// $CREDENTIALS_DIRECTORY/NAME (set here by the test as systemd's LoadCredential= would, no
// systemd needed); the daemon refuses to start without that variable or with a directory open to
// others, and a rotation works with the credential names NAME.next / NAME.old.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { DAEMON_USER } from '../lib/stack.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';

const stack = useStack({});
const NAME = 'flowgate-master-key';
let creds;
let app;

/** Put a file in the credentials directory as systemd does: the service user's, 0400. */
function asCredential(path) {
  execFileSync('chown', [`${DAEMON_USER}:${DAEMON_USER}`, path]);
  chmodSync(path, 0o400);
}

async function restart() {
  await stack.killDaemon('SIGTERM');
  await stack.startDaemon();
}

test('setup: the key moves into a credentials directory; key_file = credential:NAME', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  await stack.killDaemon('SIGTERM');
  creds = join(dirname(stack.paths.keyFile), 'credentials');
  mkdirSync(creds, { mode: 0o500 });
  execFileSync('chown', [`${DAEMON_USER}:${DAEMON_USER}`, creds]);
  renameSync(stack.paths.keyFile, join(creds, NAME));
  asCredential(join(creds, NAME));
  const conf = readFileSync(stack.paths.config, 'utf8').replace(/^key_file = .*$/m, `key_file = credential:${NAME}`);
  writeFileSync(stack.paths.config, conf);
  process.env.CREDENTIALS_DIRECTORY = creds;
  await stack.startDaemon();
  // a cold token: the connection secret opened with the key from the credential
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  const st = (await stack.ctl(['key', 'status'], { json: true })).json;
  assert.equal(st.credential, true);
  assert.equal(st.files.key_file.path, join(creds, NAME));
  assert.equal(st.files.key_file.in_use, true);
});

test('without $CREDENTIALS_DIRECTORY the daemon refuses to start, saying so', async () => {
  await stack.killDaemon('SIGTERM');
  delete process.env.CREDENTIALS_DIRECTORY;
  await assert.rejects(stack.startDaemon(), /CREDENTIALS_DIRECTORY is not set/);
  process.env.CREDENTIALS_DIRECTORY = creds;
});

test('a credentials directory open to its group is refused', async () => {
  chmodSync(creds, 0o550);
  await assert.rejects(stack.startDaemon(), /credentials directory .* closed to group and others/);
  chmodSync(creds, 0o500);
  await stack.startDaemon();
  assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
});

test('rotation: refused until NAME.next is loaded; then re-sealed; the unit swaps the names', async () => {
  const no = await stack.ctl(['key', 'rotate'], { expect: 1 });
  assert.match(no.stderr, new RegExp(`load it as the credential ${NAME}\\.next`));
  const next = join(creds, `${NAME}.next`);
  await stack.ctl(['key', 'new', next]);
  asCredential(next);
  await restart();
  const before = (await stack.ctl(['key', 'status'], { json: true })).json.key_id;
  const r = await stack.ctl(['key', 'rotate']);
  assert.match(r.stdout, /master key rotated to k1:[0-9a-f]{32}; in the unit/);
  // what the operator then does in the unit: NAME.next becomes NAME, NAME becomes NAME.old
  renameSync(join(creds, NAME), join(creds, `${NAME}.old`));
  renameSync(next, join(creds, NAME));
  await restart();
  const st = (await stack.ctl(['key', 'status'], { json: true })).json;
  assert.notEqual(st.key_id, before);
  assert.equal(st.files.key_file.in_use, true);
  assert.equal(st.files.old.key_id, before);
  assertToken(await stack.token(app, 'transcribe streams'), ['openid', 'streams', 'transcribe']);
  const ret = await stack.ctl(['key', 'retire']);
  assert.match(ret.stdout, /no longer needs .*\.old: remove it from flowgated's unit/);
});
