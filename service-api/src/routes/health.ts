import type { RequestHandler } from 'express';

/** A setting that cannot work, as /healthz reports it: the variable to fix and why. */
export type Misconfiguration = Readonly<{ variable: string; reason: string }>;

/**
 * `{"status":"ok"}`, or 503 `{"status":"misconfigured", variable, reason}` while `misconfiguration()`
 * names one. It never calls the IDP, so an IDP outage does not restart this service; a configuration
 * the IDP has refused does fail the check, since no request can succeed until someone fixes it.
 */
export function health(misconfiguration: () => Misconfiguration | undefined = () => undefined): RequestHandler {
  return (_req, res) => {
    const problem = misconfiguration();
    if (problem === undefined) res.json({ status: 'ok' });
    else res.status(503).json({ status: 'misconfigured', ...problem });
  };
}
