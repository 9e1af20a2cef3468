import type { WebSocket } from 'ws';
import type { Stream } from '../hub/stream.js';
import { statusMessage } from '../protocols/stream-json.js';
import { playbackOf } from '../recording/playback-streams.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import type { PlaybackChange } from '../wire/playback.js';
import { wsSendQuiet } from './ws-send.js';

/**
 * A playback command from one viewer steers the playback every viewer of the stream shares;
 * each of them hears of a change in a status notice, and the sender of one that changed
 * nothing gets the state alone.
 */
export function steerPlayback(ws: WebSocket, stream: Stream, change: PlaybackChange): void {
  const playback = playbackOf(stream);
  if (!playback) throw new FramehubError(ErrorCode.PlaybackNotAccepted, `stream ${JSON.stringify(stream.id)} is no recording's playback; seek, speed, pause and play go to recording:<recording id>`);
  const { state, changed } = playback.apply(change);
  if (!changed) wsSendQuiet(ws, statusMessage('playback: unchanged', { playback: state }));
}
