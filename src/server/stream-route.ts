import type { WebSocket } from 'ws';
import { ErrorCode } from '../wire/errors.js';
import {
  errorMessage, frameMessage, parseStreamJsonCommand, parseStreamJsonQuery, statsMessage,
} from '../protocols/stream-json.js';
import type { StreamJsonOptions } from '../wire/stream-json.js';
import type { GuardedHandler } from './access.js';
import { onClientMessages, parseQueryOrRefuse, resolveStreamOrRefuse, type RouteContext, subscribeOrRefuse } from './route-context.js';
import type { VariantWire } from './variant-sink.js';
import { wsSend, wsSendQuiet } from './ws-send.js';
import { steerPlayback } from './steer-playback.js';

const SCREENSHOT_WAIT_MS = 5000;

/** seeds/002 JSON text messages, built once per variant (frameMessage). */
const STREAM_JSON_WIRE: VariantWire<StreamJsonOptions> = {
  spec: ({ format, quality }) => ({ format, quality }),
  message: (variant) => frameMessage(variant),
  binary: false,
  frameKey: 'ws-frame:stream-json',
};

/** `WS /stream/:id?fps=&quality=&format=`: seeds/002's JSON frames, stats every second, commands. */
export function streamRoute({ hub, config, log }: RouteContext): GuardedHandler {
  return function handleStreamSocket(ws: WebSocket, req, url, params, principal) {
    const options = parseQueryOrRefuse<StreamJsonOptions>(ws, () =>
      parseStreamJsonQuery(url.searchParams, { fps: 10, quality: config.quality, format: 'jpeg' }));
    if (!options) return;
    const stream = resolveStreamOrRefuse(ws, hub, params['id']!, principal);
    if (!stream) return;

    const connectedAt = Date.now();
    const subscribed = subscribeOrRefuse(ws, req.socket, stream, options, STREAM_JSON_WIRE, log);
    if (!subscribed) return;
    const { client, subscription } = subscribed;
    const slot = subscription.slot;

    let lastSent = 0;
    const statsTimer = setInterval(() => {
      const { sent, dropped, skipped, bytes } = slot.counters;
      wsSendQuiet(ws, statsMessage({
        stream: stream.id,
        fps: options.fps,
        quality: options.quality,
        format: options.format,
        actual_fps: sent - lastSent,
        source_fps: stream.fpsIn,
        frames_sent: sent,
        frames_dropped: dropped,
        frames_skipped: skipped,
        bytes_sent: bytes,
        connected_for: Math.round((Date.now() - connectedAt) / 1000),
        subscribers: stream.subscriberCount,
      }));
      lastSent = sent;
    }, 1000);

    let screenshotPending = false;
    const takeScreenshot = async () => {
      if (screenshotPending) return;
      screenshotPending = true;
      try {
        // Full size at quality 100: from the source's pixels where it copies them only on demand.
        const spec = { format: options.format, quality: 100 } as const;
        const frame = await stream.frameFor({ kind: 'variant', spec }, SCREENSHOT_WAIT_MS);
        const variant = await stream.variants.get(frame, spec);
        await wsSend(ws, frameMessage(variant, 'screenshot'), false);
      } catch (error) {
        wsSendQuiet(ws, errorMessage(ErrorCode.NoFrame, `screenshot failed: ${(error as Error).message}`));
      } finally {
        screenshotPending = false;
      }
    };

    onClientMessages(ws, log, (text) => {
      const command = parseStreamJsonCommand(text);
      if (command.command === 'take_screenshot') {
        void takeScreenshot();
        return;
      }
      if (command.command === 'playback') return steerPlayback(ws, stream, command.playback);
      client.update(command.options);
      if (command.options.fps !== undefined) subscription.setFps(command.options.fps);
    });

    ws.on('close', function socketOnClose() {
      clearInterval(statsTimer);
      subscription.close();
      client.close();
    });
  };
}
