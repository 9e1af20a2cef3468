import type { WebSocket } from 'ws';
import type { Frame } from '../hub/frame.js';
import type { DeliveryDone, FrameSink } from '../hub/subscriber-slot.js';
import type { VariantCache } from '../hub/variant.js';
import { sharedSpec, type VariantSpec } from '../hub/variant-spec.js';
import { CloseCode } from '../protocols/errors.js';
import { parseVideoFeedCommand, parseVideoFeedQuery, type VideoFeedOptions } from '../protocols/video-feed.js';
import type { UpgradeHandler } from './upgrade-router.js';
import { noticeRelay, onClientMessages, parseQueryOrRefuse, resolveStreamOrRefuse, type RouteContext } from './route-context.js';
import { WsFrameWriter } from './ws-send.js';

/** `WS /ws/video_feed[?stream=id]`: seeds/004's one binary image per message, JSON commands. */
export function videoFeedRoute({ hub, config, log }: RouteContext): UpgradeHandler {
  const clients = new Set<WebSocket>();
  return function handleVideoFeedSocket(ws: WebSocket, _req, url) {
    if (clients.size >= config.maxClients) {
      ws.close(CloseCode.PolicyViolation, 'Too many clients');
      return;
    }
    const options = parseQueryOrRefuse<VideoFeedOptions>(ws, () => parseVideoFeedQuery(url.searchParams, {
      fps: config.frameRate, quality: config.quality, format: 'jpeg', osd: false, resize: null,
    }));
    if (!options) return;
    const stream = resolveStreamOrRefuse(ws, hub, options.stream ?? '0');
    if (!stream) return;

    clients.add(ws);
    const client = new VideoFeedClient(ws, stream.variants, options);
    const subscription = stream.subscribe({
      fps: options.fps,
      deliver: client,
      onNotice: noticeRelay(ws),
      onDeliverError: (error) => log.debug({ err: error, stream: stream.id }, 'frame delivery failed'),
    });

    onClientMessages(ws, log, (text) => {
      const command = parseVideoFeedCommand(text);
      client.update(command.type === 'set_quality' ? { quality: command.quality } : command.changes);
      if (command.type === 'config' && command.changes.fps !== undefined) subscription.setFps(command.changes.fps);
    });

    ws.on('close', function socketOnClose() {
      clients.delete(ws);
      subscription.close();
    });
  };
}

/**
 * One client's frames: the variant its options select, written as binary messages. The spec
 * is built when the options change, not per frame, and shared with every client that asked
 * for the same (sharedSpec), so all but the first client of a frame find the bytes at once.
 */
class VideoFeedClient extends WsFrameWriter implements FrameSink {
  #spec: VariantSpec;

  constructor(ws: WebSocket, private readonly variants: VariantCache, private readonly options: VideoFeedOptions) {
    super(ws);
    this.#spec = specOf(options);
  }

  update(changes: Partial<VideoFeedOptions>): void {
    Object.assign(this.options, changes);
    this.#spec = specOf(this.options);
  }

  deliver(frame: Frame, done: DeliveryDone): void {
    const ready = this.variants.peek(frame, this.#spec);
    if (ready) return this.send(ready.bytes, true, done);
    this.sendWhenReady(this.variants.get(frame, this.#spec).then((variant) => variant.bytes), true, done);
  }
}

function specOf({ format, quality, osd, resize }: VideoFeedOptions): VariantSpec {
  return sharedSpec({ format, quality, osd, ...(resize && { maxWidth: resize.width, maxHeight: resize.height }) });
}
