import { Router } from 'express';
import type { ServiceApi } from '../serviceApi.ts';

/** Machine-to-machine calls: Solutrix-API's own token, not the end user's. */
export function serviceRouter(serviceApi: ServiceApi): Router {
  const router = Router();
  router.get('/v1/service/whoami', async (_req, res) => {
    res.json(await serviceApi.callServiceApi('/v1/whoami'));
  });
  router.get('/v1/service/reports', async (_req, res) => {
    res.json(await serviceApi.callServiceApi('/v1/reports'));
  });
  return router;
}
