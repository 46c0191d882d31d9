// Phase 6's store filling: many live tokens written straight into the IDP's own tables, copies of one
// row the IDP itself wrote (an oidc-provider ClientCredentials token of a real client), with only
// id/jti and the times varied. A million HTTP grants would take the phase an hour; these rows take
// seconds and introspect exactly like the one they copy (scale.ts checks a few over HTTP).
import Database from 'better-sqlite3';
import { hash } from 'node:crypto';
import { statSync } from 'node:fs';
import pg from 'pg';

/**
 * The i-th filled token of a fill: 43 base64url characters, like oidc-provider's own opaque ids, and
 * recomputable, so a load run can pick any of a million tokens without the bench holding them all.
 * `kind` keeps the expired rows' ids apart from the live ones'.
 */
export const tokenId = (seed: string, kind: 'live' | 'expired', i: number) => hash('sha256', `${seed}:${kind}:${i}`, 'base64url');

/** The row the IDP wrote, as its store holds it (every column, whatever the schema has by now). */
export type TemplateRow = Record<string, unknown> & { id: string; payload: string };

export type Fill = {
  /** Live tokens (exp in the future) to add. */
  live: number;
  /** Already expired tokens to add before them (older rows, as expired tokens are). */
  expired: number;
  seed: string;
  /** Seconds, the IDP's clock. */
  now: number;
  /** Lifetime of a live filled token, seconds from `now`. */
  ttlSeconds: number;
};

type Times = { iat: number; exp: number };

/**
 * The template's payload text with another jti and times. Replaced in the JSON text rather than
 * re-serialized, so key order and every other claim stay as oidc-provider wrote them; a template that
 * does not hold each value exactly once is refused rather than half-replaced.
 */
export function payloadMaker(template: TemplateRow): (id: string, times: Times) => string {
  const parsed = JSON.parse(template.payload) as { jti?: unknown; iat?: unknown; exp?: unknown };
  if (parsed.jti !== template.id || typeof parsed.iat !== 'number' || typeof parsed.exp !== 'number') {
    throw new Error(`the template row is not an oidc-provider token (jti = id, numeric iat and exp): ${template.payload}`);
  }
  const parts = [`"jti":${JSON.stringify(template.id)}`, `"iat":${parsed.iat}`, `"exp":${parsed.exp}`];
  for (const part of parts) {
    if (template.payload.split(part).length !== 2) throw new Error(`the template payload holds ${part} not exactly once: ${template.payload}`);
  }
  return (id, { iat, exp }) =>
    template.payload
      .replace(parts[0]!, `"jti":${JSON.stringify(id)}`)
      .replace(parts[1]!, `"iat":${iat}`)
      .replace(parts[2]!, `"exp":${exp}`);
}

const timesOf = (fill: Fill, kind: 'live' | 'expired'): Times =>
  kind === 'live' ? { iat: fill.now, exp: fill.now + fill.ttlSeconds } : { iat: fill.now - 3600, exp: fill.now - 60 };

/** Rows per transaction: big enough that commits cost nothing, small enough to keep the WAL modest. */
const BATCH = 50_000;

/**
 * Adds `fill.expired` then `fill.live` copies of the template (model, id) row to the SQLite file of
 * an IDP that is not running (the IDP holds its file exclusively). Every column is copied from the
 * template except id, payload, expires_at (seconds) and created_at (ms).
 */
export function fillSqlite(file: string, template: { model: string; id: string }, fill: Fill): void {
  const db = new Database(file);
  try {
    // A 1M-row fill inserts into the (model, id) index at random places: keep that index in memory.
    db.pragma('cache_size = -262144');
    const row = db.prepare('SELECT * FROM oidc WHERE model = ? AND id = ?').get(template.model, template.id) as TemplateRow | undefined;
    if (!row) throw new Error(`no ${template.model} row ${template.id} in ${file}`);
    const columns = Object.keys(row);
    const insert = db.prepare(`INSERT INTO oidc (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
    const payload = payloadMaker(row);
    const write = db.transaction((kind: 'live' | 'expired', from: number, to: number) => {
      const times = timesOf(fill, kind);
      for (let i = from; i < to; i++) {
        const id = tokenId(fill.seed, kind, i);
        insert.run({ ...row, id, payload: payload(id, times), expires_at: times.exp, created_at: times.iat * 1000 });
      }
    });
    for (const [kind, count] of [['expired', fill.expired], ['live', fill.live]] as const) {
      for (let from = 0; from < count; from += BATCH) write(kind, from, Math.min(count, from + BATCH));
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** The SQLite file and its WAL, bytes. */
export function sqliteBytes(file: string): number {
  const size = (f: string) => {
    try {
      return statSync(f).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
  };
  return size(file) + size(`${file}-wal`);
}

/**
 * The same fill in PostgreSQL, generated by the server itself (`generate_series`, ids computed with
 * its sha256 exactly as tokenId computes them), in transactions of BATCH rows.
 */
export async function fillPostgres(url: string, template: { model: string; id: string }, fill: Fill): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<TemplateRow>('SELECT * FROM oidc WHERE model = $1 AND id = $2', [template.model, template.id]);
    const row = rows[0];
    if (!row) throw new Error(`no ${template.model} row ${template.id} in the database`);
    payloadMaker(row); // refuses a template whose payload cannot be varied
    const parsed = JSON.parse(row.payload) as { iat: number; exp: number };
    const copied = Object.keys(row).filter((c) => !['id', 'payload', 'expires_at', 'created_at'].includes(c));
    const id = `translate(rtrim(encode(sha256(convert_to($1 || ':' || $2 || ':' || g, 'UTF8')), 'base64'), '='), '+/', '-_')`;
    const sql = `INSERT INTO oidc (${[...copied, 'id', 'payload', 'expires_at', 'created_at'].join(', ')})
      SELECT ${copied.map((c) => `t.${c}`).join(', ')}, x.id,
        replace(replace(replace(t.payload, '"jti":"' || t.id || '"', '"jti":"' || x.id || '"'), '"iat":${parsed.iat}', '"iat":' || $5::bigint), '"exp":${parsed.exp}', '"exp":' || $6::bigint),
        to_timestamp($6::bigint), to_timestamp($5::bigint)
      FROM oidc t, generate_series($3::int, $4::int - 1) g, LATERAL (SELECT ${id} AS id) x
      WHERE t.model = $7 AND t.id = $8`;
    for (const [kind, count] of [['expired', fill.expired], ['live', fill.live]] as const) {
      const times = timesOf(fill, kind);
      for (let from = 0; from < count; from += BATCH) {
        await client.query(sql, [fill.seed, kind, from, Math.min(count, from + BATCH), times.iat, times.exp, template.model, template.id]);
      }
    }
    await client.query('VACUUM ANALYZE oidc');
  } finally {
    await client.end();
  }
}

/** The whole database on disk (tables, indexes, TOAST), bytes. */
export async function postgresBytes(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ size: string }>('SELECT pg_database_size(current_database()) AS size');
    return Number(rows[0]!.size);
  } finally {
    await client.end();
  }
}
