import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { ErrorCode, FramehubError } from '../wire/errors.js';

/** Why a URL may not be loaded: not a URL at all, a forbidden address, or a name that does not resolve. */
export class UrlRefused extends FramehubError {
  override readonly name = 'UrlRefused';
}

// Addresses a browser on this server must not reach on a client's behalf: the server itself,
// its private networks, link-local (cloud metadata at 169.254.169.254), "any", and every range
// that is not ordinary public unicast (documentation, benchmarking, multicast, reserved).
const FORBIDDEN = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10] /* carrier-grade NAT: private in practice */, ['127.0.0.0', 8],
  ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24] /* 6to4 relays */,
  ['192.168.0.0', 16], ['198.18.0.0', 15] /* benchmarking nets, used for internal hops */, ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) FORBIDDEN.addSubnet(net, bits, 'ipv4');
// IPv6: only global unicast (2000::/3) is public; inside it, documentation and ORCHID ranges
// and the local-use NAT64 prefix are not. The forms that carry an IPv4 address are decoded
// (`embeddedIpv4`) and judged by what they carry.
const PUBLIC_IPV6 = new BlockList();
PUBLIC_IPV6.addSubnet('2000::', 3, 'ipv6');
const FORBIDDEN_IPV6 = new BlockList();
for (const [net, bits] of [['2001:db8::', 32], ['2001:10::', 28], ['2001:20::', 28], ['3fff::', 20], ['64:ff9b:1::', 48]] as const) {
  FORBIDDEN_IPV6.addSubnet(net, bits, 'ipv6');
}

/**
 * `true` for every address that is not ordinary public unicast: loopback, private, link-local,
 * site-local, unspecified, multicast, documentation and reserved addresses, and IPv6 forms that
 * carry such an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo).
 */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return FORBIDDEN.check(address, 'ipv4');
  if (family !== 6) return true;
  const words = ipv6Words(address);
  if (!words) return true;
  const carried = embeddedIpv4(words);
  if (carried) return carried.some((ipv4) => FORBIDDEN.check(ipv4, 'ipv4'));
  return !PUBLIC_IPV6.check(address, 'ipv6') || FORBIDDEN_IPV6.check(address, 'ipv6');
}

/** The eight 16-bit words of an IPv6 address (a zone id dropped), or `undefined` if it is not one. */
function ipv6Words(address: string): number[] | undefined {
  let text = address.split('%')[0]!.toLowerCase();
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const octets = tail[1]!.split('.').map(Number);
    text = `${text.slice(0, -tail[1]!.length)}${((octets[0]! << 8) | octets[1]!).toString(16)}:${((octets[2]! << 8) | octets[3]!).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const missing = 8 - left.length - right.length;
  if (rest === undefined ? missing !== 0 : missing < 1) return undefined;
  const words = [...left, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...right].map((w) => parseInt(w, 16));
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined;
}

function ipv4Of(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The IPv4 addresses an IPv6 address leads to when it is one of the forms that carry one, else
 * `undefined`. A browser connecting to such an address reaches (through a translator, a relay
 * or the host's own stack) the IPv4 host it names, so that host is what must be judged.
 */
function embeddedIpv4(w: number[]): string[] | undefined {
  const zero = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible, deprecated; also :: and ::1 land here).
  if (zero(0, 5) && (w[5] === 0xffff || w[5] === 0)) return [ipv4Of(w[6]!, w[7]!)];
  // 64:ff9b::/96, the well-known NAT64 prefix (RFC 6052).
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(2, 6)) return [ipv4Of(w[6]!, w[7]!)];
  // 2002::/16, 6to4: the IPv4 address is bits 16-47.
  if (w[0] === 0x2002) return [ipv4Of(w[1]!, w[2]!)];
  // 2001::/32, Teredo: the server is bits 32-63, the client the last 32 bits inverted.
  if (w[0] === 0x2001 && w[1] === 0) return [ipv4Of(w[2]!, w[3]!), ipv4Of(w[6]! ^ 0xffff, w[7]! ^ 0xffff)];
  return undefined;
}

/** How long the host's own interface addresses are trusted before they are read again. */
const OWN_ADDRESSES_MS = 5_000;
let ownAddresses: { set: Set<string>; until: number } | undefined;

/**
 * Whether `address` belongs to one of this host's interfaces. A public address of the server
 * itself is as forbidden as loopback: a page loaded from it reaches framehub and every other
 * service on the host. Read again every few seconds: interfaces come and go.
 */
export function isOwnAddress(address: string): boolean {
  const now = Date.now();
  if (!ownAddresses || ownAddresses.until <= now) {
    const set = new Set<string>();
    for (const entries of Object.values(networkInterfaces())) {
      for (const entry of entries ?? []) set.add(normalise(entry.address));
    }
    ownAddresses = { set, until: now + OWN_ADDRESSES_MS };
  }
  return ownAddresses.set.has(normalise(address));
}

function normalise(address: string): string {
  const words = isIP(address) === 6 ? ipv6Words(address) : undefined;
  if (!words) return address;
  const carried = embeddedIpv4(words);
  return carried && words[5] === 0xffff ? carried[0]! : words.map((x) => x.toString(16)).join(':');
}

/** Refused for a session: not public unicast, or one of this host's own addresses. */
function refused(address: string): boolean {
  return isForbiddenAddress(address) || isOwnAddress(address);
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
      throw new UrlRefused(ErrorCode.InvalidUrl, `not a valid absolute URL: ${JSON.stringify(raw.slice(0, 200))}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UrlRefused(ErrorCode.InvalidUrl, `only http and https URLs may be loaded (got ${url.protocol})`);
    }
    const verdict = await this.admit(url.hostname);
    // A name that does not resolve is not forbidden, just unreachable: 502 like any failed load.
    if (!verdict.ok) throw new UrlRefused(verdict.unresolvable ? ErrorCode.UrlUnresolvable : ErrorCode.UrlRefused, verdict.reason);
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
      if (!allowed && refused(host)) return { ok: false, reason: `${host} is a loopback, private, link-local, unspecified or this server's own address` };
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
    const bad = allowed ? undefined : addresses.find(refused);
    // The reason names no address: a refusal must not tell a client what internal names resolve to.
    const verdict: Admission = bad !== undefined
      ? { ok: false, reason: `${host} resolves to a loopback, private, link-local, unspecified or this server's own address` }
      : addresses[0] === undefined ? { ok: false, reason: `${host} does not resolve`, unresolvable: true } : { ok: true, address: addresses[0] };
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(host, { verdict, until: now + CACHE_MS });
    return verdict;
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
