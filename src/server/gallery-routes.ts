import type { FastifyInstance } from 'fastify';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import type { StoredImage } from '../generations/generation-event.js';
import type { ImageStore } from '../generations/image-store.js';
import { grantOf, seesOwner, type Access } from './access.js';

/** One gallery item: what the gallery page shows beside the image. */
function describeImage(image: StoredImage) {
  return {
    name: image.name,
    url: image.url,
    job_id: image.jobId,
    prompt: image.params.positivePrompt,
    negative_prompt: image.params.negativePrompt,
    seed: image.params.seed,
    workflow: image.params.workflowName,
    width: image.params.width,
    height: image.params.height,
    mime_type: image.mimeType,
    size: image.size,
    filename: image.filename,
    image_idx: image.imageIdx,
    image_length: image.imageLength,
    created_at: new Date(image.createdAt).toISOString(),
  };
}

/**
 * `GET /api/images?limit=&offset=` (newest first) and the images at their `image_url`,
 * `GET /images/:name`. Read-only; open like `/ws/streaming` when no access is configured,
 * otherwise `view`, and each user sees their own images only (another user's is 404, and
 * nothing is cached by shared caches).
 */
export function registerGalleryRoutes(app: FastifyInstance, store: ImageStore, access: Access): void {
  const view = { onRequest: access.hook(() => 'view') };
  const cacheControl = access.open ? 'public, max-age=86400' : 'private, max-age=86400';
  app.get<{ Querystring: { limit?: string; offset?: string } }>('/api/images', view, async (request, reply) => {
    const limit = request.query.limit === undefined ? 100 : Number(request.query.limit);
    const offset = request.query.offset === undefined ? 0 : Number(request.query.offset);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000 || !Number.isInteger(offset) || offset < 0) {
      throw new FramehubError(ErrorCode.InvalidQuery, 'limit must be an integer from 1 to 1000 and offset a non-negative integer');
    }
    const principal = grantOf(request);
    if (!access.open) void reply.header('cache-control', 'private, no-store');
    if (principal.all) return { total: store.count, images: store.list(limit, offset).map(describeImage) };
    const mine = store.list(store.count).filter((image) => seesOwner(principal, image.userId));
    return { total: mine.length, images: mine.slice(offset, offset + limit).map(describeImage) };
  });

  app.get<{ Params: { name: string } }>(`${store.urlPrefix}:name`, view, async (request, reply) => {
    const found = store.get(request.params.name);
    // Another user's image is answered as if it did not exist: its name says nothing.
    const image = found && seesOwner(grantOf(request), found.userId) ? found : undefined;
    if (!image) throw new FramehubError(ErrorCode.ImageNotFound, `no stored image named ${JSON.stringify(request.params.name.slice(0, 128))}`);
    let bytes: Buffer;
    try {
      bytes = await store.read(image);
    } catch {
      throw new FramehubError(ErrorCode.ImageNotFound, 'the image is no longer stored');
    }
    // Names are never reused for other bytes while the file exists: cache for a day; with
    // access configured only in the viewer's own cache (a shared one would hand it to others).
    return reply.type(image.mimeType).header('cache-control', cacheControl).send(bytes);
  });
}
