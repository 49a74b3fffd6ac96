// SPEC §5.4: the daemon runs as its own user, is undumpable, has no core dumps, and refuses to
// start when its key file or database is readable by group or others, judged on the opened
// descriptor (a file swapped in after a check by name is caught).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync, chownSync, copyFileSync, linkSync, mkdtempSync, readFileSync, renameSync, rmSync,
  statSync, symlinkSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { userIds, DAEMON_USER } from '../lib/stack.mjs';

const stack = useStack();

function procStatus(pid) {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}

test('the daemon runs as its own user with no supplementary groups', () => {
  const st = procStatus(stack.daemonPid);
  const uid = userIds(DAEMON_USER).uid;
  assert.match(st, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'), st);
  const groups = (st.match(/^Groups:(.*)$/m) || ['', ''])[1].trim().split(/\s+/).filter(Boolean);
  const gid = String(userIds(DAEMON_USER).gid);
  assert.ok(groups.every((g) => g === gid), `supplementary groups kept: ${groups}`);
  assert.match(st, /^CapEff:\s+0+$/m, 'the daemon kept capabilities');
});

test('the daemon is undumpable: its /proc entries belong to root, so its own uid cannot ptrace it', () => {
  // the kernel makes /proc/PID/* of a non-dumpable process root-owned
  const st = statSync(`/proc/${stack.daemonPid}/environ`);
  assert.equal(st.uid, 0, `/proc/${stack.daemonPid}/environ is owned by uid ${st.uid}: PR_SET_DUMPABLE not 0`);
});

test('the daemon leaves GnuTLS, which it never uses, uninitialised (SPEC §6: a megabyte of RSS)', () => {
  // libcurl links GnuTLS through librtmp and libldap; its constructor's init touched ~1.1 MiB
  const smaps = readFileSync(`/proc/${stack.daemonPid}/smaps`, 'utf8');
  let lib = '';
  let kib = 0;
  for (const line of smaps.split('\n')) {
    const m = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (m) lib = m[1];
    else if (lib.includes('libgnutls') && line.startsWith('Rss:')) kib += Number(line.split(/\s+/)[1]);
  }
  assert.ok(smaps.includes('libgnutls'), 'libgnutls is not mapped at all: the check would prove nothing');
  assert.ok(kib < 800, `libgnutls holds ${kib} kB resident: its implicit initialisation ran`);
  const env = readFileSync(`/proc/${stack.daemonPid}/environ`, 'utf8').split('\0');
  assert.ok(env.includes('GNUTLS_NO_IMPLICIT_INIT=1'), 'the daemon did not restart itself with the variable');
  // restarted by its binary's path, not as "exe": pgrep flowgated and ps still find it
  assert.equal(readFileSync(`/proc/${stack.daemonPid}/comm`, 'utf8').trim(), 'flowgated');
});

test('core dumps are off (RLIMIT_CORE 0)', () => {
  const limits = readFileSync(`/proc/${stack.daemonPid}/limits`, 'utf8');
  assert.match(limits, /^Max core file size\s+0\s+0\s+bytes/m, limits);
});

async function refusesWith(path, what) {
  await stack.killDaemon('SIGTERM');
  chmodSync(path, 0o640);
  try {
    await assert.rejects(stack.startDaemon(), (err) => {
      assert.match(err.message, /readable or writable by group or others/, err.message);
      return true;
    }, `flowgated started with a group-readable ${what}`);
  } finally {
    chmodSync(path, 0o600);
  }
}

test('a group-readable key file: the daemon refuses to start and says why', async () => {
  await refusesWith(stack.paths.keyFile, 'key file');
});

test('a group-readable database: the daemon refuses to start and says why', async () => {
  await refusesWith(stack.paths.database, 'database');
}, { storage: 'sqlite', why: 'the database is a file' });

test('a group-readable connection string file: the daemon refuses to start and says why', async () => {
  await refusesWith(stack.paths.conninfoFile, 'connection string file');
}, { storage: 'postgresql', why: 'only that store has one' });

// An LD_PRELOAD shim that renames FG_SWAP_WITH over FG_SWAP_PATH just before the FG_SWAP_AT-th
// open(2) of FG_SWAP_PATH: exactly the swap a check by name before opening cannot see.
const SHIM = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int opens;
static void swap(const char *path) {
  const char *target = getenv("FG_SWAP_PATH"), *with = getenv("FG_SWAP_WITH");
  const char *at = getenv("FG_SWAP_AT");
  if (target && with && strcmp(path, target) == 0 && ++opens == (at ? atoi(at) : 1))
    rename(with, target);
}
#define SHIM_OPEN(name) int name(const char *path, int flags, ...) { \\
  int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \\
  va_list ap; int mode = 0; \\
  if (flags & (O_CREAT | O_TMPFILE)) { va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); } \\
  swap(path); return real(path, flags, mode); }
SHIM_OPEN(open)
SHIM_OPEN(open64)
`;

/** Build the shim in a fresh directory; returns that directory (the caller removes it). */
function shim() {
  const dir = mkdtempSync(join(tmpdir(), 'fg-swap-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'swap.c'), SHIM);
  execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, 'swap.so'), join(dir, 'swap.c'), '-ldl']);
  return dir;
}

// Start the daemon with `path` replaced by `replacement` (made here, owned by the daemon's user,
// mode `mode`) at its at-th open; expect it to refuse with `why`. The original comes back after.
async function refusesSwap(path, { mode, at = 1, why }) {
  const ids = userIds(DAEMON_USER);
  const saved = `${path}.saved`;
  const evil = `${path}.evil`;
  await stack.killDaemon('SIGTERM');
  copyFileSync(path, evil);
  chownSync(evil, ids.uid, ids.gid);
  chmodSync(evil, mode);
  linkSync(path, saved);
  const dir = shim();
  const asan = [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':');
  try {
    await assert.rejects(stack.startDaemon({
      wrap: ['env', `LD_PRELOAD=${join(dir, 'swap.so')}`, `FG_SWAP_PATH=${path}`, `FG_SWAP_WITH=${evil}`,
        `FG_SWAP_AT=${at}`, `ASAN_OPTIONS=${asan}`],
    }), (err) => {
      assert.match(err.message, why, err.message);
      return true;
    }, `flowgated started on a ${path} swapped in after its check`);
  } finally {
    renameSync(saved, path);
    rmSync(evil, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a key file swapped for a world-readable one after a check by name is refused (fstat)', async () => {
  await refusesSwap(stack.paths.keyFile, { mode: 0o644, why: /key file .*mode 0644 is readable or writable by group or others/ });
});

test('a database swapped for a world-readable one after a check by name is refused (fstat)', async () => {
  await refusesSwap(stack.paths.database, { mode: 0o644, why: /database .*mode 0644 is readable or writable by group or others/ });
}, { storage: 'sqlite', why: 'the database is a file' });

test('a database swapped between the check and SQLite\'s own open is refused', async () => {
  // the copy is a good 0600 database of the daemon's user: only the inode comparison catches it
  await refusesSwap(stack.paths.database, { mode: 0o600, at: 2, why: /the file SQLite opened is not the one checked/ });
}, { storage: 'sqlite', why: 'the database is a file' });

test('a symbolic link in place of the key file is refused, even to a good key', async () => {
  const key = stack.paths.keyFile;
  const real = `${key}.real`;
  await stack.killDaemon('SIGTERM');
  renameSync(key, real);
  symlinkSync(real, key);
  try {
    await assert.rejects(stack.startDaemon(), (err) => {
      assert.match(err.message, /key file .*a symbolic link; refusing to follow it/, err.message);
      return true;
    }, 'flowgated followed a symbolic link to its key file');
  } finally {
    unlinkSync(key);
    renameSync(real, key);
  }
});

test('a key file owned by another user is refused, naming the owner', async () => {
  const key = stack.paths.keyFile;
  await stack.killDaemon('SIGTERM');
  chownSync(key, 0, 0);
  chmodSync(key, 0o600);
  try {
    // root's 0600 file: the daemon's user cannot even open it, and says so
    await assert.rejects(stack.startDaemon(), (err) => {
      assert.match(err.message, /key file .*(Permission denied|owned by uid 0)/, err.message);
      return true;
    });
  } finally {
    const ids = userIds(DAEMON_USER);
    chownSync(key, ids.uid, ids.gid);
  }
});

test('with the modes put right it starts and serves again', async () => {
  await stack.startDaemon();
  const app = await stack.addApp('after', { scopes: 'streams' });
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
});
