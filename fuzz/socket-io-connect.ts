import type { Socket } from 'socket.io-client';

/** Whether `socket` connects within `ms`: `false` on `connect_error` or when the time is up. */
export function connectedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.once('connect_error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
