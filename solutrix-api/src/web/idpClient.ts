import * as oidc from 'openid-client';
import type { WebConfig } from '../config.ts';
import { askIdp } from '../security/idpError.ts';

/**
 * The web client's openid-client Configuration, discovered lazily on first use (so Solutrix starts
 * while the IDP is down) and discovered again after a failure, which is an IdpError.
 */
export interface WebIdp {
  configuration(): Promise<oidc.Configuration>;
}

export function createWebIdp(config: WebConfig): WebIdp {
  const issuer = new URL(config.issuer);
  const options: oidc.DiscoveryRequestOptions = { timeout: config.timeoutSeconds };
  // Local development only: never on for an https issuer.
  if (issuer.protocol === 'http:') options.execute = [oidc.allowInsecureRequests];
  if (config.idpBackchannelUrl !== undefined) options[oidc.customFetch] = backchannelFetch(issuer.origin, new URL(config.idpBackchannelUrl));

  let pending: Promise<oidc.Configuration> | undefined;
  return {
    configuration() {
      pending ??= askIdp('discovery', () =>
        oidc.discovery(issuer, config.clientId, undefined, oidc.ClientSecretBasic(config.clientSecret), options),
      ).catch((err: unknown) => {
        pending = undefined;
        throw err;
      });
      return pending;
    },
  };
}

/** Sends requests for the issuer's origin to `backchannel` instead; other URLs are untouched. */
function backchannelFetch(issuerOrigin: string, backchannel: URL): oidc.CustomFetch {
  return (url, init) => {
    const target = new URL(url);
    if (target.origin === issuerOrigin) {
      target.protocol = backchannel.protocol;
      target.host = backchannel.host;
    }
    return fetch(target, init as RequestInit);
  };
}
