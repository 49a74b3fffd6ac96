// A PostgreSQL server of a test's own: initdb into a temporary directory, the postmaster as an
// owned child listening only on a Unix socket in that directory, database `flowgate`, role
// `flowgate` (trust on that socket: the directory is the boundary), stopped with
// `pg_ctl stop -m fast`.  Root may not run PostgreSQL: as root the server runs as the `postgres`
// user (Debian's postgresql-15 creates it; ensureUser otherwise).  Whatever happens to the test,
// no server outlives this process: an exit hook sends each one still running SIGQUIT
// (PostgreSQL's immediate shutdown).
//
//   const pg = await startPostgres({ dir, fsync: true });
//   pg.conninfo   'host=<socketDir> port=5432 dbname=flowgate user=flowgate'
//   await pg.psql('SELECT 1')   -> stdout of psql -Atc
//   await pg.stop()             (idempotent; keeps the directory with {keep: true})
//   await pg.restart({ mode: 'immediate', pause: 2000 })   (a crash and a restart, same data)
import { spawn, execFileSync } from 'node:child_process';
import {
  mkdtempSync, mkdirSync, chmodSync, chownSync, openSync, closeSync, readFileSync, rmSync, accessSync,
  copyFileSync, constants as fsc,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ensureUser, pidAlive } from './stack.mjs';
import { waitFor } from './util.mjs';
import { freePort } from './ports.mjs';

export const PG_BIN = process.env.FLOWGATE_PG_BIN || '/usr/lib/postgresql/15/bin';
export const PG_USER = 'postgres';
export const PG_ROLE = 'flowgate';
export const PG_DATABASE = 'flowgate';

const running = new Map(); // pid -> child, for the exit hook

process.on('exit', () => {
  for (const pid of running.keys()) {
    try { process.kill(pid, 'SIGQUIT'); } catch { /* gone */ }
  }
});

function pgBin(name) {
  const p = join(PG_BIN, name);
  try { accessSync(p, fsc.X_OK); } catch {
    throw new Error(`${p} not found: install the Debian package postgresql-15 (script/bootstrap does), ` +
      'or point FLOWGATE_PG_BIN at a PostgreSQL bin directory');
  }
  return p;
}

/** argv that runs a PostgreSQL binary as ids (setpriv, which execs: the pid is the binary's). */
function asUser(ids, bin, args) {
  if (!ids) return [bin, args];
  return ['setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', bin, ...args]];
}

function run(ids, bin, args, cwd) {
  const [cmd, argv] = asUser(ids, bin, args);
  try {
    return execFileSync(cmd, argv, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`${bin} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

function tail(path, n = 20) {
  try { return readFileSync(path, 'utf8').split('\n').slice(-n - 1).join('\n'); } catch { return ''; }
}

/**
 * Start a server.
 * @param {object} [o]
 * @param {string} [o.dir]        parent directory (e.g. a stack's instance dir; must be
 *                                traversable by the postgres user); default a new /tmp/fg-pg-XXXXXX
 * @param {boolean} [o.fsync=true]  false: fsync, full_page_writes and synchronous_commit off
 *                                (faster; never for a test of durability)
 * @param {number} [o.timeoutMs=30000]  how long to wait for it to accept connections
 * @param {{cert:string, key:string, caCert:string}} [o.tls]  also listen on 127.0.0.1 (a free
 *                                port) with TLS, certificate and key given; tlsConninfo then
 *                                reaches it with sslmode=verify-full against caCert
 * @returns {Promise<{conninfo:string, socketDir:string, dataDir:string, logFile:string,
 *   pid:number, psql:(sql:string)=>string, stop:(o?:{keep?:boolean})=>Promise<void>}>}
 */
export async function startPostgres({ dir, fsync = true, timeoutMs = 30000, tls } = {}) {
  const initdb = pgBin('initdb'); const postgres = pgBin('postgres');
  const pgCtl = pgBin('pg_ctl'); const pgIsReady = pgBin('pg_isready'); const psqlBin = pgBin('psql');
  const ids = process.getuid() === 0 ? ensureUser(PG_USER) : null;
  const own = !dir;
  const base = own ? mkdtempSync(join(tmpdir(), 'fg-pg-')) : join(dir, 'postgres');
  if (!own) mkdirSync(base);
  chmodSync(base, 0o755);
  const dataDir = join(base, 'data');
  const socketDir = join(base, 'run');
  const logFile = join(base, 'postgres.log');
  mkdirSync(dataDir, { mode: 0o700 });
  mkdirSync(socketDir, { mode: 0o755 });
  if (ids) for (const d of [dataDir, socketDir]) chownSync(d, ids.uid, ids.gid);

  run(ids, initdb, ['-D', dataDir, '-U', PG_ROLE, '--auth=trust', '--encoding=UTF8', '--locale=C',
    ...(fsync ? [] : ['--no-sync'])], base);

  const port = tls ? String(await freePort()) : '5432';
  if (tls) {	// the server reads its key as itself, 0600
    for (const f of ['cert', 'key']) {
      copyFileSync(tls[f], join(base, `server.${f}`));
      chmodSync(join(base, `server.${f}`), 0o600);
      if (ids) chownSync(join(base, `server.${f}`), ids.uid, ids.gid);
    }
  }
  const settings = {
    listen_addresses: tls ? '127.0.0.1' : '', unix_socket_directories: socketDir, port,
    ...(tls ? { ssl: 'on', ssl_cert_file: join(base, 'server.cert'), ssl_key_file: join(base, 'server.key') } : {}),
    fsync: fsync ? 'on' : 'off', full_page_writes: fsync ? 'on' : 'off',
    synchronous_commit: fsync ? 'on' : 'off', shared_buffers: '16MB', max_connections: '50',
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  // the postmaster now: restart() replaces it
  const srv = { child: null, pid: undefined, exited: null, exit: null };
  const spawnServer = () => {
    const log = openSync(logFile, 'a', 0o644);
    const [cmd, argv] = asUser(ids, postgres, args);
    const child = spawn(cmd, argv, { cwd: base, stdio: ['ignore', log, log], detached: false });
    closeSync(log);
    const { pid } = child;
    Object.assign(srv, { child, pid, exited: null });
    srv.exit = new Promise((res) => {
      child.once('exit', (code, signal) => { srv.exited = { code, signal }; running.delete(pid); res(srv.exited); });
      child.once('error', (err) => { srv.exited = { error: err }; running.delete(pid); res(srv.exited); });
    });
    if (pid !== undefined) running.set(pid, child);
  };

  const conninfo = `host=${socketDir} port=${port} dbname=${PG_DATABASE} user=${PG_ROLE}`;
  const tlsConninfo = tls ? `host=127.0.0.1 port=${port} dbname=${PG_DATABASE} user=${PG_ROLE} ` +
    `sslmode=verify-full sslrootcert=${tls.caCert}` : null;
  const client = ['-h', socketDir, '-p', port, '-U', PG_ROLE];
  const psql = (sql, db = PG_DATABASE) => run(null, psqlBin, [...client, '-d', db, '-X', '-A', '-t', '-v',
    'ON_ERROR_STOP=1', '-c', sql], base).trim();
  const halt = async (mode) => {
    if (srv.exited) return;
    try {
      run(ids, pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '30'], base);
    } catch (err) {
      process.stderr.write(`# postgres: ${err.message}; SIGQUIT\n`);
      try { process.kill(srv.pid, 'SIGQUIT'); } catch { /* gone */ }
    }
    await srv.exit;
  };
  const waitReady = () => waitFor(() => {
    if (srv.exited) throw Object.assign(new Error(`postgres exited: ${JSON.stringify(srv.exited)}\n${tail(logFile)}`), { abort: true });
    try {
      execFileSync(pgIsReady, [...client, '-d', 'postgres', '-t', '1'], { stdio: 'ignore' });
      return true;
    } catch { return false; }
  }, { timeoutMs, intervalMs: 100, what: `postgres on ${socketDir}` });
  let stopped = false;
  const stop = async ({ keep = false } = {}) => {
    if (!stopped) {
      stopped = true;
      await halt('fast');
    }
    if (own && !keep) rmSync(base, { recursive: true, force: true });
  };
  /** Stop the server (mode: pg_ctl's fast or immediate) and, after pause ms, start it again. */
  const restart = async ({ mode = 'fast', pause = 0 } = {}) => {
    await halt(mode);
    await new Promise((r) => { setTimeout(r, pause); });
    spawnServer();
    await waitReady();
  };

  spawnServer();
  try {
    await waitReady();
    psql(`CREATE DATABASE ${PG_DATABASE}`, 'postgres');
  } catch (err) {
    await stop({ keep: true });
    throw new Error(`${err.message}\n(log: ${logFile})`);
  }
  const dump = () => run(null, pgBin('pg_dump'), [...client, '-d', PG_DATABASE], base);
  return {
    conninfo, tlsConninfo, socketDir, dataDir, logFile, psql, dump, stop, restart, halt,
    get pid() { return srv.pid; },
    alive: () => pidAlive(srv.pid),
  };
}
