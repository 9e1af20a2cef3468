/**
 * The few parts of the WHATWG `WebSocket` the client uses. Browsers, Deno, Bun and Node >= 22
 * have it as a global; on Node 20 the `ws` package provides the same interface.
 */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drops the TCP connection without a closing handshake. */
  terminate?: () => void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** readyState of an open socket in every implementation. */
export const OPEN = 1;

let cached: Promise<WebSocketConstructor> | undefined;

/**
 * The runtime's global `WebSocket`, else `ws` loaded on first use. The specifier sits in a
 * variable so bundlers leave it alone: the browser bundle must not pull in a Node package.
 */
export function resolveWebSocket(): Promise<WebSocketConstructor> {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return Promise.resolve(global);
  cached ??= (async () => {
    const specifier = 'ws';
    try {
      const mod = (await import(specifier)) as { WebSocket?: WebSocketConstructor; default?: WebSocketConstructor };
      const impl = mod.WebSocket ?? mod.default;
      if (!impl) throw new Error('the "ws" module has no WebSocket export');
      return impl;
    } catch (error) {
      cached = undefined;
      throw new Error('no global WebSocket in this runtime and the "ws" package could not be loaded (npm install ws)', { cause: error });
    }
  })();
  return cached;
}
