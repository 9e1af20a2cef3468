import type { ImageGeneratedParams } from '../wire/image-generated.js';
import type { Severity } from '../wire/envelope.js';

/** What a job was asked to make; carried by every event of the job. */
export interface JobInfo {
  readonly id: string;
  /** Who the job belongs to; `undefined` = visible to every consumer. */
  readonly userId: string | undefined;
  readonly prompt: string;
  readonly negativePrompt: string;
  /** A string: ComfyUI seeds exceed 2^53. */
  readonly seed: string;
  readonly width: number | undefined;
  readonly height: number | undefined;
  readonly workflow: string;
  /** ms since the epoch. */
  readonly createdAt: number;
}

/** Per-image generation parameters, as seeds/000 names them (one type with the wire's). */
export type ImageParams = ImageGeneratedParams;

/** An image on disk, with what the gallery and both wire formats need to describe it. */
export interface StoredImage {
  /** File name in the image directory; also the last segment of `url`. */
  readonly name: string;
  readonly url: string;
  readonly jobId: string;
  readonly userId: string | undefined;
  readonly mimeType: string;
  readonly size: number;
  /** The producer's own name for it (ComfyUI's `filename`), subfolder and type. */
  readonly filename: string;
  readonly subfolder: string;
  readonly type: string;
  readonly params: ImageParams;
  readonly imageIdx: number;
  readonly imageLength: number;
  readonly createdAt: number;
}

/** Every event the replay log holds. Both consumer routes render from these. */
export type GenerationEvent =
  | { kind: 'started'; job: JobInfo }
  | { kind: 'progress'; job: JobInfo; progress: number; stage: string }
  | { kind: 'image'; job: JobInfo; image: StoredImage }
  | { kind: 'failed'; job: JobInfo; error: string; retryAllowed: boolean }
  | { kind: 'notification'; severity: Severity; message: string; actionUrl: string | undefined };
