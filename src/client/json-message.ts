/**
 * One text message as a JSON object, or the reason it is not one. The first step of every JSON
 * protocol the client speaks (seeds/001 events, seeds/002 stream messages).
 * @param binaryHint what to say when the message is binary, e.g. "events are JSON text"
 */
export function parseJsonObjectMessage(data: string | Uint8Array, binaryHint: string): Record<string, unknown> | Error {
  if (typeof data !== 'string') return new Error(`unexpected binary message (${data.byteLength} bytes); ${binaryHint}`);
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (error) {
    return new SyntaxError(`malformed JSON from server: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return new Error('server message is not a JSON object');
  return value as Record<string, unknown>;
}
