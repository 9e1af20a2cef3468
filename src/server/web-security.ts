import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { corsOrigins } from './request-gate.js';

/**
 * The browser-facing protections every HTTP answer gets, registered before any route so that
 * every route (also those registered in plugin scopes later) has them:
 * - CORS for the origins ALLOWED_ORIGINS names (the request gate has already refused the rest);
 * - security headers on every answer: a Content Security Policy for the pages (scripts and
 *   connections to framehub itself only, no framing by other sites), nosniff, no referrer;
 * - a per-address request rate limit on REST (`restRateLimit` a minute; 0 = off), answered
 *   `429 rate_limited` in the route family's usual error shape.
 */
export async function registerWebSecurity(app: FastifyInstance, options: { allowedOrigins: string; restRateLimit: number }): Promise<void> {
  await app.register(cors, { origin: corsOrigins(options.allowedOrigins), methods: ['GET', 'HEAD', 'POST', 'DELETE'] });
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // The pages' inline <style> blocks and style attributes set by the UI code.
        styleSrc: ["'self'", "'unsafe-inline'"],
        // Frames arrive as data: and blob: URLs.
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        upgradeInsecureRequests: null,
      },
    },
    // Images and the client bundle may be loaded by pages of the same site (another port);
    // pages of other sites may not embed frames. The bundle's route widens this for itself.
    crossOriginResourcePolicy: { policy: 'same-site' },
    referrerPolicy: { policy: 'no-referrer' },
    // HSTS would pin browsers to https for the whole host: an operator's choice, not framehub's.
    strictTransportSecurity: false,
  });
  if (options.restRateLimit > 0) {
    await app.register(rateLimit, {
      max: options.restRateLimit,
      timeWindow: 60_000,
      // Thrown into the route's error handler, which answers it in that route family's shape.
      errorResponseBuilder: (_request, context) => new FramehubError(ErrorCode.RateLimited, `too many requests: at most ${context.max} a minute from one address; retry in ${Math.ceil(context.ttl / 1000)} s`),
    });
  }
}
