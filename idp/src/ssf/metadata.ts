import { routeTable } from '../routing.ts';
import { POLL_DELIVERY } from './streamConfig.ts';

/** SSF 1.0 §7.1 transmitter configuration metadata, from the issuer alone. */
export function transmitterMetadata(issuer: string) {
  const { origin } = new URL(issuer);
  return {
    spec_version: '1_0',
    issuer,
    jwks_uri: `${issuer}/jwks.json`,
    delivery_methods_supported: [POLL_DELIVERY],
    configuration_endpoint: `${origin}/ssf/streams`,
    status_endpoint: `${origin}/ssf/status`,
    verification_endpoint: `${origin}/ssf/verify`,
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
    default_subjects: 'ALL',
  };
}

/**
 * `GET /.well-known/ssf-configuration{issuer path}` (SSF §7.2, placed as RFC 8414 places it for an
 * issuer with a path); also at `/.well-known/ssf-configuration`, which names the same single issuer.
 */
export function metadataRoutes(issuer: string) {
  const path = new URL(issuer).pathname.replace(/\/$/, '');
  const body = JSON.stringify(transmitterMetadata(issuer));
  const table = routeTable();
  for (const at of new Set([`/.well-known/ssf-configuration${path}`, '/.well-known/ssf-configuration'])) {
    table.get(at, (ctx) => {
      ctx.type = 'application/json';
      ctx.body = body;
    });
  }
  return table;
}
