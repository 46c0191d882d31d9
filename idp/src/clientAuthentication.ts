import type { Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

/** oidc-provider's routes that authenticate the client. */
const CLIENT_AUTHENTICATED_ROUTES = new Set(['token', 'introspection', 'revocation']);

/**
 * Whether the request names a client by any of the inputs oidc-provider's client authentication
 * reads (node_modules/oidc-provider/lib/shared/client_auth.js): the Authorization or
 * OAuth-Client-Attestation header, or the client_id or client_assertion parameter. A client_secret
 * alone names none.
 */
function namesClient(ctx: KoaContextWithOIDC, params: Record<string, unknown>): boolean {
  return (
    ctx.headers.authorization !== undefined ||
    ctx.headers['oauth-client-attestation'] !== undefined ||
    params.client_id !== undefined ||
    params.client_assertion !== undefined
  );
}

/**
 * For `provider.use`: a token, introspection or revocation request without any client
 * authentication is `invalid_client` (401) with a Basic challenge, as RFC 6749 names it ("no client
 * authentication included"). oidc-provider refuses it with 400 invalid_request: its parameters were
 * read (so the request reached client authentication), yet no client was identified, and nothing in
 * the request names one.
 */
export async function requireClientAuthentication(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
  await next();
  const { oidc } = ctx;
  if (!oidc?.route || !CLIENT_AUTHENTICATED_ROUTES.has(oidc.route)) return;
  const refused = ctx.status === 400 && (ctx.body as { error?: unknown } | undefined)?.error === 'invalid_request';
  if (!refused || oidc.client || !oidc.params || namesClient(ctx, oidc.params)) return;
  ctx.status = 401;
  ctx.set('WWW-Authenticate', 'Basic realm="idp"');
  ctx.body = { error: 'invalid_client', error_description: 'client authentication is required (HTTP Basic)' };
}
