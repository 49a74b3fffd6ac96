#!/usr/bin/env node
// A minimal sequential test runner (no framework):
//
//   node tests/lib/runner.mjs [--grep REGEX] [FILE...]
//
// With no FILE it runs tests/integration/*.test.mjs. Test files register with
//   import { test, before, after, useStack } from '../lib/runner.mjs';
//   const stack = useStack({...});          // started before the file's first test, always stopped
//   test('name', async () => { ... }, { timeout: 30000 });
// Prints `ok - FILE: NAME` / `not ok - FILE: NAME` (+ the error), and last `N passed, N failed`;
// exits 1 if anything failed (or nothing ran).
// Env: FLOWGATE_TEST_TIMEOUT_MS (default per-test timeout, 60000), FLOWGATE_TEST_GREP,
//      FLOWGATE_KEEP=1 (keep instance directories), FLOWGATE_BUILD_DIR, FLOWGATE_DEBUG=1 (flowgated -d),
//      FLOWGATE_TEST_STORAGE=sqlite|postgresql (the store every stack uses; needStorage() and a
//      test's {storage, why} skip what needs the other one, with the reason printed).
import { readdirSync } from 'node:fs';
import { join, resolve, basename } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

import { Stack } from './stack.mjs';
import { runState } from './util.mjs';

const DEFAULT_TIMEOUT = Number(process.env.FLOWGATE_TEST_TIMEOUT_MS) || 60000;
const HOOK_TIMEOUT = 120000;

let current = null;            // the file being loaded/run
const activeStacks = new Set();
let pendingErrors = [];        // unhandled rejections / exceptions during a test
let interrupted = false;       // SIGINT/SIGTERM: finish the current test, run teardown, stop

function needFile(what) {
  if (!current) throw new Error(`${what}() called outside a test file loaded by tests/lib/runner.mjs`);
  return current;
}

/** The store the stacks of this run use (tests/lib/stack.mjs reads the same variable). */
export const STORAGE = process.env.FLOWGATE_TEST_STORAGE || 'sqlite';

/**
 * Register a test of the current file.  {storage, why}: the test needs that store (it tampers
 * with a SQLite file, say) and is skipped, with why printed, on the other.
 */
export function test(name, fn, { timeout = DEFAULT_TIMEOUT, storage, why } = {}) {
  needFile('test').tests.push({ name, fn, timeout, skip: storage && storage !== STORAGE ? `${storage} only: ${why}` : null });
}

/** Every test of the current file needs this store; on the other the file is skipped with why. */
export function needStorage(storage, why) {
  if (storage !== STORAGE) needFile('needStorage').skip = `${storage} only: ${why}`;
}

/** Run fn once before the file's first test. */
export function before(fn, { timeout = HOOK_TIMEOUT } = {}) {
  needFile('before').befores.push({ fn, timeout });
}

/** Run fn once after the file's last test, always (fn gets {failed}). */
export function after(fn, { timeout = HOOK_TIMEOUT } = {}) {
  needFile('after').afters.push({ fn, timeout });
}

/** A Stack started before the file's tests and always stopped after them. */
export function useStack(opts = {}) {
  const file = needFile('useStack');
  const stack = new Stack(opts);
  before(async () => {
    activeStacks.add(stack);
    await stack.start();
  });
  after(async ({ failed }) => {
    if (failed && stack.dir) {
      process.stdout.write(`# ${file.name}: instance dir ${stack.dir} kept\n`);
      process.stdout.write(`${stack.logTails(20).replace(/^/gm, '#   ')}\n`);
    }
    try {
      await stack.stop({ keep: failed });
    } finally {
      activeStacks.delete(stack);
    }
  });
  return stack;
}

function withTimeout(promiseFn, ms, what) {
  let timer;
  return Promise.race([
    Promise.resolve().then(promiseFn),
    new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

function formatError(err) {
  let text;
  if (err instanceof Error && err.brief) {
    text = err.message;
  } else if (err instanceof Error) {
    text = err.stack || String(err);
    if (err.code === 'ERR_ASSERTION' && err.generatedMessage === false && (err.actual !== undefined || err.expected !== undefined)) {
      const short = (v) => { const t = inspect(v, { depth: 4 }); return t.length > 800 ? `${t.slice(0, 800)}... (${t.length} chars)` : t; };
      text += `\nactual: ${short(err.actual)}\nexpected: ${short(err.expected)}`;
    }
  } else {
    text = inspect(err);
  }
  return text.split('\n').map((l) => `    ${l}`).join('\n');
}

const counts = { passed: 0, failed: 0, skipped: 0 };

function skip(file, what, why, n) {
  counts.skipped += n;
  process.stdout.write(`# skip - ${file}: ${what} (on ${STORAGE}; ${why})\n`);
}

function report(ok, file, name, err) {
  if (ok) counts.passed++; else counts.failed++;
  process.stdout.write(`${ok ? 'ok' : 'not ok'} - ${file}: ${name}\n`);
  if (!ok && err !== undefined) process.stdout.write(`${formatError(err)}\n`);
}

async function runFile(path, grep) {
  const name = basename(path);
  current = { name, path, tests: [], befores: [], afters: [] };
  const file = current;
  const t0 = Date.now();
  try {
    await import(pathToFileURL(path).href);
  } catch (err) {
    report(false, name, '(load)', err);
    current = null;
    return;
  }
  const matching = grep ? file.tests.filter((t) => grep.test(t.name)) : file.tests;
  if (file.skip && matching.length) {
    skip(name, `${matching.length} test(s)`, file.skip, matching.length);
    current = null;
    return;
  }
  for (const t of matching.filter((x) => x.skip)) skip(name, t.name, t.skip, 1);
  const tests = matching.filter((t) => !t.skip);
  if (!tests.length) {
    process.stdout.write(`# ${name}: no tests${grep ? ' match' : ''}\n`);
    current = null;
    return;
  }

  let failed = false;
  let setupError = null;
  for (const h of file.befores) {
    try {
      await withTimeout(h.fn, h.timeout, 'before hook');
    } catch (err) {
      setupError = err;
      break;
    }
  }

  if (setupError) {
    failed = true;
    const brief = (msg) => Object.assign(new Error(msg), { brief: true });
    report(false, name, tests[0].name, brief(`setup failed: ${setupError.stack || setupError.message}`));
    for (const t of tests.slice(1)) report(false, name, t.name, brief('setup failed (see above)'));
  } else {
    for (const t of tests) {
      if (interrupted) break;
      pendingErrors = [];
      let err;
      try {
        await withTimeout(t.fn, t.timeout, `test "${t.name}"`);
      } catch (e) {
        err = e;
      }
      if (!err && pendingErrors.length) err = pendingErrors[0];
      if (err) failed = true;
      report(!err, name, t.name, err);
    }
  }

  for (const h of file.afters) {
    try {
      await withTimeout(() => h.fn({ failed }), h.timeout, 'after hook');
    } catch (err) {
      report(false, name, '(teardown)', err);
    }
  }
  process.stdout.write(`# ${name}: ${tests.length} test(s), ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  current = null;
}

function defaultFiles() {
  const dir = resolve(fileURLToPath(new URL('..', import.meta.url)), 'integration');
  return readdirSync(dir).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => join(dir, f));
}

async function stopAll() {
  await Promise.allSettled([...activeStacks].map((s) => s.stop({ keep: true })));
}

async function main() {
  const argv = process.argv.slice(2);
  let grep = process.env.FLOWGATE_TEST_GREP ? new RegExp(process.env.FLOWGATE_TEST_GREP) : null;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--grep' || argv[i] === '-g') grep = new RegExp(argv[++i]);
    else if (argv[i] === '-h' || argv[i] === '--help') {
      process.stdout.write('usage: node tests/lib/runner.mjs [--grep REGEX] [FILE...]\n');
      return 0;
    } else files.push(resolve(argv[i]));
  }
  if (!files.length) files.push(...defaultFiles());

  const onSignal = async (sig) => {
    if (interrupted) {
      process.stdout.write(`# ${sig} again: exiting now\n`);
      process.exit(130);
    }
    interrupted = true;
    runState.interrupted = true;
    process.stdout.write(`# ${sig}: stopping the stack(s); the remaining tests are not run\n`);
    // the running test fails fast once its processes are gone; teardown then runs as usual
    setTimeout(() => {
      process.stdout.write(`${counts.passed} passed, ${counts.failed + 1} failed\n`);
      process.exit(130);
    }, 20000).unref();
    await stopAll();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('unhandledRejection', (err) => { pendingErrors.push(err); });
  process.on('uncaughtException', (err) => { pendingErrors.push(err); });

  for (const f of files) {
    if (interrupted) break;
    await runFile(f, grep);
  }
  if (interrupted) {
    counts.failed++;
    process.stdout.write('not ok - interrupted\n');
  }
  if (counts.skipped) process.stdout.write(`# ${counts.skipped} test(s) skipped: they need the other store\n`);
  process.stdout.write(`${counts.passed} passed, ${counts.failed} failed\n`);
  if (interrupted) return 130;
  if (counts.passed + counts.failed + counts.skipped === 0) {
    process.stderr.write('no test ran\n');
    return 1;
  }
  return counts.failed ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => {
    process.exitCode = code;
    // child-process handles and keep-alive sockets are closed by then; leave promptly anyway
    setTimeout(() => process.exit(code), 200).unref();
  }, async (err) => {
    process.stderr.write(`runner: ${err.stack || err}\n`);
    await stopAll();
    process.exit(1);
  });
}
