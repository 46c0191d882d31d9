import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import type { AdapterPayload } from 'oidc-provider';
import { randomUUID } from 'node:crypto';
import type { createApp } from '../idp/src/app.ts';
import { eventTypeOf } from '../idp/src/ssf/eventTypes.ts';
import { Waiters } from '../idp/src/store/streams.ts';
import type { QueuedEvent, RevocationFact, StoredStream, StreamStore } from '../idp/src/store/types.ts';

/** Whatever store type the IDP's createApp takes today (it is being refactored; this follows it). */
type Store = Parameters<typeof createApp>[2];
type Account = NonNullable<Awaited<ReturnType<Store['accounts']['findBySub']>>>;

/**
 * The IDP's store interface over oidc-provider's own in-memory adapter: the IDP with the library's
 * storage ceiling and nothing else changed.
 * Benchmark-only: no persistence, and deleting a client does not remove what was issued to it.
 * Its Shared Signals streams work (in memory), but only revokeJwt and enqueue queue events: the
 * library's adapter deletes tokens without telling anyone.
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
    streams: memoryStreams(),
    // Memory is always readable and writable: nothing to probe.
    async probe() {},
    async close() {},
  };
}

/** Streams, queues and revoked JWT ids in memory, with the stores' semantics (see idp/src/store/streams.ts). */
function memoryStreams(): StreamStore {
  const streams = new Map<string, { stream: StoredStream; queue: QueuedEvent[] }>();
  const revoked = new Map<string, number>();
  const waiters = new Waiters();
  const seconds = () => Math.floor(Date.now() / 1000);
  const queue = (id: string, fact: RevocationFact) => {
    streams.get(id)?.queue.push({ jti: randomUUID(), iat: seconds(), fact });
    waiters.wake(id);
  };
  return {
    async create(stream) {
      if (streams.has(stream.id)) throw new Error(`stream ${stream.id} exists`);
      streams.set(stream.id, { stream: structuredClone(stream), queue: [] });
    },
    find: async (id) => structuredClone(streams.get(id)?.stream),
    listForClient: async (clientId) => [...streams.values()].filter((s) => s.stream.clientId === clientId).map((s) => structuredClone(s.stream)),
    async update(stream) {
      const entry = streams.get(stream.id);
      if (!entry) return false;
      entry.stream = { ...structuredClone(stream), createdAt: entry.stream.createdAt, lastPolledAt: entry.stream.lastPolledAt };
      waiters.wake(stream.id);
      return true;
    },
    async remove(id) {
      const removed = streams.delete(id);
      waiters.wake(id);
      return removed;
    },
    async enqueue(streamId, facts) {
      for (const fact of facts) queue(streamId, fact);
    },
    async poll(streamId, max) {
      const entry = streams.get(streamId);
      if (!entry) return [];
      entry.stream.lastPolledAt = seconds();
      return entry.stream.status === 'enabled' ? entry.queue.slice(0, Math.max(0, max)) : [];
    },
    async acknowledge(streamId, jtis) {
      const entry = streams.get(streamId);
      const acked = new Set(jtis);
      if (entry) entry.queue = entry.queue.filter((e) => !acked.has(e.jti));
    },
    waitForEvents(streamId, signal) {
      return waiters.wait(streamId, signal, (wake) => {
        const entry = streams.get(streamId);
        if (!entry || (entry.stream.status === 'enabled' && entry.queue.length)) wake();
      });
    },
    async revokeJwt(fact) {
      if (revoked.has(fact.jti)) return;
      revoked.set(fact.jti, fact.exp);
      const type = eventTypeOf(fact);
      for (const { stream } of streams.values()) {
        const delivered = stream.config.events_delivered;
        if (stream.status !== 'disabled' && Array.isArray(delivered) && delivered.includes(type)) queue(stream.id, fact);
      }
    },
    isJwtRevoked: async (jti) => (revoked.get(jti) ?? 0) > seconds(),
  };
}
