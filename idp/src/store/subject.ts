import type { AdapterPayload } from 'oidc-provider';

/**
 * The end user (oidc-provider `accountId`, our `sub`) a stored model belongs to: Session, Grant and
 * every token and code carry it at the top level; an Interaction carries the signed-in session's
 * (`session.accountId`) or the one who just signed in (`result.login.accountId`). Kept in a column
 * beside the payload, so deleting an account removes everything of that subject in one statement,
 * as deleting a client does with `client_id`. `undefined` for clients and client_credentials tokens.
 */
export function accountIdOf(payload: AdapterPayload): string | undefined {
  const { accountId, session, result } = payload as AdapterPayload & {
    session?: { accountId?: unknown };
    result?: { login?: { accountId?: unknown } };
  };
  for (const candidate of [accountId, session?.accountId, result?.login?.accountId]) {
    if (typeof candidate === 'string' && candidate) return candidate;
  }
  return undefined;
}
