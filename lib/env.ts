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

  integer(name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(name, `${name} must be an integer between ${min} and ${max}, got "${raw}"`);
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
