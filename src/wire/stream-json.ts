import type { PlaybackChange } from './playback.js';
import type { ImageFormat } from '../image/sniff.js';

/**
 * seeds/002's JSON stream protocol (`WS /stream/:id`): the options and commands a client sends
 * and the frames, stats and errors it receives, as the server writes them and the client
 * library reads them. Types only.
 */

export interface StreamJsonOptions {
  fps: number;
  quality: number;
  format: ImageFormat;
}

export type StreamJsonCommand =
  | { command: 'update_options'; options: Partial<StreamJsonOptions> }
  | { command: 'take_screenshot' }
  /** framehub's addition, for `recording:<id>` streams: `{"command":"playback","playback":{seek?, speed?, paused?}}`. */
  | { command: 'playback'; playback: PlaybackChange };

/** `data` of a `frame` or `screenshot` message; the client library reads the same type. */
export interface StreamJsonFrame {
  /** `data:image/<format>;base64,...` */
  data_url: string;
  format: ImageFormat;
  width: number;
  height: number;
  /** Capture time, ms since the epoch. */
  timestamp: number;
  frame_number: number;
  /** Image bytes (decoded, not base64). */
  size: number;
}

/** `error` of an `error` message: a stable code (`ErrorCode`) and words for people. */
export interface StreamJsonError {
  code: string;
  message: string;
}

/** Per-connection figures sent once a second as `{"type":"stats"}`. */
export interface StreamJsonStats {
  stream: string;
  fps: number;
  quality: number;
  format: ImageFormat;
  actual_fps: number;
  source_fps: number;
  frames_sent: number;
  frames_dropped: number;
  frames_skipped: number;
  bytes_sent: number;
  connected_for: number;
  subscribers: number;
}
