import type { Encoder } from '../hub/encoder.js';
import { StreamUnavailableError } from '../hub/hub.js';
import { Stream } from '../hub/stream.js';
import type { DebugLog } from '../sources/ffmpeg-source.js';
import { PlaybackSource } from './playback-source.js';
import type { Recordings } from './recordings.js';

/** The prefix of a recording's playback stream: `recording:<recording id>`. */
export const RECORDING_STREAM_PREFIX = 'recording:';

/**
 * `recording:<id>`, the playback every viewer of that id shares, or `recording:<id>:<name>`, a
 * playback of the same recording of its own (a viewer who wants to scrub alone picks a name).
 * The recording id part is RECORDING_ID's shape; nothing else is ever looked up.
 */
const PLAYBACK_STREAM_ID = /^recording:(\d{8}T\d{6}Z-[0-9a-f]{8})(?::[A-Za-z0-9_-]{1,32})?$/;

export interface PlaybackStreamsOptions {
  readonly recordings: Recordings;
  readonly encoder: Encoder;
  readonly idleGraceMs: number;
  /** JPEG quality of the frames (the server's QUALITY). */
  readonly quality: number;
  /** Frames per second played out, at any speed. @default 30 (what the recorded tier carries) */
  readonly fps?: number;
  /** Playbacks held at once (each one ffmpeg while watched); past it, idle ones are let go first. @default 16 */
  readonly max?: number;
  readonly log?: DebugLog;
}

/** The playback behind `stream`, when it is a recording's; commands go to it. */
export function playbackOf(stream: Stream): PlaybackSource | undefined {
  return stream.source instanceof PlaybackSource ? stream.source : undefined;
}

/**
 * The hub's resolver of `recording:` ids: one Stream per id, made when first asked for and let
 * go when it stops (its viewers left and the idle grace passed), ends (its recording was
 * deleted) or, past `max`, when it has no viewer and is asked for no more. Watching one takes
 * what downloading the recording takes (`viewNeed`), and the stream carries the recording's
 * owner, so a session's recording plays only to whom the session's recording downloads.
 */
export class PlaybackStreams {
  readonly #streams = new Map<string, Stream>();
  readonly #max: number;

  constructor(private readonly options: PlaybackStreamsOptions) {
    this.#max = options.max ?? 16;
    options.recordings.on('deleted', this.#recordingsOnDeleted);
  }

  /** For `hub.addResolver`: the playback of `id`, or `undefined` when `id` is no playback of a recording there is. */
  readonly resolve = (id: string): Stream | undefined => {
    const recordingId = PLAYBACK_STREAM_ID.exec(id)?.[1];
    if (recordingId === undefined) return undefined;
    const recording = this.options.recordings.get(recordingId);
    if (!recording) return undefined;
    const known = this.#streams.get(id);
    if (known && known.state !== 'ended') return known;
    if (this.#streams.size >= this.#max) this.#letGoOfIdle();
    if (this.#streams.size >= this.#max) throw new StreamUnavailableError(`${this.#max} recordings are being played back; try again later`);
    const { recordings, encoder, idleGraceMs, quality, fps, log } = this.options;
    const source = new PlaybackSource({
      recordingId, file: recordings.file(recordingId), isRecording: () => recordings.get(recordingId)?.active ?? false,
      fps: fps ?? 30, quality, ...(log && { log }),
    });
    const stream = new Stream(id, source, encoder, { idleGraceMs, label: id, ...(recording.owner !== undefined && { owner: recording.owner }) });
    stream.on('state:change', ({ newState }) => {
      // Stopped (nobody watched for the idle grace) or ended: the next viewer starts afresh.
      if ((newState === 'stopped' || newState === 'ended') && this.#streams.get(id) === stream) this.#streams.delete(id);
    });
    this.#streams.set(id, stream);
    // Read the duration now: a seek is checked against it, and the first command may come before the first start has read it.
    void source.refresh();
    return stream;
  };

  /**
   * What watching (and commanding) `id` takes: `view:<the recorded stream>`, as downloading the
   * recording does; `view` for an id no recording has (the least scope, so a malformed or unknown
   * id is told 404, not 403); `undefined` for an id that is not a playback's.
   */
  readonly viewNeed = (id: string): string | undefined => {
    const recordingId = PLAYBACK_STREAM_ID.exec(id)?.[1];
    if (recordingId === undefined) return id.startsWith(RECORDING_STREAM_PREFIX) ? 'view' : undefined;
    const stream = this.options.recordings.get(recordingId)?.stream;
    return stream === undefined ? 'view' : `view:${stream}`;
  };

  /** Stops every playback (the server is closing). */
  async close(): Promise<void> {
    this.options.recordings.off('deleted', this.#recordingsOnDeleted);
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    await Promise.all(streams.map((stream) => stream.close()));
  }

  /** Streams asked for but not watched (a REST command, a viewer gone) make room first. */
  #letGoOfIdle(): void {
    for (const [id, stream] of this.#streams) {
      if (stream.subscriberCount === 0 && stream.state === 'stopped') this.#streams.delete(id);
    }
  }

  readonly #recordingsOnDeleted = ({ id }: { id: string }): void => {
    for (const [streamId, stream] of this.#streams) {
      const source = playbackOf(stream);
      if (source?.recordingId !== id) continue;
      this.#streams.delete(streamId);
      // Its viewers get `stream_ended` with this sentence; the socket routes close with 4410.
      void source.end(`recording ${id} was deleted`);
    }
  };
}
