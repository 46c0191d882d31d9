import { readFileSync } from 'node:fs';

/**
 * Reads settings from an environment once, at start-up. Every failure names the variable, so a
 * misconfigured container says exactly what to fix. An empty value counts as unset (compose turns
 * `${X:-}` into "").
 */
export class Env {
  constructor(private readonly source: NodeJS.ProcessEnv = process.env) {}

  string(name: string, fallback?: string): string {
    const value = this.source[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new TypeError(`${name} must be set`);
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
      throw new TypeError(`set ${name} or ${name}_FILE, not both`);
    }
    if (file === undefined) return direct;
    let content: string;
    try {
      content = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new TypeError(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`);
    }
    if (content === '') throw new TypeError(`${name}_FILE: ${file} is empty`);
    return content;
  }

  requiredSecret(name: string): string {
    const value = this.secret(name);
    if (value === undefined) throw new TypeError(`${name} or ${name}_FILE must be set`);
    return value;
  }

  integer(name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new TypeError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
    }
    return value;
  }

  port(name: string, fallback: number): number {
    return this.integer(name, fallback, { min: 0, max: 65535 });
  }

  url(name: string, fallback?: string): URL {
    const raw = this.string(name, fallback);
    if (!URL.canParse(raw)) throw new TypeError(`${name} must be an absolute URL, got "${raw}"`);
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`${name} must be an http(s) URL, got "${raw}"`);
    }
    return url;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name) ?? fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      throw new TypeError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
    }
    return raw as T;
  }
}
