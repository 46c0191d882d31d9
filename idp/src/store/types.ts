import type { Adapter, AdapterPayload } from 'oidc-provider';

/**
 * Everything the IDP keeps: oidc-provider's models (one adapter per model), clients, end users.
 * Promise-returning throughout so a network database fits behind it; the SQLite adapter answers
 * from prepared statements, the PostgreSQL one from a connection pool.
 */
export type Store = {
  adapter: (model: string) => Adapter;
  /** Registers a client unless its id is taken; false when it is. */
  createClient(clientId: string, metadata: AdapterPayload): Promise<boolean>;
  /** Every registered client's metadata, oldest first. */
  listClients(): Promise<AdapterPayload[]>;
  /** Removes the client and every artefact issued to it (tokens, codes, grants, sessions' grants). */
  deleteClient(clientId: string): Promise<boolean>;
  accounts: AccountStore;
  /** RFC 8707 resource servers: the APIs tokens are issued for, with the scopes each one owns. */
  resourceServers: ResourceServerStore;
  /** Deletes expired rows; returns how many. */
  purgeExpired(): Promise<number>;
  /** Rejects unless the store can be read and written right now (a cheap round trip for /healthz). */
  probe(): Promise<void>;
  /**
   * Present when several replicas share this store: the settings every replica must agree on
   * (signing keys, cookie keys) live here instead of in a replica's data dir.
   */
  settings?: SettingsStore;
  /** OpenID Shared Signals streams, their durable event queues and the revoked JWT ids. */
  streams: StreamStore;
  close(): Promise<void>;
};

export type Account = {
  sub: string;
  username: string;
  passwordHash: string;
  name: string | null;
  email: string | null;
  createdAt: number;
};

/** End users. Usernames are unique; `sub` is a stable random id that survives a username's reuse. */
export type AccountStore = {
  create(account: Account): Promise<boolean>;
  findBySub(sub: string): Promise<Account | undefined>;
  findByUsername(username: string): Promise<Account | undefined>;
  list(): Promise<Account[]>;
  /** Removes the account and everything of its subject (sessions, grants, tokens, codes, interactions); false when there was none. */
  remove(username: string): Promise<boolean>;
};

/** Shared key/value settings, written once: the first writer wins and everyone reads its value. */
export type SettingsStore = {
  /** The stored value of `name`, or `create()`'s result stored now if there was none. */
  getOrCreate(name: string, create: () => Promise<string>): Promise<string>;
};

/** A resource server as stored; `null` format/TTL: the IDP's defaults (ACCESS_TOKEN_FORMAT, the TTL settings). */
export type StoredResourceServer = {
  identifier: string;
  scopes: string[];
  access_token_format: 'opaque' | 'jwt' | null;
  access_token_ttl: number | null;
  /** Who manages it: `"seed"` for those the seed file declares (only those are pruned), else null. */
  managed_by: string | null;
  created_at: number;
};

/**
 * Read from the database on every call, never cached in a replica: a resource server created through
 * one replica is in force at every other one at once.
 */
export type ResourceServerStore = {
  /** Stores it unless its identifier is taken; false when it is. */
  create(server: StoredResourceServer): Promise<boolean>;
  /** Replaces an existing one (keeping its created_at); false when there is none. */
  replace(server: StoredResourceServer): Promise<boolean>;
  find(identifier: string): Promise<StoredResourceServer | undefined>;
  /** Every resource server, oldest first. */
  list(): Promise<StoredResourceServer[]>;
  remove(identifier: string): Promise<boolean>;
};

/**
 * What a revocation changed, as the store records it for the Shared Signals transmitter (idp/src/ssf/):
 * plain facts, no SET format. The store writes one queued event per stream that wants it in the same
 * transaction as the revocation itself, so an answered revocation is never an event lost.
 */
export type RevocationFact =
  /** One token ended (/oauth/revoke, admin action). `tokenHash`: base64url(SHA-256(token value)) of an opaque token. */
  | { kind: 'token-revoked'; tokenType: 'access_token' | 'refresh_token'; tokenHash: string; sub?: string; clientId?: string }
  /** One JWT access token revoked by its `jti` (kept until `exp` so it is never accepted again). */
  | { kind: 'jwt-revoked'; jti: string; exp: number; sub?: string; clientId?: string }
  /** A grant ended (sign-out, consent revoked, refresh-token reuse): every token of (sub, client). */
  | { kind: 'session-revoked'; sub: string; clientId: string }
  /** A client was deleted: every token issued to it. */
  | { kind: 'client-deleted'; clientId: string }
  /** A user was deleted: every token of that subject. */
  | { kind: 'account-purged'; sub: string }
  /** SSF verification (§8.1.4): echoes the receiver's `state`. */
  | { kind: 'verification'; state?: string }
  /** SSF stream-updated: the stream's status changed, or events were lost (`reason`), so the receiver must flush. */
  | { kind: 'stream-updated'; status: StreamStatus; reason?: string };

export type StreamStatus = 'enabled' | 'paused' | 'disabled';

/** An SSF event stream as stored; `config` is the SSF stream configuration JSON the receiver reads. */
export type StoredStream = {
  id: string;
  /** The receiver: the client whose `ssf.manage` token created it; only it may see or manage it. */
  clientId: string;
  status: StreamStatus;
  reason: string | null;
  /** SSF §8.1.1 stream configuration (events_requested, events_delivered, delivery, description, …). */
  config: Record<string, unknown>;
  createdAt: number;
  /** Seconds; last poll (or creation). Streams unpolled for their inactivity_timeout are purged. */
  lastPolledAt: number;
};

/** One queued event of one stream: the fact and when it happened; the SET is built and signed at delivery. */
export type QueuedEvent = { jti: string; iat: number; fact: RevocationFact };

/**
 * SSF streams and their queues, durable in the store. Enabled and paused streams queue events (paused
 * ones are held until enabled again); disabled ones drop them.
 */
export type StreamStore = {
  create(stream: StoredStream): Promise<void>;
  find(id: string): Promise<StoredStream | undefined>;
  listForClient(clientId: string): Promise<StoredStream[]>;
  /** Replaces status/reason/config; false when there is none. */
  update(stream: StoredStream): Promise<boolean>;
  /** Deletes the stream and its queue; false when there was none. */
  remove(id: string): Promise<boolean>;
  /** Queues facts outside a revocation (verification, stream-updated) for one stream. */
  enqueue(streamId: string, facts: RevocationFact[]): Promise<void>;
  /** Up to `max` queued events, oldest first; marks the stream polled. Unacknowledged events come back next time. */
  poll(streamId: string, max: number): Promise<QueuedEvent[]>;
  /** Deletes these events of this stream (RFC 8936 `ack`). */
  acknowledge(streamId: string, jtis: string[]): Promise<void>;
  /** Resolves when an event may have been queued for `streamId` (by this process or, with PostgreSQL, another replica), or when `signal` aborts. */
  waitForEvents(streamId: string, signal: AbortSignal): Promise<void>;
  /** Revokes a JWT access token by jti (kept until exp) and queues its event, in one transaction. */
  revokeJwt(fact: Extract<RevocationFact, { kind: 'jwt-revoked' }>): Promise<void>;
  isJwtRevoked(jti: string): Promise<boolean>;
};
