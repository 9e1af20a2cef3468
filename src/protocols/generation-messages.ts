import { EnvelopeType, envelopeMessage } from './event-envelope.js';
import { imageGeneratedMessage } from './image-generated.js';
import type { GenerationEntry } from '../generations/generations.js';
import type { ImageStore } from '../generations/image-store.js';

/**
 * Renders log entries into both wire formats, once per entry however many clients read it.
 * Envelopes are small and live as long as their entry. `image-generated` messages carry the
 * whole image in base64, so they sit in a byte-bounded LRU instead and are rebuilt from the
 * file on disk when an old one is replayed after it fell out.
 */
export class GenerationMessages {
  readonly #envelopes = new WeakMap<GenerationEntry, Buffer>();
  readonly #images = new Map<number, { message: Promise<Buffer>; size: number }>();
  #cachedBytes = 0;
  /** `image-generated` messages built, for tests and stats: one per event while the cache holds it. */
  imageBuilds = 0;

  constructor(
    private readonly store: ImageStore,
    private readonly cacheBytes = 64 * 1024 * 1024,
  ) {}

  /** The seeds/001 envelope of any entry. */
  envelope(entry: GenerationEntry): Buffer {
    let message = this.#envelopes.get(entry);
    if (!message) {
      message = buildEnvelope(entry);
      this.#envelopes.set(entry, message);
    }
    return message;
  }

  /** The seeds/000 message of an image entry; `undefined` for every other kind. */
  imageGenerated(entry: GenerationEntry): Promise<Buffer> | undefined {
    const { event } = entry;
    if (event.kind !== 'image') return undefined;
    const cached = this.#images.get(entry.id);
    if (cached) {
      // Refresh its place in the LRU order.
      this.#images.delete(entry.id);
      this.#images.set(entry.id, cached);
      return cached.message;
    }
    this.imageBuilds++;
    const { image, job } = event;
    const slot: { message: Promise<Buffer>; size: number } = { message: Promise.resolve(Buffer.alloc(0)), size: 0 };
    slot.message = this.store.read(image).then((bytes) => {
      const message = imageGeneratedMessage(entry.id, {
        mode: 'push',
        promptId: job.id,
        mimeType: image.mimeType,
        imageInfo: { filename: image.filename, subfolder: image.subfolder, type: image.type },
        params: image.params,
        imageIdx: image.imageIdx,
        imageLength: image.imageLength,
        timestamp: entry.at,
      }, bytes.toString('base64'));
      if (this.#images.get(entry.id) === slot) {
        slot.size = message.length;
        this.#cachedBytes += message.length;
        this.#trim();
      }
      return message;
    });
    slot.message.catch(() => this.#images.get(entry.id) === slot && this.#images.delete(entry.id));
    this.#images.set(entry.id, slot);
    return slot.message;
  }

  #trim(): void {
    for (const [id, slot] of this.#images) {
      if (this.#cachedBytes <= this.cacheBytes || this.#images.size <= 1) break;
      this.#images.delete(id);
      this.#cachedBytes -= slot.size;
    }
  }
}

function buildEnvelope({ id, at, event }: GenerationEntry): Buffer {
  switch (event.kind) {
    case 'started':
      return envelopeMessage(EnvelopeType.Started, { job_id: event.job.id, user_id: event.job.userId ?? null, prompt: event.job.prompt }, at, id);
    case 'progress':
      return envelopeMessage(EnvelopeType.Progress, { job_id: event.job.id, progress: event.progress, stage: event.stage }, at, id);
    case 'failed':
      return envelopeMessage(EnvelopeType.Failed, { job_id: event.job.id, error: event.error, retry_allowed: event.retryAllowed }, at, id);
    case 'notification':
      return envelopeMessage(EnvelopeType.Notification, { severity: event.severity, message: event.message, action_url: event.actionUrl ?? null }, at, id);
    case 'image': {
      const { image } = event;
      return envelopeMessage(EnvelopeType.Completed, {
        job_id: event.job.id,
        image_url: image.url,
        metadata: {
          prompt: image.params.positivePrompt,
          negative_prompt: image.params.negativePrompt,
          seed: image.params.seed,
          width: image.params.width,
          height: image.params.height,
          workflow: image.params.workflowName,
          mime_type: image.mimeType,
          size: image.size,
          filename: image.filename,
          image_idx: image.imageIdx,
          image_length: image.imageLength,
        },
      }, at, id);
    }
  }
}
