// A bounded request loop at a target rate, for "under load" tests (loopback only).
import { sleep } from './util.mjs';

/**
 * Start `concurrency` loops calling `fn()` so that together they make about `rate` calls/s,
 * until stop() is called or `maxMs` passes. stop() resolves to {results, total, failed, elapsedMs}
 * where each result is {ok, status, error, t}. `isOk(result of fn)` decides success.
 */
export function startLoad(fn, { rate = 200, concurrency = 8, maxMs = 60000, isOk = (r) => r && r.status === 200 } = {}) {
  const results = [];
  const t0 = Date.now();
  let stopping = false;
  const interval = (1000 * concurrency) / rate;
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    await sleep((interval / concurrency) * i);
    let next = Date.now();
    while (!stopping && Date.now() - t0 < maxMs) {
      const t = Date.now() - t0;
      try {
        const r = await fn();
        results.push({ ok: !!isOk(r), status: r && r.status, body: r && r.body, t });
      } catch (err) {
        results.push({ ok: false, error: err.message, t });
      }
      next += interval;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      else next = Date.now();
    }
  });
  return {
    results,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      const failed = results.filter((r) => !r.ok);
      return { results, total: results.length, failed, elapsedMs: Date.now() - t0 };
    },
  };
}
