import type { Adapter } from 'oidc-provider';
import type { Histogram } from 'prom-client';
import type { AccountStore, Store } from './types.ts';

const ADAPTER_METHODS = ['upsert', 'find', 'findByUid', 'findByUserCode', 'consume', 'destroy', 'revokeByGrantId'] as const;
const STORE_METHODS = ['createClient', 'listClients', 'deleteClient', 'purgeExpired'] as const;
const ACCOUNT_METHODS = ['create', 'findBySub', 'findByUsername', 'list', 'remove'] as const;
// Not waitForEvents: it lasts as long as a long poll waits, which says nothing about the store.
const STREAM_METHODS = ['create', 'find', 'listForClient', 'update', 'remove', 'enqueue', 'poll', 'acknowledge', 'revokeJwt', 'isJwtRevoked'] as const;

/**
 * `store` with every operation timed into `histogram` (labels: `operation`, e.g. `AccessToken.find`
 * or `accounts.findByUsername`, and `store`: sqlite or postgres). A decorator, so neither store
 * knows about metrics. Operation names are oidc-provider's model names and the Store's own methods:
 * a fixed set, never an id.
 */
export function timedStore(store: Store, kind: 'sqlite' | 'postgres', histogram: Histogram<'operation' | 'store'>): Store {
  function timed<A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    const labels = { operation, store: kind };
    return async (...args) => {
      const end = histogram.startTimer(labels);
      try {
        return await fn(...args);
      } finally {
        end();
      }
    };
  }
  const wrap = <T extends object>(target: T, prefix: string, methods: readonly string[]): T => {
    const out = { ...target } as Record<string, unknown>;
    for (const method of methods) {
      const fn = (target as Record<string, unknown>)[method];
      if (typeof fn === 'function') out[method] = timed(`${prefix}${method}`, (fn as (...a: unknown[]) => Promise<unknown>).bind(target));
    }
    return out as T;
  };

  const accounts: AccountStore = wrap(store.accounts, 'accounts.', ACCOUNT_METHODS);
  const timedStoreObject: Store = {
    ...wrap(store, '', STORE_METHODS),
    adapter: (model: string): Adapter => wrap(store.adapter(model), `${model}.`, ADAPTER_METHODS),
    accounts,
    streams: wrap(store.streams, 'streams.', STREAM_METHODS),
    close: () => store.close(),
  };
  if (store.settings) timedStoreObject.settings = wrap(store.settings, 'settings.', ['getOrCreate']);
  return timedStoreObject;
}
