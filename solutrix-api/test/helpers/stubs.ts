// Local stand-ins for the IDP token endpoint and the Service API: real HTTP on port 0.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { close, listen } from '../../../lib/server.ts';

export interface StubRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface StubResponse {
  status: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /** Hold the answer this long (lets concurrent callers pile up); `Infinity` never answers. */
  delayMs?: number;
  /** Close the connection instead of answering. */
  hangUp?: boolean;
}

export interface Stub {
  url: string;
  requests: StubRequest[];
  close(): Promise<void>;
}

export async function startStub(handler: (req: StubRequest) => StubResponse): Promise<Stub> {
  const requests: StubRequest[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(request);
      const answer = handler(request);
      if (answer.hangUp) return void req.socket.destroy();
      const send = () => {
        const payload = answer.json !== undefined ? JSON.stringify(answer.json) : (answer.text ?? '');
        res.writeHead(answer.status, {
          ...(answer.json !== undefined ? { 'content-type': 'application/json' } : {}),
          ...answer.headers,
        });
        res.end(payload);
      };
      if (answer.delayMs === Infinity) return;
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  const port = await listen(server, 0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await close(server);
    },
  };
}

/** A URL nothing listens on. */
export async function deadUrl(): Promise<string> {
  const stub = await startStub(() => ({ status: 500 }));
  await stub.close();
  return stub.url;
}

export const CLIENTS: Record<string, string> = { 'solutrix-api': 's3cret', 'other-client': 'other-s3cret' };

/** Client credentials of an HTTP Basic header, form-decoded as RFC 6749 §2.3.1 requires. */
export function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  const decode = (part: string) => decodeURIComponent(part.replaceAll('+', ' '));
  return { clientId: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
}

export type TokenMode = 'ok' | 'server_error' | 'invalid_client' | 'unavailable_html' | 'no_token_type' | 'hang_up';

export interface TokenStub extends Stub {
  issuer: string;
  tokenUrl: string;
  mode: TokenMode;
  /** `unavailable`: discovery answers 503. */
  discoveryMode: 'ok' | 'unavailable';
  /** `undefined` omits `expires_in` from the answer. */
  expiresIn: number | undefined;
  delayMs: number;
  tokenRequests(): StubRequest[];
  discoveryRequests(): StubRequest[];
  issued: string[];
}

/**
 * The IDP's token endpoint at `/oauth/token` (plus discovery at `/oauth/.well-known/...`). Checks HTTP
 * Basic against CLIENTS and grant_type; issues `token-<n>`.
 */
export async function startTokenStub(): Promise<TokenStub> {
  let stub!: TokenStub;
  const base = await startStub((req) => {
    if (req.method === 'GET' && req.path === '/oauth/.well-known/openid-configuration') {
      if (stub.discoveryMode === 'unavailable') return { status: 503, text: 'down' };
      return { status: 200, json: { issuer: stub.issuer, token_endpoint: stub.tokenUrl } };
    }
    if (req.method !== 'POST' || req.path !== '/oauth/token') return { status: 404, json: { error: 'not_found' } };
    const delayMs = stub.delayMs;
    if (stub.mode === 'hang_up') return { status: 0, hangUp: true };
    if (stub.mode === 'server_error') return { status: 500, json: { error: 'server_error' }, delayMs };
    if (stub.mode === 'unavailable_html') return { status: 503, text: '<h1>down</h1>', headers: { 'retry-after': '7' }, delayMs };
    const params = new URLSearchParams(req.body);
    const credentials = parseBasic(req.headers.authorization);
    const authenticated = credentials !== undefined && CLIENTS[credentials.clientId] === credentials.secret;
    if (stub.mode === 'invalid_client' || !authenticated || params.has('client_secret')) {
      return { status: 401, json: { error: 'invalid_client', error_description: 'client authentication failed' }, delayMs };
    }
    if (params.get('grant_type') !== 'client_credentials') return { status: 400, json: { error: 'unsupported_grant_type' }, delayMs };
    const accessToken = `token-${stub.issued.length + 1}`;
    stub.issued.push(accessToken);
    const json: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer' };
    if (stub.mode === 'no_token_type') delete json.token_type;
    if (stub.expiresIn !== undefined) json.expires_in = stub.expiresIn;
    if (params.has('scope')) json.scope = params.get('scope');
    return { status: 200, json, delayMs };
  });
  stub = Object.assign(base, {
    issuer: `${base.url}/oauth`,
    tokenUrl: `${base.url}/oauth/token`,
    mode: 'ok' as TokenMode,
    discoveryMode: 'ok' as const,
    expiresIn: 300 as number | undefined,
    delayMs: 0,
    issued: [] as string[],
    tokenRequests: () => base.requests.filter((r) => r.path === '/oauth/token'),
    discoveryRequests: () => base.requests.filter((r) => r.path.includes('/.well-known/')),
  });
  return stub;
}

/** Parsed form body of a token request, for whole-object assertions. */
export function form(req: StubRequest | undefined): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(req?.body ?? ''));
}
