import type { WebSocket } from 'ws';
import { CloseCode } from '../wire/close-codes.js';
import { parseVideoFeedCommand, parseVideoFeedQuery, type VideoFeedOptions } from '../protocols/video-feed.js';
import type { GuardedHandler } from './access.js';
import { onClientMessages, parseQueryOrRefuse, resolveStreamOrRefuse, type RouteContext, subscribeOrRefuse } from './route-context.js';
import type { VariantWire } from './variant-sink.js';
import { ConnectionCaps } from './connection-caps.js';
import { closeSocket } from './ws-close.js';
import { wsSendQuiet } from './ws-send.js';
import type { Stream } from '../hub/stream.js';
import { playbackOf } from '../recording/playback-streams.js';
import { statusMessage } from '../protocols/stream-json.js';
import type { PlaybackChange } from '../wire/playback.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';

/** seeds/004: the image bytes, one binary message per frame. */
const VIDEO_FEED_WIRE: VariantWire<VideoFeedOptions> = {
  spec: ({ format, quality, osd, resize }) => ({ format, quality, osd, ...(resize && { maxWidth: resize.width, maxHeight: resize.height }) }),
  message: (variant) => variant.bytes,
  binary: true,
  frameKey: 'ws-frame:video-feed',
};

/**
 * A playback command from one viewer steers the playback every viewer of the stream shares;
 * each of them hears of a change in a status notice, and the sender of one that changed
 * nothing gets the state alone.
 */
function steerPlayback(ws: WebSocket, stream: Stream, change: PlaybackChange): void {
  const playback = playbackOf(stream);
  if (!playback) throw new FramehubError(ErrorCode.PlaybackNotAccepted, `stream ${JSON.stringify(stream.id)} is no recording's playback; seek, speed, pause and play go to recording:<recording id>`);
  const { state, changed } = playback.apply(change);
  if (!changed) wsSendQuiet(ws, statusMessage('playback: unchanged', { playback: state }));
}

/** `WS /ws/video_feed[?stream=id]`: seeds/004's one binary image per message, JSON commands. */
export function videoFeedRoute({ hub, config, log }: RouteContext): GuardedHandler {
  // WS_MAX_CLIENTS is the seed's cap; one address may hold only a share of it, so a few idle
  // sockets from one place cannot lock every other viewer out.
  const clients = new ConnectionCaps(config.maxClients, config.maxClientsPerIp || Math.ceil(config.maxClients / 2));
  return function handleVideoFeedSocket(ws: WebSocket, req, url, _params, principal) {
    const taken = clients.take(req.socket.remoteAddress ?? '');
    if (typeof taken === 'string') {
      // seeds/004's answer, word for word, for either cap.
      closeSocket(ws, CloseCode.PolicyViolation, 'Too many clients');
      return;
    }
    ws.once('close', taken.release);
    const options = parseQueryOrRefuse<VideoFeedOptions>(ws, () => parseVideoFeedQuery(url.searchParams, {
      fps: config.frameRate, quality: config.quality, format: 'jpeg', osd: false, resize: null,
    }));
    if (!options) return;
    const stream = resolveStreamOrRefuse(ws, hub, options.stream ?? '0', principal);
    if (!stream) return;

    const subscribed = subscribeOrRefuse(ws, req.socket, stream, options, VIDEO_FEED_WIRE, log);
    if (!subscribed) return;
    const { client, subscription } = subscribed;

    onClientMessages(ws, log, (text) => {
      const command = parseVideoFeedCommand(text);
      if (command.type === 'playback') return steerPlayback(ws, stream, command.change);
      client.update(command.type === 'set_quality' ? { quality: command.quality } : command.changes);
      if (command.type === 'config' && command.changes.fps !== undefined) subscription.setFps(command.changes.fps);
    });

    ws.on('close', function socketOnClose() {
      subscription.close();
      client.close();
    });
  };
}
