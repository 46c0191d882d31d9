import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import type { IdpConfig } from '../config.ts';
import { noRoute } from '../errors.ts';
import { refuseOtherMethods } from '../routing.ts';
import type { StreamStore } from '../store/types.ts';
import { requireSsfToken } from './auth.ts';
import { metadataRoutes } from './metadata.ts';
import { pollRoutes } from './poll.ts';
import { ssfAudience } from './resourceServer.ts';
import { setSigner } from './sets.ts';
import { streamRoutes } from './streams.ts';

const isSsfPath = (path: string) => path === '/ssf' || path.startsWith('/ssf/');
const isMetadataPath = (path: string) => path === '/.well-known/ssf-configuration' || path.startsWith('/.well-known/ssf-configuration/');

/**
 * The Shared Signals transmitter: its public metadata, and under /ssf the stream management and poll
 * endpoints for `ssf.manage` tokens. `signingKeys` is asked at every SET: its first key signs.
 */
export function ssfApi(
  config: Pick<IdpConfig, 'issuer' | 'ssf'>,
  provider: Provider,
  streams: StreamStore,
  signingKeys: () => JWK[],
  log: Logger,
): Middleware {
  const { issuer, ssf } = config;
  const metadata = compose<Context>([metadataRoutes(issuer).routes() as Middleware, refuseOtherMethods as Middleware, (ctx: Context) => {
    throw noRoute(ctx);
  }]);
  const sign = setSigner(issuer, () => signingKeys()[0]!);
  const api = compose<Context>([
    (ctx: Context, next: Next) => {
      ctx.set('Cache-Control', 'no-store');
      return next();
    },
    // Anything under /ssf, even an unknown path or a wrong method, is answered only to a receiver.
    requireSsfToken(provider, ssfAudience(issuer)),
    streamRoutes(streams, { issuer, inactivityTimeout: ssf.streamInactivityTimeout, minVerificationInterval: ssf.minVerificationInterval, maxStreamsPerClient: ssf.maxStreamsPerClient }).routes(),
    pollRoutes(streams, sign, { longPollMs: ssf.longPollSeconds * 1000, log }).routes(),
    refuseOtherMethods,
    (ctx: Context) => {
      throw noRoute(ctx);
    },
  ] as Middleware[]);
  return (ctx: Context, next: Next) => (isSsfPath(ctx.path) ? api(ctx, next) : isMetadataPath(ctx.path) ? metadata(ctx, next) : next());
}
