import { useEffect, useState } from 'react';
import { PixelSocket, type ConnectionStats, type ImageMetadata, type PixelSocketOptions } from '../client/pixel-socket.js';
import type { ConnectionState } from '../client/reconnecting-socket.js';

export interface LatestImage {
  /** An object URL for `<img src>`; revoked when a newer image replaces it or on unmount. */
  url: string;
  bytes: Uint8Array;
  metadata: ImageMetadata;
}

export interface UseLatestImageResult {
  image: LatestImage | null;
  connectionState: ConnectionState;
  stats: ConnectionStats | null;
  error: Error | null;
}

export type UseLatestImageOptions = Omit<PixelSocketOptions, 'url' | 'onImage' | 'saveDirectory' | 'saveImages'>;

/**
 * The latest image of a stream as React state. Latest wins: a newer image replaces the older
 * one (and frees its object URL), so a fast stream never piles up images in memory.
 */
export function useLatestImage(url: string | readonly string[], options: UseLatestImageOptions = {}): UseLatestImageResult {
  const [image, setImage] = useState<LatestImage | null>(null);
  const [connectionState, setConnectionState] = useState<ConnectionState>('disconnected');
  const [stats, setStats] = useState<ConnectionStats | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const urlKey = typeof url === 'string' ? url : url.join(' ');

  useEffect(() => {
    let current: string | undefined;
    const socket: PixelSocket = new PixelSocket({
      ...options,
      url,
      saveImages: false,
      onImage: function onLatestImage(bytes, metadata) {
        if (!metadata) return;
        const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: metadata.mimeType ?? 'application/octet-stream' });
        const objectUrl = URL.createObjectURL(blob);
        if (current) URL.revokeObjectURL(current);
        current = objectUrl;
        setImage({ url: objectUrl, bytes, metadata });
        setStats(socket.getStats());
      },
      onConnect: function onLatestConnect() {
        setConnectionState(socket.state);
        options.onConnect?.();
      },
      onDisconnect: function onLatestDisconnect(code, reason) {
        setConnectionState(socket.state);
        options.onDisconnect?.(code, reason);
      },
      onError: function onLatestError(err) {
        setError(err);
        setConnectionState(socket.state);
        options.onError?.(err);
      },
    });
    setConnectionState('connecting');
    socket.connect().then(
      () => setConnectionState(socket.state),
      (err: unknown) => {
        setError(err instanceof Error ? err : new Error(String(err)));
        setConnectionState(socket.state);
      },
    );
    return () => {
      socket.disconnect();
      if (current) URL.revokeObjectURL(current);
    };
    // Options are read on (re)connect only; a changed URL (or list) reconnects. A list is compared
    // by its contents, so an inline array literal does not reconnect on every render.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [urlKey]);

  return { image, connectionState, stats, error };
}
