/**
 * The URLs of one route on each server a client was given: `url` is a server (`ws(s)://host:port`,
 * `http(s)://` taken as `ws(s)://`) or several (a cluster's nodes, each serving every stream),
 * and `path` (with its query) is appended to each origin. Shared by the wrappers whose route is
 * a path of their own (StreamClient's `/stream/:id`, VideoPlayer's `/video/:id`).
 */
export function routeUrls(url: string | readonly string[], path: string): string[] {
  // An empty list goes through as one: ReconnectingSocket refuses it with its TypeError.
  const servers: readonly unknown[] = typeof url === 'string' ? [url] : Array.isArray(url) ? url : [url];
  return servers.map((server) => {
    if (typeof server !== 'string' || server === '') throw new TypeError('url must be a non-empty string or a non-empty list of them');
    const base = new URL(server);
    if (base.protocol === 'http:' || base.protocol === 'https:') base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    if (base.protocol !== 'ws:' && base.protocol !== 'wss:') throw new TypeError(`url must be a ws(s):// or http(s):// URL (got "${server}")`);
    return `${base.origin}${path}`;
  });
}
