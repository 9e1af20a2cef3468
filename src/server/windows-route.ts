import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import type { Access } from './access.js';
import { CaptureUnavailableError, checkCapture } from '../sources/capture-availability.js';
import { listWindows } from '../sources/x11-windows.js';

/**
 * `GET /api/windows` (seeds/002): `{windows: [{handle, title, x, y, width, height}]}` from the X
 * server (`view`). 503 with `{error: {code, message, missing}}` when capture is off or cannot run here.
 */
export function registerWindowsRoute(app: FastifyInstance, config: Config, access: Access): void {
  app.get('/api/windows', { onRequest: access.hook(() => 'view') }, async (_request, reply) => {
    if (!config.screen) {
      return reply.code(503).send({
        error: { code: 'capture_disabled', message: 'screen capture is off: start framehub with --screen (or SCREEN=1)', missing: 'screen' },
      });
    }
    try {
      const display = await checkCapture(config.display || undefined);
      return { windows: await listWindows(display) };
    } catch (error) {
      const missing = error instanceof CaptureUnavailableError ? error.missing : 'x-server';
      return reply.code(503).send({ error: { code: 'capture_unavailable', message: (error as Error).message, missing } });
    }
  });
}
