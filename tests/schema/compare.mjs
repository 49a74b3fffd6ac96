#!/usr/bin/env node
// The two dialects of the schema agree: applies schema/*.sql to a new SQLite file (sqlite3 CLI,
// one transaction per migration, as store.c does) and schema/pg/*.sql to a new schema in the
// PostgreSQL named by FG_TEST_PG_CONNINFO (psql, one transaction per migration), then compares
//   - the migration names, in order;
//   - tables, and per table its columns in order (name, type, NOT NULL, default), primary key,
//     unique constraints, indexes (name, columns, unique, partial), foreign keys (ON DELETE);
//   - behaviour: the same statements (CHECKs, foreign keys, the partial unique index, and the
//     audit table's protections, UPDATE and DELETE around audit_base) succeed or are refused
//     alike, with the same audit message, and print the same rows.
//
//   FG_TEST_PG_CONNINFO='host=/tmp/pg dbname=postgres user=fg' node tests/schema/compare.mjs
//
// Prints TAP; without FG_TEST_PG_CONNINFO it skips (exit 0).  compareSchemas(conninfo) returns
// the results for a runner test once tests/lib/postgres.mjs provides a server.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const AUDIT_MSG = 'audit records are append-only';
// Keys the daemon always gives (the chain's seq, the one-row tables): no identity in PostgreSQL.
const GIVEN_KEYS = new Set(['audit.seq', 'audit_head.id', 'audit_checkpoint.id', 'audit_base.id']);
// Triggers only PostgreSQL needs: TRUNCATE skips its DELETE triggers.
const PG_ONLY_TRIGGERS = new Set(['audit.audit_no_truncate']);

function migrations(dir) {
  return readdirSync(dir).filter((f) => /^[0-9]+_.*\.sql$/.test(f)).sort();
}

function run(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 30000 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return { ok: r.status === 0, out: r.stdout.trim(), err: r.stderr.trim() };
}

class Sqlite {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'fg-schema-'));
    this.path = join(this.dir, 'flowgate.db');
  }
  // foreign_keys as store.c sets them on every connection
  sql(sql) { return run('sqlite3', ['-bail', this.path], `PRAGMA foreign_keys = ON;\n${sql};\n`); }
  json(sql) {
    const r = run('sqlite3', ['-json', this.path], `${sql};\n`);
    if (!r.ok) throw new Error(`sqlite3: ${r.err}`);
    return r.out === '' ? [] : JSON.parse(r.out);
  }
  migrate(file, version) {
    return run('sqlite3', ['-bail', this.path], `BEGIN IMMEDIATE;\n${readFileSync(file, 'utf8')}\n` +
      `PRAGMA user_version = ${version};\nCOMMIT;\n`);
  }
  close() { rmSync(this.dir, { recursive: true, force: true }); }
}

class Pg {
  constructor(conninfo) {
    this.conninfo = conninfo;
    this.schema = `fg_schema_compare_${process.pid}`;
    const r = this.psql([], `CREATE SCHEMA ${this.schema}`, false);
    if (!r.ok) throw new Error(`psql: ${r.err}`);
  }
  psql(pre, sql, inSchema = true) {
    const args = ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', this.conninfo, ...pre];
    if (inSchema) args.push('-c', `SET search_path TO ${this.schema}`);
    return run('psql', [...args, '-c', sql]);
  }
  sql(sql) { return this.psql([], sql); }
  json(sql) {
    const r = this.sql(`SELECT coalesce(json_agg(q), '[]') FROM (${sql}) q`);
    if (!r.ok) throw new Error(`psql: ${r.err}`);
    return JSON.parse(r.out);
  }
  // the whole file as one query string, as the daemon will PQexec fg_schema_migrations_pg[i]
  migrate(file) {
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', this.conninfo,
      '-c', `SET search_path TO ${this.schema}`, '-c', readFileSync(file, 'utf8')];
    return run('psql', args);
  }
  close() { this.psql([], `DROP SCHEMA IF EXISTS ${this.schema} CASCADE`, false); }
}

// --- structure, normalised so the two dialects compare with deepEqual-by-JSON ---

const TYPES = { INTEGER: ['bigint', 'integer'], TEXT: ['text'], BLOB: ['bytea'] };

function sqliteStructure(db) {
  const s = { tables: {}, triggers: [] };
  for (const { name: t } of db.json("SELECT name FROM sqlite_schema WHERE type = 'table' AND " +
      "name NOT LIKE 'sqlite_%' ORDER BY name")) {
    const cols = db.json(`SELECT name, type, \`notnull\` AS nn, dflt_value AS dflt, pk FROM pragma_table_info('${t}') ORDER BY cid`);
    const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    const onlyRowid = pk.length === 1 && cols.find((c) => c.name === pk[0]).type === 'INTEGER';
    const indexes = [], uniques = [];
    for (const ix of db.json(`SELECT name, "unique" AS u, origin, partial FROM pragma_index_list('${t}')`)) {
      const on = db.json(`SELECT name FROM pragma_index_info('${ix.name}') ORDER BY seqno`).map((c) => c.name);
      if (ix.origin === 'u') uniques.push(on.join(','));
      else if (ix.origin === 'c') indexes.push({ name: ix.name, on, unique: !!ix.u, partial: !!ix.partial });
    }
    const fks = db.json(`SELECT "from" AS c, "table" AS ref, "to" AS rc, on_delete AS del FROM pragma_foreign_key_list('${t}') ORDER BY id, seq`)
      .map((f) => `${f.c} -> ${f.ref}(${f.rc}) ON DELETE ${f.del}`);
    s.tables[t] = {
      columns: cols.map((c) => ({
        name: c.name,
        type: c.type,
        // a PRIMARY KEY column is NOT NULL in PostgreSQL; in SQLite only the rowid alias is
        notnull: !!c.nn || c.pk > 0,
        dflt: c.dflt,
        identity: onlyRowid && c.pk > 0 && !GIVEN_KEYS.has(`${t}.${c.name}`),
      })),
      pk, uniques: uniques.sort(), indexes: indexes.sort((a, b) => a.name.localeCompare(b.name)), fks: fks.sort(),
    };
  }
  s.triggers = db.json("SELECT tbl_name || '.' || name AS n FROM sqlite_schema WHERE type = 'trigger' ORDER BY 1").map((r) => r.n);
  return s;
}

function pgStructure(db) {
  const s = { tables: {}, triggers: [] };
  const DEL = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };
  const colnames = (rel, keys) => `(SELECT array_agg(a.attname ORDER BY k.i) FROM unnest(${keys}) WITH ORDINALITY k(n, i) ` +
    `JOIN pg_attribute a ON a.attrelid = ${rel} AND a.attnum = k.n)`;
  for (const { t } of db.json('SELECT table_name AS t FROM information_schema.tables WHERE ' +
      "table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1")) {
    const rel = `'${t}'::regclass`;
    const cols = db.json('SELECT column_name AS name, data_type AS type, is_nullable AS nullable, ' +
      'column_default AS dflt, is_identity AS ident, collation_name AS coll FROM information_schema.columns ' +
      `WHERE table_schema = current_schema() AND table_name = '${t}' ORDER BY ordinal_position`);
    const cons = db.json(`SELECT contype, ${colnames(rel, 'c.conkey')} AS cols, c.confrelid::regclass::text AS ref, ` +
      `${colnames('c.confrelid', 'c.confkey')} AS rcols, confdeltype AS del FROM pg_constraint c WHERE conrelid = ${rel}`);
    const ixs = db.json(`SELECT i.indexrelid::regclass::text AS name, ${colnames(rel, 'i.indkey::int2[]')} AS on, ` +
      'i.indisunique AS u, i.indpred IS NOT NULL AS partial FROM pg_index i WHERE i.indrelid = ' + rel +
      ' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)');
    s.tables[t] = {
      columns: cols.map((c) => ({ name: c.name, type: c.type, coll: c.coll, notnull: c.nullable === 'NO', dflt: c.dflt, identity: c.ident === 'YES' })),
      pk: (cons.find((c) => c.contype === 'p') || { cols: [] }).cols,
      uniques: cons.filter((c) => c.contype === 'u').map((c) => c.cols.join(',')).sort(),
      indexes: ixs.map((i) => ({ name: i.name, on: i.on, unique: i.u, partial: i.partial })).sort((a, b) => a.name.localeCompare(b.name)),
      fks: cons.filter((c) => c.contype === 'f').map((f) => `${f.cols.join(',')} -> ${f.ref}(${f.rcols.join(',')}) ON DELETE ${DEL[f.del]}`).sort(),
    };
  }
  s.triggers = db.json("SELECT c.relname || '.' || t.tgname AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid " +
    "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal AND t.tgenabled <> 'D' ORDER BY 1").map((r) => r.n);
  return s;
}

// Differences between the two structures, as readable lines (none: they agree).
function structureDiffs(lite, pg) {
  const d = [];
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const lt = Object.keys(lite.tables).sort(), pt = Object.keys(pg.tables).sort();
  if (!same(lt, pt)) d.push(`tables: sqlite ${lt} / pg ${pt}`);
  for (const t of lt.filter((x) => pg.tables[x])) {
    const a = lite.tables[t], b = pg.tables[t];
    if (!same(a.columns.map((c) => c.name), b.columns.map((c) => c.name)))
      d.push(`${t} columns: sqlite ${a.columns.map((c) => c.name)} / pg ${b.columns.map((c) => c.name)}`);
    for (const c of a.columns) {
      const p = b.columns.find((x) => x.name === c.name);
      if (!p) continue;
      if (!(TYPES[c.type] || []).includes(p.type)) d.push(`${t}.${c.name}: sqlite ${c.type} / pg ${p.type}`);
      if (p.type === 'text' && p.coll !== 'C') d.push(`${t}.${c.name}: text not COLLATE "C" (SQLite compares bytes)`);
      if (c.notnull !== p.notnull) d.push(`${t}.${c.name}: NOT NULL sqlite ${c.notnull} / pg ${p.notnull}`);
      if (c.dflt !== p.dflt) d.push(`${t}.${c.name}: DEFAULT sqlite ${c.dflt} / pg ${p.dflt}`);
      if (c.identity !== p.identity) d.push(`${t}.${c.name}: identity expected ${c.identity} / pg ${p.identity}`);
    }
    for (const k of ['pk', 'uniques', 'indexes', 'fks'])
      if (!same(a[k], b[k])) d.push(`${t} ${k}: sqlite ${JSON.stringify(a[k])} / pg ${JSON.stringify(b[k])}`);
  }
  const pgTrig = pg.triggers.filter((n) => !PG_ONLY_TRIGGERS.has(n));
  if (!same(lite.triggers, pgTrig)) d.push(`triggers: sqlite ${lite.triggers} / pg ${pg.triggers}`);
  return d;
}

// --- behaviour: each statement in order on both; B(hex) is a blob literal in either dialect.
// Refused inserts come after the good ones: a PostgreSQL identity spends its value on a refused
// row, SQLite's rowid does not (ids may have gaps in PostgreSQL; nothing relies on their density).

const PROBES = [
  ['INSERT INTO connections (name, environment, tenant, client_id, created_at) VALUES (\'c1\', \'eu\', \'t\', \'cid\', 1) RETURNING id', 'ok', '1'],
  ['INSERT INTO connections (name, environment, tenant, client_id, created_at) VALUES (\'C1\', \'eu\', \'t\', \'cid\', 1) RETURNING id, secret_version, stopped', 'ok', '2|0|0'],
  ['INSERT INTO connections (name, environment, tenant, client_id, created_at) VALUES (\'c1\', \'us\', \'t\', \'cid\', 1)', 'refused'],
  ['INSERT INTO connections (name, environment, tenant, client_id) VALUES (\'c2\', \'eu\', \'t\', \'cid\')', 'refused'],
  ['SELECT name FROM connections WHERE name > \'C1\' ORDER BY name', 'ok', 'c1'],
  ['INSERT INTO connection_secrets (connection_id, version, state, sealed, created_at) VALUES (1, 1, \'current\', B(00), 1)', 'ok'],
  ['INSERT INTO connection_secrets (connection_id, version, state, sealed, created_at) VALUES (1, 2, \'current\', B(00), 1)', 'refused'],
  ['INSERT INTO connection_secrets (connection_id, version, state, sealed, created_at) VALUES (1, 2, \'previous\', B(00), 1)', 'ok'],
  ['INSERT INTO connection_secrets (connection_id, version, state, sealed, created_at) VALUES (1, 3, \'next\', B(00), 1)', 'refused'],
  ['INSERT INTO connection_secrets (connection_id, version, state, sealed, created_at) VALUES (9, 1, \'current\', B(00), 1)', 'refused'],
  ['INSERT INTO apps (name, client_id, secret_hash, flow, kind, connection_id, scopes, created_at) VALUES (\'a1\', \'fg_1\', B(01), \'client_credentials\', \'assistant\', 1, \'openid\', 1) RETURNING id, internal, can_redirect, proxy_body_max_mib', 'ok', '1|0|1|200'],
  ['INSERT INTO apps (name, client_id, secret_hash, flow, kind, connection_id, scopes, created_at) VALUES (\'a2\', \'fg_2\', B(01), \'f\', \'robot\', 1, \'openid\', 1)', 'refused'],
  ['INSERT INTO apps (name, client_id, secret_hash, flow, kind, connection_id, scopes, created_at) VALUES (\'a2\', \'fg_1\', B(01), \'f\', \'backend\', 1, \'openid\', 1)', 'refused'],
  ['INSERT INTO apps (name, client_id, secret_hash, flow, kind, connection_id, scopes, created_at, proxy_body_max_mib) VALUES (\'a2\', \'fg_2\', B(01), \'f\', \'backend\', 1, \'openid\', 1, 0)', 'refused'],
  ['INSERT INTO apps (name, client_id, secret_hash, flow, kind, connection_id, scopes, created_at, proxy_body_max_mib) VALUES (\'a2\', \'fg_2\', B(01), \'f\', \'backend\', 1, \'openid\', 1, 201)', 'refused'],
  ['INSERT INTO apps (name, client_id, secret_hash, flow, kind, connection_id, scopes, created_at) VALUES (\'a2\', \'fg_2\', B(01), \'f\', \'user_facing\', 9, \'openid\', 1)', 'refused'],
  ['DELETE FROM connections WHERE id = 1', 'refused'],
  ['INSERT INTO users (name, role, pw_hash, created_at) VALUES (\'u\', \'auditor\', \'h\', 1) RETURNING id, disabled', 'ok', '1|0'],
  ['INSERT INTO users (name, role, pw_hash, created_at) VALUES (\'v\', \'root\', \'h\', 1)', 'refused'],
  ['INSERT INTO sessions (id_hash, user_id, created_at, last_seen) VALUES (B(aa), 1, 1, 1)', 'ok'],
  ['INSERT INTO sessions (id_hash, user_id, created_at, last_seen) VALUES (B(aa), 1, 1, 1)', 'refused'],
  ['INSERT INTO sessions (id_hash, user_id, created_at, last_seen) VALUES (B(bb), 7, 1, 1)', 'refused'],
  ['DELETE FROM users WHERE id = 1', 'ok'],
  ['SELECT count(*) FROM sessions', 'ok', '0'],
  ['INSERT INTO user_sessions (id_hash, app_id, conn_id, username, sub, refresh, created_at, last_seen) VALUES (B(cc), 1, 1, \'n\', \'s\', B(00), 1, 1) RETURNING id, refresh_gen', 'ok', '1|1'],
  ['INSERT INTO user_sessions (id_hash, app_id, conn_id, username, sub, refresh, created_at, last_seen) VALUES (B(cc), 1, 1, \'n\', \'s\', B(00), 1, 1)', 'refused'],
  ['DELETE FROM apps WHERE id = 1', 'ok'],
  ['SELECT count(*) FROM user_sessions', 'ok', '0'],
  ['DELETE FROM connections WHERE id = 1', 'ok'],
  ['SELECT count(*) FROM connection_secrets', 'ok', '0'],
  ['INSERT INTO audit_head (id, seq, hash, mac) VALUES (2, 0, B(00), B(00))', 'refused'],
  ['INSERT INTO audit_checkpoint (id, seq, hash, mac) VALUES (2, 0, B(00), B(00))', 'refused'],
  ['INSERT INTO audit_base (id, seq, hash, mac) VALUES (2, 0, B(00), B(00))', 'refused'],
  ['INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, 5, B(00), B(00)) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq', 'ok'],
  ['INSERT INTO audit (seq, ts, actor, event, outcome, prev_hash, hash) VALUES (1, 1, \'a\', \'e\', \'ok\', B(00), B(01)), (2, 1, \'a\', \'e\', \'ok\', B(01), B(02)), (3, 1, \'a\', \'e\', \'ok\', B(02), B(03)), (4, 1, \'a\', \'e\', \'ok\', B(03), B(04)), (5, 1, \'a\', \'e\', \'ok\', B(04), B(05))', 'ok'],
  ['INSERT INTO audit (seq, ts, actor, event, outcome, prev_hash, hash) VALUES (5, 1, \'a\', \'e\', \'ok\', B(00), B(00))', 'refused'],
  // the audit table's protections: UPDATE never; DELETE only at or below audit_base's seq (none: 0)
  ['UPDATE audit SET detail = \'x\' WHERE seq = 3', 'audit'],
  ['UPDATE audit SET detail = \'x\' WHERE seq = 99', 'ok'],
  ['DELETE FROM audit WHERE seq = 99', 'ok'],
  ['DELETE FROM audit WHERE seq = 1', 'audit'],
  ['INSERT INTO audit_base (id, seq, hash, mac) VALUES (1, 2, B(02), B(00))', 'ok'],
  ['DELETE FROM audit WHERE seq = 3', 'audit'],
  ['DELETE FROM audit WHERE seq <= 3', 'audit'],
  ['DELETE FROM audit', 'audit'],
  ['SELECT count(*) FROM audit', 'ok', '5'],
  ['DELETE FROM audit WHERE seq <= 2', 'ok'],
  ['SELECT min(seq), count(*) FROM audit', 'ok', '3|3'],
  ['UPDATE audit_base SET seq = 4 WHERE id = 1', 'ok'],
  ['DELETE FROM audit WHERE seq = 4', 'ok'],
  ['DELETE FROM audit WHERE seq = 5', 'audit'],
  ['TRUNCATE audit', 'audit', null, 'pg'],
  ['UPDATE audit_base SET seq = 5 WHERE id = 1', 'ok'],
  ['TRUNCATE audit', 'ok', null, 'pg'],
];

function blobs(sql, pg) {
  return sql.replace(/B\(([0-9a-f]*)\)/g, (_, hex) => (pg ? `'\\x${hex}'::bytea` : `x'${hex}'`));
}

// One line per probe that did not behave as expected on a side.
function probeDiffs(lite, pg) {
  const d = [];
  for (const [sql, want, rows, only] of PROBES) {
    for (const [side, db] of [['sqlite', lite], ['pg', pg]]) {
      if (only && only !== side) continue;
      const r = db.sql(blobs(sql, side === 'pg'));
      const got = !r.ok ? (r.err.includes(AUDIT_MSG) ? 'audit' : 'refused') : 'ok';
      if (got !== want) d.push(`${side}: ${sql}: ${got}, want ${want}${r.err ? ` (${r.err})` : ''}`);
      else if (rows != null && r.out !== rows) d.push(`${side}: ${sql}: rows ${JSON.stringify(r.out)}, want ${JSON.stringify(rows)}`);
    }
  }
  return d;
}

/** Apply both dialects and compare them; [{ name, ok, detail: [lines] }]. */
export function compareSchemas(conninfo) {
  const results = [];
  const liteFiles = migrations(join(ROOT, 'schema')), pgFiles = migrations(join(ROOT, 'schema/pg'));
  results.push({ name: 'the same migrations, in order', ok: JSON.stringify(liteFiles) === JSON.stringify(pgFiles),
    detail: [`sqlite ${liteFiles}`, `pg ${pgFiles}`] });
  const pg = new Pg(conninfo);
  const lite = new Sqlite();
  try {
    const applied = [];
    liteFiles.forEach((f, i) => {
      const r = lite.migrate(join(ROOT, 'schema', f), i + 1);
      if (!r.ok) applied.push(`sqlite ${f}: ${r.err}`);
    });
    for (const f of pgFiles) {
      const r = pg.migrate(join(ROOT, 'schema/pg', f));
      if (!r.ok) applied.push(`pg ${f}: ${r.err}`);
    }
    results.push({ name: 'every migration applies, one transaction each', ok: applied.length === 0, detail: applied });
    if (applied.length > 0) return results;
    const sd = structureDiffs(sqliteStructure(lite), pgStructure(pg));
    results.push({ name: 'tables, columns, keys, indexes, foreign keys and triggers match', ok: sd.length === 0, detail: sd });
    const pd = probeDiffs(lite, pg);
    results.push({ name: `${PROBES.length} statements (constraints, cascades, audit protections) behave alike`, ok: pd.length === 0, detail: pd });
  } finally {
    pg.close();
    lite.close();
  }
  return results;
}

if (process.argv[1] && basename(process.argv[1]) === basename(fileURLToPath(import.meta.url))) {
  const conninfo = process.env.FG_TEST_PG_CONNINFO;
  if (!conninfo) {
    console.log('1..0 # SKIP FG_TEST_PG_CONNINFO is not set (a libpq conninfo of a PostgreSQL 15 ' +
      'this test may create and drop a schema in, e.g. "host=/tmp/pg dbname=postgres")');
    process.exit(0);
  }
  const results = compareSchemas(conninfo);
  console.log(`1..${results.length}`);
  results.forEach((r, i) => {
    console.log(`${r.ok ? 'ok' : 'not ok'} ${i + 1} - ${r.name}`);
    if (!r.ok) for (const line of r.detail) console.log(`#   ${line}`);
  });
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}
