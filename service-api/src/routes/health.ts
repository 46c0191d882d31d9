import type { RequestHandler } from 'express';

/** Liveness only: it does not call the IDP, so an IDP outage does not restart this service. */
export const health: RequestHandler = (_req, res) => {
  res.json({ status: 'ok' });
};
