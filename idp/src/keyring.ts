import { watch as watchFs } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { assertPrivateJwks } from './keys.ts';
import { SettingNotFoundError } from './store/errors.ts';
import type { SettingsStore } from './store/types.ts';

export type Jwks = { keys: JWK[] };

/**
 * Where the signing keys live: jwks.json in the data dir, or the `jwks` row of the shared store
 * (replicas). `npm run keys` changes them there; the IDP watches them there.
 */
export type KeySource = {
  /** For messages: where the keys are. */
  where: string;
  read(): Promise<Jwks>;
  /** Replaces the keys with `change(current)`; a throw from `change` leaves them as they were. */
  update(change: (jwks: Jwks) => Jwks | Promise<Jwks>): Promise<void>;
  /** Calls `changed` whenever the keys may have changed. Resolves once watching; the result stops it. */
  watch(changed: () => void): Promise<() => Promise<void>>;
};

/** There are no keys there yet: the IDP creates them on its first start. */
export class NoKeysError extends Error {
  readonly code = 'ERR_NO_KEYS';
  constructor(where: string) {
    super(`no signing keys in ${where} yet: start the IDP once to create them`);
  }
}

/** jwks.json in the data dir, replaced by rename so a reader never sees half a file. */
export function dataDirKeys(dataDir: string): KeySource {
  const file = join(dataDir, 'jwks.json');
  const read = async (): Promise<Jwks> => {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as Jwks;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NoKeysError(file);
      throw err;
    }
  };
  return {
    where: file,
    read,
    async update(change) {
      const next = await change(await read());
      await writeFile(`${file}.tmp`, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    },
    async watch(changed) {
      // The directory, not the file: a rename puts a new file (inode) in place of the watched one.
      const watcher = watchFs(dataDir, (_event, name) => {
        if (name === null || name === 'jwks.json') changed();
      });
      watcher.unref();
      return async () => watcher.close();
    },
  };
}

/** The `jwks` row of the shared store: every replica hears of a change through LISTEN/NOTIFY. */
export function sharedKeys(settings: SettingsStore): KeySource {
  const where = 'the idp_settings row "jwks"';
  return {
    where,
    async read() {
      const stored = await settings.read('jwks');
      if (!stored) throw new NoKeysError(where);
      return JSON.parse(stored.value) as Jwks;
    },
    async update(change) {
      try {
        await settings.update('jwks', async (value) => JSON.stringify(await change(JSON.parse(value) as Jwks)));
      } catch (err) {
        if (err instanceof SettingNotFoundError) throw new NoKeysError(where);
        throw err;
      }
    },
    watch: (changed) =>
      settings.watch((name) => {
        if (name === undefined || name === 'jwks') changed();
      }),
  };
}

/**
 * The IDP's signing keys as in force right now. oidc-provider signs with the first key of an
 * algorithm, so `current().keys[0]` is the signing key; every key in it is published.
 *
 * For code that signs with the IDP's key outside oidc-provider (Security Event Tokens):
 * @example
 *   const key = await importJWK(keyring.signingKey()); // private JWK with kid and alg
 *   new SignJWT(set).setProtectedHeader({ alg: keyring.signingKey().alg!, kid: keyring.signingKey().kid, typ: 'secevent+jwt' })
 */
export type Keyring = {
  /** The private JWKS in force, signing key first. Never publish it as is: it holds the private parts. */
  current(): Jwks;
  signingKey(): JWK;
  /**
   * `listener` runs with the new keys before they are in force; if it throws, the change is refused
   * (current() keeps the old keys) and the error goes to `onError`.
   */
  onChange(listener: (jwks: Jwks) => void): void;
  /** Re-reads the keys now; true when they changed. The watch and the timer call it. */
  refresh(): Promise<boolean>;
  close(): Promise<void>;
};

/** Keys that never change (tests and tools that build an app directly). */
export function staticKeyring(jwks: Jwks): Keyring {
  return {
    current: () => jwks,
    signingKey: () => jwks.keys[0]!,
    onChange() {},
    refresh: async () => false,
    close: async () => {},
  };
}

export type WatchOptions = {
  /** The safety net: re-read this often even if no change was announced (a lost notification, a missed file event). */
  refreshIntervalMs: number;
  onError: (err: unknown) => void;
};

/**
 * Keys read from `source` and kept current: re-read at once when the source announces a change,
 * and every `refreshIntervalMs` in any case. So a change is in force at most `refreshIntervalMs`
 * (plus one read) after it was made, usually within milliseconds. Invalid keys are refused and the
 * old ones stay in force.
 */
export async function watchKeys(source: KeySource, initial: Jwks, { refreshIntervalMs, onError }: WatchOptions): Promise<Keyring> {
  let jwks = initial;
  let text = JSON.stringify(initial);
  const listeners: ((jwks: Jwks) => void)[] = [];
  let running: Promise<boolean> | undefined;
  let again = false;

  const readOnce = async (): Promise<boolean> => {
    const next = await source.read();
    const nextText = JSON.stringify(next);
    if (nextText === text) return false;
    assertPrivateJwks(next, source.where);
    for (const listener of listeners) listener(next);
    [jwks, text] = [next, nextText];
    return true;
  };
  // One read at a time; a change announced during a read gets one more read after it.
  const refresh = async (): Promise<boolean> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let changed = false;
      do {
        again = false;
        changed = (await readOnce()) || changed;
      } while (again);
      return changed;
    })().finally(() => (running = undefined));
    return running;
  };
  const background = () => {
    refresh().catch(onError);
  };

  const stopWatching = await source.watch(background);
  background(); // a change made between the first read and the watch
  const timer = setInterval(background, refreshIntervalMs).unref();
  return {
    current: () => jwks,
    signingKey: () => jwks.keys[0]!,
    onChange: (listener) => void listeners.push(listener),
    refresh,
    async close() {
      clearInterval(timer);
      await stopWatching();
      await running?.catch(() => {});
    },
  };
}
