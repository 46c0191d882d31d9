import type { Logger } from 'pino';
import type { Misconfiguration } from './routes/health.ts';

const REJECTED: Misconfiguration = Object.freeze({
  variable: 'INTROSPECTION_CLIENT_ID',
  reason: 'the IDP rejects the introspection client credentials: check INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET',
});

/**
 * Turns the introspection verifier's view of our client credentials into what an operator needs: a
 * rejection is a configuration error (every request then answers 503, which looks like an outage),
 * logged once per change — naming INTROSPECTION_CLIENT_ID, never the secret — and reported by /healthz.
 */
export function introspectionCredentialsMonitor(log: Logger, clientId: string) {
  let rejected = false;
  return {
    onCredentialsChange(state: 'accepted' | 'rejected'): void {
      if (state === 'rejected') {
        rejected = true;
        log.error({ variable: REJECTED.variable, clientId }, `configuration error: ${REJECTED.reason}`);
      } else if (rejected) {
        rejected = false;
        log.info({ clientId }, 'the IDP accepts the introspection client credentials again');
      }
    },
    misconfiguration(): Misconfiguration | undefined {
      return rejected ? REJECTED : undefined;
    },
  };
}
