// The verifier kit other services copy: this folder imports nothing from outside it but npm packages.
export { requireBearer, requireScope, getPrincipal, sendAuthError } from './bearer.ts';
export {
  createIntrospectionVerifier,
  type IntrospectionVerifier,
  type IntrospectionVerifierOptions,
  type IntrospectionStats,
  type CredentialsState,
} from './introspect.ts';
export { createJwtVerifier, JWT_ALGORITHMS, type JwtVerifier, type JwtVerifierOptions, type JwtVerifierStats } from './jwt.ts';
export { createAutoVerifier } from './dispatch.ts';
export { type Actor, type Principal, type TokenVerifier, principalFromClaims } from './principal.ts';
export {
  createTokenExchanger,
  TokenExchangeRefused,
  TOKEN_EXCHANGE_GRANT,
  type ExchangeRequest,
  type ExchangedToken,
  type TokenExchanger,
  type TokenExchangerOptions,
} from './exchangeToken.ts';
export { MAX_TOKEN_LENGTH, assertTokenShape, bearerTokenOf, isJwtShaped } from './tokenShape.ts';
export { AuthError, MissingToken, InvalidRequest, InvalidToken, InsufficientScope, TemporarilyUnavailable, type UnavailableCode } from './errors.ts';
