// Daemon requests as the web peer (the FastCGI user), for tests of what the daemon itself
// enforces whatever the front end does.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { TESTS_DIR, userIds, WEB_USER } from './stack.mjs';

/** Send requests (an array of objects) on one connection as the web user; the replies. */
export function asWeb(stack, requests) {
  const u = userIds(WEB_USER);
  const out = execFileSync('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups',
    process.execPath, join(TESTS_DIR, 'lib', 'web-peer.mjs'), stack.paths.daemonSocket,
    JSON.stringify(requests)], { encoding: 'utf8', timeout: 60000 });
  return JSON.parse(out);
}

/** One request as the web user; its reply. */
export function web(stack, request) {
  return asWeb(stack, [request])[0];
}

/** Create a user with flowgatectl (password on stdin). */
export async function addUser(stack, name, role, password) {
  const r = await stack.ctl(['account', 'add', name, '--role', role], { stdin: `${password}\n` });
  if (r.code !== 0) throw new Error(`account add ${name}: ${r.stderr}`);
}

/** Log in as the web peer; {session, csrf, ...}. */
export function login(stack, user, password, remote = '127.0.0.9') {
  return web(stack, { verb: 'login', user, password, remote });
}
