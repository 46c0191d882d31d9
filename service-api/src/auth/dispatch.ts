import type { Principal, TokenVerifier } from './principal.ts';
import { isJwtShaped } from './tokenShape.ts';

/**
 * One {@link TokenVerifier} for both token formats: JWT-shaped tokens (three base64url segments) go to
 * `jwt` (local signature check), everything else to `introspection`. Lets a resource server accept
 * opaque and RFC 9068 tokens during a migration, or whichever format the IDP is configured for.
 *
 * @example
 * ```ts
 * const verifier = createAutoVerifier({
 *   jwt: createJwtVerifier({ jwksUrl, issuer, audience: 'http://localhost:4001' }),
 *   introspection: createIntrospectionVerifier({ url, clientId, clientSecret, issuer, audience: 'http://localhost:4001' }),
 * });
 * app.use('/v1', requireBearer(verifier));
 * ```
 */
export function createAutoVerifier({ jwt, introspection }: { jwt: TokenVerifier; introspection: TokenVerifier }): TokenVerifier {
  return {
    verify(token: string): Promise<Principal> {
      return isJwtShaped(token) ? jwt.verify(token) : introspection.verify(token);
    },
  };
}
