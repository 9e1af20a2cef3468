import { randomUUID } from 'node:crypto';
import { sniffImage } from '../image/sniff.js';
import type { Severity } from '../protocols/event-envelope.js';
import { EventLog, type LogEntry } from './event-log.js';
import type { GenerationEvent, ImageParams, JobInfo, StoredImage } from './generation-event.js';
import { GenerationError, GenerationErrorCode as Code } from './generation-error.js';
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
    options: { maxJobs?: number; now?: () => number } = {},
  ) {
    this.jobs = new JobRegistry(options.maxJobs);
    this.#now = options.now ?? Date.now;
  }

  readonly #now: () => number;

  createJob(input: JobInput): { job: JobInfo; entry: GenerationEntry } {
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
    return { job, entry: this.log.append({ kind: 'started', job }) };
  }

  progress(jobId: string, progress: number, stage: string): GenerationEntry {
    const job = this.#running(jobId);
    job.progress = progress;
    return this.log.append({ kind: 'progress', job: job.info, progress, stage });
  }

  /** Stores the image, then announces it. Refuses bytes that are not PNG, JPEG, WebP or GIF. */
  async addImage(jobId: string, bytes: Buffer, input: ImageInput = {}): Promise<{ entry: GenerationEntry; image: StoredImage }> {
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
    const entry = this.log.append({ kind: 'image', job: j, image });
    void this.store.recordEvent(image, entry.id).catch(() => {});
    if ((input.autoComplete ?? true) && job.expected !== undefined && job.images.size >= job.expected && job.state === 'running') job.state = 'completed';
    return { entry, image };
  }

  /** Marks a running job done without an event (the ComfyUI bridge, on `execution_success`). */
  complete(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (job?.state === 'running') job.state = 'completed';
  }

  fail(jobId: string, error: string, retryAllowed: boolean): GenerationEntry {
    const job = this.#running(jobId);
    job.state = 'failed';
    return this.log.append({ kind: 'failed', job: job.info, error, retryAllowed });
  }

  notify(severity: Severity, message: string, actionUrl?: string): GenerationEntry {
    return this.log.append({ kind: 'notification', severity, message, actionUrl });
  }

  #running(jobId: string): Job {
    const job = this.jobs.get(jobId);
    if (!job) throw new GenerationError(Code.JobNotFound, `no job with id ${JSON.stringify(jobId.slice(0, 128))}`);
    if (job.state !== 'running') throw new GenerationError(Code.JobFinished, `job ${jobId} has already ${job.state}`);
    return job;
  }
}
