import type { WebSocket } from 'ws';
import { CloseCode } from '../protocols/errors.js';
import { parseVideoFeedCommand, parseVideoFeedQuery, type VideoFeedOptions } from '../protocols/video-feed.js';
import type { UpgradeHandler } from './upgrade-router.js';
import { noticeRelay, onClientMessages, parseQueryOrRefuse, resolveStreamOrRefuse, type RouteContext } from './route-context.js';
import { VariantSink, type VariantWire } from './variant-sink.js';

/** seeds/004: the image bytes, one binary message per frame. */
const VIDEO_FEED_WIRE: VariantWire<VideoFeedOptions> = {
  spec: ({ format, quality, osd, resize }) => ({ format, quality, osd, ...(resize && { maxWidth: resize.width, maxHeight: resize.height }) }),
  message: (variant) => variant.bytes,
  binary: true,
  frameKey: 'ws-frame:video-feed',
};

/** `WS /ws/video_feed[?stream=id]`: seeds/004's one binary image per message, JSON commands. */
export function videoFeedRoute({ hub, config, log }: RouteContext): UpgradeHandler {
  const clients = new Set<WebSocket>();
  return function handleVideoFeedSocket(ws: WebSocket, req, url) {
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
    const client = new VariantSink(ws, req.socket, stream.variants, options, VIDEO_FEED_WIRE);
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
