import { join } from 'node:path';
import type { IdpConfig } from '../config.ts';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import { StoreUnusableError } from './errors.ts';
import type { Store } from './types.ts';

/** PostgreSQL when IDP_DATABASE_URL is set (replicas), otherwise the SQLite file in the data dir. */
export async function openStore(
  config: Pick<IdpConfig, 'databaseUrl' | 'databasePoolSize' | 'dataDir'>,
  { onError }: { onError?: (err: Error) => void } = {},
): Promise<Store> {
  if (config.databaseUrl) return openPostgresStore(config.databaseUrl, { poolSize: config.databasePoolSize, onError });
  try {
    return openSqliteStore(join(config.dataDir, 'idp.sqlite'));
  } catch (err) {
    if (err instanceof StoreUnusableError) throw new StoreUnusableError(`${err.message} [IDP_DATA_DIR=${config.dataDir}]`, { cause: err.cause });
    throw err;
  }
}
