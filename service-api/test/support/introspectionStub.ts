import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { close, listen } from '../../../lib/server.ts';
import { waitFor } from '../../../test/support/wait.ts';

export const STUB_ISSUER = 'http://idp.test/oauth';
export const STUB_CLIENT_ID = 'service-introspector';
export const STUB_CLIENT_SECRET = 's3cret: with+special&chars';
/** The audience the stub's tokens carry unless told otherwise: the Service API's default identifier. */
export const STUB_AUDIENCE = 'http://localhost:4001';

/** `aud`: default {@link STUB_AUDIENCE}; `null` leaves the member out, as for a token bound to no audience. */
export type StubToken = { clientId: string; scope?: string; sub?: string; exp: number; iss?: string; tokenType?: string; aud?: string | string[] | null; act?: { sub: string } };
export type StubMode = 'normal' | 'hang' | 'error500' | 'nonJson';
export type StubCall = { authorization: string | undefined; contentType: string | undefined; form: URLSearchParams };

/**
 * Plays an RFC 7662 introspection endpoint the way oidc-provider does: HTTP Basic client auth with
 * form-encoded credentials (401 invalid_client otherwise), `{active:false}` for unknown tokens,
 * 400 unsupported_token_type for JWT-shaped tokens. Counts calls and can be switched into failure modes.
 */
export class IntrospectionStub {
  readonly calls: StubCall[] = [];
  readonly tokens = new Map<string, StubToken>();
  mode: StubMode = 'normal';
  /** The client secret it accepts; change it to play a rotation at the IDP. */
  clientSecret = STUB_CLIENT_SECRET;
  /** While set, answers wait for it (to hold a request in flight). */
  gate: Promise<void> | undefined;
  private readonly server: Server = createServer((req, res) => void this.handle(req, res));
  url = '';

  async start(): Promise<this> {
    const port = await listen(this.server, 0, '127.0.0.1');
    this.url = `http://127.0.0.1:${port}/oauth/introspect`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await close(this.server);
  }

  /** Resolves once `n` calls have arrived. */
  async waitForCalls(n: number): Promise<void> {
    await waitFor(() => this.calls.length >= n, 10_000, `${n} introspection call(s)`, { intervalMs: 0 });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const form = new URLSearchParams(raw);
    this.calls.push({ authorization: req.headers.authorization, contentType: req.headers['content-type'], form });
    if (this.gate) await this.gate;

    if (this.mode === 'hang') return; // never answers; stop() destroys the socket
    if (this.mode === 'error500') return send(res, 500, { error: 'server_error' });
    if (this.mode === 'nonJson') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy error</html>');
      return;
    }
    if (req.method !== 'POST' || req.url !== '/oauth/introspect') return send(res, 404, { error: 'not_found' });
    if (!authenticated(req.headers.authorization, this.clientSecret)) return send(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
    const token = form.get('token');
    if (!token) return send(res, 400, { error: 'invalid_request', error_description: "missing required parameter 'token'" });
    if (token.split('.').length === 3) {
      return send(res, 400, { error: 'unsupported_token_type', error_description: 'structured tokens cannot be introspected via this endpoint' });
    }
    const known = this.tokens.get(token);
    if (!known) return send(res, 200, { active: false });
    send(res, 200, {
      active: true,
      ...(known.sub ? { sub: known.sub } : {}),
      client_id: known.clientId,
      exp: known.exp,
      iat: known.exp - 3600,
      iss: known.iss ?? STUB_ISSUER,
      ...(known.aud === null ? {} : { aud: known.aud ?? STUB_AUDIENCE }),
      ...(known.scope ? { scope: known.scope } : {}),
      ...(known.act ? { act: known.act } : {}),
      ...(known.tokenType === '' ? {} : { token_type: known.tokenType ?? 'Bearer' }),
    });
  }
}

function authenticated(header: string | undefined, clientSecret: string): boolean {
  const match = /^Basic (.+)$/.exec(header ?? '');
  if (!match?.[1]) return false;
  const [id, secret] = Buffer.from(match[1], 'base64').toString().split(':');
  if (id === undefined || secret === undefined) return false;
  const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
  return decode(id) === STUB_CLIENT_ID && decode(secret) === clientSecret;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

/** A port nothing listens on: connection refused. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  const port = await listen(server, 0, '127.0.0.1');
  await close(server);
  return `http://127.0.0.1:${port}/oauth/introspect`;
}

/** A frozen clock (epoch ms) that moves only when told. */
export function frozenClock(start = Date.UTC(2030, 0, 1)): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}
