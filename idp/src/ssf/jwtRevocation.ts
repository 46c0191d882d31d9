import type { JWK } from 'jose';
import type { Next } from 'koa';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { ownAccessTokenVerifier } from '../ownAccessTokens.ts';
import type { StreamStore } from '../store/types.ts';

/**
 * For `provider.use`: RFC 7009 revocation of the IDP's own JWT access tokens (RFC 9068), which
 * oidc-provider refuses (400 unsupported_token_type: it stores no JWT). A token that verifies against
 * the IDP's keys and issuer, issued to the authenticated client, has its jti remembered until exp
 * (store.streams.revokeJwt, which also queues the jwt-revoked event) and is answered 200. A JWS that
 * does not verify (another issuer's, forged, expired) is answered 200 with nothing done (RFC 7009
 * §2.2); another client's token is refused as oidc-provider refuses it for opaque tokens.
 */
export function revokeOwnJwts(issuer: string, keys: () => JWK[], streams: StreamStore) {
  const verify = ownAccessTokenVerifier(issuer, keys);
  return async (ctx: KoaContextWithOIDC, next: Next): Promise<void> => {
    await next();
    const { oidc } = ctx;
    if (oidc?.route !== 'revocation' || ctx.status !== 400 || (ctx.body as { error?: unknown } | undefined)?.error !== 'unsupported_token_type') return;
    const client = oidc.client;
    const token = oidc.params?.token;
    if (!client || typeof token !== 'string') return;

    const payload = await verify(token);
    if (!payload) {
      ctx.status = 200;
      ctx.body = '';
      return;
    }
    const { jti, exp, sub, client_id: clientId } = payload as { jti?: unknown; exp?: unknown; sub?: unknown; client_id?: unknown };
    if (clientId !== client.clientId) {
      // oidc-provider's default revocation policy: a public client learns nothing, a confidential one is told.
      if (client.clientAuthMethod === 'none') {
        ctx.status = 200;
        ctx.body = '';
        return;
      }
      const refused = new errors.InvalidRequest('client is not authorized to revoke the presented token');
      ctx.status = refused.statusCode;
      ctx.body = { error: refused.error, error_description: refused.error_description };
      return;
    }
    if (typeof jti === 'string' && typeof exp === 'number') {
      await streams.revokeJwt({ kind: 'jwt-revoked', jti, exp, ...(typeof sub === 'string' ? { sub } : {}), clientId: client.clientId });
    }
    ctx.status = 200;
    ctx.body = '';
  };
}
