import { validateHeaderName, validateHeaderValue } from 'node:http';

/** Headers the guard proxy itself speaks; never taken from a page's request nor from a site's answer. */
export const RESERVED_PREFIX = 'x-framehub-';

// Hop-by-hop headers (RFC 9110 7.6.1) and the proxy's own: they describe one connection, not
// the message, so a proxy neither forwards nor trusts them. Framing (transfer-encoding) is
// redone by Node on each side; content-length is end-to-end and passes.
const HOP_BY_HOP = new Set([
  'connection', 'proxy-connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade',
]);

/** What was wrong with an upstream's answer, or with reaching it; the value of `x-framehub-upstream-error`. */
export type UpstreamFault =
  | 'unreachable' // could not connect
  | 'timeout' // silent for the idle timeout (connecting, before its answer, or mid-body)
  | 'closed' // the connection closed or was reset before a complete head
  | 'malformed' // Node's parser refused the answer (status line, header syntax, framing, size)
  | 'status' // a final status outside 200-599 (099, 600, a 101 nobody asked for)
  | 'status-text' // the reason phrase holds a control character
  | 'header'; // a header name or value a response must not carry

/** What a page gets for each fault. */
export function faultStatus(fault: UpstreamFault): 502 | 504 {
  return fault === 'timeout' ? 504 : 502;
}

export function faultDescription(fault: UpstreamFault): string {
  switch (fault) {
    case 'unreachable': return 'the site could not be reached';
    case 'timeout': return 'the site did not answer in time';
    case 'closed': return 'the site closed the connection before answering';
    case 'malformed': return 'the site sent a malformed response';
    case 'status': return 'the site answered with a status outside 200-599';
    case 'status-text': return 'the site sent a status line with control characters';
    case 'header': return 'the site sent an invalid header';
  }
}

/** Names listed in `Connection` headers: hop-by-hop for this message (RFC 9110 7.6.1). */
function connectionTokens(rawHeaders: readonly string[]): Set<string> {
  const tokens = new Set<string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const token of rawHeaders[i + 1]!.split(',')) tokens.add(token.trim().toLowerCase());
  }
  return tokens;
}

/** `rawHeaders` (name, value, name, value …) without hop-by-hop, connection-listed and reserved headers. */
function endToEnd(rawHeaders: readonly string[], drop: readonly string[] = []): string[] {
  const listed = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower) || lower.startsWith(RESERVED_PREFIX) || drop.includes(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}

/**
 * The headers to send upstream for a page's request. `Host` is the request target's authority,
 * whatever the page sent (RFC 9112 3.2.2): the guard checked that host, not the header.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], host: string): string[] {
  return ['Host', host, ...endToEnd(rawHeaders, ['host'])];
}

export interface CheckedHead {
  status: number;
  statusText: string;
  /** Flat name/value list, safe for `writeHead`. */
  headers: string[];
}

// Node's own rule for a reason phrase (HTAB, SP, VCHAR, obs-text).
const STATUS_TEXT = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The head to give the page for an upstream's answer, or why there is none. Node's parser has
 * refused most malformed heads already; this catches what it lets through (status 099 or 600,
 * control characters in the reason phrase) and drops the headers that are not the site's to send.
 */
export function checkResponseHead(status: number | undefined, statusText: string | undefined, rawHeaders: readonly string[]): CheckedHead | UpstreamFault {
  if (status === undefined || !Number.isInteger(status) || status < 200 || status > 599) return 'status';
  const text = statusText ?? '';
  if (!STATUS_TEXT.test(text)) return 'status-text';
  const headers = endToEnd(rawHeaders);
  for (let i = 0; i < headers.length; i += 2) {
    try {
      validateHeaderName(headers[i]!);
      validateHeaderValue(headers[i]!, headers[i + 1]!);
    } catch {
      return 'header';
    }
  }
  return { status, statusText: text, headers };
}
