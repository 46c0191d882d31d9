import { Router } from 'express';

/** Liveness only: it does not call the IDP or the Service API. */
export function healthRouter(): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  return router;
}
