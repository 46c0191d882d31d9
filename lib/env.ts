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

  port(name: string, fallback: number): number {
    return this.integer(name, fallback, { min: 0, max: 65535 });
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
