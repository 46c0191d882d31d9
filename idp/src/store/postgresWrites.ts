import type pg from 'pg';

/** One row for `oidc`, as the adapter's upsert builds it; `guard`: see postgres.ts's upsert. */
export type UpsertRow = {
  model: string;
  id: string;
  payload: string;
  grantId: string | null;
  uid: string | null;
  userCode: string | null;
  clientId: string | null;
  accountId: string | null;
  expiresIn: number | null;
  guard: string | null;
};
type Pending = { row: UpsertRow; waiters: { resolve: (written: boolean) => void; reject: (err: unknown) => void }[] };

const COLUMNS = `INSERT INTO oidc (model, id, payload, grant_id, uid, user_code, client_id, account_id, expires_at, created_at)`;
const ON_CONFLICT = `ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
  user_code = excluded.user_code, client_id = excluded.client_id, account_id = excluded.account_id,
  expires_at = excluded.expires_at, consumed = NULL
RETURNING model, id`;
// A guarded row is written only while its client is stored exactly as the request relied on it.
const GUARD = (alias: string) =>
  `(${alias}guard IS NULL OR EXISTS (SELECT 1 FROM oidc c WHERE c.model = 'Client' AND c.id = ${alias}client_id AND c.payload = ${alias}guard))`;
const ONE = `${COLUMNS}
SELECT r.model, r.id, r.payload, r.grant_id, r.uid, r.user_code, r.client_id, r.account_id, now() + r.expires_in * interval '1 second', now()
FROM (SELECT $1::text AS model, $2::text AS id, $3::text AS payload, $4::text AS grant_id, $5::text AS uid, $6::text AS user_code,
             $7::text AS client_id, $8::text AS account_id, $9::float8 AS expires_in, $10::text AS guard) r
WHERE ${GUARD('r.')}
${ON_CONFLICT}`;
const MANY = `${COLUMNS}
SELECT r.model, r.id, r.payload, r.grant_id, r.uid, r.user_code, r.client_id, r.account_id, now() + r.expires_in * interval '1 second', now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::float8[], $10::text[])
  AS r(model, id, payload, grant_id, uid, user_code, client_id, account_id, expires_in, guard)
WHERE ${GUARD('r.')}
${ON_CONFLICT}`;

const fields = (r: UpsertRow) => [r.model, r.id, r.payload, r.grantId, r.uid, r.userCode, r.clientId, r.accountId, r.expiresIn, r.guard] as const;
const key = (model: string, id: string) => `${model}\0${id}`;

/**
 * Upserts of one turn of the event loop in one statement (one round trip, one transaction), as
 * concurrent grants make them. Each resolves only once that statement committed, with whether its row
 * was written (false: its guard found the client changed). A row with a NUL character (PostgreSQL
 * TEXT refuses it) is sent alone, so its error is its own and not the batch's.
 */
export function batchedUpserts(pool: pg.Pool): (row: UpsertRow) => Promise<boolean> {
  let pending: Map<string, Pending> | undefined;
  const run = async (rows: Pending[]) => {
    try {
      const result =
        rows.length === 1
          ? await pool.query<{ model: string; id: string }>({ name: 'idp_upsert', text: ONE, values: [...fields(rows[0]!.row)] })
          : await pool.query<{ model: string; id: string }>({
              name: 'idp_upsert_many',
              text: MANY,
              values: Array.from({ length: 10 }, (_, i) => rows.map((p) => fields(p.row)[i])),
            });
      const written = new Set(result.rows.map((r) => key(r.model, r.id)));
      for (const p of rows) for (const w of p.waiters) w.resolve(written.has(key(p.row.model, p.row.id)));
    } catch (err) {
      for (const p of rows) for (const w of p.waiters) w.reject(err);
    }
  };
  const flush = () => {
    const batch = [...pending!.values()];
    pending = undefined;
    void run(batch);
  };
  return (row) =>
    new Promise((resolve, reject) => {
      if (fields(row).some((v) => typeof v === 'string' && v.includes('\0'))) {
        void run([{ row, waiters: [{ resolve, reject }] }]);
        return;
      }
      if (!pending) {
        pending = new Map();
        setImmediate(flush);
      }
      // The same row twice in one turn: one statement cannot write it twice, and the later one wins,
      // as two statements in that order would leave it.
      const k = key(row.model, row.id);
      const earlier = pending.get(k);
      pending.set(k, { row, waiters: [...(earlier?.waiters ?? []), { resolve, reject }] });
    });
}
