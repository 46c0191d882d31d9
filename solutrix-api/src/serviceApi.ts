import { ServiceApiFailed, ServiceApiUnavailable } from './errors.ts';
import { parseRetryAfter } from './security/retryAfter.ts';
import type { ServiceTokenClient } from './security/serviceToken.ts';

export interface ServiceApiOptions {
  /** e.g. `http://localhost:4001`, without a trailing slash. */
  baseUrl: string;
  tokens: Pick<ServiceTokenClient, 'getToken' | 'invalidate'>;
  timeoutMs: number;
  /** Default: the global fetch (app.ts passes a timed one for the metrics). */
  fetch?: typeof fetch;
}

export interface ServiceApi {
  /**
   * GET `${baseUrl}${path}` with Solutrix-API's service token and return the parsed JSON body of a
   * 2xx answer. On a 401 the token is invalidated and the call retried once with a new one.
   * Throws ServiceApiUnavailable (Service API down, timed out or 503), ServiceApiFailed (any other
   * answer) or whatever `tokens.getToken()` throws (an IdpError for the service token).
   */
  callServiceApi(path: string): Promise<unknown>;
}

export function createServiceApi({ baseUrl, tokens, timeoutMs, fetch: fetchImpl = globalThis.fetch }: ServiceApiOptions): ServiceApi {
  async function get(path: string, token: string): Promise<Response> {
    try {
      return await fetchImpl(`${baseUrl}${path}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === 'TimeoutError') throw new ServiceApiUnavailable('the Service API timed out');
      // fetch() rejects with a TypeError ("fetch failed") when nothing answers.
      if (err instanceof TypeError) throw new ServiceApiUnavailable('the Service API is unreachable');
      throw err;
    }
  }

  return {
    async callServiceApi(path: string): Promise<unknown> {
      let token = await tokens.getToken();
      let response = await get(path, token);
      if (response.status === 401) {
        await response.body?.cancel();
        tokens.invalidate(token);
        token = await tokens.getToken();
        response = await get(path, token);
      }

      if (response.ok) {
        try {
          return await response.json();
        } catch (err) {
          if (err instanceof DOMException && err.name === 'TimeoutError') {
            throw new ServiceApiUnavailable('the Service API timed out');
          }
          throw new ServiceApiFailed('the Service API answered with invalid JSON', response.status);
        }
      }

      const upstreamError = await errorCode(response);
      if (response.status === 503) {
        throw new ServiceApiUnavailable('the Service API is unavailable', parseRetryAfter(response.headers.get('retry-after'), Date.now()));
      }
      throw new ServiceApiFailed(
        `the Service API answered ${response.status}${upstreamError === undefined ? '' : ` ${upstreamError}`}`,
        response.status,
      );
    },
  };
}

/** The OAuth `error` code of an error answer, if it is one; the body is consumed either way. */
async function errorCode(response: Response): Promise<string | undefined> {
  try {
    const body: unknown = await response.json();
    const error = (body as { error?: unknown } | null)?.error;
    return typeof error === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(error) ? error : undefined;
  } catch {
    return undefined;
  }
}
