import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describe, FPS_RANGE, QUALITY_RANGE } from '../protocols/values.js';
import { INPUT_TYPES, InputError, parseInput, type InputType } from '../sessions/input.js';
import type { Session } from '../sessions/session.js';
import { SessionError, VIEWPORT_LIMITS, type SessionRegistry } from '../sessions/session-registry.js';
import { ErrorCode } from '../wire/errors.js';
import { MessageLimiter } from './message-limiter.js';
import { answerErrors } from './route-errors.js';
import { grantOf, reaches, type Access } from './access.js';
import { SessionForward } from '../cluster/session-forward.js';
import { checkRestInput, registerControlRoutes } from './session-control-routes.js';
import type { Holder } from '../sessions/session-control.js';

export interface SessionRouteDefaults {
  quality: number;
  fps: number;
  width: number;
  height: number;
}

interface IdRoute { Params: { id: string } }
type IdRequest = FastifyRequest<IdRoute>;

/** REST input events a session accepts a second (shared by everyone driving that session over REST). */
const REST_INPUT_PER_SECOND = 30;

/**
 * seeds/003's session API: create, load, keepalive, frame (PNG), frame/data (JSON with
 * base64 PNG), viewer (auto-refreshing page), delete, list; plus `POST /api/session/:id/input`
 * for clients that drive a page without Socket.IO. Every answer is JSON with `success`;
 * failures carry `error` and a 4xx/5xx status.
 */
export function registerSessionRoutes(root: FastifyInstance, registry: SessionRegistry, access: Access, defaults: SessionRouteDefaults, remote?: SessionForward, visitorOf?: VisitorOf): void {
  // A plugin scope, so the error handler below answers for these routes only.
  void root.register(async function sessionRoutes(app) {
    // JSON bodies only: a text/plain body is refused 415 like every other type, not parsed as a string.
    app.removeContentTypeParser('text/plain');
    // seeds/003's failure shape: `{success: false, error: <message>}`; a bug says no more than that.
    answerErrors(app, 'session request', (refusal) => ({
      success: false,
      error: refusal.code === ErrorCode.InternalError ? 'internal error' : refusal.message,
    }));
    // In a cluster, a call for a session another node runs is answered by that node (session-forward.ts),
    // after this node's own scope check; the owner node checks everything again, as for a local call.
    if (remote) app.addHook('preHandler', forwardHook(registry, remote));
    routes(app, registry, access, defaults, remote, visitorOf);
  });
}

/**
 * In a cluster: the participant another node's Socket.IO viewer is in `session`, when `request`
 * is that viewer's input forwarded by its node (remote-participant.ts, visiting-participants.ts).
 */
export type VisitorOf = (session: Session, request: FastifyRequest) => Holder | undefined;

function routes(app: FastifyInstance, registry: SessionRegistry, access: Access, defaults: SessionRouteDefaults, remote: SessionForward | undefined, visitorOf: VisitorOf | undefined): void {
  const inputLimiters = new WeakMap<Session, MessageLimiter>();
  // Who may do what (access.ts): making sessions takes `control`, driving one `control:<id>`,
  // watching one `view:session:<id>` (which `control:<id>` grants), listing them `control`. The
  // hook answers 403 for a missing scope before the id is looked up; `find` then answers 404
  // for an id that is not there or that the scope reaches only as someone else's.
  const create = { onRequest: access.hook(() => 'control') };
  const drive = { onRequest: access.hook((request) => `control:${(request as IdRequest).params.id}`) };
  const watch = { onRequest: access.hook((request) => `view:session:${(request as IdRequest).params.id}`) };
  const list = { onRequest: access.hook(() => 'control') };
  const driven = (request: IdRequest) => find(registry, request, `control:${request.params.id}`);
  const watched = (request: IdRequest) => find(registry, request, `view:session:${request.params.id}`);

  app.post('/api/session/create', create, async (request, reply) => {
    // No body means all defaults; a JSON `null` is a body, and not an object.
    const body = objectBody(request.body === undefined ? {} : request.body);
    const id = body['session_id'];
    if (id !== undefined && typeof id !== 'string') throw new SessionError(ErrorCode.InvalidBody, `session_id must be a string (got ${describe(id)})`);
    const { owner } = grantOf(request);
    // With access configured every session has an owner, or only `admin` could ever reach it again.
    if (!access.open && owner === undefined) {
      throw new SessionError(ErrorCode.OwnerRequired, 'forbidden: a session needs an owner, and this token names none (a JWT without sub)');
    }
    const session = await registry.create({
      ...(id !== undefined && { id }),
      ...(owner !== undefined && { owner }),
      width: intField(body, 'width', VIEWPORT_LIMITS.width, defaults.width),
      height: intField(body, 'height', VIEWPORT_LIMITS.height, defaults.height),
      quality: intField(body, 'quality', QUALITY_RANGE, defaults.quality),
      fps: intField(body, 'fps', FPS_RANGE, defaults.fps),
    }, remote ? remote.clientIp(request.headers, request.ip) : request.ip);
    return reply.code(201).send({ success: true, ...session.info(), stream: session.stream.id, expires_in: registry.expiresIn(session) });
  });

  app.post<IdRoute>('/api/session/:id/load', drive, async (request: IdRequest) => {
    const session = driven(request);
    const url = objectBody(request.body)['url'];
    if (typeof url !== 'string' || url.length > 8192) throw new SessionError(ErrorCode.InvalidBody, `url must be a string of at most 8192 characters (got ${describe(url)})`);
    const loaded = await session.load(url);
    return { success: true, session_id: session.id, url: loaded };
  });

  app.post<IdRoute>('/api/session/:id/keepalive', drive, async (request: IdRequest) => {
    const session = driven(request);
    session.touch();
    return { success: true, session_id: session.id, expires_in: registry.expiresIn(session) };
  });

  app.post<IdRoute>('/api/session/:id/input', drive, async (request: IdRequest) => {
    const session = driven(request);
    // A Socket.IO participant's input on another node: that node held it to its socket's limits
    // (60 events a second, 16 waiting), as this node holds a local socket's; not to the REST rate.
    const visitor = visitorOf?.(session, request);
    let limiter = inputLimiters.get(session);
    if (!limiter) inputLimiters.set(session, (limiter = new MessageLimiter(REST_INPUT_PER_SECOND, REST_INPUT_PER_SECOND * 2)));
    if (!visitor && !limiter.take()) throw new SessionError(ErrorCode.RateLimited, `too many input events: at most ${REST_INPUT_PER_SECOND} a second`);
    const body = objectBody(request.body);
    const type = body['type'];
    if (typeof type !== 'string' || !INPUT_TYPES.includes(type as InputType)) {
      throw new InputError(`type must be one of ${INPUT_TYPES.join(', ')} (got ${describe(type)})`);
    }
    const event = parseInput(type as InputType, body, session.options);
    // Once someone asked for control, only the controller's key drives the page; bad input is a 400 whoever sends it.
    checkRestInput(session, request, visitor);
    await session.input(event);
    return { success: true, session_id: session.id, type };
  });

  // The page's selected text (a phone's "copy"), counted against the session's REST input rate.
  app.get<IdRoute>('/api/session/:id/clipboard', drive, async (request: IdRequest) => {
    const session = driven(request);
    let limiter = inputLimiters.get(session);
    if (!limiter) inputLimiters.set(session, (limiter = new MessageLimiter(REST_INPUT_PER_SECOND, REST_INPUT_PER_SECOND * 2)));
    if (!limiter.take()) throw new SessionError(ErrorCode.RateLimited, `too many input events: at most ${REST_INPUT_PER_SECOND} a second`);
    const { text, truncated } = await session.selectedText();
    return { success: true, session_id: session.id, text, truncated };
  });

  // One session's info, and whether the caller may drive it: what a page opened from a share link needs to join.
  app.get<IdRoute>('/api/session/:id', watch, async (request: IdRequest) => {
    const session = watched(request);
    const canControl = reaches(grantOf(request), `control:${session.id}`, session.options.owner);
    return { success: true, ...session.info(), stream: session.stream.id, expires_in: registry.expiresIn(session), can_control: canControl };
  });

  app.get<IdRoute>('/api/session/:id/frame', watch, async (request: IdRequest, reply) => {
    const session = watched(request);
    const { png } = await session.png();
    return reply.type('image/png').header('cache-control', 'no-store').send(png);
  });

  app.get<IdRoute>('/api/session/:id/frame/data', watch, async (request: IdRequest, reply) => {
    const session = watched(request);
    const { png, timestamp } = await session.png();
    return reply.header('cache-control', 'no-store').send({
      success: true,
      session_id: session.id,
      timestamp: timestamp / 1000,
      frame: png.toString('base64'),
      format: 'png',
    });
  });

  app.get<IdRoute>('/api/session/:id/viewer', watch, async (request: IdRequest, reply) => {
    const session = watched(request);
    const token = (request.query as Record<string, unknown>)['token'];
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(viewerPage(session.id, typeof token === 'string' ? token : undefined));
  });

  app.delete<IdRoute>('/api/session/:id', drive, async (request: IdRequest) => {
    const session = driven(request);
    await registry.delete(session.id);
    return { success: true, session_id: session.id };
  });

  // `admin` (and an open server's grant, which is admin) lists every session; bare `control` its own.
  // In a cluster every node's sessions, each with its `node`: this node asks the others (session-forward.ts).
  app.get('/api/sessions', list, async (request) => {
    const principal = grantOf(request);
    // A token without an owner (a JWT without sub) owns nothing, not the ownerless sessions of an open server.
    const visible = (owner: string | undefined) => principal.scopes.has('admin') || (principal.owner !== undefined && owner === principal.owner);
    const mine = registry.list().filter((session) => visible(session.options.owner));
    const here = mine.map((session) => ({ ...session.info(), expires_in: registry.expiresIn(session), ...(remote && { node: remote.nodeId }) }));
    // A node asked by another lists its own only (no list of lists).
    if (!remote || SessionForward.forwarded(request.headers)) return { success: true, sessions: here };
    const listed = new Set(mine.map((session) => session.id));
    const elsewhere = (await remote.list(request.headers, visible)).filter((session) => !listed.has(session['session_id'] as string));
    return { success: true, sessions: [...here, ...elsewhere] };
  });

  registerControlRoutes(app, { drive, watch, driven, watched });

}

/** A `preHandler` sending `/api/session/:id…` calls for a session this node does not run to the node that does. */
function forwardHook(registry: SessionRegistry, remote: SessionForward) {
  return async function forwardToSessionNode(request: FastifyRequest, reply: FastifyReply) {
    if (SessionForward.forwarded(request.headers)) return;
    if (request.routeOptions.url === '/api/session/create') {
      // A new session goes to the node with the most room, whichever node the create reached.
      const placed = await remote.create(registry.size, { method: 'POST', path: '/api/session/create', headers: request.headers, body: request.body, clientIp: request.ip });
      return placed && reply.code(placed.status).headers(placed.headers).send(placed.body);
    }
    const id = (request.params as Partial<IdRoute['Params']> | undefined)?.id;
    if (typeof id !== 'string' || registry.get(id)) return;
    const query = request.url.indexOf('?');
    const suffix = (request.routeOptions.url ?? '').slice('/api/session/:id'.length);
    const answer = await remote.send(id, {
      method: request.method,
      path: `/api/session/${encodeURIComponent(id)}${suffix}${query === -1 ? '' : request.url.slice(query)}`,
      headers: request.headers,
      body: request.body,
    });
    if (!answer) return; // no node runs it: answered here, as an unknown id
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  };
}

/** The session `request` names when its grant reaches it for `need`; otherwise the unknown id's 404, word for word. */
export function find(registry: SessionRegistry, request: IdRequest, need: string): Session {
  const { id } = request.params;
  const session = registry.get(id);
  if (!session || !reaches(grantOf(request), need, session.options.owner)) throw new SessionError(ErrorCode.SessionNotFound, `no session ${JSON.stringify(id.slice(0, 64))}`);
  return session;
}

export function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SessionError(ErrorCode.InvalidBody, 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

function intField(body: Record<string, unknown>, name: string, [min, max]: readonly [number, number], fallback: number): number {
  const value = body[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SessionError(ErrorCode.InvalidBody, `${name} must be an integer from ${min} to ${max} (got ${describe(value)})`);
  }
  return value;
}

/** seeds/003's fallback viewer: polls the PNG once a second, with the page's own `?token=` (an `<img>` sends no header). */
function viewerPage(id: string, token: string | undefined): string {
  const safe = encodeURIComponent(id);
  const auth = token ? `?token=${encodeURIComponent(token)}` : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>framehub session ${safe}</title>
<style>body{margin:0;background:#111;display:flex;justify-content:center}img{max-width:100vw;max-height:100vh}</style></head>
<body><img id="frame" alt="session ${safe}" src="/api/session/${safe}/frame${auth}">
<script src="/session-viewer.js"></script></body></html>`;
}
