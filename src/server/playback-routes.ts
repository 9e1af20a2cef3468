import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Hub } from '../hub/hub.js';
import { parsePlaybackChange } from '../protocols/playback-command.js';
import { playbackOf } from '../recording/playback-streams.js';
import type { PlaybackSource } from '../recording/playback-source.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { grantOf, type Access } from './access.js';
import { resolveStream } from './stream-lookup.js';

interface IdRoute { Params: { id: string } }

/**
 * `GET /api/streams/:id/playback` (the state) and `POST` of it (`{seek?, speed?, paused?}`,
 * answered with the state after the change) for a `recording:<id>` stream: the same commands
 * the socket routes take, for clients without a socket and for the viewer's timeline. They take
 * what watching the stream takes (docs/recording.md "Playback").
 */
export function registerPlaybackRoutes(app: FastifyInstance, hub: Hub, access: Access): void {
  const watch = { onRequest: access.hook((request) => hub.viewNeed((request as FastifyRequest<IdRoute>).params.id)) };

  const playbackFor = (request: FastifyRequest<IdRoute>): { stream: string; source: PlaybackSource } => {
    const stream = resolveStream(hub, request.params.id, grantOf(request));
    const source = playbackOf(stream);
    if (!source) throw new FramehubError(ErrorCode.PlaybackNotAccepted, `stream ${JSON.stringify(stream.id)} is no recording's playback; playback commands go to recording:<recording id>`);
    return { stream: stream.id, source };
  };

  app.get<IdRoute>('/api/streams/:id/playback', watch, async (request) => {
    const { stream, source } = playbackFor(request);
    return { stream, ...(await source.refresh()) };
  });

  app.post<IdRoute>('/api/streams/:id/playback', watch, async (request) => {
    const { stream, source } = playbackFor(request);
    const change = parsePlaybackChange(request.body, ErrorCode.InvalidBody);
    // A recording being written has grown since it was read: a seek is checked against what is there now.
    await source.refresh();
    return { stream, ...source.apply(change).state };
  });
}
