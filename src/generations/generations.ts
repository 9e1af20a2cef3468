import { randomUUID } from 'node:crypto';
import { sniffImage } from '../image/sniff.js';
import type { Severity } from '../wire/envelope.js';
import { EventLog, type LogEntry } from './event-log.js';
import type { GenerationEvent, ImageParams, JobInfo, StoredImage } from './generation-event.js';
import { GenerationError } from './generation-error.js';
import { ErrorCode as Code } from '../wire/errors.js';
import type { ImageStore } from './image-store.js';
import { JobRegistry, type Job } from './jobs.js';

export interface JobInput {
  /** Producer-chosen id (e.g. ComfyUI's prompt id); a UUID when absent. */
  id?: string;
  userId?: string;
  prompt: string;
  negativePrompt?: string;
  seed?: string;
  width?: number;
  height?: number;
  workflow?: string;
}

export interface ImageInput {
  filename?: string;
  subfolder?: string;
  type?: string;
  /** Overrides of the job's parameters for this one image. */
  params?: Partial<ImageParams>;
  /** @default the number of images the job had so far */
  imageIdx?: number;
  /** @default the count given with an earlier image of the job, else `imageIdx + 1` */
  imageLength?: number;
  /** Finish the job once every image of a given `imageLength` arrived (producers); the ComfyUI bridge finishes jobs itself. @default true */
  autoComplete?: boolean;
}

export type GenerationEntry = LogEntry<GenerationEvent>;

/**
 * Where events go to get their id: the in-memory log by default, or the event journal, which
 * writes and syncs each event to disk before it enters the log (see event-journal.ts).
 */
export interface EventWriter {
  append(event: GenerationEvent, options?: { syncDir?: boolean }): Promise<GenerationEntry>;
}

/**
 * The one place generation events are made: jobs, their images (stored on disk before the
 * event goes out, so `image_url` always resolves) and notifications, appended to the replay
 * log that both consumer routes read. The publish API, the producer socket and the ComfyUI
 * bridge all call this; none of them knows about consumers.
 */
export class Generations {
  readonly jobs: JobRegistry;

  constructor(
    readonly log: EventLog<GenerationEvent>,
    readonly store: ImageStore,
    options: { maxJobs?: number; now?: () => number; writer?: EventWriter } = {},
  ) {
    this.jobs = new JobRegistry(options.maxJobs);
    this.#now = options.now ?? Date.now;
    this.#writer = options.writer ?? { append: async (event) => log.append(event) };
  }

  readonly #now: () => number;
  readonly #writer: EventWriter;
  /** Jobs whose `started` event is being written: in a cluster another node's may come first. */
  readonly #creating = new Set<string>();
  /** Changes under way (an image being stored, an event being written): `close()` waits for them. */
  readonly #inflight = new Set<Promise<unknown>>();
  #closing = false;

  /**
   * Refuses new changes (503 `shutting_down`) and resolves once every change already under way
   * is on disk and announced, so a producer that got its answer lost nothing.
   */
  async close(): Promise<void> {
    this.#closing = true;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  async createJob(input: JobInput): Promise<{ job: JobInfo; entry: GenerationEntry }> {
    this.#checkOpen();
    const id = input.id ?? randomUUID();
    if (this.jobs.has(id)) throw new GenerationError(Code.JobExists, `job ${id} already exists`);
    const job: JobInfo = {
      id,
      userId: input.userId,
      prompt: input.prompt,
      negativePrompt: input.negativePrompt ?? '',
      seed: input.seed ?? '',
      width: input.width,
      height: input.height,
      workflow: input.workflow ?? '',
      createdAt: this.#now(),
    };
    this.jobs.add(job);
    this.#creating.add(id);
    return this.#track((async () => {
      try {
        return { job, entry: await this.#append({ kind: 'started', job }) };
      } catch (error) {
        // Not announced: a retry with the same id must not get 409. Unless the job is another
        // node's meanwhile (restore() replaced ours): that one stays.
        if (this.jobs.get(id)?.info === job) this.jobs.delete(id);
        throw error;
      } finally {
        this.#creating.delete(id);
      }
    })());
  }

  async progress(jobId: string, progress: number, stage: string): Promise<GenerationEntry> {
    this.#checkOpen();
    const job = this.#running(jobId);
    job.progress = progress;
    return this.#track(this.#append({ kind: 'progress', job: job.info, progress, stage }));
  }

  /**
   * Stores the image, then announces it; resolves once both are on disk. Refuses bytes that are
   * not PNG, JPEG, WebP or GIF.
   */
  async addImage(jobId: string, bytes: Buffer, input: ImageInput = {}): Promise<{ entry: GenerationEntry; image: StoredImage }> {
    this.#checkOpen();
    return this.#track(this.#addImage(jobId, bytes, input));
  }

  async #addImage(jobId: string, bytes: Buffer, input: ImageInput): Promise<{ entry: GenerationEntry; image: StoredImage }> {
    const job = this.#running(jobId);
    const info = sniffImage(bytes);
    if (!info) throw new GenerationError(Code.NotAnImage, 'the body is not a PNG, JPEG, WebP or GIF image');
    const imageIdx = input.imageIdx ?? job.images.size;
    const imageLength = input.imageLength ?? Math.max(job.expected ?? 0, imageIdx + 1);
    if (imageIdx >= imageLength) {
      throw new GenerationError(Code.InvalidBody, `imageIdx (${imageIdx}) must be less than imageLength (${imageLength})`);
    }
    if (job.images.has(imageIdx)) {
      throw new GenerationError(Code.DuplicateImage, `job ${jobId} already has image ${imageIdx}`);
    }
    // Claimed before the first await: a retried upload racing the first is refused, not doubled.
    job.images.add(imageIdx);
    // Only a count the producer gave finishes the job; a guessed one would end it after image 0.
    if (input.imageLength !== undefined) job.expected = Math.max(job.expected ?? 0, input.imageLength);
    const { info: j } = job;
    const params: ImageParams = {
      positivePrompt: j.prompt,
      negativePrompt: j.negativePrompt,
      seed: j.seed,
      width: info.width ?? j.width ?? 0,
      height: info.height ?? j.height ?? 0,
      workflowName: j.workflow,
      ...input.params,
    };
    let image: StoredImage;
    try {
      image = await this.store.save(bytes, info.format, {
        jobId,
        userId: j.userId,
        mimeType: info.mimeType,
        filename: input.filename ?? `${jobId}_${imageIdx}.${info.format === 'jpeg' ? 'jpg' : info.format}`,
        subfolder: input.subfolder ?? '',
        type: input.type ?? 'output',
        params,
        imageIdx,
        imageLength,
      });
    } catch (error) {
      job.images.delete(imageIdx);
      throw new GenerationError(Code.StoreFailed, `could not store the image: ${(error as Error).message}`, { cause: error });
    }
    let entry: GenerationEntry;
    try {
      // syncDir: the image's rename above becomes durable with the same sync as its event.
      entry = await this.#append({ kind: 'image', job: j, image }, { syncDir: true });
    } catch (error) {
      job.images.delete(imageIdx);
      await this.store.remove(image).catch(() => {});
      throw error;
    }
    // The sidecar is for the gallery after a restart; the journal entry already holds the same.
    void this.#track(this.store.recordEvent(image, entry.id).catch(() => {}));
    if ((input.autoComplete ?? true) && job.expected !== undefined && job.images.size >= job.expected && job.state === 'running') job.state = 'completed';
    return { entry, image };
  }

  /**
   * Rebuilds a job's state from an event read back after a restart (or, in a cluster, announced
   * through any node), so a producer can go on with a job it started before or elsewhere: the
   * job, its progress, the image indexes already stored (a retried upload still gets 409) and a
   * failure. Whether the producer gave `imageLength` is not in the event, so a restored job
   * stays running until it fails or the registry evicts it.
   */
  restore({ event }: GenerationEntry): void {
    if (event.kind === 'notification') return;
    if (event.kind === 'started') {
      // A job being created here when its event arrives (a cluster: ours coming back, or another
      // node's that took the id first) is the announced one from now on.
      if (!this.jobs.has(event.job.id) || this.#creating.has(event.job.id)) this.jobs.add(event.job);
      return;
    }
    const job = this.jobs.get(event.job.id);
    if (!job) return;
    if (event.kind === 'progress') job.progress = event.progress;
    else if (event.kind === 'image') job.images.add(event.image.imageIdx);
    else job.state = 'failed';
  }

  /** Marks a running job done without an event (the ComfyUI bridge, on `execution_success`). */
  complete(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (job?.state === 'running') job.state = 'completed';
  }

  async fail(jobId: string, error: string, retryAllowed: boolean): Promise<GenerationEntry> {
    this.#checkOpen();
    const job = this.#running(jobId);
    job.state = 'failed';
    return this.#track(this.#append({ kind: 'failed', job: job.info, error, retryAllowed }).catch((cause: unknown) => {
      job.state = 'running';
      throw cause;
    }));
  }

  async notify(severity: Severity, message: string, actionUrl?: string): Promise<GenerationEntry> {
    this.#checkOpen();
    return this.#track(this.#append({ kind: 'notification', severity, message, actionUrl }));
  }

  #checkOpen(): void {
    if (this.#closing) throw new GenerationError(Code.ShuttingDown, 'the server is shutting down; publish again once it is back');
  }

  async #append(event: GenerationEvent, options?: { syncDir?: boolean }): Promise<GenerationEntry> {
    try {
      return await this.#writer.append(event, options);
    } catch (error) {
      // A writer may refuse an event itself (the cluster's: a job id or image index another node took).
      if (error instanceof GenerationError) throw error;
      throw new GenerationError(Code.StoreFailed, `could not record the event: ${(error as Error).message}`, { cause: error });
    }
  }

  #track<R>(operation: Promise<R>): Promise<R> {
    this.#inflight.add(operation);
    const settle = () => this.#inflight.delete(operation);
    operation.then(settle, settle);
    return operation;
  }

  #running(jobId: string): Job {
    const job = this.jobs.get(jobId);
    if (!job) throw new GenerationError(Code.JobNotFound, `no job with id ${JSON.stringify(jobId.slice(0, 128))}`);
    if (job.state !== 'running') throw new GenerationError(Code.JobFinished, `job ${jobId} has already ${job.state}`);
    return job;
  }
}
