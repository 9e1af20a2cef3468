import type { WebSocket } from 'ws';
import { CloseCode } from '../wire/close-codes.js';
import { parseStreamingCommand, pongMessage, streamingGapMessage, streamingErrorMessage, subscribedMessage } from '../protocols/image-generated.js';
import { parseSinceQuery } from '../protocols/replay-query.js';
import type { UpgradeHandler } from './upgrade-router.js';
import { onClientMessages, parseQueryOrRefuse, type RouteContext } from './route-context.js';
import { wsSendQuiet } from './ws-send.js';
import { closeSocket } from './ws-close.js';
import { EventFeed } from './event-feed.js';
import type { GenerationsModule } from './generations-module.js';
import type { Principal } from './auth.js';
import { visibleTo } from './events-route.js';

/**
 * `WS /ws/streaming[?since=<id>]`: seeds/000's `image-generated` messages, one per stored
 * image, each with the event `id`. Open like the seed's server (PixelSocket sends no token)
 * when no access is configured; otherwise it needs `view`, and a user gets their own images
 * (access.ts). Without `since` the client gets images from now on; with it, every image after
 * that id first.
 */
export function streamingRoute({ log }: RouteContext, module: GenerationsModule) {
  return function handleStreamingSocket(ws: WebSocket, _req: Parameters<UpgradeHandler>[1], url: URL, _params: Record<string, string>, principal: Principal) {
    const query = parseQueryOrRefuse(ws, () => ({ since: parseSinceQuery(url.searchParams) }));
    if (!query) return;
    const feed = new EventFeed(ws, module.log, {
      since: query.since,
      filter: (entry) => entry.event.kind === 'image' && visibleTo(principal, entry),
      render: (entry) => module.wire.imageGenerated(entry),
      onGap: (gap) => wsSendQuiet(ws, streamingGapMessage(gap)),
      onError: (error, entry) => {
        log.warn({ err: error, event: entry.id }, 'image event could not be rendered');
        wsSendQuiet(ws, streamingErrorMessage('image_unavailable', `image of event ${entry.id} is no longer stored`));
      },
      maxLag: module.maxLag,
      onTooSlow: () => module.counters.tooSlow++,
    });
    module.counters.consumers++;

    onClientMessages(ws, log, (text) => {
      const command = parseStreamingCommand(text);
      if (command.type === 'ping') wsSendQuiet(ws, pongMessage(Date.now()));
      else wsSendQuiet(ws, subscribedMessage(command.mode, module.log.lastId));
    });
    ws.on('close', function socketOnClose() {
      module.counters.consumers--;
      feed.close();
    });
    if (module.closing) closeSocket(ws, CloseCode.GoingAway, 'server shutting down');
  };
}
