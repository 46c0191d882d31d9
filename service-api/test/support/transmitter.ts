import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { serve } from './http.ts';
import { signingKey, type SigningKey } from './jwks.ts';

/** What the receiver sent in one poll. */
export type PollCall = { streamId: string; ack: string[]; setErrs: Record<string, { err: string; description: string }>; returnImmediately: unknown };

import { STUB_CLIENT_ID, STUB_CLIENT_SECRET, STUB_ISSUER } from './introspectionStub.ts';

/** The receiver's client: the introspection stub's, as in the stack (one client does both). */
export const TRANSMITTER_CLIENT_ID = STUB_CLIENT_ID;

/**
 * A Shared Signals transmitter on a real node:http server, for the receiver's tests: SSF metadata,
 * a client_credentials token endpoint (HTTP Basic), stream create/delete, RFC 8936 long polls that
 * answer as soon as a SET is queued, and a JWKS. SETs are signed with jose by the test (`sign`), so
 * it can also send ones signed with another key, for another audience, or the same one twice.
 * `mode` switches the poll endpoint to failing (503) or to a stream that is gone (404).
 */
export class TestTransmitter {
  key!: SigningKey;
  /** Like the IDP in compose, it advertises URLs on the issuer's origin, which the receiver reaches at `origin`. */
  readonly issuer: string;
  readonly issuerOrigin: string;
  origin = '';
  readonly streams = new Map<string, { queue: Map<string, string> }>();
  readonly created: string[] = [];
  /** The bodies of stream creations. */
  readonly createRequests: unknown[] = [];
  readonly deleted: string[] = [];
  readonly polls: PollCall[] = [];
  /** Bearer tokens issued: they must reach the stream endpoints, never anything else. */
  readonly tokens = new Set<string>();
  tokenRequests: { scope: string | null; resource: string | null }[] = [];
  mode: 'normal' | 'down' | 'gone' = 'normal';
  /** While true, stream creation answers 503. */
  refuseStreams = false;
  /** How long an empty poll is held. */
  holdMs = 300;
  private waiters = new Set<() => void>();
  private stopServer: (() => Promise<void>) | undefined;

  constructor({ issuer = STUB_ISSUER, clientSecret = STUB_CLIENT_SECRET }: { issuer?: string; clientSecret?: string } = {}) {
    this.issuer = issuer;
    this.issuerOrigin = new URL(issuer).origin;
    this.clientSecret = clientSecret;
  }

  readonly clientSecret: string;

  async start(): Promise<this> {
    this.key = await signingKey('ssf-key-1');
    const { baseUrl, stop } = await serve((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
    });
    this.origin = baseUrl;
    this.stopServer = stop;
    return this;
  }

  async stop(): Promise<void> {
    for (const wake of this.waiters) wake();
    await this.stopServer?.();
  }

  get configurationUrl(): string {
    return `${this.origin}/.well-known/ssf-configuration/oauth`;
  }

  /** Where the receiver reaches the token endpoint (IDP_TOKEN_URL). */
  get tokenUrl(): string {
    return `${this.origin}/oauth/token`;
  }

  /** Where this process reaches the JWKS. */
  get jwksUrl(): string {
    return `${this.origin}/oauth/jwks.json`;
  }

  /** The only stream (the receiver makes one per process). */
  get streamId(): string | undefined {
    return [...this.streams.keys()].at(-1);
  }

  /** Signs a SET (RFC 8417) for the stream's receiver, with overrides for the rejection tests. */
  async sign(event: Record<string, unknown>, subId: Record<string, unknown>, options: { key?: SigningKey; aud?: string; iss?: string; typ?: string; iat?: number; jti?: string; now?: number } = {}): Promise<{ jti: string; set: string }> {
    const key = options.key ?? this.key;
    const jti = options.jti ?? randomUUID();
    const set = await new SignJWT({ sub_id: subId, events: event })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: options.typ ?? 'secevent+jwt' })
      .setIssuer(options.iss ?? this.issuer)
      .setAudience(options.aud ?? TRANSMITTER_CLIENT_ID)
      .setIssuedAt(options.iat ?? Math.floor((options.now ?? Date.now()) / 1000))
      .setJti(jti)
      .sign(key.privateKey);
    return { jti, set };
  }

  /** Queues a SET on the current stream and wakes a waiting poll. */
  deliver(jti: string, set: string): void {
    const stream = this.streams.get(this.streamId ?? '');
    if (!stream) throw new Error('no stream to deliver to');
    stream.queue.set(jti, set);
    for (const wake of this.waiters) wake();
  }

  /** Forgets the stream (an IDP that purged it): its next poll gets 404. */
  dropStream(): void {
    this.streams.delete(this.streamId ?? '');
    for (const wake of this.waiters) wake();
  }

  /** Whether the receiver has acknowledged this jti in some poll. */
  acked(jti: string): boolean {
    return this.polls.some((p) => p.ack.includes(jti));
  }

  reported(jti: string): { err: string; description: string } | undefined {
    return this.polls.find((p) => p.setErrs[jti])?.setErrs[jti];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    const body = await readBody(req);
    const send = (status: number, value?: unknown) => {
      if (value === undefined) res.writeHead(status).end();
      else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    if (req.method === 'GET' && url.pathname === '/.well-known/ssf-configuration/oauth') {
      return send(200, {
        spec_version: '1_0',
        issuer: this.issuer,
        jwks_uri: `${this.issuer}/jwks.json`,
        delivery_methods_supported: ['urn:ietf:rfc:8936'],
        configuration_endpoint: `${this.issuerOrigin}/ssf/streams`,
        status_endpoint: `${this.issuerOrigin}/ssf/status`,
        verification_endpoint: `${this.issuerOrigin}/ssf/verify`,
        authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
        default_subjects: 'ALL',
      });
    }
    if (req.method === 'GET' && url.pathname === '/oauth/jwks.json') return send(200, { keys: [this.key.publicJwk] });
    if (req.method === 'POST' && url.pathname === '/oauth/token') {
      if (!this.authenticated(req.headers.authorization)) return send(401, { error: 'invalid_client' });
      const form = new URLSearchParams(body);
      this.tokenRequests.push({ scope: form.get('scope'), resource: form.get('resource') });
      const token = randomUUID();
      this.tokens.add(token);
      return send(200, { access_token: token, token_type: 'Bearer', expires_in: 3600, scope: 'ssf.manage' });
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined || !this.tokens.has(bearer)) return send(401, { error: 'invalid_token' });
    if (url.pathname === '/ssf/streams' && req.method === 'POST') {
      if (this.refuseStreams) return send(503, { error: 'temporarily_unavailable' });
      const id = randomUUID();
      this.streams.set(id, { queue: new Map() });
      this.created.push(id);
      const request = JSON.parse(body) as { events_requested: string[] };
      this.createRequests.push(request);
      const requested = request.events_requested;
      return send(201, { stream_id: id, iss: this.issuer, aud: TRANSMITTER_CLIENT_ID, events_requested: requested, events_delivered: requested, delivery: { method: 'urn:ietf:rfc:8936', endpoint_url: `${this.issuerOrigin}/ssf/poll/${id}` } });
    }
    if (url.pathname === '/ssf/streams' && req.method === 'DELETE') {
      const id = url.searchParams.get('stream_id') ?? '';
      if (!this.streams.delete(id)) return send(404, { error: 'not_found' });
      this.deleted.push(id);
      return send(204);
    }
    const poll = /^\/ssf\/poll\/([^/]+)$/.exec(url.pathname);
    if (poll && req.method === 'POST') {
      if (this.mode === 'down') return send(503, { error: 'temporarily_unavailable' });
      const id = poll[1]!;
      const stream = this.streams.get(id);
      if (this.mode === 'gone' || !stream) {
        this.streams.delete(id);
        return send(404, { error: 'not_found', error_description: 'no such stream' });
      }
      const request = JSON.parse(body || '{}') as { ack?: string[]; setErrs?: PollCall['setErrs']; returnImmediately?: unknown };
      this.polls.push({ streamId: id, ack: request.ack ?? [], setErrs: request.setErrs ?? {}, returnImmediately: request.returnImmediately });
      for (const jti of [...(request.ack ?? []), ...Object.keys(request.setErrs ?? {})]) stream.queue.delete(jti);
      if (stream.queue.size === 0 && request.returnImmediately !== true) await this.wait(this.holdMs);
      return send(200, { sets: Object.fromEntries(stream.queue), moreAvailable: false });
    }
    send(404, { error: 'not_found' });
  }

  /** RFC 6749 §2.3.1: id and secret are form-encoded before Basic. */
  private authenticated(header: string | undefined): boolean {
    const match = /^Basic (.+)$/.exec(header ?? '');
    if (!match) return false;
    const [id, secret] = Buffer.from(match[1]!, 'base64').toString().split(':').map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
    return id === TRANSMITTER_CLIENT_ID && secret === this.clientSecret;
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}
