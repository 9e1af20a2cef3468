import { WebSocket } from 'ws';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { CloseCode } from '../wire/close-codes.js';
import { ProtocolError } from '../protocols/protocol-error.js';
import { errorEnvelope, heartbeatAnswer, parseEnvelopeCommand, replayGapEnvelope } from '../protocols/event-envelope.js';
import { parseSinceQuery } from '../protocols/replay-query.js';
import { MessageLimiter } from './message-limiter.js';
import { refusalOf } from './route-errors.js';
import type { RouteContext } from './route-context.js';
import type { UpgradeHandler } from './upgrade-router.js';
import { wsSendQuiet } from './ws-send.js';
import { closeSocket } from './ws-close.js';
import { tokenFromRequest, type Principal } from './auth.js';
import { closeAtExpiry, seesOwner, type Access } from './access.js';
import { EventFeed } from './event-feed.js';
import type { GenerationEntry } from '../generations/generations.js';
import type { GenerationsModule } from './generations-module.js';

/** Notifications go to everyone; a job's events to its user, to tokens that may see all, and to all when the job has no user. */
export function visibleTo(principal: Principal, { event }: GenerationEntry): boolean {
  if (event.kind === 'notification') return true;
  return seesOwner(principal, event.job.userId);
}

/**
 * `WS /ws[?since=<id>][&token=<jwt>]`: seeds/001's `{type, payload, timestamp}` envelopes, each
 * event with its `id`. With access configured (access.ts) a token with `view` is required
 * (query, `Authorization` header or `bearer` subprotocol); otherwise the route is open.
 */
export function eventsRoute({ log }: RouteContext, module: GenerationsModule, access: Access): UpgradeHandler {
  return function handleEventsSocket(ws: WebSocket, req, url) {
    const refuse = (error: FramehubError) => {
      wsSendQuiet(ws, errorEnvelope(error.code, error.message, Date.now()));
      closeSocket(ws, error.closeCode, error.message);
    };
    let since: number | undefined;
    try {
      since = parseSinceQuery(url.searchParams);
    } catch (error) {
      refuse(error instanceof ProtocolError ? error : new ProtocolError(ErrorCode.InvalidQuery, 'the query string could not be read'));
      return;
    }
    // "Live from now" means from the upgrade, not from when the (maybe remote) key check ends.
    since ??= module.log.lastId;
    // Nothing is read until the token check ends: a message sent at `open` waits in the
    // socket (TCP holds it back) instead of arriving before anyone listens.
    ws.pause();
    access.authorize(tokenFromRequest(req, url), 'view').then(
      (principal) => {
        if (ws.readyState !== WebSocket.OPEN || module.closing) {
          ws.resume(); // a closing handshake needs the peer's close frame read
          return closeSocket(ws, CloseCode.GoingAway, 'server shutting down');
        }
        serve(ws, principal, since);
      },
      (error: unknown) => {
        ws.resume(); // a closing handshake needs the peer's close frame read
        // An AuthError closes with 4401, a missing scope with 4403, an unreachable JWKS (not the token's fault) with 1013.
        refuse(refusalOf(error, log, 'token check'));
      },
    );
  };

  function serve(ws: WebSocket, principal: Principal, since: number | undefined): void {
    const feed = new EventFeed(ws, module.log, {
      since,
      filter: (entry) => visibleTo(principal, entry),
      render: (entry) => module.wire.envelope(entry),
      onGap: (gap) => wsSendQuiet(ws, replayGapEnvelope(gap, Date.now())),
      onError: (error, entry) => log.warn({ err: error, event: entry.id }, 'event could not be rendered'),
      maxLag: module.maxLag,
      onTooSlow: () => module.counters.tooSlow++,
    });
    module.counters.consumers++;
    // The client reconnects (with ?since=, losing nothing) and a fresh token.
    closeAtExpiry(ws, principal, (error) => {
      wsSendQuiet(ws, errorEnvelope(error.code, error.message, Date.now()));
      closeSocket(ws, error.closeCode, error.message);
    });
    const limiter = new MessageLimiter();
    ws.on('message', function socketOnMessage(data, isBinary) {
      if (!limiter.take()) {
        wsSendQuiet(ws, errorEnvelope(ErrorCode.RateLimited, 'too many messages; slow down', Date.now()));
        closeSocket(ws, CloseCode.RateLimited, 'too many messages; slow down');
        return;
      }
      if (isBinary) {
        wsSendQuiet(ws, errorEnvelope(ErrorCode.UnsupportedMessage, 'binary messages are not accepted here; send JSON text', Date.now()));
        return;
      }
      try {
        wsSendQuiet(ws, heartbeatAnswer(parseEnvelopeCommand(data.toString()), Date.now()));
      } catch (error) {
        if (error instanceof ProtocolError) return wsSendQuiet(ws, errorEnvelope(error.code, error.message, Date.now()));
        log.error({ err: error }, 'events command failed');
        wsSendQuiet(ws, errorEnvelope(ErrorCode.InternalError, 'the server could not handle this message', Date.now()));
      }
    });
    ws.on('close', function socketOnClose() {
      module.counters.consumers--;
      feed.close();
    });
    ws.resume(); // the listeners are in place: read what waited during the token check
  }
}
