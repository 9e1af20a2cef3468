import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Hub } from '../hub/hub.js';
import { RECORDING_ID, type Recordings } from '../recording/recordings.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { driverOrAdminNeed, grantOf, reaches, type Access, type Need } from './access.js';
import { resolveStream } from './stream-lookup.js';
import { parseRange } from './http-range.js';

interface IdRoute { Params: { id: string } }
type IdRequest = FastifyRequest<IdRoute>;

/**
 * What recording `streamId` (starting, stopping, deleting its recordings) needs: a browser
 * session's driver may record it; any other stream writes to the server's disk at the
 * operator's cost.
 */
const recordNeed = driverOrAdminNeed;

function checkedId(id: string): string {
  if (!RECORDING_ID.test(id)) throw new FramehubError(ErrorCode.InvalidRecordingId, 'a recording id is <YYYYMMDD>T<HHMMSS>Z-<8 hex digits>, as POST /api/streams/:id/record answered it');
  return id;
}

/**
 * Recording (docs/recording.md): `POST`/`DELETE /api/streams/:id/record` start and stop
 * recording a stream, `GET /api/recordings` lists them, `GET /api/recordings/:id.mp4`
 * downloads one (with Range), `GET /api/recordings/:id/events` answers a session recording's
 * input timeline, `DELETE /api/recordings/:id` deletes one. Errors are
 * `{error: <code>, message}` like the other routes outside a scope of their own.
 */
export function registerRecordingRoutes(app: FastifyInstance, hub: Hub, recordings: Recordings, access: Access): void {
  // The primary alias `0` records (and stops) the primary stream under its own id.
  const canonical = (id: string) => (id === '0' ? hub.primary : id);
  const record = { onRequest: access.hook((request) => recordNeed(canonical((request as IdRequest).params.id))) };
  // A recording is as private as its stream: seeing it takes `view:<stream>`; deleting it what recording it took.
  // An id nothing has asks for the least scope there is, so a malformed or unknown one is told 400/404, not 403.
  const streamOf = (request: FastifyRequest) => {
    const raw = (request as IdRequest).params.id;
    return recordings.get(raw.endsWith('.mp4') ? raw.slice(0, -4) : raw)?.stream;
  };
  const download = { onRequest: access.hook((request) => { const stream = streamOf(request); return stream === undefined ? 'view' : `view:${stream}`; }) };
  const remove = { onRequest: access.hook((request) => { const stream = streamOf(request); return stream === undefined ? 'view' : recordNeed(stream); }) };
  const list = { onRequest: access.hook(() => 'view') };

  /** The recording `id` names when the grant reaches it for `need`; otherwise the unknown id's 404, word for word. */
  const find = (request: FastifyRequest, id: string, need: (stream: string) => Need) => {
    const found = recordings.get(checkedId(id));
    if (!found || !reaches(grantOf(request), need(found.stream), found.owner)) throw new FramehubError(ErrorCode.RecordingNotFound, `no recording ${JSON.stringify(id)}`);
    return found;
  };

  app.post<IdRoute>('/api/streams/:id/record', record, async (request: IdRequest, reply) => {
    const stream = resolveStream(hub, request.params.id, grantOf(request));
    const entry = await recordings.start(stream);
    return reply.code(201).send({ recording_id: entry.recording_id, stream: entry.stream, started_at: entry.started_at });
  });

  app.delete<IdRoute>('/api/streams/:id/record', record, async (request: IdRequest) => {
    const id = canonical(request.params.id);
    const active = recordings.activeOf(id);
    // Another owner's session recording is not told apart from no recording.
    if (!active || !reaches(grantOf(request), recordNeed(id), active.owner)) {
      throw new FramehubError(ErrorCode.NotRecording, `stream ${JSON.stringify(request.params.id.slice(0, 128))} is not being recorded`);
    }
    return recordings.stop(id);
  });

  app.get('/api/recordings', list, async (request) => {
    const principal = grantOf(request);
    const entries = await recordings.list();
    return { recordings: entries.filter((entry) => reaches(principal, `view:${entry.stream}`, recordings.get(entry.recording_id)?.owner)) };
  });

  app.get<IdRoute>('/api/recordings/:id', download, async (request: IdRequest, reply) => {
    const name = request.params.id;
    if (!name.endsWith('.mp4')) throw new FramehubError(ErrorCode.InvalidRecordingId, 'download a recording as /api/recordings/<recording id>.mp4');
    const id = name.slice(0, -4);
    find(request, id, (stream) => `view:${stream}`);
    const file = recordings.file(id);
    const info = await stat(file).catch(() => undefined);
    if (!info) throw new FramehubError(ErrorCode.RecordingNotFound, `recording ${id} has no file (yet)`);
    // A recording under way is still growing: this answer is the bytes written so far.
    const size = info.size;
    const range = parseRange(request.headers.range, size);
    void reply.header('accept-ranges', 'bytes').header('cache-control', 'no-store');
    if (range.kind === 'unsatisfiable') {
      return reply.code(416).header('content-range', `bytes */${size}`).type('application/json; charset=utf-8')
        .send({ error: ErrorCode.RangeNotSatisfiable, message: `range ${JSON.stringify(request.headers.range)} is outside the file's ${size} bytes` });
    }
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, size - 1];
    void reply.type('video/mp4');
    const body = createReadStream(file, { start, end: Math.max(start, end) });
    // Fastify ends the response on a read error; this keeps the error from going unheard.
    body.on('error', (error) => request.log.warn({ err: error, recording: id }, 'recording download failed'));
    void reply.header('content-length', String(size === 0 ? 0 : end - start + 1));
    if (range.kind === 'partial') void reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
    if (size === 0) {
      body.destroy();
      return reply.send(Buffer.alloc(0));
    }
    return reply.send(body);
  });

  // A browser session's input timeline (clicks, keys, URLs) as recorded beside its video: as
  // private as the video. Any other stream's recording has an empty one.
  app.get<IdRoute>('/api/recordings/:id/events', download, async (request: IdRequest, reply) => {
    const id = request.params.id;
    const found = find(request, id, (stream) => `view:${stream}`);
    void reply.header('cache-control', 'no-store');
    return { recording_id: id, stream: found.stream, events: await recordings.timeline(id) };
  });

  app.delete<IdRoute>('/api/recordings/:id', remove, async (request: IdRequest) => {
    const id = request.params.id;
    find(request, id, recordNeed);
    await recordings.delete(id);
    return { deleted: id };
  });
}
