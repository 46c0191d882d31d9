import * as oidc from 'openid-client';
import type { WebConfig } from '../config.ts';

/**
 * The web client's openid-client Configuration, discovered lazily on first use (so Solutrix starts
 * while the IDP is down) and discovered again after a failure.
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
      pending ??= oidc
        .discovery(issuer, config.clientId, undefined, oidc.ClientSecretBasic(config.clientSecret), options)
        .catch((err: unknown) => {
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

export type IdpFailure = 'unavailable' | 'rejected' | 'invalid';

/** Sorts an openid-client failure: worth retrying (IDP down), refused by the IDP, or unusable. */
export function classifyIdpError(err: unknown): IdpFailure {
  if (err instanceof oidc.ResponseBodyError) return err.status >= 500 ? 'unavailable' : 'rejected';
  if (err instanceof oidc.AuthorizationResponseError) return 'rejected';
  if (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'unavailable';
  if (err instanceof TypeError && !(err instanceof oidc.ClientError)) return 'unavailable'; // fetch failed
  if (err instanceof oidc.ClientError && err.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') {
    const status = (err.cause as { status?: unknown } | undefined)?.status;
    return typeof status === 'number' && status >= 500 ? 'unavailable' : 'invalid';
  }
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof DOMException || (cause instanceof TypeError && /fetch failed/.test(cause.message))) return 'unavailable';
  return 'invalid';
}
