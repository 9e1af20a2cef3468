import type { FastifyInstance, FastifyRequest, RouteShorthandOptions } from 'fastify';
import type { Session } from '../sessions/session.js';
import { ControlError, type Actor, type Holder } from '../sessions/session-control.js';
import { SessionError } from '../sessions/session-registry.js';
import { nameProblem } from '../protocols/socket-io-control.js';
import { describe } from '../protocols/values.js';
import { ErrorCode } from '../wire/errors.js';
import { allows, grantOf } from './access.js';
import { presenceOf } from './session-room.js';

/**
 * The header a REST script sends back the key `control/request` (or `control/take`) gave it: the
 * key, not the public holder id every viewer sees, proves it is that holder.
 */
export const HOLDER_HEADER = 'x-control-holder';

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

/** What session-routes.ts already has: the scope hooks and the lookups that answer 404 as it does. */
export interface ControlRouteDeps {
  drive: RouteShorthandOptions;
  watch: RouteShorthandOptions;
  driven(request: IdRequest): Session;
  watched(request: IdRequest): Session;
}

/** The REST script `request` names with its `X-Control-Holder` key; `undefined` without the header. */
export function scriptHolder(session: Session, request: FastifyRequest): Holder | undefined {
  const key = request.headers[HOLDER_HEADER];
  if (key === undefined) return undefined;
  const holder = typeof key === 'string' ? session.control.scriptOf(key) : undefined;
  if (!holder) throw new ControlError(ErrorCode.HolderNotFound, `${HOLDER_HEADER} names no holder of this session (it released control, was denied, or lost it to a take)`);
  return holder;
}

/**
 * Whether REST input may reach the page: anyone's while the session is open, its controller's
 * after: a script's by its key, or `participant`'s (another node's Socket.IO viewer, whose input
 * its node forwards) as a local socket's.
 */
export function checkRestInput(session: Session, request: FastifyRequest, participant?: Holder): void {
  const key = request.headers[HOLDER_HEADER];
  const holder = participant ?? (typeof key === 'string' ? session.control.scriptOf(key) : undefined);
  if (session.control.mayInput(holder?.id)) return session.control.touch(holder?.id);
  const controller = session.control.state.controller;
  const ask = participant ? 'ask with control:request' : `ask with POST /api/session/${session.id}/control/request and send its key as ${HOLDER_HEADER}`;
  throw new ControlError(ErrorCode.ControlRequired, `input refused: ${controller ? `${controller.name} controls this session` : 'nobody controls this session now'}; ${ask}`);
}

/**
 * Control and presence for scripts: the Socket.IO events' REST twins (docs/sessions.md, Control).
 * A script's identity is made by `control/request` or `control/take` and lasts while it controls
 * or waits.
 */
export function registerControlRoutes(app: FastifyInstance, deps: ControlRouteDeps): void {
  const { drive, watch, driven, watched } = deps;

  app.get('/api/session/:id/control', watch, async (request: IdRequest) => {
    const session = watched(request);
    return { success: true, session_id: session.id, control: session.control.state };
  });

  app.get('/api/session/:id/presence', watch, async (request: IdRequest) => {
    const session = watched(request);
    return { success: true, session_id: session.id, viewers: presenceOf(session), controller: session.control.state.controller };
  });

  app.post('/api/session/:id/control/request', drive, async (request: IdRequest) => {
    const session = driven(request);
    const body = optionalBody(request.body);
    return act(session, request, body, (actor) => session.control.request(actor));
  });

  app.post('/api/session/:id/control/take', drive, async (request: IdRequest) => {
    const session = driven(request);
    const body = optionalBody(request.body);
    return act(session, request, body, (actor) => {
      session.control.take(actor);
      return 'granted';
    });
  });

  app.post('/api/session/:id/control/release', drive, async (request: IdRequest) => {
    const session = driven(request);
    optionalBody(request.body);
    const holder = scriptHolder(session, request);
    if (!holder) throw new ControlError(ErrorCode.ControlRequired, `control/release needs the ${HOLDER_HEADER} header that control/request gave`);
    session.control.release({ ...holder, admin: false });
    return { success: true, session_id: session.id, control: session.control.state };
  });

  for (const action of ['grant', 'deny'] as const) {
    app.post(`/api/session/:id/control/${action}`, drive, async (request: IdRequest) => {
      const session = driven(request);
      const target = objectBody(request.body)['id'];
      if (typeof target !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(target)) {
        throw new SessionError(ErrorCode.InvalidBody, `id must be the id of a waiting request, from GET /api/session/${session.id}/control (got ${describe(target)})`);
      }
      // The controller answers by its key; an admin may answer without one.
      const holder = scriptHolder(session, request);
      const actor: Actor = { id: holder?.id ?? '', name: holder?.name ?? 'admin', admin: allows(grantOf(request).scopes, 'admin') };
      if (action === 'grant') session.control.grant(actor, target);
      else session.control.deny(actor, target);
      return { success: true, session_id: session.id, control: session.control.state };
    });
  }
}

/** Runs a request or take for the script the header names, or for a new one (given its key in the answer). */
function act(session: Session, request: FastifyRequest, body: Record<string, unknown>, perform: (actor: Actor) => 'granted' | 'pending') {
  const name = body['name'];
  const problem = name === undefined ? undefined : nameProblem(name);
  if (problem) throw new SessionError(ErrorCode.InvalidBody, problem);
  const admin = allows(grantOf(request).scopes, 'admin');
  const known = scriptHolder(session, request);
  const made = known ? undefined : session.control.newScript(typeof name === 'string' ? name.trim() : undefined);
  const holder = known ?? made!.holder;
  let result: 'granted' | 'pending';
  try {
    result = perform({ ...holder, admin });
  } finally {
    // A refused take leaves no identity behind.
    session.control.prune();
  }
  return {
    success: true,
    session_id: session.id,
    result,
    holder,
    ...(made && { key: made.key }),
    control: session.control.state,
  };
}

function optionalBody(body: unknown): Record<string, unknown> {
  return body === undefined ? {} : objectBody(body);
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SessionError(ErrorCode.InvalidBody, 'the body must be a JSON object');
  return body as Record<string, unknown>;
}
