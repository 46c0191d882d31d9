import { randomBytes } from 'node:crypto';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { IdpConfig } from './config.ts';
import { ownAccessTokenVerifier } from './ownAccessTokens.ts';
import type { Secrets } from './keys.ts';
import { tokenSettings } from './resourceIndicators.ts';
import type { Store } from './store/types.ts';

/** RFC 8693 §2.1. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/**
 * The private claim of JWT user access tokens that names their grant: JWTs are not stored, and a JWT
 * subject token must still lead back to what the user consented to and whether it was revoked. An
 * opaque random id that no endpoint accepts.
 */
export const GRANT_CLAIM = 'grant_ref';
/** Delegations deeper than this (act inside act inside …) are refused. */
const MAX_ACTORS = 4;
/**
 * An exchanged token's own grant id is the subject's grant id + `~` + a random part, so the whole
 * chain of grants it was derived from can be checked from the token alone (delegationAlive).
 */
const CHAIN = '~';

export type Actor = { sub: string; act?: Actor };

/** The act claim (RFC 8693 §4.1) of exchanged tokens, by token, until extraTokenClaims records it. */
const actors = new WeakMap<object, Actor>();

type Subject = { accountId: string; clientId: string; aud: string[]; exp: number; grantId: string | undefined; act: Actor | undefined; sid: string | undefined };

const params = ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'resource', 'audience', 'scope'];

// oidc-provider's InvalidGrant says only "grant request is invalid"; the policy's refusals say which rule.
const invalidGrant = (description: string) => new errors.CustomOIDCProviderError('invalid_grant', description);
const str = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
const isActor = (value: unknown, depth = 0): value is Actor =>
  depth < MAX_ACTORS && typeof value === 'object' && value !== null && typeof (value as Actor).sub === 'string' &&
  ((value as Actor).act === undefined || isActor((value as Actor).act, depth + 1));
const depthOf = (act: Actor | undefined): number => (act ? 1 + depthOf(act.act) : 0);

/** `{ act }` for an exchanged token (oidc-provider `extraTokenClaims`): kept in introspection and in the JWT. */
export const exchangeClaims = (token: object) => {
  const act = actors.get(token);
  return act ? { act } : undefined;
};

/**
 * False when a grant the token's grant was derived from by token exchange is gone (revoked, signed
 * out, expired): exchanged tokens die with the user's original grant. oidc-provider itself checks the
 * token's own grant.
 */
export async function delegationAlive(provider: Provider, grantId: string | undefined): Promise<boolean> {
  if (!grantId?.includes(CHAIN)) return true;
  const parts = grantId.split(CHAIN);
  for (let i = 1; i < parts.length; i++) {
    const grant = await provider.Grant.find(parts.slice(0, i).join(CHAIN));
    if (!grant || grant.isExpired) return false;
  }
  return true;
}

/**
 * RFC 8693 token exchange at /oauth/token: a service that received a user's access token gets one for
 * another resource server, for the same user, with itself recorded as the actor (`act`).
 *
 * Policy: the subject token must be an active user access token whose audience is one of the
 * exchanging client's own resource servers (those it `introspects`: a service exchanges only tokens
 * sent to it); the target must be listed in the client's `token_exchange.audiences`; the scopes are
 * those the user granted (in the subject token's grant) for the target, possibly fewer, never more;
 * the new token expires no later than the subject token and takes the target's format. It keeps the
 * user's `sub`, belongs to a grant derived from the subject's (so revoking the user's grant, signing
 * out or deleting the user ends it too) and is issued to the exchanging client.
 */
export function registerTokenExchange(provider: Provider, config: Pick<IdpConfig, 'issuer' | 'accessTokenFormat' | 'accessTokenTtl' | 'clientCredentialsTtl'>, secrets: Secrets, store: Store): void {
  // A JWT subject token must be one this IDP issued (this provider is rebuilt when its keys change).
  const verifyOwnJwt = ownAccessTokenVerifier(config.issuer, () => secrets.jwks.keys);

  async function opaqueSubject(value: string): Promise<Subject | undefined> {
    const token = await provider.AccessToken.find(value);
    if (!token?.isValid || !token.accountId) return undefined;
    const extra = (token.extra ?? {}) as { act?: unknown };
    return {
      accountId: token.accountId,
      clientId: token.clientId!,
      aud: [token.aud ?? []].flat() as string[],
      exp: token.exp!,
      grantId: token.grantId,
      act: isActor(extra.act) ? extra.act : undefined,
      sid: token.sid,
    };
  }

  async function jwtSubject(value: string): Promise<Subject | undefined> {
    const payload = await verifyOwnJwt(value);
    if (!payload) return undefined;
    const clientId = str(payload.client_id);
    // A client_credentials JWT has sub = client_id and no grant: not a user's token.
    if (!payload.sub || !clientId || !str(payload[GRANT_CLAIM]) || payload.exp === undefined) return undefined;
    if (payload.jti && (await store.streams?.isJwtRevoked(payload.jti))) return undefined;
    return {
      accountId: payload.sub,
      clientId,
      aud: [payload.aud ?? []].flat(),
      exp: payload.exp,
      grantId: str(payload[GRANT_CLAIM]),
      act: isActor(payload.act) ? payload.act : undefined,
      sid: undefined,
    };
  }

  async function handler(ctx: KoaContextWithOIDC): Promise<void> {
    const p = ctx.oidc.params as Record<string, unknown>;
    const client = ctx.oidc.client!;
    const subjectToken = str(p.subject_token);
    if (!subjectToken) throw new errors.InvalidRequest('missing required parameter subject_token');
    if (p.subject_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    if (p.actor_token !== undefined || p.actor_token_type !== undefined) {
      throw new errors.InvalidRequest('actor_token is not supported: the authenticated client is the actor');
    }
    if (p.requested_token_type !== undefined && p.requested_token_type !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }

    const audiences = new Set((client.metadata().token_exchange as { audiences?: string[] } | undefined)?.audiences ?? []);
    if (audiences.size === 0) throw new errors.UnauthorizedClient('this client may not exchange tokens (no token_exchange audiences in its metadata)');
    const resource = str(p.resource);
    const audience = str(p.audience);
    if (!resource && !audience) throw new errors.InvalidRequest('name the target resource server with resource or audience');
    if (resource && audience && resource !== audience) throw new errors.InvalidTarget('resource and audience name different targets; exchange for one at a time');
    const target = (resource ?? audience)!;
    if (!audiences.has(target)) throw new errors.InvalidTarget(`this client may not exchange tokens for ${target}`);
    const server = await store.resourceServers.find(target);
    if (!server) throw new errors.InvalidTarget(`unknown resource server ${target}`);

    const subject = subjectToken.split('.').length === 3 ? await jwtSubject(subjectToken) : await opaqueSubject(subjectToken);
    if (!subject) throw invalidGrant('the subject token is not an active user access token of this IDP');
    const own = new Set((client.metadata().introspects as string[] | undefined) ?? []);
    if (!subject.aud.some((aud) => own.has(aud))) throw invalidGrant('the subject token was not issued for a resource server of this client');
    const grant = subject.grantId ? await provider.Grant.find(subject.grantId) : undefined;
    if (!grant || grant.isExpired || grant.clientId !== subject.clientId || grant.accountId !== subject.accountId || !(await delegationAlive(provider, subject.grantId))) {
      throw invalidGrant('the grant of the subject token was revoked');
    }
    if (!(await store.accounts.findBySub(subject.accountId)) || !(await provider.Client.find(subject.clientId))) {
      throw invalidGrant('the subject token belongs to a deleted user or client');
    }
    if (depthOf(subject.act) >= MAX_ACTORS) throw invalidGrant(`the subject token was exchanged ${MAX_ACTORS} times already`);

    // The user's consent for the target (in the subject's grant), limited to what the target owns.
    const granted = new Set(String(grant.getResourceScope(target) ?? '').split(' ').filter((scope) => server.scopes.includes(scope)));
    const requested = str(p.scope)?.split(' ').filter(Boolean) ?? [...granted];
    const missing = requested.filter((scope) => !granted.has(scope));
    if (missing.length) throw new errors.InvalidScope('the user did not grant these scopes for the target', missing.join(' '));
    if (requested.length === 0) throw new errors.InvalidScope(`the user granted no scope of ${target}`, server.scopes.join(' '));

    const now = Math.floor(Date.now() / 1000);
    const settings = tokenSettings(config, server, false);
    const expiresIn = Math.min(settings.accessTokenTTL, subject.exp - now);
    if (expiresIn < 1) throw invalidGrant('the subject token is expired');

    const derived = new provider.Grant({ accountId: subject.accountId, clientId: client.clientId, jti: `${subject.grantId}${CHAIN}${randomBytes(16).toString('base64url')}`, expiresIn } as never);
    // The user's consent travels with the delegation (minus what they rejected): a further exchange
    // down the chain is limited by it again.
    for (const identifier of Object.keys((grant as unknown as { resources?: Record<string, string> }).resources ?? {})) {
      const scope = grant.getResourceScope(identifier);
      if (scope) derived.addResourceScope(identifier, scope);
    }
    const grantId = await derived.save();

    const at = new provider.AccessToken({ accountId: subject.accountId, client, grantId, gty: 'token_exchange', scope: requested.join(' '), expiresIn, ...(subject.sid ? { sid: subject.sid } : {}) } as never);
    at.resourceServer = new provider.ResourceServer(target, { ...settings, scope: server.scopes.join(' ') } as never);
    actors.set(at, subject.act ? { sub: client.clientId, act: subject.act } : { sub: client.clientId });
    ctx.oidc.entity('AccessToken', at);
    const value = await at.save();
    ctx.body = { access_token: value, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: expiresIn, scope: at.scope };
  }

  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, handler as never, params);
}
