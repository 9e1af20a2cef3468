import { WebSocket } from 'ws';

/** The most a close reason may hold: 125 bytes of control-frame payload minus the 2-byte code. */
const MAX_REASON_BYTES = 123;

/**
 * The one way a route closes a client's WebSocket. `ws.close` throws on a reason over 123 bytes
 * of UTF-8 and on a code outside the ranges RFC 6455 allows; client text (a query value, a
 * token header) can end up in a reason, so the reason is cut by bytes on a character boundary
 * and nothing here throws. Closing a socket that is already closing is a no-op.
 */
export function closeSocket(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
  try {
    ws.close(code, closeReason(reason));
  } catch {
    // A code ws refuses (never one of framehub's) or a socket torn down under us: end it.
    ws.terminate();
  }
}

/** `text` cut to at most 123 bytes of UTF-8, never inside a character (an ellipsis marks a cut). */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_REASON_BYTES) return text;
  const bytes = Buffer.from(text);
  // 120 bytes leave room for the 3-byte ellipsis.
  let end = MAX_REASON_BYTES - 3;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off a continuation byte
  return `${bytes.subarray(0, end).toString()}…`;
}
