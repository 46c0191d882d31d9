import type { Context } from 'koa';

/** A protocol error with its HTTP status, carried to the client as RFC 6749-shaped JSON. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly errorDescription: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(errorDescription);
  }
}

export const invalidRequest = (description: string) => new HttpError(400, 'invalid_request', description);
export const invalidClientMetadata = (description: string) => new HttpError(400, 'invalid_client_metadata', description);
export const notFound = (description = 'not found') => new HttpError(404, 'not_found', description);
/** The 404 of a path no route serves. */
export const noRoute = (ctx: Pick<Context, 'method' | 'path'>) => notFound(`no route ${ctx.method} ${ctx.path}`);

export function methodNotAllowed(allowed: string): never {
  throw new HttpError(405, 'invalid_request', `method not allowed; allowed: ${allowed}`, { Allow: allowed });
}

/** Koa middleware: any HttpError becomes its JSON body; anything else a bare server_error. */
export function jsonErrors(onUnexpected: (err: unknown, ctx: Context) => void) {
  return async (ctx: Context, next: () => Promise<unknown>) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof HttpError) {
        ctx.status = err.status;
        ctx.set(err.headers);
        ctx.body = { error: err.error, error_description: err.errorDescription };
      } else {
        onUnexpected(err, ctx);
        ctx.status = 500;
        ctx.body = { error: 'server_error' };
      }
    }
  };
}
