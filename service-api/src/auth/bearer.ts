import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AuthError, InsufficientScope, InvalidRequest, MissingToken } from './errors.ts';
import type { Principal, TokenVerifier } from './principal.ts';
import { bearerTokenOf } from './tokenShape.ts';

type AuthLocals = { principal?: Principal; bearerRealm?: string };

/**
 * Express middleware: reads the bearer token from the `Authorization` header (only there — never the
 * query string or body), verifies it, and puts the {@link Principal} on `res.locals.principal`.
 *
 * It answers the protocol errors itself, so it works behind any error handler:
 * no header → 401 + `WWW-Authenticate: Bearer realm="…"`; malformed or repeated header → 400
 * `invalid_request`; rejected token → 401 `invalid_token`; verifier cannot tell → 503 + `Retry-After`.
 * Anything else (a bug) goes to `next(err)`. `onError` sees each answered error, e.g. to log the
 * `cause` of a 503 (the response never shows it).
 *
 * @example
 * ```ts
 * const v1 = express.Router();
 * v1.use(requireBearer(verifier, { realm: 'my-service' }));
 * v1.get('/whoami', (req, res) => { res.json(getPrincipal(res)); });
 * v1.get('/reports', requireScope('reports.read'), listReports);
 * app.use('/v1', v1);
 * ```
 */
export function requireBearer(
  verifier: TokenVerifier,
  { realm = 'service-api', onError }: { realm?: string; onError?: (err: AuthError) => void } = {},
): RequestHandler {
  return async function bearer(req: Request, res: Response, next: NextFunction): Promise<void> {
    (res.locals as AuthLocals).bearerRealm = realm;
    try {
      const token = tokenFrom(req);
      (res.locals as AuthLocals).principal = await verifier.verify(token);
    } catch (err) {
      if (err instanceof AuthError) {
        onError?.(err);
        return sendAuthError(res, err, realm);
      }
      return next(err);
    }
    next();
  };
}

/**
 * Express middleware, after {@link requireBearer}: 403 `insufficient_scope` unless the principal's
 * token carries `scope`.
 *
 * @example
 * ```ts
 * router.get('/reports', requireScope('service.api'), listReports);
 * ```
 */
export function requireScope(scope: string): RequestHandler {
  return function scopeGuard(_req: Request, res: Response, next: NextFunction): void {
    const principal = getPrincipal(res);
    if (principal.scopes.includes(scope)) return next();
    const realm = (res.locals as AuthLocals).bearerRealm ?? 'service-api';
    sendAuthError(res, new InsufficientScope(scope), realm);
  };
}

/**
 * The principal {@link requireBearer} established for this request. Throws if the route is not
 * behind `requireBearer` — a wiring bug, which should surface as a 500, not as anonymous access.
 *
 * @example
 * ```ts
 * const { clientId, scopes } = getPrincipal(res);
 * ```
 */
export function getPrincipal(res: Response): Principal {
  const principal = (res.locals as AuthLocals).principal;
  if (principal === undefined) throw new Error('getPrincipal: the route is not behind requireBearer');
  return principal;
}

/** Writes an {@link AuthError}: status, its headers (WWW-Authenticate or Retry-After), JSON body. */
export function sendAuthError(res: Response, err: AuthError, realm: string): void {
  res.status(err.status).set(err.headers(realm)).json(err.toJSON());
}

function tokenFrom(req: Request): string {
  // Node keeps only the first of repeated Authorization headers in req.headers; rawHeaders has them all.
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]?.toLowerCase() === 'authorization') count += 1;
  }
  if (count > 1) throw new InvalidRequest('repeated Authorization header');
  const header = req.headers.authorization;
  if (header === undefined) throw new MissingToken();
  const token = bearerTokenOf(header);
  if (token === undefined) throw new InvalidRequest('the Authorization header must be the Bearer scheme and one b64token');
  return token;
}
