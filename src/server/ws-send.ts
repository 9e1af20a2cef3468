import { WebSocket } from 'ws';

/**
 * Sends and resolves with the byte count once `ws` has handed the data to the socket (its
 * write callback), which is what lets a subscriber slot hold back the next frame.
 * A Buffer sent with `binary: false` goes out as a text frame without being re-encoded.
 */
export function wsSend(ws: WebSocket, data: Buffer | string, binary: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    if (ws.readyState !== WebSocket.OPEN) {
      reject(new Error('socket is not open'));
      return;
    }
    const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    ws.send(data, { binary }, (error) => (error ? reject(error) : resolve(length)));
  });
}

/** Sends a control message and ignores the outcome: the socket may be closing already. */
export function wsSendQuiet(ws: WebSocket, text: string): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(text, () => {});
}
