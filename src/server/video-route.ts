import type { WebSocket } from 'ws';
import type { AccessUnit } from '../hub/access-unit.js';
import type { DeliveryDone } from '../hub/subscriber-slot.js';
import type { VideoSink } from '../hub/video-slot.js';
import type { VideoSubscription } from '../hub/video-tier.js';
import type { VideoTiers } from '../hub/video-tiers.js';
import { DEFAULT_VIDEO_TIER, VIDEO_LADDER, videoTier, type VideoTierSpec } from '../hub/video-tier-spec.js';
import { AdaptiveController } from '../hub/adaptive-controller.js';
import type { VideoTierChoice, VideoTierName } from '../wire/video-unit.js';
import { parseVideoCommand, parseVideoQuery, videoUnitMessage } from '../protocols/video-unit.js';
import type { GuardedHandler } from './access.js';
import { onClientMessages, parseQueryOrRefuse, resolveStreamOrRefuse, type RouteContext } from './route-context.js';

/**
 * A viewer's socket as a VideoSink: each unit is one binary message (the same Buffer for every
 * viewer of the tier); the delivery ends when `ws` has handed the last one to the kernel.
 */
class WsVideoSink implements VideoSink {
  constructor(
    private readonly ws: WebSocket,
    /** Each completed write: its bytes and how long it took, for the adaptive controller. */
    private readonly onWritten: (bytes: number, busyMs: number) => void,
  ) {}

  deliver(units: readonly AccessUnit[], done: DeliveryDone): void {
    if (this.ws.readyState !== this.ws.OPEN) return done(new Error('socket not open'), 0);
    const startedAt = performance.now();
    let left = units.length;
    let bytes = 0;
    let failed: Error | undefined;
    const sent = (error?: Error) => {
      failed ??= error;
      if (--left > 0) return;
      if (!failed) this.onWritten(bytes, performance.now() - startedAt);
      done(failed, failed ? 0 : bytes);
    };
    for (const unit of units) {
      const message = videoUnitMessage(unit);
      bytes += message.length;
      this.ws.send(message, { binary: true }, sent);
    }
  }
}

/**
 * `WS /video/:id?tier=auto|720p|480p|360p`: the stream as H.264, one binary message per access
 * unit (src/wire/video-unit.ts), for WebCodecs. With `auto` (the default) the viewer's tier
 * follows what its socket delivers (the AdaptiveController the Socket.IO sessions use, on the
 * video ladder); a named tier pins it. Text in: `{"type":"set_tier","tier":...}`; text out: the
 * JSON errors every route sends.
 */
export function videoRoute({ hub, log }: RouteContext, tiers: VideoTiers): GuardedHandler {
  return function handleVideoSocket(ws: WebSocket, _req, url, params, principal) {
    const query = parseQueryOrRefuse(ws, () => parseVideoQuery(url.searchParams));
    if (!query) return;
    const stream = resolveStreamOrRefuse(ws, hub, params['id']!, principal);
    if (!stream) return;
    let adaptive: AdaptiveController<VideoTierSpec> | undefined;
    let closed = false;
    const sink = new WsVideoSink(ws, (bytes, busyMs) => {
      const next = adaptive?.record(bytes, busyMs);
      // Not from inside the slot's write callback: the switch closes that slot.
      if (next) queueMicrotask(() => { if (!closed) watch(next); });
    });
    const onDeliverError = (error: unknown) => log.debug({ err: error, stream: stream.id }, 'video delivery failed');
    let subscription: VideoSubscription | undefined;
    let watching: VideoTierSpec | undefined;
    const watch = (spec: VideoTierSpec) => {
      if (spec === watching) return;
      subscription?.close();
      watching = spec;
      subscription = tiers.get(stream, spec).subscribe(sink, onDeliverError);
    };
    const choose = (choice: VideoTierChoice) => {
      // A new controller starts on the top rung and measures afresh; a pinned tier has none.
      adaptive = choice === 'auto' ? new AdaptiveController({ ladder: VIDEO_LADDER, initial: DEFAULT_VIDEO_TIER }) : undefined;
      watch(adaptive ? adaptive.tier : videoTier(choice as VideoTierName)!);
    };
    choose(query.tier);

    onClientMessages(ws, log, (text) => {
      const command = parseVideoCommand(text);
      choose(command.tier);
    });

    ws.on('close', function socketOnClose() {
      closed = true;
      subscription?.close();
      subscription = undefined;
    });
  };
}
