import type { WebSocket, WebSocketServer } from 'ws';

/**
 * Protocol-level ping every `intervalMs`; a peer that has not answered the previous ping by
 * the next one is terminated (seeds/004's WS_PING_INTERVAL). Returns a stop function.
 */
export function startHeartbeat(wss: WebSocketServer, intervalMs: number): () => void {
  const alive = new WeakSet<WebSocket>();
  const socketOnPong = function (this: WebSocket) {
    alive.add(this);
  };
  const wssOnConnection = (ws: WebSocket) => {
    alive.add(ws);
    ws.on('pong', socketOnPong);
  };
  wss.on('connection', wssOnConnection);
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    wss.off('connection', wssOnConnection);
  };
}
