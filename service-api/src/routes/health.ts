import type { RequestHandler } from 'express';

/** A setting that cannot work, as /healthz reports it: the variable to fix and why. */
export type Misconfiguration = Readonly<{ variable: string; reason: string }>;

/** With revocation events on: the stream's state, as /healthz shows it (`since`: ISO time of the last change). */
export type RevocationEventsHealth = Readonly<{ mode: 'ssf'; state: 'connecting' | 'connected' | 'fallback'; since: string }>;

/**
 * `{"status":"ok"}` (plus `revocation_events` when they are on), or 503 `{"status":"misconfigured", variable, reason}` while `misconfiguration()`
 * names one. It never calls the IDP, so an IDP outage does not restart this service; a configuration
 * the IDP has refused does fail the check, since no request can succeed until someone fixes it.
 */
export function health(
  misconfiguration: () => Misconfiguration | undefined = () => undefined,
  revocationEvents: () => RevocationEventsHealth | undefined = () => undefined,
): RequestHandler {
  return (_req, res) => {
    const problem = misconfiguration();
    const events = revocationEvents();
    // A stream in fallback is still 200: the caches are back to their 30 s bound, requests are served.
    const extra = events === undefined ? {} : { revocation_events: events };
    if (problem === undefined) res.json({ status: 'ok', ...extra });
    else res.status(503).json({ status: 'misconfigured', ...problem, ...extra });
  };
}
