import type { FastifyInstance } from 'fastify';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from '../protocols/values.js';

/**
 * Fastify's JSON body parser, behind a depth check. Fastify's parser (secure-json-parse) walks
 * a parsed body recursively for prototype keys, so a body nested ~6,000 deep overflowed the
 * stack and answered 500; now it is a 400 before anything recursive runs. Registered on the
 * root instance, so every route (and plugin) inherits it.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, function parseJsonBody(request, body, done) {
    const text = body as string;
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
      const error = Object.assign(new Error(`JSON body nested deeper than ${MAX_JSON_DEPTH} levels`), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_DEPTH' });
      done(error, undefined);
      return;
    }
    parseJson(request, text, done);
  });
}
