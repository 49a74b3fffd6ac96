// The whole flowgate stack for one test file, every process owned by pid:
//   test OIDC server (node, https) <- flowgated <- flowgate-fcgi (master + workers) <- nginx
// All state lives in one temporary instance directory; every child is spawned (not detached),
// stopped with SIGTERM then SIGKILL after a timeout, and awaited, so nothing is left behind.
import { spawn, execFileSync } from 'node:child_process';
import {
  mkdtempSync, mkdirSync, writeFileSync, chmodSync, chownSync, openSync, closeSync,
  readFileSync, existsSync, readdirSync, statSync, rmSync, accessSync, copyFileSync, constants as fsc,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import * as http from 'node:http';
import * as https from 'node:https';

import { makeTls } from './tls.mjs';
import { freePort } from './ports.mjs';
import { sleep, waitFor, abort, randomSecret, formEncode, basicAuth } from './util.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const TESTS_DIR = resolve(HERE, '..');
export const REPO_DIR = resolve(TESTS_DIR, '..');

export const DAEMON_USER = 'flowgated';
export const WEB_USER = 'flowgate-web';
export const NGINX_USER = 'www-data';

export function buildDir() {
  const d = process.env.FLOWGATE_BUILD_DIR || join(REPO_DIR, 'build');
  return resolve(REPO_DIR, d);
}

export function binaries() {
  const b = buildDir();
  return {
    flowgated: join(b, 'flowgated'),
    flowgatectl: join(b, 'flowgatectl'),
    fcgi: join(b, 'flowgate-fcgi'),
  };
}

/** Throws a clear error naming every missing binary / tool. */
export function checkBinaries() {
  const missing = [];
  for (const [name, p] of Object.entries(binaries())) {
    try { accessSync(p, fsc.X_OK); } catch { missing.push(`${name} (${p})`); }
  }
  if (missing.length) {
    throw new Error(`flowgate binaries missing: ${missing.join(', ')}. Build first ` +
      '(autoreconf -fi && mkdir -p build && cd build && ../configure && make) ' +
      'or point FLOWGATE_BUILD_DIR at a build directory.');
  }
  for (const tool of ['nginx', 'openssl']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch {
      throw new Error(`${tool} not found (apt-get install ${tool})`);
    }
  }
  if (!existsSync('/etc/nginx/fastcgi_params')) throw new Error('/etc/nginx/fastcgi_params missing (apt-get install nginx)');
}

// ---------- users ----------
function getent(db, name) {
  try { return execFileSync('getent', [db, name], { encoding: 'utf8' }).trim(); } catch { return ''; }
}

export function userIds(name) {
  const line = getent('passwd', name);
  if (!line) throw new Error(`no such user ${name}`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export function groupId(name) {
  const line = getent('group', name);
  if (!line) throw new Error(`no such group ${name}`);
  return Number(line.split(':')[2]);
}

/** Create a system user (and its group) if missing, as script/bootstrap does. */
export function ensureUser(name) {
  if (!getent('passwd', name)) {
    const args = ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin'];
    if (getent('group', name)) args.push('--gid', name);
    else args.push('--user-group');
    execFileSync('useradd', [...args, name], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  if (!getent('group', name)) execFileSync('groupadd', ['--system', name], { stdio: 'ignore' });
  return userIds(name);
}

// ---------- processes ----------
function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid, state: rest[0], ppid: Number(rest[1]) };
  } catch {
    return null;
  }
}

/** Children of pid (from /proc), not including zombies. */
export function childPids(pid) {
  const out = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const st = readStat(Number(e));
    if (st && st.ppid === pid && st.state !== 'Z') out.push(st.pid);
  }
  return out.sort((a, b) => a - b);
}

export function descendantPids(pid) {
  const all = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    for (const c of childPids(p)) { all.push(c); stack.push(c); }
  }
  return all;
}

export function pidAlive(pid) {
  const st = readStat(pid);
  return !!st && st.state !== 'Z';
}

/** One owned child process with its exit as a promise. */
class Proc {
  constructor(name, cmd, args, { stdio, env, cwd } = {}) {
    this.name = name;
    this.cmd = cmd;
    this.args = args;
    this.child = spawn(cmd, args, { stdio, env: env || process.env, cwd, detached: false });
    this.pid = this.child.pid;
    this.exitInfo = null;
    this.exited = new Promise((res) => {
      this.child.once('exit', (code, signal) => { this.exitInfo = { code, signal }; res(this.exitInfo); });
      this.child.once('error', (err) => {
        this.spawnError = err;
        this.exitInfo = { code: null, signal: null, error: err };
        res(this.exitInfo);
      });
    });
  }

  get running() { return this.exitInfo === null && this.pid !== undefined; }

  /** SIGTERM (or sig), then SIGKILL after timeoutMs; always awaits the exit. */
  async stop(timeoutMs = 5000, sig = 'SIGTERM') {
    if (!this.running) return this.exitInfo;
    const desc = descendantPids(this.pid);
    try { this.child.kill(sig); } catch { /* gone */ }
    let timer;
    const done = await Promise.race([
      this.exited,
      new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (!done) {
      process.stderr.write(`# ${this.name} (pid ${this.pid}) ignored ${sig} for ${timeoutMs} ms; SIGKILL\n`);
      for (const p of [this.pid, ...desc]) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
      await this.exited;
    }
    // descendants the process should have reaped itself: kill whatever is left
    for (const p of desc) {
      if (pidAlive(p)) {
        process.stderr.write(`# ${this.name}: descendant pid ${p} still alive after stop; SIGKILL\n`);
        try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      }
    }
    return this.exitInfo;
  }
}

function tail(text, n = 30) {
  const lines = text.split('\n');
  return lines.slice(Math.max(0, lines.length - n - 1)).join('\n');
}

function readText(path) {
  try { return readFileSync(path, 'utf8'); } catch { return ''; }
}

function fileSize(path) {
  try { return statSync(path).size; } catch { return 0; }
}

function unixConnectable(path) {
  return new Promise((res) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

function tcpConnectable(port) {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

/** The port from a child's one JSON ready line ({"ready":true,"port":N}) on stdout. */
function readyPort(proc, logFile, name, timeoutMs = 15000) {
  return new Promise((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`${name} not ready after ${timeoutMs} ms:\n${tail(readText(logFile))}`)), timeoutMs);
    proc.child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        const j = JSON.parse(buf.slice(0, nl));
        if (j.ready && Number.isInteger(j.port)) res(j.port); else rej(new Error(`${name} said ${buf.slice(0, nl)}`));
      } catch { rej(new Error(`${name} printed ${buf.slice(0, nl)}`)); }
    });
    proc.exited.then((e) => {
      clearTimeout(timer);
      rej(new Error(`${name} exited (${JSON.stringify(e)}) before ready:\n${tail(readText(logFile))}`));
    });
  });
}

// ---------- the stack ----------
export class Stack {
  /**
   * @param {object} [opts]
   * @param {number} [opts.upstreamTtl=300]   access-token lifetime at the OIDC server
   * @param {number} [opts.fcgiWorkers=2]
   * @param {number} [opts.fcgiMaxBody=8192]  flowgate-fcgi -b (nginx allows 16k)
   * @param {boolean} [opts.debug=false]       flowgated -d
   * @param {string|null} [opts.connection='demo']  create this connection at start (null: none)
   * @param {object} [opts.upstreamConfig]     overrides for the [upstream] section
   * @param {object} [opts.auditConfig]        keys of the [audit] section (e.g. refusal_window_s)
   * @param {object} [opts.relayConfig]        keys of the [relay] section (e.g. tickets_max)
   * @param {Array<[string,string]>} [opts.oidcUsers]  users of the OIDC server ([name, password]; passed in a file)
   * @param {object|object[]} [opts.codeClient]  extra upstream client(s) for the code flow, registered once
   *   nginx is up: {id, secret (string; null: public; omitted: random), redirectUri (string|string[];
   *   default `${baseUrl}/callback`), postLogoutRedirectUri, grants, scope}; resolved in `stack.codeClients`
   * @param {object} [opts.upstreamClient]     changes to the connection's own upstream client, applied
   *   once nginx is up: {grants, redirectUri (string|string[]; default `${baseUrl}/callback` when grants
   *   include authorization_code), postLogoutRedirectUri, scope}
   * @param {string[]} [opts.oidcArgs]         extra oidc-server.mjs arguments (e.g. ['--refresh-always'])
   * @param {boolean} [opts.cortiApi=false]    also start upstream/corti-api.mjs; the connection's api_base
   *   is then `https://127.0.0.1:PORT/api/v2`
   * @param {string} [opts.siteLocations]      nginx locations added to the site's server block (a test
   *   page on flowgate's origin, e.g. tests/browser/relay-page.conf)
   */
  constructor(opts = {}) {
    this.opts = {
      upstreamTtl: 300,
      fcgiWorkers: 2,
      fcgiMaxBody: 8192,
      debug: !!process.env.FLOWGATE_DEBUG,
      connection: 'demo',
      realm: 'demo',
      upstreamClientId: 'flowgate-test-client',
      // the store: 'sqlite' (a file) or 'postgresql' (a server of the stack's own)
      storage: process.env.FLOWGATE_TEST_STORAGE || 'sqlite',
      ...opts,
    };
    this.upstreamConfig = {
      connect_timeout_ms: 1000,
      timeout_ms: 3000,
      refresh_ahead_s: 60,
      ...(opts.upstreamConfig || {}),
    };
    this.procs = {};
    this.started = false;
    // the upstream client's secret: long, random, distinctive (tests grep for it everywhere)
    this.connectionSecret = randomSecret('FGCONNSECRET');
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  }

  // ----- paths -----
  get paths() {
    const d = this.dir;
    return {
      dir: d,
      config: join(d, 'flowgated.conf'),
      daemonRunDir: join(d, 'run'),
      daemonSocket: join(d, 'run', 'flowgated.sock'),
      relayLogSocket: join(d, 'run', 'relay-log.sock'),
      dataDir: join(d, 'data'),
      database: join(d, 'data', 'flowgate.db'),
      conninfoFile: join(d, 'data', 'pg.conninfo'),
      databaseWal: join(d, 'data', 'flowgate.db-wal'),
      databaseShm: join(d, 'data', 'flowgate.db-shm'),
      keyDir: join(d, 'keys'),
      keyFile: join(d, 'keys', 'master.key'),
      fcgiDir: join(d, 'fcgi'),
      fcgiSocket: join(d, 'fcgi', 'fcgi.sock'),
      nginxDir: join(d, 'nginx'),
      nginxConf: join(d, 'nginx', 'nginx.conf'),
      tlsDir: join(d, 'tls'),
      upstreamSecretFile: join(d, 'upstream', 'client-secret'),
      upstreamUsersFile: join(d, 'upstream', 'users'),
      logDir: join(d, 'logs'),
      logs: {
        daemon: join(d, 'logs', 'flowgated.log'),
        fcgi: join(d, 'logs', 'flowgate-fcgi.log'),
        nginxError: join(d, 'logs', 'nginx-error.log'),
        nginxAccess: join(d, 'logs', 'nginx-access.log'),
        nginxStderr: join(d, 'logs', 'nginx-stderr.log'),
        upstream: join(d, 'logs', 'oidc-server.log'),
        corti: join(d, 'logs', 'corti-api.log'),
        ctl: join(d, 'logs', 'flowgatectl.log'),
      },
    };
  }

  get baseUrl() { return `http://127.0.0.1:${this.nginxPort}`; }

  get upstream() {
    const base = `https://127.0.0.1:${this.upstreamPort}`;
    const realm = `${base}/realms/${this.opts.realm}`;
    return {
      port: this.upstreamPort,
      base,
      realm: this.opts.realm,
      issuer: realm,
      tokenUrl: `${realm}/protocol/openid-connect/token`,
      certsUrl: `${realm}/protocol/openid-connect/certs`,
      apiBase: this.cortiPort ? this.corti.apiBase : `${base}/api`,
      clientId: this.opts.upstreamClientId,
    };
  }

  /** The Corti API stand-in (opts.cortiApi). */
  get corti() {
    const base = `https://127.0.0.1:${this.cortiPort}`;
    return { port: this.cortiPort, base, apiBase: `${base}/api/v2`, tenant: this.opts.realm };
  }

  // ----- start -----
  async start() {
    if (process.getuid && process.getuid() !== 0) {
      throw new Error('integration tests must run as root (they create users, drop privileges, run nginx)');
    }
    checkBinaries();
    this.bins = binaries();
    this.users = {
      daemon: ensureUser(DAEMON_USER),
      web: ensureUser(WEB_USER),
      nginx: userIds(NGINX_USER),
    };
    this.webGid = groupId(WEB_USER);
    this.nginxGid = groupId(NGINX_USER);

    this.dir = mkdtempSync(join(tmpdir(), 'fg-it-'));
    chmodSync(this.dir, 0o755); // service users must traverse it
    const p = this.paths;
    this.started = true;

    for (const d of [p.logDir, p.tlsDir, p.nginxDir, join(p.dir, 'upstream')]) mkdirSync(d, { mode: 0o755 });
    chmodSync(join(p.dir, 'upstream'), 0o700);
    // daemon-owned: data and key dirs 0700; socket dir traversable by the web user
    for (const d of [p.dataDir, p.keyDir]) {
      mkdirSync(d, { mode: 0o700 });
      chownSync(d, this.users.daemon.uid, this.users.daemon.gid);
    }
    mkdirSync(p.daemonRunDir, { mode: 0o755 });
    chownSync(p.daemonRunDir, this.users.daemon.uid, this.users.daemon.gid);
    mkdirSync(p.fcgiDir, { mode: 0o755 });
    chownSync(p.fcgiDir, this.users.web.uid, this.users.web.gid);

    if (this.opts.peerOf) return this.startPeer(this.opts.peerOf);
    this.tls = makeTls(p.tlsDir);

    await this.startUpstream();
    if (this.opts.cortiApi) await this.startCorti();
    if (this.opts.storage === 'postgresql') await this.startPostgres();
    this.writeConfig();
    const init = await this.ctl(['init'], { expect: null, noConfigEnv: false });
    if (init.code !== 0) {
      throw new Error(`flowgatectl init failed (exit ${init.code}): ${init.stderr.trim() || init.stdout.trim()}`);
    }
    await this.startDaemon();
    await this.startFcgi();
    await this.startNginx();
    await this.configureUpstreamClients();
    if (this.opts.connection) await this.addConnection(this.opts.connection);
  }

  /** Arguments for oidc-server.mjs beyond the realm and its client (users, opts.oidcArgs). */
  upstreamExtraArgs() {
    const args = [];
    const users = this.opts.oidcUsers || [];
    if (users.length) {
      writeFileSync(this.paths.upstreamUsersFile, users.map(([n, pw]) => `${n}:${pw}\n`).join(''), { mode: 0o600 });
      args.push('--users-file', this.paths.upstreamUsersFile);
    }
    return [...args, ...(this.opts.oidcArgs || [])];
  }

  /** opts.codeClient and opts.upstreamClient, registered through the OIDC server's control API. */
  async configureUpstreamClients() {
    const list = (v) => (v === undefined ? undefined : [].concat(v));
    this.codeClients = [];
    for (const c of [].concat(this.opts.codeClient || [])) {
      const pub = c.secret === null;
      const spec = {
        client_id: c.id,
        ...(pub ? { public: true } : { client_secret: c.secret ?? randomSecret('FGCODESECRET') }),
        redirect_uris: list(c.redirectUri) || [`${this.baseUrl}/callback`],
        ...(c.postLogoutRedirectUri ? { post_logout_redirect_uris: list(c.postLogoutRedirectUri) } : {}),
        ...(c.grants ? { grants: c.grants } : {}),
        ...(c.scope ? { scope: c.scope } : {}),
      };
      await this.upstreamAddClient(spec);
      this.codeClients.push({
        id: c.id, secret: pub ? null : spec.client_secret, public: pub, redirectUris: spec.redirect_uris,
      });
    }
    this.codeClient = this.codeClients[0];
    const u = this.opts.upstreamClient;
    if (u) {
      const code = (u.grants || []).includes('authorization_code');
      await this.upstreamAddClient({
        client_id: this.opts.upstreamClientId,
        ...(u.grants ? { grants: u.grants } : {}),
        ...(u.redirectUri || code ? { redirect_uris: list(u.redirectUri) || [`${this.baseUrl}/callback`] } : {}),
        ...(u.postLogoutRedirectUri ? { post_logout_redirect_uris: list(u.postLogoutRedirectUri) } : {}),
        ...(u.scope ? { scope: u.scope } : {}),
      });
    }
  }

  /** Start upstream/corti-api.mjs (after the OIDC server: it fetches the realm's JWKS). */
  async startCorti() {
    const p = this.paths;
    const log = openSync(p.logs.corti, 'a');
    const args = [join(TESTS_DIR, 'upstream', 'corti-api.mjs'), '--port', '0',
      '--cert', this.tls.cert, '--key', this.tls.key, '--tenant', this.opts.realm,
      '--jwks', this.upstream.certsUrl, '--ca', this.tls.caCert];
    const proc = new Proc('corti-api', process.execPath, args, { stdio: ['pipe', 'pipe', log], cwd: TESTS_DIR });
    closeSync(log);
    this.procs.corti = proc;
    this.cortiPort = await readyPort(proc, p.logs.corti, 'corti-api');
  }

  async startUpstream() {
    const p = this.paths;
    writeFileSync(p.upstreamSecretFile, `${this.connectionSecret}\n`, { mode: 0o600 });
    const log = openSync(p.logs.upstream, 'a');
    const args = [join(TESTS_DIR, 'upstream', 'oidc-server.mjs'), '--port', '0',
      '--cert', this.tls.cert, '--key', this.tls.key, '--ttl', String(this.opts.upstreamTtl),
      '--realm', this.opts.realm, '--client-id', this.opts.upstreamClientId,
      '--client-secret-file', p.upstreamSecretFile, ...this.upstreamExtraArgs()];
    const proc = new Proc('oidc-server', process.execPath, args, { stdio: ['pipe', 'pipe', log], cwd: TESTS_DIR });
    closeSync(log);
    this.procs.upstream = proc;
    const port = await new Promise((res, rej) => {
      let buf = '';
      const timer = setTimeout(() => rej(new Error(`oidc-server not ready after 15 s:\n${tail(readText(p.logs.upstream))}`)), 15000);
      proc.child.stdout.on('data', (d) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          try {
            const j = JSON.parse(buf.slice(0, nl));
            if (j.ready) res(j.port); else rej(new Error(`oidc-server said ${buf.slice(0, nl)}`));
          } catch (e) { rej(new Error(`oidc-server printed ${buf.slice(0, nl)}`)); }
        }
      });
      proc.exited.then((e) => {
        clearTimeout(timer);
        rej(new Error(`oidc-server exited (${JSON.stringify(e)}) before ready:\n${tail(readText(p.logs.upstream))}`));
      });
    });
    this.upstreamPort = port;
  }

  /**
   * Another node of first's cluster (opts.peerOf): its own daemon, FastCGI pool and nginx, on
   * first's PostgreSQL with first's master key, upstream, Corti stand-in and TLS files.
   */
  async startPeer(first) {
    if (!first.pg) throw new Error('peerOf needs a first node on postgresql');
    this.tls = first.tls;
    this.upstreamPort = first.upstreamPort;
    this.cortiPort = first.cortiPort;
    this.pg = first.pg;
    this.pgShared = true;
    writeFileSync(this.paths.conninfoFile, `${this.pg.conninfo}\n`, { mode: 0o600 });
    chownSync(this.paths.conninfoFile, this.users.daemon.uid, this.users.daemon.gid);
    copyFileSync(first.paths.keyFile, this.paths.keyFile);
    chmodSync(this.paths.keyFile, 0o600);
    chownSync(this.paths.keyFile, this.users.daemon.uid, this.users.daemon.gid);
    this.writeConfig();
    await this.startDaemon();
    await this.startFcgi();
    if (!this.opts.noNginx) await this.startNginx();
  }

  /**
   * Put this stack's nginx in front of every node's FastCGI pool (this one's and the peers'),
   * as one upstream group: nginx is restarted, on a new port.
   */
  async serveNodes(peers) {
    this.nodes = [this, ...peers];
    if (this.procs.nginx && this.procs.nginx.running) await this.procs.nginx.stop(5000);
    await this.startNginx();
  }

  /** A PostgreSQL of this stack's own, and its connection string in a daemon-owned 0600 file. */
  async startPostgres() {
    const { startPostgres } = await import('./postgres.mjs');
    // opts.pgTls: over TCP with TLS, the server's certificate checked against this stack's CA
    this.pg = await startPostgres({ dir: this.dir, tls: this.opts.pgTls ? this.tls : undefined });
    writeFileSync(this.paths.conninfoFile, `${this.pg.tlsConninfo || this.pg.conninfo}\n`, { mode: 0o600 });
    chownSync(this.paths.conninfoFile, this.users.daemon.uid, this.users.daemon.gid);
  }

  /**
   * Run SQL on the store, whichever it is (psql, or the sqlite3 CLI on the file); rows as text.
   * On SQLite only while the daemon is stopped: it holds the file's lock.
   */
  sql(query) {
    if (this.pg) return this.pg.psql(query);
    return execFileSync('sqlite3', ['-batch', '-bail', this.paths.database, query], { encoding: 'utf8' }).trim();
  }

  writeConfig() {
    const p = this.paths;
    const u = this.upstreamConfig;
    const conf = [
      '# flowgated config written by tests/lib/stack.mjs',
      '[daemon]',
      `socket = ${p.daemonSocket}`,
      `socket_group = ${WEB_USER}`,
      ...(this.pg ? [] : [`database = ${p.database}`]),
      `key_file = ${p.keyFile}`,
      `user = ${DAEMON_USER}`,
      `web_users = ${WEB_USER}`,
      'admin_users = root',
      '',
      ...(this.pg ? ['[storage]', 'backend = postgresql', `conninfo_file = ${p.conninfoFile}`, ''] : []),
      '[upstream]',
      `ca_file = ${this.tls.caCert}`,
      ...Object.entries(u).map(([k, v]) => `${k} = ${v}`),
      '',
      '[rotation]',
      `grace_s = ${this.opts.graceS ?? 86400}`,
      '',
      '[admin]',
      ...Object.entries(this.opts.adminConfig || {}).map(([k, v]) => `${k} = ${v}`),
      '',
      '[audit]',
      ...Object.entries(this.opts.auditConfig || {}).map(([k, v]) => `${k} = ${v}`),
      '',
      '[relay]',
      `log_socket = ${p.relayLogSocket}`,
      `log_group = ${NGINX_USER}`,
      `log_users = ${NGINX_USER}`,
      ...Object.entries(this.opts.relayConfig || {}).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n');
    writeFileSync(p.config, conf, { mode: 0o644 });
  }

  /**
   * Start (or restart) flowgated and wait for its `ready` log line.  `wrap` is a command prefix
   * that must exec the daemon in place (setpriv, fiu-run -x), so the pid stays the daemon's.
   */
  async startDaemon({ wrap = [] } = {}) {
    const p = this.paths;
    if (this.procs.daemon && this.procs.daemon.running) throw new Error('daemon already running');
    const offset = fileSize(p.logs.daemon);
    const log = openSync(p.logs.daemon, 'a');
    const args = ['-c', p.config];
    if (this.opts.debug) args.push('-d');
    const cmd = wrap.length ? wrap[0] : this.bins.flowgated;
    const argv = wrap.length ? [...wrap.slice(1), this.bins.flowgated, ...args] : args;
    const proc = new Proc('flowgated', cmd, argv, { stdio: ['ignore', log, log] });
    closeSync(log);
    this.procs.daemon = proc;
    await waitFor(() => {
      if (!proc.running) throw abort('exited');
      return /\bready\b/.test(readFileSync(p.logs.daemon).subarray(offset).toString('utf8'));
    }, { timeoutMs: 15000, what: 'flowgated "ready" log line' }).catch((err) => {
      if (!proc.running) throw new Error(`flowgated exited (${JSON.stringify(proc.exitInfo)}) before ready:\n${tail(readText(p.logs.daemon))}`);
      throw new Error(`${err.message}\n${tail(readText(p.logs.daemon))}`);
    });
    return proc.pid;
  }

  /** Kill the daemon (default SIGKILL: a crash) and await its exit. */
  async killDaemon(signal = 'SIGKILL') {
    const d = this.procs.daemon;
    if (!d || !d.running) return null;
    if (signal === 'SIGTERM') return d.stop(10000);
    d.child.kill(signal);
    return d.exited;
  }

  get daemonPid() { return this.procs.daemon && this.procs.daemon.running ? this.procs.daemon.pid : null; }

  daemonAlive() { return !!(this.procs.daemon && this.procs.daemon.running && pidAlive(this.procs.daemon.pid)); }

  async startFcgi() {
    const p = this.paths;
    const log = openSync(p.logs.fcgi, 'a');
    const args = ['-s', p.fcgiSocket, '-d', p.daemonSocket, '-n', String(this.opts.fcgiWorkers),
      '-u', WEB_USER, '-g', NGINX_USER, '-w', join(REPO_DIR, 'web')];
    if (this.opts.fcgiMaxBody) args.push('-b', String(this.opts.fcgiMaxBody));
    const proc = new Proc('flowgate-fcgi', this.bins.fcgi, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    this.procs.fcgi = proc;
    await waitFor(async () => {
      if (!proc.running) throw abort('exited');
      return existsSync(p.fcgiSocket) && unixConnectable(p.fcgiSocket);
    }, { timeoutMs: 10000, what: 'the FastCGI socket' }).catch((err) => {
      throw new Error(`flowgate-fcgi not ready (${err.message}; exit ${JSON.stringify(proc.exitInfo)}):\n${tail(readText(p.logs.fcgi))}`);
    });
    // best effort: let the master fork its workers before tests look at pids
    await waitFor(() => childPids(proc.pid).length >= this.opts.fcgiWorkers, { timeoutMs: 3000 }).catch(() => {});
  }

  /** {master, workers} pids of the FastCGI pool. */
  fcgiPids() {
    const m = this.procs.fcgi;
    return { master: m && m.running ? m.pid : null, workers: m && m.running ? childPids(m.pid) : [] };
  }

  async startNginx() {
    const p = this.paths;
    this.nginxPort = await freePort();
    const tmp = join(p.nginxDir, 'tmp');
    mkdirSync(tmp, { mode: 0o755, recursive: true });	// again when serveNodes() restarts it
    for (const t of ['body', 'fastcgi', 'proxy', 'uwsgi', 'scgi']) {
      mkdirSync(join(tmp, t), { mode: 0o700, recursive: true });
      chownSync(join(tmp, t), this.users.nginx.uid, this.users.nginx.gid);
    }
    // the shipped site (contrib/nginx/flowgate.conf), rendered the way script/server does: what
    // the tests exercise is what operators install
    copyFileSync('/etc/nginx/fastcgi_params', join(p.nginxDir, 'fastcgi_params'));
    const site = readFileSync(join(REPO_DIR, 'contrib', 'nginx', 'flowgate.conf'), 'utf8')
      .replaceAll('127.0.0.1:8080', `127.0.0.1:${this.nginxPort}`)
      .replaceAll('unix:/run/flowgate/fcgi.sock', this.nodes ? 'flowgate_nodes' : `unix:${p.fcgiSocket}`)
      .replaceAll('/run/flowgate/relay-log.sock', p.relayLogSocket)
      .replaceAll('/var/log/nginx/flowgate.access.log', p.logs.nginxAccess)
      .replaceAll('/etc/ssl/certs/ca-certificates.crt', this.tls.caCert)
      .replace(/^( *listen 127\.0\.0\.1:\d+;)$/m, `$1\n${this.opts.siteLocations || ''}`);
    writeFileSync(join(p.nginxDir, 'flowgate-site.conf'), site, { mode: 0o644 });
    if (this.nodes) {
      // the shipped upstream group (contrib/nginx/flowgate-nodes.conf), one server per node
      const servers = this.nodes.map((n) => `    server unix:${n.paths.fcgiSocket} max_fails=1 fail_timeout=5s;`);
      const group = readFileSync(join(REPO_DIR, 'contrib', 'nginx', 'flowgate-nodes.conf'), 'utf8')
        .replace(/^ {4}server unix:.*\n/gm, '').replace('upstream flowgate_nodes {\n', `upstream flowgate_nodes {\n${servers.join('\n')}\n`);
      writeFileSync(join(p.nginxDir, 'flowgate-nodes.conf'), group, { mode: 0o644 });
    }
    const conf = `# nginx for one flowgate test instance (tests/lib/stack.mjs)
user ${NGINX_USER};
worker_processes 1;
pid ${join(p.nginxDir, 'nginx.pid')};
error_log ${p.logs.nginxError} info;
events { worker_connections 1024; }
http {
  client_body_temp_path ${join(tmp, 'body')};
  fastcgi_temp_path ${join(tmp, 'fastcgi')};
  proxy_temp_path ${join(tmp, 'proxy')};
  uwsgi_temp_path ${join(tmp, 'uwsgi')};
  scgi_temp_path ${join(tmp, 'scgi')};
  default_type application/octet-stream;
  ${this.nodes ? `include ${join(p.nginxDir, 'flowgate-nodes.conf')};` : ''}
  include ${join(p.nginxDir, 'flowgate-site.conf')};
}
`;
    writeFileSync(p.nginxConf, conf, { mode: 0o644 });
    const log = openSync(p.logs.nginxStderr, 'a');
    const proc = new Proc('nginx', 'nginx', ['-p', p.nginxDir, '-c', p.nginxConf, '-e', p.logs.nginxError, '-g', 'daemon off;'],
      { stdio: ['ignore', log, log] });
    closeSync(log);
    this.procs.nginx = proc;
    await waitFor(async () => {
      if (!proc.running) throw abort('exited');
      return tcpConnectable(this.nginxPort);
    }, { timeoutMs: 10000, what: 'nginx' }).catch((err) => {
      throw new Error(`nginx not ready (${err.message}):\n${tail(readText(p.logs.nginxStderr))}\n${tail(readText(p.logs.nginxError))}`);
    });
  }

  // ----- stop -----
  async stop({ keep = false } = {}) {
    const errors = [];
    for (const name of ['nginx', 'fcgi', 'daemon', 'corti', 'upstream']) {
      const proc = this.procs[name];
      if (!proc) continue;
      try {
        if ((name === 'upstream' || name === 'corti') && proc.child.stdin) proc.child.stdin.end();
        await proc.stop(name === 'daemon' ? 10000 : 5000);
      } catch (err) {
        errors.push(`${name}: ${err.message}`);
      }
    }
    if (this.pg && !this.pgShared) {
      try { await this.pg.stop(); } catch (err) { errors.push(`postgres: ${err.message}`); }
    }
    // the daemon logs "BUG:" where it caught itself breaking a rule of its own (db.c's write guard)
    const bugs = this.dir ? (readText(this.paths.logs.daemon).match(/^.*\bBUG: .*$/gm) || []) : [];
    if (bugs.length) errors.push(`flowgated logged ${bugs.length} BUG line(s), first: ${bugs[0]}`);
    this.agent.destroy();
    if (this.dir && !keep && !process.env.FLOWGATE_KEEP) {
      try { rmSync(this.dir, { recursive: true, force: true }); } catch (err) { errors.push(`rm: ${err.message}`); }
    }
    if (errors.length) throw new Error(`stack stop: ${errors.join('; ')}`);
  }

  /** The processes still running, by name (for diagnostics). */
  running() {
    return Object.fromEntries(Object.entries(this.procs).filter(([, p]) => p.running).map(([n, p]) => [n, p.pid]));
  }

  // ----- helpers -----

  /**
   * Run flowgatectl with this instance's config.
   * @param {string[]} args  command words, e.g. ['app', 'add', 'x', '--flow', ...]
   * @param {object} [o]
   * @param {string|Buffer} [o.stdin]   written to stdin, then closed (secrets go here)
   * @param {boolean} [o.json]          pass --json and parse the last stdout line into .json
   * @param {number|null} [o.expect=0]  throw unless the exit code is this (null: never throw)
   * @param {{uid:number,gid:number}|string} [o.as]  run as this user (setpriv --init-groups)
   * @returns {Promise<{code:number,signal:string|null,stdout:string,stderr:string,json:any}>}
   */
  async ctl(args, o = {}) {
    const { stdin, json = false, expect = 0, as, timeoutMs = 30000 } = o;
    const full = ['-c', this.paths.config, ...(json ? ['--json'] : []), ...args];
    let cmd = this.bins.flowgatectl;
    let argv = full;
    if (as) {
      const ids = typeof as === 'string' ? userIds(as) : as;
      cmd = 'setpriv';
      argv = [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--init-groups', this.bins.flowgatectl, ...full];
    }
    const env = { ...process.env };
    delete env.FLOWGATE_CONFIG;
    const proc = new Proc('flowgatectl', cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], env });
    const out = []; const err = [];
    proc.child.stdout.on('data', (d) => out.push(d));
    proc.child.stderr.on('data', (d) => err.push(d));
    // 'exit' can come before the last output is read: wait for both pipes to close as well
    const drained = Promise.all([proc.child.stdout, proc.child.stderr]
      .map((st) => new Promise((r) => { st.once('close', r); })));
    proc.child.stdin.on('error', () => {});
    if (stdin !== undefined) proc.child.stdin.write(stdin);
    proc.child.stdin.end();
    let timer;
    const res = await Promise.race([
      proc.exited,
      new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (!res) {
      await proc.stop(1000, 'SIGKILL');
      throw new Error(`flowgatectl ${args.join(' ')} timed out after ${timeoutMs} ms`);
    }
    if (proc.spawnError) throw proc.spawnError;
    await drained;
    const r = {
      code: res.code, signal: res.signal,
      stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'),
      json: undefined,
    };
    // keep a transcript (the tests grep it for secrets too)
    try {
      writeFileSync(this.paths.logs.ctl, `$ flowgatectl ${full.join(' ')}\n[exit ${r.code}]\n${r.stdout}${r.stderr}`, { flag: 'a' });
    } catch { /* instance gone */ }
    if (json) {
      const last = r.stdout.trim().split('\n').filter(Boolean).pop();
      if (last) { try { r.json = JSON.parse(last); } catch { /* left undefined */ } }
    }
    if (expect !== null && r.code !== expect) {
      throw new Error(`flowgatectl ${args.join(' ')}: exit ${r.code} (want ${expect})\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`);
    }
    return r;
  }

  /**
   * One HTTP request to nginx.
   * @param {string} method
   * @param {string} path
   * @param {object} [o]
   * @param {object} [o.headers]
   * @param {string|Buffer} [o.body]    sent as-is
   * @param {object|Array} [o.form]     sent as application/x-www-form-urlencoded
   * @param {[string,string]} [o.basic] HTTP Basic client credentials
   * @param {http.Agent|false} [o.agent]
   * @returns {Promise<{status:number, headers:object, body:string, raw:Buffer, json:any, ms:number}>}
   */
  http(method, path, o = {}) {
    const headers = { ...(o.headers || {}) };
    let body = o.body;
    if (o.form !== undefined) {
      body = formEncode(o.form);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
      }
    }
    if (o.basic) headers.authorization = basicAuth(o.basic[0], o.basic[1]);
    if (body !== undefined && !Object.keys(headers).some((h) => ['content-length', 'transfer-encoding'].includes(h.toLowerCase()))) {
      headers['content-length'] = Buffer.byteLength(body);
    }
    const t0 = Date.now();
    return new Promise((res, rej) => {
      const req = http.request({
        host: '127.0.0.1', port: this.nginxPort, method, path, headers,
        agent: o.agent === undefined ? this.agent : o.agent,
        timeout: o.timeoutMs ?? 30000,
      }, (resp) => {
        const chunks = [];
        resp.on('data', (c) => chunks.push(c));
        resp.on('end', () => {
          const raw = Buffer.concat(chunks);
          const text = raw.toString('utf8');
          let json;
          if (/json/i.test(resp.headers['content-type'] || '')) { try { json = JSON.parse(text); } catch { /* not JSON */ } }
          const r = { status: resp.statusCode, headers: resp.headers, body: text, raw, json, ms: Date.now() - t0 };
          if (this.onResponse) this.onResponse(r);
          res(r);
        });
        resp.on('error', rej);
      });
      req.on('timeout', () => req.destroy(new Error(`HTTP ${method} ${path} timed out`)));
      req.on('error', rej);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /** POST /oauth2/token for client_credentials; auth 'basic' (default) or 'form'. */
  token(app, scope, { auth = 'basic', agent, extra = {} } = {}) {
    const form = { grant_type: 'client_credentials', ...(scope !== undefined ? { scope } : {}), ...extra };
    if (auth === 'form') {
      return this.http('POST', '/oauth2/token', { form: { ...form, client_id: app.client_id, client_secret: app.client_secret }, agent });
    }
    return this.http('POST', '/oauth2/token', { form, basic: [app.client_id, app.client_secret], agent });
  }

  /** flowgatectl connection add NAME ... pointed at the test OIDC server; secret on stdin. */
  async addConnection(name, o = {}) {
    const args = ['connection', 'add', name, '--environment', o.environment || 'test',
      '--tenant', o.tenant || this.opts.realm, '--client-id', o.clientId || this.opts.upstreamClientId,
      '--token-url', o.tokenUrl || this.upstream.tokenUrl, '--api-base', o.apiBase || this.upstream.apiBase];
    if (o.noVerify) args.push('--no-verify');
    return this.ctl(args, { stdin: `${o.secret ?? this.connectionSecret}\n`, expect: 'expect' in o ? o.expect : 0 });
  }

  /** flowgatectl --json app add ...; returns {client_id, client_secret, ...}. */
  async addApp(name, o = {}) {
    const args = ['app', 'add', name, '--flow', o.flow || 'client_credentials',
      '--connection', o.connection || this.opts.connection || 'demo',
      '--scopes', o.scopes || 'transcribe streams', '--kind', o.kind || 'backend',
      ...(o.extraArgs || [])];
    const expect = 'expect' in o ? o.expect : 0;
    const r = await this.ctl(args, { json: true, expect });
    if (expect !== 0) return r;
    if (!r.json || typeof r.json.client_id !== 'string' || typeof r.json.client_secret !== 'string') {
      throw new Error(`app add ${name} --json printed no client_id/client_secret: ${r.stdout}`);
    }
    return { name, ...r.json };
  }

  /** flowgatectl account add NAME --role ROLE, the password on stdin (admin UI accounts). */
  async addUser(name, role, password, o = {}) {
    return this.ctl(['account', 'add', name, '--role', role], { stdin: `${password}\n`, expect: 'expect' in o ? o.expect : 0 });
  }

  // ----- the test upstream's control API -----
  upstreamRequest(method, path, body, port = this.upstreamPort) {
    return new Promise((res, rej) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request({
        host: '127.0.0.1', port, method, path,
        ca: readFileSync(this.tls.caCert), agent: false, timeout: 10000,
        headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {},
      }, (resp) => {
        const chunks = [];
        resp.on('data', (c) => chunks.push(c));
        resp.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json; try { json = JSON.parse(text); } catch { /* not JSON */ }
          if (resp.statusCode >= 400) rej(new Error(`upstream ${method} ${path}: ${resp.statusCode} ${text}`));
          else res(json ?? text);
        });
      });
      req.on('timeout', () => req.destroy(new Error('upstream control request timed out')));
      req.on('error', rej);
      if (data) req.write(data);
      req.end();
    });
  }

  upstreamStats() { return this.upstreamRequest('GET', '/_control/stats'); }

  upstreamReset() { return this.upstreamRequest('POST', '/_control/reset', {}); }

  /** mode: normal | error500 | garbage | badjson | slow (delayMs, default 30000) */
  upstreamMode(mode, delayMs) {
    return this.upstreamRequest('POST', '/_control/mode', { mode, ...(delayMs !== undefined ? { delay_ms: delayMs } : {}) });
  }

  upstreamTtl(ttl) { return this.upstreamRequest('POST', '/_control/ttl', { ttl }); }

  upstreamSetSecret(secret, clientId = this.opts.upstreamClientId) {
    return this.upstreamRequest('POST', `/_control/clients/${encodeURIComponent(clientId)}/secret`, { secret });
  }

  upstreamJwks() { return this.upstreamRequest('GET', `/realms/${this.opts.realm}/protocol/openid-connect/certs`); }

  /** Add or change an upstream client: {client_id, client_secret | public, redirect_uris, grants, scope, ...}. */
  upstreamAddClient(spec) { return this.upstreamRequest('POST', '/_control/clients', spec); }

  /** [{username, sub, email}] of the OIDC server. */
  upstreamUsers() { return this.upstreamRequest('GET', '/_control/users'); }

  upstreamAddUser(username, password) { return this.upstreamRequest('POST', '/_control/users', { username, password }); }

  /** Revoke every grant (all tokens) and browser session of that user at the OIDC server. */
  upstreamLogoutUser(username) {
    return this.upstreamRequest('POST', `/_control/users/${encodeURIComponent(username)}/logout`, {});
  }

  /** ttl and/or refresh_ttl (seconds) for tokens issued from now on. */
  upstreamTtls({ ttl, refreshTtl } = {}) {
    return this.upstreamRequest('POST', '/_control/ttl', { ttl, refresh_ttl: refreshTtl });
  }

  // ----- the Corti API stand-in's control API (opts.cortiApi) -----
  cortiRequest(method, path, body) {
    if (!this.cortiPort) return Promise.reject(new Error('the Corti API stand-in is not running (opts.cortiApi)'));
    return this.upstreamRequest(method, path, body, this.cortiPort);
  }

  /** The last 50 requests the stand-in received, oldest first: {time, method, path, query, headers, body, status}. */
  cortiRequests() { return this.cortiRequest('GET', '/_control/requests'); }

  /** The last 50 WebSocket upgrades the stand-in received: {path, query, headers}. */
  cortiUpgrades() { return this.cortiRequest('GET', '/_control/upgrades'); }

  /** mode: normal | errorNNN (error400, error403, error500, error504, ...) | slow (delayMs) | garbage | badjson */
  cortiMode(mode, delayMs) {
    return this.cortiRequest('POST', '/_control/mode', { mode, ...(delayMs !== undefined ? { delay_ms: delayMs } : {}) });
  }

  cortiReset() { return this.cortiRequest('POST', '/_control/reset', {}); }

  cortiStats() { return this.cortiRequest('GET', '/_control/stats'); }

  // ----- files and logs -----
  readLogs() {
    const l = this.paths.logs;
    return Object.fromEntries(Object.entries(l).map(([k, f]) => [k, readText(f)]));
  }

  /** Every regular file under the instance directory (absolute paths). */
  instanceFiles() {
    const out = [];
    const walk = (d) => {
      let entries;
      try { entries = readdirSync(d, { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        const f = join(d, e.name);
        if (e.isDirectory()) walk(f);
        else if (e.isFile()) out.push(f);
      }
    };
    if (this.dir) walk(this.dir);
    return out.sort();
  }

  /** The files the store keeps: the SQLite database, -wal and -shm; or PostgreSQL's data directory. */
  storeFiles() {
    if (this.pg) return this.instanceFiles().filter((f) => f.startsWith(`${this.pg.dataDir}/`));
    const p = this.paths;
    return [p.database, p.databaseWal, p.databaseShm].filter((f) => existsSync(f));
  }

  /** Every byte the store keeps, as one buffer (for checks that something is nowhere in it). */
  storeBytes() {
    return Buffer.concat(this.storeFiles().map((f) => readFileSync(f)));
  }

  /** Tails of the logs, for failure reports. */
  logTails(n = 15) {
    const logs = this.readLogs();
    return Object.entries(logs)
      .filter(([k, v]) => v && k !== 'nginxAccess' && k !== 'ctl')
      .map(([k, v]) => `--- ${k} (last ${n} lines) ---\n${tail(v.trimEnd(), n)}`)
      .join('\n');
  }
}

export { sleep, waitFor };
