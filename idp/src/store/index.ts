import { join } from 'node:path';
import type { IdpConfig } from '../config.ts';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import { StoreUnusableError } from './errors.ts';
import type { Store } from './types.ts';

type StoreConfig = Pick<IdpConfig, 'databaseUrl' | 'databasePoolSize' | 'dataDir' | 'accessTokenTtl' | 'clientCredentialsTtl' | 'refreshTokenTtl'>;

/**
 * How long a Shared Signals event waits for its receiver: the longest token lifetime the settings
 * give, after which the token it names has expired anyway. A receiver that lets one go unpolled
 * that long is told it lost events (stream-updated) and flushes.
 */
export const eventRetentionSeconds = (config: Pick<IdpConfig, 'accessTokenTtl' | 'clientCredentialsTtl' | 'refreshTokenTtl'>): number =>
  Math.max(config.accessTokenTtl, config.clientCredentialsTtl, config.refreshTokenTtl);

/** PostgreSQL when IDP_DATABASE_URL is set (replicas), otherwise the SQLite file in the data dir. */
export async function openStore(config: StoreConfig, { onError }: { onError?: (err: Error) => void } = {}): Promise<Store> {
  const retention = eventRetentionSeconds(config);
  if (config.databaseUrl) return openPostgresStore(config.databaseUrl, { poolSize: config.databasePoolSize, onError, eventRetentionSeconds: retention });
  try {
    return openSqliteStore(join(config.dataDir, 'idp.sqlite'), { eventRetentionSeconds: retention });
  } catch (err) {
    if (err instanceof StoreUnusableError) throw new StoreUnusableError(`${err.message} [IDP_DATA_DIR=${config.dataDir}]`, { cause: err.cause });
    throw err;
  }
}
