import { TestBrowser } from '../../../test/support/browser.ts';

export { TestBrowser, type Hop } from '../../../test/support/browser.ts';

/** Starts at `${solutrix}/login`, signs in on the IDP's login page, and returns the final hop. */
export async function signIn(browser: TestBrowser, solutrix: string, username: string, password: string) {
  const toLoginPage = await browser.follow(`${solutrix}/login`);
  const page = toLoginPage.last;
  if (page.status !== 200 || !page.body.includes('id="username"')) throw new Error(`no login page: ${page.status} ${page.body.slice(0, 300)}`);
  const action = /<form method="post" action="([^"]+\/login)"/.exec(page.body)?.[1];
  if (action === undefined) throw new Error('login form not found');
  const idpOrigin = new URL(page.url).origin;
  const submitted = await browser.request(new URL(action, page.url).href, {
    form: { username, password },
    headers: { origin: idpOrigin },
  });
  if (submitted.status !== 303) return { first: toLoginPage, last: submitted, hops: [submitted] };
  const rest = await browser.follow(new URL(submitted.headers.get('location')!, submitted.url).href);
  return { first: toLoginPage, last: rest.last, hops: [submitted, ...rest.hops] };
}
