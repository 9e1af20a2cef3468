import type { Frame } from './frame.js';
import { TypedEmitter } from '../util/typed-emitter.js';

/** What a source emits; the stream numbers the frames. */
export type SourceFrame = Omit<Frame, 'seq'>;

export interface SourceExit {
  /** Why the source stopped on its own. */
  error: Error;
  /** `true` when starting again may help (a crashed process); `false` when the thing it captured is gone. */
  restartable: boolean;
}

/** A status with facts a client can read besides the words (a playback's position, speed, …). */
export interface SourceStatus {
  message: string;
  /** Merged into the status message on the wire (`{"type":"status","data":{message, ...detail}}`). */
  detail: Readonly<Record<string, unknown>>;
}

export interface SourceEvents {
  frame: SourceFrame;
  /** Human-readable progress, e.g. "restarting ffmpeg"; with facts for clients where it has them. */
  status: string | SourceStatus;
  /** The source stopped without being asked to. */
  exit: SourceExit;
}

/**
 * Produces encoded frames. `start()` and `stop()` are idempotent; the stream calls `start()`
 * when the first subscriber arrives and `stop()` after the idle grace period.
 */
export abstract class Source extends TypedEmitter<SourceEvents> {
  abstract readonly kind: string;
  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;
}
