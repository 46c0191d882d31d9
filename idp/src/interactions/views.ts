import type { Context } from 'koa';
import { pageHeaders } from '../../../lib/headers.ts';
import { escapeHtml } from '../../../lib/html.ts';

const STYLE = `
  body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2433;margin:0}
  main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
  h1{font-size:1.3rem;margin:0 0 1rem} label{display:block;margin:.75rem 0 .25rem;font-weight:600}
  input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #c4c9d4;border-radius:4px}
  button{margin-top:1.25rem;width:100%;padding:.6rem;font:inherit;font-weight:600;border:0;border-radius:4px;background:#2855d8;color:#fff;cursor:pointer}
  button.secondary{background:#e6e8ee;color:#1d2433} .error{background:#fde8e8;color:#9b1c1c;padding:.5rem .75rem;border-radius:4px}
  .muted{color:#5b6478;font-size:.875rem} ul{padding-left:1.2rem}`;

/** Renders a page under the strict page policy of lib/headers.ts (no scripts, styles by nonce). */
export function renderPage(ctx: Context, title: string, body: string, status = 200): void {
  const { nonce, headers } = pageHeaders();
  ctx.status = status;
  ctx.type = 'html';
  ctx.set(headers);
  ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style nonce="${nonce}">${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

export function loginView(uid: string, clientName: string, { username = '', error = '' } = {}): string {
  return `<h1>Sign in to ${escapeHtml(clientName)}</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="on">
  <label for="username">Username</label>
  <input id="username" name="username" autocomplete="username" required autofocus value="${escapeHtml(username)}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort"><button class="secondary" type="submit">Cancel</button></form>
<p class="muted">Local development IDP. Demo users are documented in the README.</p>`;
}

export function consentView(uid: string, clientName: string, scopes: string[]): string {
  return `<h1>${escapeHtml(clientName)} asks for access</h1>
<p>It will be able to use:</p><ul>${scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort"><button class="secondary" type="submit">Deny</button></form>`;
}

export function errorView(error: string, description?: string): string {
  return `<h1>Something went wrong</h1><p class="error" role="alert"><strong>${escapeHtml(error)}</strong>${
    description ? `: ${escapeHtml(description)}` : ''
  }</p>`;
}

export function logoutView(form: string, host: string): string {
  return `<h1>Sign out of ${escapeHtml(host)}?</h1>${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button class="secondary" type="submit" form="op.logoutForm">No, stay signed in</button>`;
}

export function loggedOutView(): string {
  return `<h1>Signed out</h1><p>You have been signed out of the IDP.</p>`;
}
