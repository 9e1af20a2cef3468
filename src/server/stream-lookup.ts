import { StreamUnavailableError, type Hub } from '../hub/hub.js';
import type { Stream } from '../hub/stream.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { reaches } from './access.js';
import type { Principal } from './auth.js';

/**
 * The stream for a client-supplied id, resolved through the hub, or a thrown FramehubError:
 * `stream_not_found` for an id nothing owns, `stream_unavailable` for one that cannot be
 * opened now, `internal_error` when a resolver fails otherwise (the failure is its `cause`,
 * for the log). One place, so the WebSocket routes (which close with the code's close code)
 * and Socket.IO (which keeps the socket) refuse alike.
 *
 * A stream with an owner (a browser session's) that `principal` does not reach is refused as
 * an unknown id, word for word: another owner's session ids are not told apart from free ones.
 */
export function resolveStream(hub: Hub, id: string, principal: Principal): Stream {
  let stream: Stream | undefined;
  try {
    stream = hub.resolve(id);
  } catch (error) {
    if (error instanceof StreamUnavailableError) throw error;
    throw new FramehubError(ErrorCode.InternalError, 'the stream could not be opened', { cause: error });
  }
  if (!stream || !reaches(principal, hub.viewNeed(stream.id), stream.owner)) throw new FramehubError(ErrorCode.StreamNotFound, `no stream with id ${JSON.stringify(id.slice(0, 128))}`);
  return stream;
}
