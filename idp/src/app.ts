import Koa from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import { securityHeaders } from '../../lib/headers.ts';
import { requestLogAndHeaders } from '../../lib/server.ts';
import { createRegistry, koaMetrics } from '../../lib/metrics.ts';
import type { Registry } from 'prom-client';
import { idpMetrics } from './metrics.ts';
import { adminApi } from './admin/router.ts';
import { clientAddressResolver } from './clientAddress.ts';
import { requireClientAuthentication } from './clientAuthentication.ts';
import type { IdpConfig } from './config.ts';
import { jsonErrors, notFound } from './errors.ts';
import type { Secrets } from './keys.ts';
import { interactionRoutes } from './interactions/routes.ts';
import { createProvider } from './provider.ts';
import type { Store } from './store/types.ts';
import { revokeOwnJwts } from './ssf/jwtRevocation.ts';
import { withSsfResourceServer } from './ssf/resourceServer.ts';
import { ssfApi } from './ssf/router.ts';

export type Idp = { app: Koa; provider: Provider };

export function createApp(
  config: IdpConfig,
  secrets: Secrets,
  storeWithoutBuiltIns: Store,
  log: Logger,
  { metrics: registry = createRegistry('idp') }: { metrics?: Registry } = {},
): Idp {
  // The SSF endpoints are a resource server of the IDP's own, beside the stored ones.
  const store = withSsfResourceServer(storeWithoutBuiltIns, config.issuer);
  const provider = createProvider(config, secrets, store);
  // Asked at every use, never copied: the signing keys may change while the IDP runs.
  const signingKeys = () => secrets.jwks.keys;
  const metrics = idpMetrics(registry);
  metrics.observeProvider(provider);
  // oidc-provider answers its own 500s; without this they would leave no trace.
  provider.on('server_error', (_ctx, err) => log.error({ err }, 'oidc-provider server_error'));
  provider.use(requireClientAuthentication);
  provider.use(revokeOwnJwts(config.issuer, signingKeys, store.streams));
  const issuer = new URL(config.issuer);
  const mountPath = issuer.pathname === '/' ? '/' : issuer.pathname;

  const clientAddress = clientAddressResolver(config.trustedProxies);
  // proxy: true stays for ctx.protocol/ctx.secure (oidc-provider's secure cookies behind a TLS-terminating
  // proxy), and those come from the issuer below, never from the caller. ctx.ip is pinned below too.
  const app = new Koa({ proxy: true });
  // Under koa-mount oidc-provider signs cookies with the parent app's keys: they must be the same.
  app.keys = secrets.cookieKeys;

  // The default headers go on every response, so oidc-provider's own HTML (the auto-submitting
  // form_post page of /session/end without a session, for instance) is covered too. renderPage
  // replaces the CSP with its own (nonce) policy.
  const everyRequest = requestLogAndHeaders(log, securityHeaders({ scriptHashes: true }));
  app.use((ctx, next) => {
    everyRequest(ctx.req, ctx.res);
    return next();
  });

  // Every URL the IDP prints (discovery, redirects, cookies' scope) uses the issuer's public origin,
  // whichever name a caller used to reach it: browsers use localhost, containers idp.internal.
  app.use((ctx, next) => {
    delete ctx.request.header['x-forwarded-host'];
    ctx.request.header.host = issuer.host;
    ctx.request.header['x-forwarded-proto'] = issuer.protocol.slice(0, -1);
    // With proxy: true koa would take ctx.ip from the caller's X-Forwarded-For: pin it to the address
    // the limiters use, so no code that reads ctx.ip can be fooled.
    ctx.request.ip = clientAddress(ctx);
    return next();
  });

  app.use(jsonErrors((err, ctx) => log.error({ err, path: ctx.path }, 'unexpected error')));

  app.use(async (ctx, next) => {
    if (ctx.path === '/healthz') {
      // Healthy only while the store can be read and written: an IDP that answers but cannot keep a
      // token is down, and a load balancer or compose must see it.
      try {
        await store.probe();
      } catch (err) {
        log.error({ err }, 'store probe failed');
        ctx.status = 503;
        ctx.set('Retry-After', '5');
        ctx.body = { status: 'unavailable', error: 'store_unavailable', error_description: 'the IDP cannot read or write its store' };
        return;
      }
      ctx.body = { status: 'ok' };
      return;
    }
    // RFC 8414 §3: the metadata of an issuer with a path lives at /.well-known/oauth-authorization-server{path}.
    if (ctx.path === `/.well-known/oauth-authorization-server${mountPath === '/' ? '' : mountPath}`) {
      ctx.path = `${mountPath === '/' ? '' : mountPath}/.well-known/openid-configuration`;
    }
    return next();
  });

  app.use(koaMetrics(registry, config.metricsAllow));
  app.use(metrics.admin());
  app.use(metrics.endpoints(mountPath));
  app.use(adminApi(provider, store, secrets.adminToken, clientAddress));
  app.use(ssfApi(config, provider, store.streams, signingKeys, log));
  app.use(interactionRoutes(provider, store, { issuerOrigin: issuer.origin, firstParty: new Set(config.firstPartyClients), clientAddress }));
  app.use(mount(mountPath, provider));
  app.use((ctx) => {
    if (ctx.status === 404 && ctx.body === undefined) throw notFound(`no route ${ctx.method} ${ctx.path}`);
  });

  return { app, provider };
}
