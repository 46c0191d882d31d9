import type { RequestHandler } from 'express';
import { getPrincipal } from '../auth/bearer.ts';
import type { Principal } from '../auth/principal.ts';

/** What GET /v1/whoami answers for a principal. */
export function principalView({ subject, clientId, scopes, kind, expiresAt, actor }: Principal) {
  // A machine token has no subject: null keeps the shape stable for clients. `actor` only for an
  // exchanged token ("alice via service-a").
  return { subject: subject ?? null, clientId, scopes, kind, expiresAt, ...(actor ? { actor } : {}) };
}

export const whoami: RequestHandler = (_req, res) => {
  res.json(principalView(getPrincipal(res)));
};
