import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';

/**
 * A state-changing POST must come from our own pages: it carries the session-bound token, and the
 * browser does not call it cross-site. Our pages send `Referrer-Policy: no-referrer`, under which
 * browsers send `Origin: null` on form posts, so `null` defers to Sec-Fetch-Site.
 */
export function isSameOriginPost(req: Request, publicOrigin: string, expectedToken: string | undefined): boolean {
  const origin = req.get('origin');
  if (origin !== undefined && origin !== 'null' && origin !== publicOrigin) return false;
  const site = req.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const token = (req.body as Record<string, unknown> | undefined)?.csrf;
  if (typeof token !== 'string' || expectedToken === undefined) return false;
  const a = Buffer.from(token);
  const b = Buffer.from(expectedToken);
  return a.length === b.length && timingSafeEqual(a, b);
}
