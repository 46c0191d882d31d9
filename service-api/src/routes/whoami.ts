import type { RequestHandler } from 'express';
import { getPrincipal } from '../auth/bearer.ts';

export const whoami: RequestHandler = (_req, res) => {
  const { subject, clientId, scopes, kind, expiresAt, actor } = getPrincipal(res);
  // A machine token has no subject: null keeps the shape stable for clients. `actor` only for an
  // exchanged token ("alice via service-a").
  res.json({ subject: subject ?? null, clientId, scopes, kind, expiresAt, ...(actor ? { actor } : {}) });
};
