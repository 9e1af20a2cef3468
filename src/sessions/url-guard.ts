import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** Why a URL may not be loaded; `status` is the HTTP status the REST route answers with. */
export class UrlRefused extends Error {
  override readonly name = 'UrlRefused';
  constructor(
    message: string,
    readonly status: 400 | 403 | 502,
  ) {
    super(message);
  }
}

// Addresses a browser on this server must not reach on a client's behalf: the server itself,
// its private networks, link-local (cloud metadata at 169.254.169.254) and "any".
const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet('0.0.0.0', 8, 'ipv4');
FORBIDDEN.addSubnet('10.0.0.0', 8, 'ipv4');
FORBIDDEN.addSubnet('100.64.0.0', 10, 'ipv4'); // carrier-grade NAT: private in practice
FORBIDDEN.addSubnet('127.0.0.0', 8, 'ipv4');
FORBIDDEN.addSubnet('169.254.0.0', 16, 'ipv4');
FORBIDDEN.addSubnet('172.16.0.0', 12, 'ipv4');
FORBIDDEN.addSubnet('192.168.0.0', 16, 'ipv4');
FORBIDDEN.addSubnet('198.18.0.0', 15, 'ipv4'); // benchmarking nets, used for internal hops
FORBIDDEN.addSubnet('224.0.0.0', 4, 'ipv4');
FORBIDDEN.addSubnet('240.0.0.0', 4, 'ipv4');
FORBIDDEN.addAddress('::', 'ipv6');
FORBIDDEN.addAddress('::1', 'ipv6');
FORBIDDEN.addSubnet('fc00::', 7, 'ipv6');
FORBIDDEN.addSubnet('fe80::', 10, 'ipv6');
FORBIDDEN.addSubnet('ff00::', 8, 'ipv6');

/** `true` for loopback, private, link-local, unspecified, multicast and reserved addresses. */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return FORBIDDEN.check(address, 'ipv4');
  if (family === 6) {
    // An IPv4-mapped IPv6 address reaches the IPv4 host: judge that one.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return FORBIDDEN.check(mapped[1]!, 'ipv4');
    return FORBIDDEN.check(address, 'ipv6');
  }
  return true;
}

export type Admission = { ok: true; address: string } | { ok: false; reason: string; unresolvable?: true };

export type Resolve = (host: string) => Promise<string[]>;

const systemResolve: Resolve = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

const CACHE_MS = 30_000;
const CACHE_MAX = 1000;

/**
 * Decides whether a session may load a URL: http(s) only, and the host must not resolve to
 * an address inside this server's networks unless `BROWSER_ALLOW_HOSTS` names it. The same
 * check runs on every connection the browser opens (see `GuardProxy`), so a redirect, a link
 * or a subresource pointing at such a host is refused too.
 */
export class UrlGuard {
  readonly #allowAll: boolean;
  readonly #allowed: Set<string>;
  // Host → verdict; bounded, short-lived: a page makes many requests to few hosts.
  readonly #cache = new Map<string, { verdict: Admission; until: number }>();

  constructor(
    allowHosts: string,
    private readonly resolve: Resolve = systemResolve,
  ) {
    const hosts = allowHosts.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
    this.#allowAll = hosts.includes('*');
    this.#allowed = new Set(hosts.map(stripBrackets));
  }

  /** Parses and checks `raw`; throws `UrlRefused` (400 bad URL or scheme, 403 forbidden host, 502 unknown host). */
  async check(raw: string): Promise<URL> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new UrlRefused(`not a valid absolute URL: ${JSON.stringify(raw.slice(0, 200))}`, 400);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UrlRefused(`only http and https URLs may be loaded (got ${url.protocol})`, 400);
    }
    const verdict = await this.admit(url.hostname);
    // A name that does not resolve is not forbidden, just unreachable: 502 like any failed load.
    if (!verdict.ok) throw new UrlRefused(verdict.reason, verdict.unresolvable ? 502 : 403);
    return url;
  }

  /** Why `hostname` may not be reached, or `undefined` when it may. */
  async forbiddenReason(hostname: string): Promise<string | undefined> {
    const verdict = await this.admit(hostname);
    return verdict.ok ? undefined : verdict.reason;
  }

  /**
   * The address to connect to for `hostname`, or why not. Connecting to exactly the address
   * that was checked (not resolving again) keeps DNS rebinding from slipping past the check.
   */
  async admit(hostname: string): Promise<Admission> {
    const host = stripBrackets(hostname.toLowerCase());
    const allowed = this.#allowAll || this.#allowed.has(host);
    if (isIP(host)) {
      if (!allowed && isForbiddenAddress(host)) return { ok: false, reason: `${host} is a loopback, private, link-local or unspecified address` };
      return { ok: true, address: host };
    }
    const now = Date.now();
    const cached = this.#cache.get(host);
    if (cached && cached.until > now) return cached.verdict;
    let addresses: string[];
    try {
      addresses = await this.resolve(host);
    } catch {
      // Not cached: DNS failures are often transient.
      return { ok: false, reason: `${host} does not resolve`, unresolvable: true };
    }
    const bad = allowed ? undefined : addresses.find(isForbiddenAddress);
    const verdict: Admission = bad !== undefined
      ? { ok: false, reason: `${host} resolves to ${bad}, a loopback, private, link-local or unspecified address` }
      : addresses[0] === undefined ? { ok: false, reason: `${host} does not resolve`, unresolvable: true } : { ok: true, address: addresses[0] };
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(host, { verdict, until: now + CACHE_MS });
    return verdict;
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
