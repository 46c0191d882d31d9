// A minimal browser for HTTP-level tests: one cookie jar per origin, redirects followed by hand so
// every hop can be inspected.

export interface Hop {
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

export class TestBrowser {
  readonly #jars = new Map<string, Map<string, string>>();

  cookies(origin: string): Map<string, string> {
    let jar = this.#jars.get(origin);
    if (jar === undefined) this.#jars.set(origin, (jar = new Map()));
    return jar;
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Hop> {
    const origin = new URL(url).origin;
    const jar = this.cookies(origin);
    const headers: Record<string, string> = { ...init.headers };
    if (jar.size > 0) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      body: init.form ? new URLSearchParams(init.form) : undefined,
      redirect: 'manual',
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) <= Date.now()) ||
        attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return { url, status: res.status, headers: res.headers, body: await res.text() };
  }

  /** Follows redirects (at most 15) and returns every hop, the last one first-class. */
  async follow(url: string, init: Parameters<TestBrowser['request']>[1] = {}): Promise<{ last: Hop; hops: Hop[] }> {
    const hops: Hop[] = [];
    let hop = await this.request(url, init);
    hops.push(hop);
    while (hop.status >= 300 && hop.status < 400) {
      if (hops.length > 15) throw new Error(`too many redirects: ${hops.map((h) => h.url).join(' -> ')}`);
      hop = await this.request(new URL(hop.headers.get('location')!, hop.url).href);
      hops.push(hop);
    }
    return { last: hop, hops };
  }
}
