import type { FastifyInstance, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import type { Access } from './access.js';
import { GenerationError } from '../generations/generation-error.js';
import { ErrorCode as Code } from '../wire/errors.js';
import type { GenerationsModule } from './generations-module.js';
import { answerErrors } from './route-errors.js';
import { parseFailure, parseImageFields, parseJobIdParam, parseJobInput, parseNotification, parseProgress } from '../protocols/publish-schema.js';

const JSON_BODY_LIMIT = 64 * 1024;

export interface PublishRouteOptions {
  /** Largest image body, bytes. */
  maxImageSize: number;
}

/**
 * The producers' HTTP API, every request with a token that holds `publish` (PRODUCER_TOKEN, a
 * static token or a JWT; access.ts), sent as `Authorization: Bearer <token>`:
 * `POST /api/generations`, `/api/generations/:id/progress`, `/api/generations/:id/images`
 * (raw `image/*` body or multipart), `/api/generations/:id/fail`, `/api/notifications`, and
 * `GET /api/generations/:id`. Errors are `{error: <code>, message}` with a 4xx status.
 * Registered as an encapsulated plugin: its body parsers and hooks touch no other route.
 */
export function registerPublishRoutes(app: FastifyInstance, module: GenerationsModule, access: Access, options: PublishRouteOptions): void {
  const { generations } = module;
  app.register(async function publishPlugin(scope) {
    // Checked before the body is read: an unauthorised upload costs no more than its headers.
    scope.addHook('onRequest', access.hook(() => 'publish'));
    scope.addContentTypeParser(/^image\//, { parseAs: 'buffer', bodyLimit: options.maxImageSize }, function parseImageBody(_request, body, done) {
      done(null, body);
    });
    await scope.register(multipart, {
      limits: { fileSize: options.maxImageSize, files: 1, fields: 8, fieldSize: JSON_BODY_LIMIT, parts: 9 },
    });
    answerErrors(scope, 'publish request', (refusal) => ({ error: refusal.code, message: refusal.message }), (refusal, request) => {
      if (refusal.code === Code.BodyTooLarge) return new GenerationError(Code.BodyTooLarge, `${refusal.message}; images may be up to ${options.maxImageSize} bytes, JSON bodies ${JSON_BODY_LIMIT}`);
      if (refusal.code === Code.UnsupportedMediaType && !(refusal instanceof GenerationError)) return new GenerationError(Code.UnsupportedMediaType, `unsupported Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')}`);
      return refusal;
    });

    const json = { bodyLimit: JSON_BODY_LIMIT };

    scope.post('/api/generations', json, async (request, reply) => {
      const { job, entry } = await generations.createJob(parseJobInput(jsonBody(request)));
      return reply.status(201).send({ job_id: job.id, event_id: entry.id, status: 'running' });
    });

    scope.get('/api/generations/stats', async () => ({
      last_event_id: module.log.lastId,
      oldest_event_id: module.log.oldestId,
      replay_events: module.log.size,
      replay_size: module.log.maxEntries,
      max_lag: module.maxLag,
      consumers: module.counters.consumers,
      closed_too_slow: module.counters.tooSlow,
      image_messages_built: module.wire.imageBuilds,
      stored_images: module.store.count,
      jobs: generations.jobs.size,
      comfyui: module.bridge?.state ?? null,
      cluster_events: module.clusterEvents?.() ?? null,
    }));

    scope.get<{ Params: { id: string } }>('/api/generations/:id', async (request) => {
      const job = generations.jobs.get(parseJobIdParam(request.params.id));
      if (!job) throw new GenerationError(Code.JobNotFound, `no job with id ${JSON.stringify(request.params.id)}`);
      return {
        job_id: job.info.id, status: job.state, progress: job.progress, user_id: job.info.userId ?? null,
        prompt: job.info.prompt, images: job.images.size, image_length: job.expected ?? null,
      };
    });

    scope.post<{ Params: { id: string } }>('/api/generations/:id/progress', json, async (request) => {
      const { progress, stage } = parseProgress(jsonBody(request));
      const entry = await generations.progress(parseJobIdParam(request.params.id), progress, stage);
      return { job_id: request.params.id, event_id: entry.id };
    });

    scope.post<{ Params: { id: string } }>('/api/generations/:id/images', { bodyLimit: options.maxImageSize }, async (request, reply) => {
      const jobId = parseJobIdParam(request.params.id);
      const { bytes, fields } = request.isMultipart() ? await readMultipart(request) : readRaw(request);
      const { entry, image } = await generations.addImage(jobId, bytes, parseImageFields(fields));
      return reply.status(201).send({ job_id: jobId, event_id: entry.id, image_url: image.url, imageIdx: image.imageIdx, imageLength: image.imageLength });
    });

    scope.post<{ Params: { id: string } }>('/api/generations/:id/fail', json, async (request) => {
      const { error, retryAllowed } = parseFailure(jsonBody(request));
      const entry = await generations.fail(parseJobIdParam(request.params.id), error, retryAllowed);
      return { job_id: request.params.id, event_id: entry.id };
    });

    scope.post('/api/notifications', json, async (request, reply) => {
      const { severity, message, actionUrl } = parseNotification(jsonBody(request));
      const entry = await generations.notify(severity, message, actionUrl);
      return reply.status(201).send({ event_id: entry.id });
    });
  });
}

/** The parsed body of a JSON route; Fastify would also hand over text/plain bodies as strings. */
function jsonBody(request: FastifyRequest): unknown {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new GenerationError(Code.UnsupportedMediaType, `send a JSON body with Content-Type: application/json (got ${JSON.stringify(type.slice(0, 80))})`);
  }
  return request.body;
}

/** A raw body: the bytes, with the fields in the query string. */
function readRaw(request: FastifyRequest): { bytes: Buffer; fields: Record<string, unknown> } {
  if (!Buffer.isBuffer(request.body)) {
    throw new GenerationError(Code.UnsupportedMediaType, 'send the image bytes with Content-Type image/* (fields in the query string), or multipart/form-data with a file field "image"');
  }
  return { bytes: request.body, fields: { ...(request.query as Record<string, unknown>) } };
}

/** multipart/form-data: one file field `image`, the other fields as text. */
async function readMultipart(request: FastifyRequest): Promise<{ bytes: Buffer; fields: Record<string, unknown> }> {
  try {
    return await readParts(request);
  } catch (error) {
    // busboy's parse errors (no boundary, a truncated part) carry no status; they are the body's fault.
    const status = (error as { statusCode?: number }).statusCode;
    if (error instanceof GenerationError || (status !== undefined && status < 500)) throw error;
    throw new GenerationError(Code.InvalidBody, 'the multipart body could not be read (missing or wrong boundary, or a truncated part)', { cause: error });
  }
}

async function readParts(request: FastifyRequest): Promise<{ bytes: Buffer; fields: Record<string, unknown> }> {
  let bytes: Buffer | undefined;
  const fields: Record<string, unknown> = {};
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      if (part.fieldname !== 'image') {
        part.file.resume();
        throw new GenerationError(Code.InvalidBody, `unexpected file field ${JSON.stringify(part.fieldname)}; the image goes in "image"`);
      }
      bytes = await part.toBuffer();
    } else {
      if (fields[part.fieldname] !== undefined) throw new GenerationError(Code.InvalidBody, `field ${JSON.stringify(part.fieldname)} is given twice`);
      fields[part.fieldname] = part.value;
    }
  }
  if (!bytes) throw new GenerationError(Code.InvalidBody, 'multipart body has no file field "image"');
  return { bytes, fields };
}
