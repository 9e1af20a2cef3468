import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/config.js';
import { StreamUnavailableError, type Hub } from '../hub/hub.js';
import { Stream } from '../hub/stream.js';
import type { Encoder } from '../hub/encoder.js';
import { X11ScreenSource } from '../sources/x11-screen-source.js';
import { X11WindowSource } from '../sources/x11-window-source.js';
import { hexId, parseWindowId } from '../sources/x11-windows.js';

export interface ScreenCaptureParts {
  hub: Hub;
  config: Config;
  encoder: Encoder;
  log: FastifyBaseLogger;
}

/**
 * With screen capture on (`--screen`, SCREEN=1): `/stream/0` becomes the desktop (a configured
 * `source: screen` stream, else a new `desktop` one) and `/stream/<window id>` (decimal or 0x hex)
 * streams that window, created on demand and dropped when it ends or goes idle. Without an X
 * display or ffmpeg the streams end at once with an error that names what is missing.
 */
export function installScreenCapture({ hub, config, encoder, log }: ScreenCaptureParts): void {
  if (!config.screen) return;
  const streamOptions = { idleGraceMs: config.idleGrace * 1000 };
  const display = config.display || undefined;
  const sourceLog = (id: string) => log.child({ stream: id });

  let desktopId = Object.entries(config.streams).find(([, s]) => s.source === 'screen')?.[0];
  if (!desktopId) {
    desktopId = hub.list().some((s) => s.id === 'desktop') ? 'desktop-screen' : 'desktop';
    const source = new X11ScreenSource({
      fps: config.captureFps, quality: config.quality, log: sourceLog(desktopId), ...(display && { display }),
    });
    hub.add(new Stream(desktopId, source, encoder, { ...streamOptions, label: 'DESKTOP' }));
  }
  hub.setPrimary(desktopId);

  const windows = new Map<number, Stream>();
  hub.addResolver(function resolveWindowStream(id) {
    const windowId = parseWindowId(id);
    if (windowId === undefined) return undefined;
    const known = windows.get(windowId);
    if (known) return known;
    // Each window stream is an ffmpeg process and the ids come from clients: bounded.
    if (windows.size >= config.maxWindowStreams) {
      throw new StreamUnavailableError(`too many window streams (${config.maxWindowStreams} open); try again when one ends`);
    }
    const streamId = hexId(windowId);
    const source = new X11WindowSource({
      windowId, fps: config.captureFps, quality: config.quality, log: sourceLog(streamId), ...(display && { display }),
    });
    const stream = new Stream(streamId, source, encoder, { ...streamOptions, label: `WINDOW ${streamId}` });
    stream.on('state:change', function windowStreamOnState({ newState }) {
      const finished = newState === 'ended' || (newState === 'stopped' && stream.subscriberCount === 0);
      if (!finished || windows.get(windowId) !== stream) return;
      windows.delete(windowId);
      hub.remove(streamId);
      // After the current event: subscribers must still hear the notice that ended the stream.
      setImmediate(() => void stream.close());
    });
    windows.set(windowId, stream);
    hub.add(stream);
    return stream;
  });
}
