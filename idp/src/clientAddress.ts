import { BlockList, isIP } from 'node:net';
import type { Context } from 'koa';

/** `10.0.0.5` or `10.0.0.0/8` or `fd00::/8`, validated by config.ts. */
export type ProxyRange = Readonly<{ address: string; prefix: number; family: 'ipv4' | 'ipv6' }>;

/** Parses one IDP_TRUSTED_PROXIES entry; undefined when it is neither an IP nor a CIDR range. */
export function parseProxyRange(entry: string): ProxyRange | undefined {
  const [address = '', prefixText, extra] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return undefined;
  const max = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return Object.freeze({ address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' });
}

// A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; a range written as a.b.c.d must match it.
const normalize = (address: string) => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address);

/**
 * Who is on the other end, for every limiter: the socket address, or — only when the socket peer is a
 * configured trusted proxy — the right-most X-Forwarded-For entry that is not itself a trusted proxy.
 * Entries further left were written by whoever called the first proxy, so they are never used. With
 * no trusted proxies (the default) X-Forwarded-For is ignored altogether.
 */
export function clientAddressResolver(trusted: readonly ProxyRange[]): (ctx: Context) => string {
  const list = new BlockList();
  for (const range of trusted) list.addSubnet(range.address, range.prefix, range.family);
  const isTrusted = (address: string) => {
    const version = isIP(address);
    return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  };
  return (ctx) => {
    let address = normalize(ctx.req.socket.remoteAddress ?? 'unknown');
    if (trusted.length === 0 || !isTrusted(address)) return address;
    const forwarded = (ctx.req.headers['x-forwarded-for'] ?? '').toString().split(',').map((s) => normalize(s.trim()));
    for (let i = forwarded.length - 1; i >= 0; i--) {
      const hop = forwarded[i]!;
      // Garbage from a trusted proxy's side stays with the proxy's own address: one shared bucket.
      if (isIP(hop) === 0) return address;
      address = hop;
      if (!isTrusted(hop)) return hop;
    }
    return address;
  };
}
