import { join } from 'node:path';
import type { IdpConfig } from '../config.ts';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

/** PostgreSQL when IDP_DATABASE_URL is set (replicas), otherwise the SQLite file in the data dir. */
export async function openStore(
  config: Pick<IdpConfig, 'databaseUrl' | 'databasePoolSize' | 'dataDir'>,
  { onError }: { onError?: (err: Error) => void } = {},
): Promise<Store> {
  if (config.databaseUrl) return openPostgresStore(config.databaseUrl, { poolSize: config.databasePoolSize, onError });
  return openSqliteStore(join(config.dataDir, 'idp.sqlite'));
}
