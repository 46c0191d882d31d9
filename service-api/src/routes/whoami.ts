import type { RequestHandler } from 'express';
import { getPrincipal } from '../auth/bearer.ts';

export const whoami: RequestHandler = (_req, res) => {
  const { subject, clientId, scopes, kind, expiresAt } = getPrincipal(res);
  // A machine token has no subject: null keeps the shape stable for clients.
  res.json({ subject: subject ?? null, clientId, scopes, kind, expiresAt });
};
