import type { WebSocket } from 'ws';
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
    const writer = new WsFrameWriter(ws);
    const subscription = stream.subscribe({
      fps: options.fps,
      deliver: (frame, done) => {
        const spec = {
          format: options.format,
          quality: options.quality,
          osd: options.osd,
          ...(options.resize && { maxWidth: options.resize.width, maxHeight: options.resize.height }),
        };
        // Every client but the first finds the variant ready: no extra promise on that path.
        const ready = stream.variants.peek(frame, spec);
        if (ready) return writer.send(ready.bytes, true, done);
        writer.sendWhenReady(stream.variants.get(frame, spec).then((variant) => variant.bytes), true, done);
      },
      onNotice: noticeRelay(ws),
      onDeliverError: (error) => log.debug({ err: error, stream: stream.id }, 'frame delivery failed'),
    });

    onClientMessages(ws, log, (text) => {
      const command = parseVideoFeedCommand(text);
      if (command.type === 'set_quality') {
        options.quality = command.quality;
        return;
      }
      Object.assign(options, command.changes);
      if (command.changes.fps !== undefined) subscription.setFps(command.changes.fps);
    });

    ws.on('close', function socketOnClose() {
      clients.delete(ws);
      subscription.close();
    });
  };
}
