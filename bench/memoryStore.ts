import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import type { AdapterPayload } from 'oidc-provider';
import type { createApp } from '../idp/src/app.ts';

/** Whatever store type the IDP's createApp takes today (it is being refactored; this follows it). */
type Store = Parameters<typeof createApp>[2];
type Account = NonNullable<Awaited<ReturnType<Store['accounts']['findBySub']>>>;

/**
 * The IDP's store interface over oidc-provider's own in-memory adapter: the IDP with the library's
 * storage ceiling and nothing else changed.
 * Benchmark-only: no persistence, and deleting a client does not remove what was issued to it.
 */
export function memoryStore(): Store {
  // The library's adapter over the library's LRU, sized so that a benchmark's tokens do not evict its
  // clients (createMemoryAdapter() holds 1000 entries: a grants run would push the clients out).
  const storage = new LRU({ maxSize: 1_000_000 });
  const adapter = (model: string) => new MemoryAdapter(model, storage);
  const clients = adapter('Client');
  const clientIds = new Map<string, AdapterPayload>();
  const accounts = new Map<string, Account>();
  const resourceServers = new Map<string, Awaited<ReturnType<Store['resourceServers']['list']>>[number]>();
  return {
    adapter,
    async createClient(clientId, metadata) {
      if (clientIds.has(clientId)) return false;
      clientIds.set(clientId, metadata);
      await clients.upsert(clientId, metadata, undefined as unknown as number);
      return true;
    },
    listClients: async () => [...clientIds.values()],
    async deleteClient(clientId) {
      await clients.destroy(clientId);
      return clientIds.delete(clientId);
    },
    accounts: {
      create: async (account) => (accounts.has(account.username) ? false : (accounts.set(account.username, account), true)),
      findBySub: async (sub) => [...accounts.values()].find((a) => a.sub === sub),
      findByUsername: async (username) => accounts.get(username),
      list: async () => [...accounts.values()],
      remove: async (username) => accounts.delete(username),
    },
    resourceServers: {
      create: async (server) => (resourceServers.has(server.identifier) ? false : (resourceServers.set(server.identifier, server), true)),
      async replace(server) {
        const existing = resourceServers.get(server.identifier);
        if (existing) resourceServers.set(server.identifier, { ...server, created_at: existing.created_at });
        return existing !== undefined;
      },
      find: async (identifier) => resourceServers.get(identifier),
      list: async () => [...resourceServers.values()],
      remove: async (identifier) => resourceServers.delete(identifier),
    },
    purgeExpired: async () => 0,
    // Memory is always readable and writable: nothing to probe.
    async probe() {},
    async close() {},
  };
}
