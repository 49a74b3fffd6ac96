// A failure another node recorded in the database holds this node's requests back no longer than
// its own upstream's Retry-After would (token_retry_s: 2 to 60 s), and the callers are told
// that same wait: a row saying "retry in an hour" (a hostile or broken peer, a clock jump) must
// neither lock a scope set out for an hour nor be passed on as the caller's Retry-After.
//
// Always on PostgreSQL (on SQLite there is one node and no shared row).
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';

const s = useStack({ storage: 'postgresql' });
const SCOPE = 'streams';
let app;

test('setup: an app, and its token shared through the database', async () => {
  app = await s.addApp('retry-backend', { scopes: SCOPE });
  const r = await s.token(app, SCOPE);
  assert.equal(r.status, 200, r.body);
  assert.equal(await s.sql('SELECT count(*) FROM token_lease WHERE sealed IS NOT NULL'), '1');
});

test('a failure recorded for an hour: the caller is told at most 60 s, as this node waits', async () => {
  // the shared row now says another node's request failed and nobody may ask for an hour
  await s.sql(`UPDATE token_lease SET sealed = NULL, expires_at = 0, holder = NULL, lease_until = 0,
    error = 'temporarily_unavailable', message = 'test: recorded by another node',
    retry_until = CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) + 3600 * 1000`);
  await s.killDaemon('SIGTERM');	// forget the cached token: the next request reads the row
  await s.startDaemon();
  const r = await s.token(app, SCOPE);
  assert.equal(r.status, 503, r.body);
  assert.equal(JSON.parse(r.body).error, 'temporarily_unavailable');
  const wait = Number(r.headers['retry-after']);
  assert.ok(wait >= 2 && wait <= 60, `Retry-After ${r.headers['retry-after']}: the row's hour passed on`);
  assert.equal(s.daemonAlive(), true);
});
