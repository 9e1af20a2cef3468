import { useEffect, useState } from 'react';
import { WebSocketClient, type WebSocketClientOptions } from '../client/websocket-client.js';
import type { ConnectionState, StateChangeEvent } from '../client/reconnecting-socket.js';

export interface UseWebSocketResult {
  client: WebSocketClient;
  connectionState: ConnectionState;
}

/**
 * seeds/001's `useWebSocket`: one client per component, connected on mount, disconnected on
 * unmount, with its connection state as React state. `url`, `getToken` and `options` are read
 * once, when the component first renders (a new URL needs a new component key).
 */
export function useWebSocket(url: string | readonly string[], getToken: () => Promise<string>, options?: WebSocketClientOptions): UseWebSocketResult {
  const [client] = useState(() => new WebSocketClient(url, getToken, options));
  const [connectionState, setConnectionState] = useState<ConnectionState>(client.state);

  useEffect(() => {
    const onStateChange = (event: StateChangeEvent) => setConnectionState(event.newState);
    client.on('state:change', onStateChange);
    setConnectionState(client.state);
    // Failures surface as 'error' events and state; the promise is not the place to report them.
    client.connect().catch(() => {});
    return () => {
      client.off('state:change', onStateChange);
      client.disconnect();
    };
  }, [client]);

  return { client, connectionState };
}
