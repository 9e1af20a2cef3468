import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessUnit } from '../hub/access-unit.js';
import type { Stream } from '../hub/stream.js';
import type { VideoTiers } from '../hub/video-tiers.js';
import { videoTier, DEFAULT_VIDEO_TIER } from '../hub/video-tier-spec.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import type { StreamRecordingSettings } from '../config/config.js';
import type { SessionActivity } from '../sessions/session-activity.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { PrerecordBuffer } from './prerecord.js';
import { Recorder, type RecorderCounters, type RecorderLog } from './recorder.js';
import { readTimeline, TimelineWriter, type TimelineEntry } from './timeline.js';

/**
 * A recording's id: its start time (UTC, to the second) and 8 random hex digits. Nothing else
 * is ever accepted as one, so an id is always a plain file name in the recordings directory
 * and never a path; sorted as text, ids are sorted by start time.
 */
export const RECORDING_ID = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;

/** What the list answers for each recording. */
export interface RecordingEntry {
  recording_id: string;
  /** The stream's own id (`0` is recorded as the primary stream's id). */
  stream: string;
  /** ISO 8601, UTC. */
  started_at: string;
  /** ISO 8601, UTC; `null` while recording. */
  ended_at: string | null;
  /** Size of the MP4 on disk now. */
  bytes: number;
}

/** The index entry kept next to each MP4 (`<id>.json`), so a restart finds what it recorded. */
interface Meta {
  recording_id: string;
  stream: string;
  /** The stream's owner (a browser session's): the recording is as private as the stream. */
  owner?: string;
  started_at: string;
  ended_at: string | null;
}

/** A recording under way: its Recorder is set once its entry is written; `detach` stops listening to its stream. */
interface ActiveRecording {
  id: string;
  recorder: Recorder | undefined;
  /** A browser session's input timeline, written beside the video. */
  timeline?: TimelineWriter;
  detach?: () => void;
}

export interface RecordingsOptions {
  readonly dir: string;
  readonly tiers: VideoTiers;
  readonly log: RecorderLog;
  /** @default 'ffmpeg' */
  readonly command?: string;
  /** See RecorderOptions.finishMs. */
  readonly finishMs?: number;
  /** What is done on the page behind `stream`, when it is a browser session's: recorded as its timeline. */
  readonly activityOf?: (stream: Stream) => SessionActivity | undefined;
  /** The configured streams' recording settings (`record`, `prerecord`, segments, retention), by stream id. */
  readonly settings?: Readonly<Record<string, StreamRecordingSettings>>;
}

/** An always-on recording's length before the next takes over, when the stream does not say. */
const DEFAULT_SEGMENT_S = 600;

export interface RecordingsEvents {
  /** A recording left the index and its files are being removed: its playback ends. */
  deleted: { id: string };
}

/** The tier recorded: the top of the ladder (720p, or the source's size when smaller). */
const RECORDED_TIER = videoTier(DEFAULT_VIDEO_TIER)!;

/**
 * The recordings directory and what is recording now: an index in memory (read from the
 * `<id>.json` entries at start, written at start and stop of each recording) and one Recorder
 * per stream being recorded. Sizes come from the files themselves when listed.
 */
export class Recordings extends TypedEmitter<RecordingsEvents> {
  readonly #meta = new Map<string, Meta>();
  /** By stream id: the recording under way (its Recorder is set once its entry is written). */
  readonly #active = new Map<string, ActiveRecording>();
  /** By stream id: the last seconds of the streams configured with `prerecord`. */
  readonly #prerecords = new Map<string, PrerecordBuffer>();
  /** By stream id: the timer of an always-on stream's next segment. */
  readonly #segmentTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Always-on streams whose recording someone stopped: no new segment until started again. */
  readonly #stoppedByHand = new Set<string>();
  #closed = false;

  constructor(private readonly options: RecordingsOptions) {
    super();
  }

  /** A listener's failure is logged: deleting a recording has happened, whatever a listener does. */
  protected override onListenerError(error: unknown): void {
    this.options.log.warn({ err: error }, 'recordings: a listener failed');
  }

  /**
   * Reads the index entries already on disk. One whose recording never ended (the server died
   * under it) ends at its file's last write: its fragments up to then play.
   */
  async load(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.options.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // made on the first recording
      throw error;
    }
    for (const name of names) {
      const id = name.endsWith('.json') ? name.slice(0, -5) : '';
      if (!RECORDING_ID.test(id)) continue;
      try {
        const meta = JSON.parse(await readFile(join(this.options.dir, name), 'utf8')) as Meta;
        if (meta.recording_id !== id || typeof meta.stream !== 'string' || typeof meta.started_at !== 'string') throw new Error('not an index entry');
        if (meta.ended_at === null) {
          const file = await stat(this.#file(id)).catch(() => undefined);
          meta.ended_at = (file?.mtime ?? new Date(meta.started_at)).toISOString();
          await this.#writeMeta(meta);
        }
        this.#meta.set(id, meta);
      } catch (error) {
        this.options.log.warn({ err: error, file: name }, 'recordings: an index entry could not be read; skipped');
      }
    }
  }

  /** The MP4 of recording `id` (a RECORDING_ID; the caller checked). */
  file(id: string): string {
    return this.#file(id);
  }

  get(id: string): { stream: string; owner: string | undefined; active: boolean } | undefined {
    const meta = this.#meta.get(id);
    if (!meta) return undefined;
    return { stream: meta.stream, owner: meta.owner, active: this.#active.get(meta.stream)?.id === id };
  }

  /** The recording under way of stream `streamId`, if any. */
  activeOf(streamId: string): { id: string; owner: string | undefined } | undefined {
    const active = this.#active.get(streamId);
    return active && { id: active.id, owner: this.#meta.get(active.id)?.owner };
  }

  /** What the recording of `streamId` under way has written and dropped (for logs, metrics and tests). */
  counters(streamId: string): RecorderCounters | undefined {
    return this.#active.get(streamId)?.recorder?.counters;
  }

  /** Milliseconds of the past stream `streamId`'s pre-record buffer holds now; `undefined` without one. */
  prerecordedMs(streamId: string): number | undefined {
    return this.#prerecords.get(streamId)?.spanMs;
  }

  /** Every recording under way and its counters, by stream (for /metrics). */
  underWay(): { stream: string; counters: RecorderCounters }[] {
    return [...this.#active].flatMap(([stream, slot]) => (slot.recorder ? [{ stream, counters: slot.recorder.counters }] : []));
  }

  /**
   * Begins what the configuration asks for, once the streams resolve: a pre-record buffer for
   * each stream with `prerecord`, and the first recording of each with `record: true`. Retention
   * is applied to what is on disk already.
   */
  async startConfigured(resolve: (id: string) => Stream | undefined): Promise<void> {
    for (const [id, settings] of Object.entries(this.options.settings ?? {})) {
      await this.#retain(id);
      const stream = resolve(id);
      if (!stream) continue;
      if ((settings.prerecord ?? 0) > 0 && !this.#prerecords.has(id)) {
        const buffer = new PrerecordBuffer(settings.prerecord! * 1000);
        this.#prerecords.set(id, buffer);
        buffer.attach(this.options.tiers.get(stream, RECORDED_TIER));
      }
      if (settings.record) await this.#startSegment(stream);
    }
  }

  /** Starts recording `stream`; `already_recording` when it is. A stream with `prerecord` begins that long ago. */
  async start(stream: Stream): Promise<RecordingEntry> {
    this.#stoppedByHand.delete(stream.id);
    const entry = await this.#start(stream, this.#prerecords.get(stream.id)?.snapshot() ?? []);
    if (this.options.settings?.[stream.id]?.record) this.#scheduleSegment(stream);
    return entry;
  }

  async #start(stream: Stream, before: readonly AccessUnit[]): Promise<RecordingEntry> {
    if (this.#closed) throw new FramehubError(ErrorCode.ShuttingDown, 'the server is shutting down');
    // Nothing would ever come: refused as the stream routes refuse a stream that ended.
    if (stream.state === 'ended') throw new FramehubError(ErrorCode.StreamEnded, `stream ${JSON.stringify(stream.id)} has ended`);
    if (this.#active.has(stream.id)) throw new FramehubError(ErrorCode.AlreadyRecording, `stream ${JSON.stringify(stream.id)} is being recorded already`);
    // With a pre-record buffer the recording begins at its first picture, in the past.
    const startedAt = new Date(before[0]?.capturedAt ?? Date.now());
    const id = `${startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`;
    // Claimed before the first await: a second start of the same stream meanwhile gets its 409.
    const slot: ActiveRecording = { id, recorder: undefined };
    this.#active.set(stream.id, slot);
    const meta: Meta = { recording_id: id, stream: stream.id, ...(stream.owner !== undefined && { owner: stream.owner }), started_at: startedAt.toISOString(), ended_at: null };
    this.#meta.set(id, meta);
    try {
      await mkdir(this.options.dir, { recursive: true });
      await this.#writeMeta(meta);
    } catch (error) {
      if (this.#active.get(stream.id) === slot) this.#active.delete(stream.id);
      this.#meta.delete(id);
      throw error;
    }
    const recorder = new Recorder({
      file: this.#file(id),
      log: this.options.log,
      ...(this.options.command && { command: this.options.command }),
      ...(this.options.finishMs !== undefined && { finishMs: this.options.finishMs }),
      onFailure: (error) => {
        this.options.log.warn({ err: error, recording: id, stream: stream.id }, 'recording ended: ffmpeg failed');
        void this.#end(stream.id, slot);
      },
    });
    slot.recorder = recorder;
    const activity = this.options.activityOf?.(stream);
    if (activity) slot.timeline = new TimelineWriter(this.#timelineFile(id), activity, startedAt.getTime(), this.options.log);
    // A stream that ends for good (a file played once, a deleted browser session) ends its
    // recording: nothing more will come, and the file is finished now rather than at shutdown.
    const onState = ({ newState }: { newState: string }) => {
      if (newState !== 'ended') return;
      this.options.log.warn({ recording: id, stream: stream.id }, 'recording ended: its stream ended');
      void this.#end(stream.id, slot);
    };
    stream.on('state:change', onState);
    slot.detach = () => stream.off('state:change', onState);
    // Stopped while the entry was being written (or the server closing): nothing to attach to.
    if (this.#active.get(stream.id) !== slot) await recorder.stop();
    else recorder.attach(this.options.tiers.get(stream, RECORDED_TIER), before);
    return this.#entry(meta);
  }

  /** Stops the recording of stream `streamId`; `not_recording` when there is none. An always-on stream stays stopped until started again. */
  async stop(streamId: string): Promise<RecordingEntry> {
    const slot = this.#active.get(streamId);
    if (!slot) throw new FramehubError(ErrorCode.NotRecording, `stream ${JSON.stringify(streamId.slice(0, 128))} is not being recorded`);
    this.#stoppedByHand.add(streamId);
    this.#cancelSegment(streamId);
    return this.#end(streamId, slot);
  }

  /** An always-on stream's next segment: it starts at the tier's current keyframe (a pre-record buffer would repeat the last one's end). */
  async #startSegment(stream: Stream): Promise<void> {
    try {
      await this.#start(stream, []);
    } catch (error) {
      this.options.log.warn({ err: error, stream: stream.id }, 'always-on recording could not start; trying again at the next segment');
    }
    this.#scheduleSegment(stream);
  }

  #scheduleSegment(stream: Stream): void {
    this.#cancelSegment(stream.id);
    if (this.#closed) return;
    const seconds = this.options.settings?.[stream.id]?.record_segment ?? DEFAULT_SEGMENT_S;
    const timer = setTimeout(() => {
      this.#segmentTimers.delete(stream.id);
      if (this.#closed || this.#stoppedByHand.has(stream.id)) return;
      void (async () => {
        const slot = this.#active.get(stream.id);
        if (slot) await this.#end(stream.id, slot);
        if (this.#closed || this.#stoppedByHand.has(stream.id) || stream.state === 'ended') return;
        await this.#startSegment(stream);
      })().catch((error: unknown) => this.options.log.warn({ err: error, stream: stream.id }, 'always-on recording: the next segment failed'));
    }, seconds * 1000);
    timer.unref();
    this.#segmentTimers.set(stream.id, timer);
  }

  #cancelSegment(streamId: string): void {
    const timer = this.#segmentTimers.get(streamId);
    if (timer !== undefined) clearTimeout(timer);
    this.#segmentTimers.delete(streamId);
  }

  /**
   * Deletes finished recordings of `streamId` past its retention: older than `retention_age`,
   * then the oldest while all of them together exceed `retention_size`. A recording under way
   * is never deleted.
   */
  async #retain(streamId: string): Promise<void> {
    const settings = this.options.settings?.[streamId];
    const ageS = settings?.retention_age ?? 0;
    const sizeMiB = settings?.retention_size ?? 0;
    if (ageS === 0 && sizeMiB === 0) return;
    const finished = [...this.#meta.values()]
      .filter((meta) => meta.stream === streamId && meta.ended_at !== null && this.#active.get(streamId)?.id !== meta.recording_id)
      .sort((a, b) => a.recording_id.localeCompare(b.recording_id));
    const drop = async (meta: Meta, why: string) => {
      await this.delete(meta.recording_id).catch((error: unknown) => this.options.log.warn({ err: error, recording: meta.recording_id }, 'retention: a recording could not be deleted'));
      this.options.log.debug({ recording: meta.recording_id, stream: streamId, why }, 'retention: recording deleted');
    };
    const kept: Meta[] = [];
    for (const meta of finished) {
      if (ageS > 0 && Date.parse(meta.ended_at!) < Date.now() - ageS * 1000) await drop(meta, 'age');
      else kept.push(meta);
    }
    if (sizeMiB === 0) return;
    const sizes = await Promise.all(kept.map(async (meta) => (await stat(this.#file(meta.recording_id)).catch(() => undefined))?.size ?? 0));
    let total = sizes.reduce((a, b) => a + b, 0);
    for (let i = 0; i < kept.length && total > sizeMiB * 1024 * 1024; i++) {
      await drop(kept[i]!, 'size');
      total -= sizes[i]!;
    }
  }

  /** Every recording, oldest first. */
  async list(): Promise<RecordingEntry[]> {
    const metas = [...this.#meta.values()].sort((a, b) => a.recording_id.localeCompare(b.recording_id));
    return Promise.all(metas.map((meta) => this.#entry(meta)));
  }

  /** Deletes a finished recording's file and entry: `recording_not_found`, or `recording_active` while it records. */
  async delete(id: string): Promise<void> {
    const meta = this.#meta.get(id);
    if (!meta) throw new FramehubError(ErrorCode.RecordingNotFound, `no recording ${JSON.stringify(id.slice(0, 64))}`);
    if (this.#active.get(meta.stream)?.id === id) throw new FramehubError(ErrorCode.RecordingActive, `recording ${id} is still being written; stop it first (DELETE /api/streams/${meta.stream}/record)`);
    this.#meta.delete(id);
    // Out of the index: nothing may watch it any more. Told before its files go, so a playback
    // ends with "deleted" rather than finding its file missing first.
    this.emit('deleted', { id });
    for (const file of [this.#file(id), this.#timelineFile(id), this.#metaFile(id)]) {
      await unlink(file).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
  }

  /**
   * The input timeline of recording `id` (a RECORDING_ID; the caller checked): what was done on a
   * browser session's page while it was recorded, `t` in ms from `started_at`. Empty for any
   * other stream; while recording, what is written so far.
   */
  async timeline(id: string): Promise<TimelineEntry[]> {
    if (!this.#meta.has(id)) throw new FramehubError(ErrorCode.RecordingNotFound, `no recording ${JSON.stringify(id.slice(0, 64))}`);
    return readTimeline(this.#timelineFile(id));
  }

  /** Stops every recording and waits for each file to be finished (the server is closing). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const id of [...this.#segmentTimers.keys()]) this.#cancelSegment(id);
    for (const buffer of this.#prerecords.values()) buffer.close();
    this.#prerecords.clear();
    await Promise.all([...this.#active].map(([streamId, slot]) => this.#end(streamId, slot)));
  }

  /** Ends `slot`'s recording: ffmpeg stopped and the file finished, then the end written to its entry. */
  async #end(streamId: string, slot: ActiveRecording): Promise<RecordingEntry> {
    if (this.#active.get(streamId) === slot) this.#active.delete(streamId);
    slot.detach?.();
    const meta = this.#meta.get(slot.id);
    await Promise.all([slot.recorder?.stop(), slot.timeline?.close()]);
    if (meta && meta.ended_at === null) {
      meta.ended_at = new Date().toISOString();
      await this.#writeMeta(meta).catch((error: unknown) => this.options.log.warn({ err: error, recording: slot.id }, 'recordings: the end of a recording could not be written to its entry'));
    }
    if (slot.recorder) {
      const counters = slot.recorder.counters;
      if (counters.resyncs > 0) this.options.log.warn({ recording: slot.id, ...counters }, 'recording had gaps: the writer fell behind');
    }
    await this.#retain(streamId);
    return meta ? this.#entry(meta) : { recording_id: slot.id, stream: streamId, started_at: '', ended_at: new Date().toISOString(), bytes: 0 };
  }

  async #entry(meta: Meta): Promise<RecordingEntry> {
    const file = await stat(this.#file(meta.recording_id)).catch(() => undefined);
    return { recording_id: meta.recording_id, stream: meta.stream, started_at: meta.started_at, ended_at: meta.ended_at, bytes: file?.size ?? 0 };
  }

  /** Written to a temporary name and renamed: a crash leaves the old entry or the new, never half of one. */
  async #writeMeta(meta: Meta): Promise<void> {
    const path = this.#metaFile(meta.recording_id);
    await writeFile(`${path}.tmp`, `${JSON.stringify(meta)}\n`);
    await rename(`${path}.tmp`, path);
  }

  #file(id: string): string {
    return join(this.options.dir, `${id}.mp4`);
  }

  #timelineFile(id: string): string {
    return join(this.options.dir, `${id}.events.jsonl`);
  }

  #metaFile(id: string): string {
    return join(this.options.dir, `${id}.json`);
  }
}
