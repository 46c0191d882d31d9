import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { serve } from './http.ts';
import { STUB_ISSUER } from './introspectionStub.ts';

/** The audience of the stack's own Service API, which locally signed test JWTs carry. */
export const AUDIENCE = 'http://localhost:4001';

export type SigningKey = { kid: string; privateKey: CryptoKey; publicJwk: JWK; publicPem: string };

export async function signingKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, publicPem: await exportSPKI(publicKey) };
}

/** A JWKS endpoint on a real node:http server that counts its requests and can be switched off. */
export class JwksServer {
  keys: JWK[] = [];
  requests = 0;
  status = 200;
  body: string | undefined;
  url = '';
  private stopServer: (() => Promise<void>) | undefined;

  async start(): Promise<this> {
    const { baseUrl, stop } = await serve((_req, res) => {
      this.requests += 1;
      res.writeHead(this.status, { 'content-type': 'application/json' }).end(this.body ?? JSON.stringify({ keys: this.keys }));
    });
    this.url = `${baseUrl}/oauth/jwks.json`;
    this.stopServer = stop;
    return this;
  }

  async stop(): Promise<void> {
    await this.stopServer?.();
    this.stopServer = undefined;
  }
}

export type Claims = Record<string, unknown>;

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** RFC 9068 claims of an end user's token for the Service API, issued by the stub's issuer. */
export const userClaims = (): Claims => ({
  sub: 'alice-sub',
  client_id: 'solutrix-web',
  scope: 'openid service.api',
  iss: STUB_ISSUER,
  aud: AUDIENCE,
  iat: nowSeconds(),
  exp: nowSeconds() + 600,
  jti: 'j1',
});

/** A client_credentials token: sub = client_id (RFC 9068 §2.2). */
export const machineClaims = (): Claims => ({ ...userClaims(), sub: 'solutrix-api', client_id: 'solutrix-api', scope: 'service.api' });

export async function sign(key: SigningKey, claims: Claims, header: { alg?: string; typ?: string; kid?: string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: header.alg ?? key.publicJwk.alg!, typ: header.typ ?? 'at+jwt', kid: header.kid ?? key.kid })
    .sign(key.privateKey);
}
