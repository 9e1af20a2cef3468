import { isIP } from 'node:net';

/**
 * Which `Host` headers framehub answers. A page on an attacker's site can make a victim's
 * browser reach a framehub on the victim's loopback through DNS rebinding: the attacker's
 * name, re-pointed at 127.0.0.1. Such a request still carries the attacker's name in `Host`.
 * So with `publicHosts` set, only those names (and loopback ones) are answered; bound to
 * loopback without it, only loopback names; otherwise every name (framehub cannot know its
 * public names; set `PUBLIC_HOSTS` to close this).
 * Returns `undefined` when every host is accepted.
 */
export function hostCheck(options: { host: string; publicHosts: string }): ((host: string | undefined) => boolean) | undefined {
  const names = new Set(options.publicHosts.split(',').map((h) => stripPort(h.trim().toLowerCase())).filter((h) => h !== ''));
  if (names.size === 0 && !isLoopback(options.host)) return undefined;
  return (header) => {
    // HTTP/1.0 clients may send no Host at all; they are not browsers being rebound.
    if (header === undefined || header === '') return true;
    const host = stripPort(header.trim().toLowerCase());
    return names.has(host) || isLoopback(host);
  };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** `name:port` → `name`, `[::1]:8080` → `::1`. */
function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(1, end);
  }
  const colon = host.indexOf(':');
  return colon !== -1 && host.indexOf(':', colon + 1) === -1 ? host.slice(0, colon) : host;
}
