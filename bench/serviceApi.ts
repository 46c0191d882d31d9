// Phases 1-3: the Service API's authentication cost, and how many calls reach the IDP.
import { clientCredentialsToken, registerClient, type TestIdp } from '../test/support/idp.ts';
import { burst } from './burst.ts';
import { startChild, type Child } from './children.ts';
import { better, capacity, load, type LoadResult } from './load.ts';

export type Variant = { name: string; result: LoadResult };

export type ServiceApiResults = {
  whoami: {
    noAuth: LoadResult;
    bearerOnly: LoadResult;
    cachedIntrospection: LoadResult;
    /** The app as main.ts builds it from its default configuration (TOKEN_VERIFICATION=auto), opaque token. */
    defaultConfig: LoadResult;
    jwt: LoadResult | { unavailable: string };
    /** cached-auth ÷ no-auth: requests per CPU-second of the server process. */
    ratio: number;
    jwtRatio?: number;
  };
  singleFlight: { requests: number; statuses: Record<number, number>; introspections: number; idpIntrospectLogLines: number; coalesced: number; cacheHits: number };
  tokenLife: { requests: number; virtualSeconds: number; cacheTtlSeconds: number; expectedIntrospections: number; introspections: number; non2xx: number };
  solutrix: { requests: number; statuses: Record<number, number>; tokenRequests: number; idpTokenLogLines: number; serviceApiIntrospections: number };
};

const countLines = (output: string, path: string) => output.split('\n').filter((line) => line.includes(`"path":"${path}"`)).length;
const settle = () => new Promise((r) => setTimeout(r, 300));

/** Best of `rounds` alternating runs: on a shared machine the best is the least disturbed figure. */
async function alternate(runs: Record<string, () => Promise<LoadResult>>, rounds: number): Promise<Record<string, LoadResult>> {
  const best: Record<string, LoadResult> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(runs)) {
      best[name] = better(best[name], await run());
    }
  }
  return best;
}

export async function benchServiceApi(
  idp: TestIdp,
  jwtIdp: TestIdp | undefined,
  { rounds, logLevel, progress }: { rounds: number; logLevel: string; progress: (line: string) => void },
): Promise<ServiceApiResults> {
  const introspector = await registerClient(idp, 'service-introspector');
  const caller = await registerClient(idp, 'bench-caller', ['service.api']);
  const solutrixClient = await registerClient(idp, 'solutrix-api', ['service.api']);
  const apps: Child<object> = await startChild('./serviceApiServer.ts', {
    LOG_LEVEL: logLevel,
    IDP_ISSUER: idp.issuer,
    IDP_INTROSPECTION_URL: `${idp.issuer}/introspect`,
    INTROSPECTION_CLIENT_ID: introspector.client_id,
    INTROSPECTION_CLIENT_SECRET: introspector.client_secret,
  });
  try {
    const app = (args: object) => apps.call<{ port: number }>('app', args).then((r) => r.port);
    const token = await clientCredentialsToken(idp, caller, 'service.api');
    const auth = { authorization: `Bearer ${token}` };
    const noAuth = await app({ kind: 'noauth' });
    const bearerOnly = await app({ kind: 'static' });
    const cached = await app({ kind: 'introspection' });
    const defaultConfig = await app({ kind: 'env' });
    const cpu = () => apps.call<number>('cpu');
    const whoami = (port: number, headers: Record<string, string>) => () => load({ url: `http://127.0.0.1:${port}/v1/whoami`, headers, cpu });

    // JWT mode: the Service API's own configuration (TOKEN_VERIFICATION=jwt) against a jwt-mode IDP;
    // its introspection URL points nowhere, so a 200 proves the token was verified locally.
    let jwtRun: (() => Promise<LoadResult>) | undefined;
    let jwtUnavailable = 'no jwt-mode IDP was started';
    if (jwtIdp) {
      const jwtCaller = await registerClient(jwtIdp, 'bench-caller', ['service.api']);
      const jwt = await clientCredentialsToken(jwtIdp, jwtCaller, 'service.api');
      const port = await app({
        kind: 'env',
        env: {
          IDP_ISSUER: jwtIdp.issuer,
          IDP_INTROSPECTION_URL: 'http://127.0.0.1:9/oauth/introspect',
          INTROSPECTION_CLIENT_SECRET: 'not-used-in-jwt-mode',
          TOKEN_VERIFICATION: 'jwt',
          IDP_JWKS_URL: `${jwtIdp.issuer}/jwks.json`,
          SERVICE_API_AUDIENCE: 'http://localhost:4001',
        },
      }).catch((err: Error) => {
        jwtUnavailable = `the Service API did not start in jwt mode: ${err.message.split('\n')[0]}`;
        return undefined;
      });
      if (port !== undefined) {
        const probe = await fetch(`http://127.0.0.1:${port}/v1/whoami`, { headers: { authorization: `Bearer ${jwt}` } });
        if (probe.ok) jwtRun = whoami(port, { authorization: `Bearer ${jwt}` });
        else jwtUnavailable = `TOKEN_VERIFICATION=jwt: /v1/whoami answered ${probe.status} ${await probe.text()} (no JWT verifier in service-api yet?)`;
      }
    }
    // Warm the cache: every measured request is a cache hit.
    for (const port of [cached, defaultConfig]) {
      const warm = await fetch(`http://127.0.0.1:${port}/v1/whoami`, { headers: auth });
      if (!warm.ok) throw new Error(`the app on ${port} answered ${warm.status} ${await warm.text()}`);
    }

    // A fresh process measured at once is measured half-compiled: untimed load on every variant first.
    for (const port of [noAuth, bearerOnly, cached, defaultConfig]) {
      await load({ url: `http://127.0.0.1:${port}/v1/whoami`, headers: auth, warmUpSeconds: 2, seconds: 1 });
    }
    progress(`1. /v1/whoami: no-auth vs bearer-only vs cached introspection${jwtRun ? ' vs jwt' : ''} (${rounds} alternating rounds)`);
    const best = await alternate(
      {
        noAuth: whoami(noAuth, auth),
        cachedIntrospection: whoami(cached, auth),
        defaultConfig: whoami(defaultConfig, auth),
        bearerOnly: whoami(bearerOnly, auth),
        ...(jwtRun ? { jwt: jwtRun } : {}),
      },
      rounds,
    );
    const cachedStats = await apps.call<{ introspections: number }>('stats', { port: cached });
    if (cachedStats.introspections !== 1) progress(`   note: the cached app made ${cachedStats.introspections} introspections`);

    progress('2. single-flight: 500 concurrent first requests with one fresh token');
    const fresh = await clientCredentialsToken(idp, caller, 'service.api');
    const flightPort = await app({ kind: 'introspection' });
    await settle();
    const linesBefore = countLines(idp.output(), '/oauth/introspect');
    const statuses = await burst(flightPort, '/v1/whoami', { authorization: `Bearer ${fresh}` }, 500);
    await settle();
    const flight = await apps.call<{ introspections: number; coalesced: number; cacheHits: number }>('stats', { port: flightPort });
    const idpIntrospectLogLines = countLines(idp.output(), '/oauth/introspect') - linesBefore;

    progress('2. 10,000 requests over a token\'s life (virtual clock in the verifier, real IDP)');
    const ttl = Number(idp.env.CLIENT_CREDENTIALS_TTL ?? 600);
    const lifeToken = await clientCredentialsToken(idp, caller, 'service.api');
    const virtualSeconds = ttl * 0.95; // stays inside the token's life whatever the clock skew of its issue
    const requests = 10_000;
    const lifePort = await app({ kind: 'introspection', clock: { startMs: Date.now(), stepMs: (virtualSeconds * 1000) / requests } });
    const life = await (await import('autocannon')).default({
      url: `http://127.0.0.1:${lifePort}/v1/whoami`,
      headers: { authorization: `Bearer ${lifeToken}` },
      amount: requests,
      connections: 10,
      timeout: 10,
    });
    const lifeStats = await apps.call<{ introspections: number }>('stats', { port: lifePort });
    const cacheTtlSeconds = 30;

    progress('3. Solutrix-API: 1,000 concurrent downstream calls with a cold token cache');
    const downstream = await app({ kind: 'introspection' });
    const { port: solutrix } = await apps.call<{ port: number }>('solutrix', {
      LOG_LEVEL: logLevel,
      IDP_ISSUER: idp.issuer,
      IDP_TOKEN_URL: `${idp.issuer}/token`,
      IDP_CLIENT_ID: solutrixClient.client_id,
      IDP_CLIENT_SECRET: solutrixClient.client_secret,
      SERVICE_API_URL: `http://127.0.0.1:${downstream}`,
    });
    await settle();
    const tokenLinesBefore = countLines(idp.output(), '/oauth/token');
    const solutrixStatuses = await burst(solutrix, '/v1/service/whoami', {}, 1000);
    await settle();
    const tokenStats = await apps.call<{ tokenRequests: number }>('tokenStats', { port: solutrix });
    const downstreamStats = await apps.call<{ introspections: number }>('stats', { port: downstream });

    const jwt = best.jwt ?? { unavailable: jwtUnavailable };
    return {
      whoami: {
        noAuth: best.noAuth!,
        bearerOnly: best.bearerOnly!,
        cachedIntrospection: best.cachedIntrospection!,
        defaultConfig: best.defaultConfig!,
        jwt,
        ratio: capacity(best.cachedIntrospection!) / capacity(best.noAuth!),
        ...(best.jwt ? { jwtRatio: capacity(best.jwt) / capacity(best.cachedIntrospection!) } : {}),
      },
      singleFlight: { requests: 500, statuses, introspections: flight.introspections, idpIntrospectLogLines, coalesced: flight.coalesced, cacheHits: flight.cacheHits },
      tokenLife: {
        requests,
        virtualSeconds,
        cacheTtlSeconds,
        expectedIntrospections: Math.ceil(virtualSeconds / cacheTtlSeconds),
        introspections: lifeStats.introspections,
        non2xx: life.non2xx + life.errors,
      },
      solutrix: {
        requests: 1000,
        statuses: solutrixStatuses,
        tokenRequests: tokenStats.tokenRequests,
        idpTokenLogLines: countLines(idp.output(), '/oauth/token') - tokenLinesBefore,
        serviceApiIntrospections: downstreamStats.introspections,
      },
    };
  } finally {
    await apps.stop();
  }
}
