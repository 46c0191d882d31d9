import { randomBytes } from 'node:crypto';

// Never framed (clickjacking a login form is the classic attack), no referrer (codes and states
// travel in URLs), no content sniffing. Sent on every response of every service.
const FIXED = {
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
} as const;

const BASE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The headers every response carries (JSON, redirects, errors, a library's own HTML).
 * `scriptHashes`: the IDP's oidc-provider appends the hash of its one inline script (the
 * auto-submitting form_post page) to an existing `script-src` only; `'self'` gives it one to append
 * to and serves no script, since the IDP has none.
 */
export function securityHeaders({ scriptHashes = false } = {}): Readonly<Record<string, string>> {
  return Object.freeze({
    'Content-Security-Policy': scriptHashes ? `default-src 'none'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'` : BASE_CSP,
    ...FIXED,
  });
}

/**
 * The headers of a page we render ourselves, and its style nonce: no scripts at all, styles only by
 * nonce, never framed, never cached (pages show a person's data or a login form). No form-action:
 * Chrome applies it to the redirects after a submit, which end at a client's redirect URI.
 */
export function pageHeaders(): { nonce: string; headers: Readonly<Record<string, string>> } {
  const nonce = randomBytes(16).toString('base64');
  return {
    nonce,
    headers: Object.freeze({
      'Content-Security-Policy': `default-src 'none'; style-src 'nonce-${nonce}'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'`,
      ...FIXED,
      'Cache-Control': 'no-store',
    }),
  };
}
