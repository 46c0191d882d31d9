import type { RequestHandler, Response } from 'express';
import { getPrincipal } from '../auth/bearer.ts';
import { TemporarilyUnavailable } from '../auth/errors.ts';
import { TokenExchangeRefused, type TokenExchanger } from '../auth/exchangeToken.ts';
import { bearerTokenOf } from '../auth/tokenShape.ts';
import type { Config } from '../config.ts';
import { principalView } from './whoami.ts';

/** Seconds a caller should wait when we answer 503 and the downstream service said nothing. */
const DEFAULT_RETRY_AFTER_S = 5;

const unavailable = (res: Response, description: string, retryAfter: number) =>
  res.status(503).set('Retry-After', String(retryAfter)).json({ error: 'temporarily_unavailable', error_description: description });
const upstream = (res: Response, description: string, upstreamStatus?: number) =>
  res.status(502).json({ error: 'upstream_error', error_description: description, ...(upstreamStatus === undefined ? {} : { upstream_status: upstreamStatus }) });

/**
 * `GET /v1/chain`: calls the downstream Service API's /v1/whoami for the caller, with a token from
 * RFC 8693 token exchange (same user, this service as the actor), and answers both principals.
 * Failures as in Solutrix: the IDP or the downstream service unavailable → 503 + Retry-After; a
 * refusal or an unusable answer → 502 `upstream_error` (with `upstream_status`).
 */
export function chain(downstream: NonNullable<Config['downstream']>, exchanger: TokenExchanger, fetchImpl: typeof fetch = fetch): RequestHandler {
  return async (req, res) => {
    const principal = getPrincipal(res);
    // requireBearer ran first: the header holds exactly one well-formed bearer token.
    const subjectToken = bearerTokenOf(req.headers.authorization ?? '')!;
    let accessToken: string;
    try {
      ({ accessToken } = await exchanger.exchangeToken({ subjectToken, audience: downstream.audience, ...(downstream.scope ? { scope: downstream.scope } : {}) }));
    } catch (err) {
      if (err instanceof TemporarilyUnavailable) return unavailable(res, 'the identity provider is unavailable', err.retryAfterSeconds);
      if (err instanceof TokenExchangeRefused) return upstream(res, `the identity provider refused the token exchange${err.idpError ? ` (${err.idpError})` : ''}`, err.idpStatus);
      throw err;
    }
    let response: globalThis.Response;
    let body: unknown;
    try {
      response = await fetchImpl(`${downstream.url}/v1/whoami`, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(downstream.timeoutMs),
      });
      body = await response.json().catch((err: unknown) => {
        if (err instanceof DOMException) throw err;
        return undefined;
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === 'TimeoutError') return unavailable(res, 'the downstream service timed out', DEFAULT_RETRY_AFTER_S);
      // fetch() rejects with a TypeError ("fetch failed") when nothing answers.
      if (err instanceof TypeError) return unavailable(res, 'the downstream service is unreachable', DEFAULT_RETRY_AFTER_S);
      throw err;
    }
    if (response.status === 503) {
      const retryAfter = Number(response.headers.get('retry-after'));
      return unavailable(res, 'the downstream service is unavailable', Number.isInteger(retryAfter) && retryAfter > 0 ? retryAfter : DEFAULT_RETRY_AFTER_S);
    }
    if (response.status !== 200) return upstream(res, 'the downstream service refused the request', response.status);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return upstream(res, 'the downstream service answered with invalid JSON', response.status);
    res.json({ principal: principalView(principal), downstream: body });
  };
}
