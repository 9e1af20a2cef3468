/**
 * The playback of a recording as a stream (`recording:<id>`, docs/recording.md "Playback"):
 * the state every route states it in (the REST answer, the `playback` field of a status
 * notice) and the change a command asks for. Types only.
 */

/** Where a recording's playback is; the same for every viewer of the stream id. */
export interface PlaybackState {
  recording_id: string;
  /** Seconds from the recording's start (3 decimals). */
  position: number;
  /** Seconds the recording holds so far (it grows while the recording is being written). */
  duration: number;
  /** 0.25 to 8. */
  speed: number;
  paused: boolean;
  /** Playback reached the end and paused on the last frame. */
  ended: boolean;
  /** The recording is still being written. */
  recording: boolean;
}

/** What one command changes; absent fields are left as they are. */
export interface PlaybackChange {
  /** Seconds from the recording's start, 0 to its duration. */
  seek?: number;
  speed?: number;
  paused?: boolean;
}

/** The speeds a playback takes. */
export const SPEED_RANGE = [0.25, 8] as const;
