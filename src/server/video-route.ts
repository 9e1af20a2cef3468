import type { WebSocket } from 'ws';
import type { AccessUnit } from '../hub/access-unit.js';
import type { DeliveryDone } from '../hub/subscriber-slot.js';
import type { VideoSink } from '../hub/video-slot.js';
import type { VideoSubscription } from '../hub/video-tier.js';
import type { VideoTiers } from '../hub/video-tiers.js';
import { videoTier } from '../hub/video-tier-spec.js';
import type { VideoTierName } from '../wire/video-unit.js';
import { parseVideoCommand, parseVideoQuery, videoUnitMessage } from '../protocols/video-unit.js';
import type { UpgradeHandler } from './upgrade-router.js';
import { onClientMessages, parseQueryOrRefuse, resolveStreamOrRefuse, type RouteContext } from './route-context.js';

/**
 * A viewer's socket as a VideoSink: each unit is one binary message (the same Buffer for every
 * viewer of the tier); the delivery ends when `ws` has handed the last one to the kernel.
 */
class WsVideoSink implements VideoSink {
  constructor(private readonly ws: WebSocket) {}

  deliver(units: readonly AccessUnit[], done: DeliveryDone): void {
    if (this.ws.readyState !== this.ws.OPEN) return done(new Error('socket not open'), 0);
    let left = units.length;
    let bytes = 0;
    let failed: Error | undefined;
    const sent = (error?: Error) => {
      failed ??= error;
      if (--left === 0) done(failed, failed ? 0 : bytes);
    };
    for (const unit of units) {
      const message = videoUnitMessage(unit);
      bytes += message.length;
      this.ws.send(message, { binary: true }, sent);
    }
  }
}

/**
 * `WS /video/:id?tier=720p|480p|360p`: the stream as H.264, one binary message per access unit
 * (src/wire/video-unit.ts), for WebCodecs. Text in: `{"type":"set_tier","tier":...}`; text out:
 * the JSON errors every route sends.
 */
export function videoRoute({ hub, log }: RouteContext, tiers: VideoTiers): UpgradeHandler {
  return function handleVideoSocket(ws: WebSocket, _req, url, params) {
    const query = parseQueryOrRefuse(ws, () => parseVideoQuery(url.searchParams));
    if (!query) return;
    const stream = resolveStreamOrRefuse(ws, hub, params['id']!);
    if (!stream) return;
    const sink = new WsVideoSink(ws);
    const onDeliverError = (error: unknown) => log.debug({ err: error, stream: stream.id }, 'video delivery failed');
    let subscription: VideoSubscription | undefined;
    const watch = (name: VideoTierName) => {
      subscription?.close();
      subscription = tiers.get(stream, videoTier(name)!).subscribe(sink, onDeliverError);
    };
    watch(query.tier);

    onClientMessages(ws, log, (text) => {
      const command = parseVideoCommand(text);
      watch(command.tier);
    });

    ws.on('close', function socketOnClose() {
      subscription?.close();
      subscription = undefined;
    });
  };
}
