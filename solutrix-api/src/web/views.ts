import type { Response } from 'express';
import { pageHeaders } from '../../../lib/headers.ts';
import { escapeHtml } from '../../../lib/html.ts';
import type { HttpProblem } from '../middleware/errorHandler.ts';

const STYLE = `
  body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2433;margin:0}
  main{max-width:44rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
  h1{font-size:1.4rem;margin:0 0 1rem} h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
  pre{background:#f0f2f6;padding:.75rem;border-radius:4px;overflow:auto;font-size:.85rem}
  dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem} dt{font-weight:600}
  form{display:inline} .actions{display:flex;gap:.75rem;margin-top:1.5rem}
  button,a.button{display:inline-block;padding:.55rem 1.1rem;font:inherit;font-weight:600;border:0;border-radius:4px;background:#2855d8;color:#fff;cursor:pointer;text-decoration:none}
  button.secondary{background:#e6e8ee;color:#1d2433}
  .error{background:#fde8e8;color:#9b1c1c;padding:.5rem .75rem;border-radius:4px}
  .notice{background:#fff7e0;padding:.5rem .75rem;border-radius:4px}`;

/** Sends a page under the strict page policy of lib/headers.ts (no scripts, styles by nonce). */
export function sendPage(res: Response, title: string, body: string, status = 200): void {
  const { nonce, headers } = pageHeaders();
  res.status(status).set({ 'Content-Type': 'text/html; charset=utf-8', ...headers });
  res.send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · Solutrix</title><style nonce="${nonce}">${STYLE}</style></head><body><main>${body}</main></body></html>`);
}

/** The outcome of one Service API call, as shown on the page. */
export type CallResult = { ok: true; body: unknown } | { ok: false; message: string };

function field(testId: string, label: string, value: unknown): string {
  return `<dt>${escapeHtml(label)}</dt><dd data-testid="${testId}">${escapeHtml(value ?? '—')}</dd>`;
}

function whoamiPanel(testId: string, heading: string, result: CallResult): string {
  if (!result.ok) {
    return `<section><h2>${escapeHtml(heading)}</h2><p class="error" role="alert" data-testid="${testId}-error">${escapeHtml(result.message)}</p></section>`;
  }
  const body = (result.body ?? {}) as Record<string, unknown>;
  const scopes = Array.isArray(body.scopes) ? body.scopes.join(' ') : body.scopes;
  return `<section><h2>${escapeHtml(heading)}</h2><dl>
${field(`${testId}-subject`, 'Subject', body.subject)}
${field(`${testId}-client-id`, 'Client', body.clientId)}
${field(`${testId}-kind`, 'Kind', body.kind)}
${field(`${testId}-scopes`, 'Scopes', scopes)}
</dl><pre data-testid="${testId}">${escapeHtml(JSON.stringify(result.body, null, 2))}</pre></section>`;
}

export function signedOutView(notice?: string): string {
  return `<h1>Solutrix</h1>
${notice ? `<p class="notice" role="status" data-testid="notice">${escapeHtml(notice)}</p>` : ''}
<p data-testid="signed-out">You are not signed in.</p>
<div class="actions"><a class="button" href="/login">Sign in</a></div>`;
}

export interface HomeView {
  user: { sub: string; preferredUsername?: string | undefined; name?: string | undefined; email?: string | undefined };
  csrfToken: string;
  userWhoami: CallResult;
  machineWhoami?: CallResult | undefined;
}

export function homeView({ user, csrfToken, userWhoami, machineWhoami }: HomeView): string {
  const display = user.name ?? user.preferredUsername ?? user.sub;
  return `<h1>Welcome, <span data-testid="user-name">${escapeHtml(display)}</span></h1>
<dl>
${field('user-username', 'Username', user.preferredUsername)}
${field('user-sub', 'Subject', user.sub)}
${field('user-email', 'Email', user.email)}
</dl>
${whoamiPanel('user-whoami', 'Service API, called with your access token', userWhoami)}
${machineWhoami === undefined ? '' : whoamiPanel('machine-whoami', 'Service API, called as Solutrix (machine token)', machineWhoami)}
<div class="actions">
<form method="get" action="/machine"><button type="submit">Call as machine</button></form>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${escapeHtml(csrfToken)}"><button class="secondary" type="submit">Sign out</button></form>
</div>`;
}

export function errorView(heading: string, message: string): string {
  return `<h1>${escapeHtml(heading)}</h1><p class="error" role="alert" data-testid="error">${escapeHtml(message)}</p>
<div class="actions"><a class="button" href="/">Back to Solutrix</a></div>`;
}

/** Errors of the web pages are HTML pages, never JSON and never a stack trace. */
export function sendProblemPage(res: Response, problem: HttpProblem): void {
  const [title, heading, message] =
    problem.status === 503
      ? ['Unavailable', 'Try again shortly', `The sign-in service is unavailable right now (${problem.errorDescription}).`]
      : problem.status === 500
        ? ['Error', 'Something went wrong', 'Solutrix could not complete the request.']
        : problem.errorDescription === undefined
          ? ['Error', 'Bad request', 'The request could not be understood.']
          : ['Error', problem.status === 400 ? 'Sign-in failed' : 'Request refused', problem.errorDescription];
  sendPage(res, title, errorView(heading, message), problem.status);
}
