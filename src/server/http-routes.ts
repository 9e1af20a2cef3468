import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Hub } from '../hub/hub.js';
import type { Access } from './access.js';

const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const WEB_FILES: Record<string, string> = {
  '/': 'index.html',
  '/viewer.js': 'viewer.js',
  '/viewer.css': 'viewer.css',
  '/frame-painter.js': 'frame-painter.js',
  '/view-format.js': 'view-format.js',
  '/playback-timeline.js': 'playback-timeline.js',
  '/session.html': 'session.html',
  '/session.js': 'session.js',
  '/session-control.js': 'session-control.js',
  '/session-video.js': 'session-video.js',
  '/session-viewer.js': 'session-viewer.js',
  '/session.css': 'session.css',
  '/gallery.html': 'gallery.html',
  '/gallery.js': 'gallery.js',
};
const DIST_DIR = fileURLToPath(new URL('../../dist/', import.meta.url));
/** The browser build of framehub/client, for pages that import it from framehub itself. */
const CLIENT_BUNDLE = 'framehub-client.min.js';
const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/**
 * `GET /healthz`, `GET /api/streams` (`view`), the web viewer's files and the client library's
 * browser bundle. The pages and `/healthz` stay open: they hold no data; the pages pass their
 * own `?token=` on to the routes they call.
 */
export function registerHttpRoutes(app: FastifyInstance, hub: Hub, access: Access): void {
  const startedAt = Date.now();

  app.get('/healthz', async () => ({
    status: 'ok',
    uptime: Math.round((Date.now() - startedAt) / 1000),
    streams: hub.list().length,
  }));

  app.get('/api/streams', { onRequest: access.hook(() => 'view') }, async () => ({ primary: hub.primary, streams: hub.stats() }));

  for (const [path, file] of Object.entries(WEB_FILES)) {
    app.get(path, async (_request, reply) => {
      const body = await readFile(WEB_DIR + file);
      return reply.type(CONTENT_TYPES[file.split('.').pop()!]!).header('cache-control', 'no-cache').send(body);
    });
  }

  app.get(`/${CLIENT_BUNDLE}`, async (_request, reply) => {
    // Built by `npm run build` (npm start and npm test run it); a source checkout may lack it.
    const body = await readFile(DIST_DIR + CLIENT_BUNDLE).catch(() => undefined);
    if (!body) return reply.code(404).send({ error: { code: 'not_built', message: `${CLIENT_BUNDLE} is not built: run npm run build` } });
    return reply.type(CONTENT_TYPES['js']!).header('cache-control', 'no-cache')
      // Public code: a page of any site may load it with a classic <script> (a module script sends
      // its Origin, which the request gate checks like any other).
      .header('cross-origin-resource-policy', 'cross-origin').send(body);
  });
}
