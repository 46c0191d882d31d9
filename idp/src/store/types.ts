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
