import { readFileSync } from 'node:fs';

/** A setting that cannot work. `message` starts with the variable's name and says what is allowed. */
export class ConfigError extends TypeError {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The Fetch standard's "bad ports" (fetch.spec.whatwg.org/#port-blocking), as Node's fetch (undici)
 * lists them: fetch and browsers refuse to connect to them, so a service there is unreachable for
 * our health probes, our clients and every browser, although curl gets through.
 */
export const FETCH_BAD_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117,
  119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
  989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** pino's levels, most severe first; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Reads settings from an environment once, at start-up. Every failure is a {@link ConfigError}
 * naming the variable, so a misconfigured container says exactly what to fix. An empty value counts
 * as unset (compose turns `${X:-}` into ""). Config modules pass `process.env`; tests their own.
 */
export class Env {
  constructor(private readonly source: NodeJS.ProcessEnv) {}

  string(name: string, fallback?: string): string {
    const value = this.source[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(name, `${name} must be set`);
  }

  optional(name: string): string | undefined {
    const value = this.source[name];
    return value === undefined || value === '' ? undefined : value;
  }

  /** A secret from `NAME`, or from the file named by `NAME_FILE` (the Docker-secrets convention). */
  secret(name: string): string | undefined {
    const direct = this.optional(name);
    const file = this.optional(`${name}_FILE`);
    if (direct !== undefined && file !== undefined) {
      throw new ConfigError(name, `set ${name} or ${name}_FILE, not both`);
    }
    if (file === undefined) return direct;
    let content: string;
    try {
      content = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`${name}_FILE`, `${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`);
    }
    if (content === '') throw new ConfigError(`${name}_FILE`, `${name}_FILE: ${file} is empty`);
    return content;
  }

  requiredSecret(name: string): string {
    const value = this.secret(name);
    if (value === undefined) throw new ConfigError(name, `${name} or ${name}_FILE must be set`);
    return value;
  }

  /**
   * Plain decimal digits only, within [min, max]: `1e3`, `0x10`, `+5`, ` 5` and `99999999999999` are
   * all refused (Number() would take most of them, and a typo would become a surprise lifetime). The
   * default `max` fits a 32-bit int, the bound of Node's timers and of every setting here.
   */
  integer(name: string, fallback: number, { min = 0, max = 2 ** 31 - 1 } = {}): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const value = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : NaN;
    if (!(value >= min && value <= max)) {
      throw new ConfigError(name, `${name} must be an integer between ${min} and ${max} (decimal digits only), got "${raw}"`);
    }
    return value;
  }

  /**
   * A secret that is sent as a Bearer token (RFC 6750 §2.1): visible ASCII without spaces, or no
   * header could ever carry it, and at least `minLength` characters, or it can be guessed. The error
   * never shows the value.
   */
  bearerSecret(name: string, { minLength = 32 } = {}): string | undefined {
    const value = this.secret(name);
    if (value === undefined) return undefined;
    if (!/^[\x21-\x7e]*$/.test(value)) {
      throw new ConfigError(name, `${name} must be visible ASCII characters without spaces (it is sent as a Bearer token); the value set has other characters`);
    }
    if (value.length < minLength) {
      throw new ConfigError(name, `${name} must be at least ${minLength} characters; the value set has ${value.length}`);
    }
    return value;
  }

  /** 0 (tests: the OS picks one) to 65535, except the ports fetch and browsers refuse. */
  port(name: string, fallback: number): number {
    const port = this.integer(name, fallback, { min: 0, max: 65535 });
    if (FETCH_BAD_PORTS.has(port)) {
      throw new ConfigError(name, `${name} must not be ${port}: browsers and Node's fetch refuse to connect to it (a Fetch standard "bad port"); choose another`);
    }
    return port;
  }

  url(name: string, fallback?: string): URL {
    const raw = this.string(name, fallback);
    if (!URL.canParse(raw)) throw new ConfigError(name, `${name} must be an absolute URL, got "${raw}"`);
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(name, `${name} must be an http(s) URL, got "${raw}"`);
    }
    return url;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name) ?? fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      throw new ConfigError(name, `${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
    }
    return raw as T;
  }

  /** A comma-separated list; blanks around and between items are dropped. */
  list(name: string, fallback: string): readonly string[] {
    return Object.freeze(this.string(name, fallback).split(',').map((s) => s.trim()).filter(Boolean));
  }

  logLevel(name = 'LOG_LEVEL'): LogLevel {
    return this.oneOf(name, LOG_LEVELS, 'info');
  }
}

/**
 * Every program's way of reporting a setting that cannot work: one line on stderr that names the
 * variable, exit code 1, no stack trace (it would only bury the one thing to fix). Any other error
 * is a bug and propagates with its stack.
 *
 * @example const config = loadOrExit('idp', () => loadConfig(process.env));
 */
export function loadOrExit<T>(program: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${program}: configuration error: ${err.message}\n`);
    process.exit(1);
  }
}
