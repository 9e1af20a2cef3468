import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SessionForward } from '../cluster/session-forward.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import type { Session } from '../sessions/session.js';
import { nameProblem, parseControlEvent } from '../protocols/socket-io-control.js';
import { describe } from '../protocols/values.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { allows, grantOf, type Access } from './access.js';
import { answerErrors } from './route-errors.js';
import { actAs, pointerOf, presenceOf } from './session-room.js';
import { find, objectBody } from './session-routes.js';
import type { Visitor, VisitingParticipants } from './visiting-participants.js';

interface IdRoute { Params: { id: string } }
interface ParticipantRoute { Params: { id: string; participant: string } }
type IdRequest = FastifyRequest<IdRoute>;
type ParticipantRequest = FastifyRequest<ParticipantRoute>;

/** A Socket.IO id as socket.io makes them (base64url, 20 characters), with room to spare. */
const SOCKET_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The internal routes through which another node's Socket.IO viewer takes part in a session this
 * node runs (visiting-participants.ts): join, leave, a control action, a pointer position. Only
 * another node calls them: a call without the cluster's secret is the unknown route's 404 (so a
 * client learns nothing), and no node forwards them (they are outside the session routes' forward
 * hook). The viewer's own token travels with each call and is checked here again, as the
 * Socket.IO events check it on a single node: `view:session:<id>` to join, leave and point,
 * `control:<id>` to act, the owner for all. Refusals carry their `code`, which the other node
 * hands its socket unchanged.
 */
export function registerParticipantRoutes(root: FastifyInstance, registry: SessionRegistry, access: Access, forward: SessionForward, visiting: VisitingParticipants): void {
  void root.register(async function participantRoutes(app) {
    app.removeContentTypeParser('text/plain');
    answerErrors(app, 'participant request', (refusal) => ({
      success: false,
      code: refusal.code,
      error: refusal.code === ErrorCode.InternalError ? 'internal error' : refusal.message,
    }));
    // Before the scope hooks: a client's call gets what an unknown route gets.
    app.addHook('onRequest', async function onlyNodes(request, reply) {
      if (forward.sender(request.headers) !== undefined) return;
      reply.callNotFound();
      return reply;
    });
    const drive = { onRequest: access.hook((request) => `control:${(request as IdRequest).params.id}`) };
    const watch = { onRequest: access.hook((request) => `view:session:${(request as IdRequest).params.id}`) };
    const sender = (request: FastifyRequest): string => forward.sender(request.headers)!;
    /** The visitor the call names, held by the node that sent it. */
    const visitor = (session: Session, request: ParticipantRequest): Visitor => {
      const found = visiting.get(session, sender(request), request.params.participant);
      if (!found) throw new FramehubError(ErrorCode.InputNotAccepted, `participant ${describe(request.params.participant)} is not in session ${session.id} (it left); subscribe again`);
      return found;
    };

    app.post<IdRoute>('/api/session/:id/participants', watch, async (request: IdRequest) => {
      const session = find(registry, request, `view:session:${request.params.id}`);
      const body = objectBody(request.body);
      const socket = body['socket'];
      if (typeof socket !== 'string' || !SOCKET_ID.test(socket)) throw new FramehubError(ErrorCode.InvalidBody, `socket must be a Socket.IO id (got ${describe(socket)})`);
      const name = body['name'];
      const problem = name === undefined ? undefined : nameProblem(name);
      if (problem) throw new FramehubError(ErrorCode.InvalidBody, problem);
      const { viewer } = visiting.join(session, sender(request), socket, typeof name === 'string' ? name.trim() : undefined);
      return {
        success: true,
        session_id: session.id,
        you: { id: viewer.id, name: viewer.name },
        control: session.control.state,
        viewers: presenceOf(session),
      };
    });

    app.delete<ParticipantRoute>('/api/session/:id/participants/:participant', watch, async (request: ParticipantRequest) => {
      const session = find(registry, request, `view:session:${request.params.id}`);
      visiting.leave(session, visitor(session, request).viewer.id);
      return { success: true, session_id: session.id };
    });

    // `{event, payload}`: the Socket.IO event as the client sent it, read by the same codec.
    app.post<ParticipantRoute>('/api/session/:id/participants/:participant/control', drive, async (request: ParticipantRequest) => {
      const session = find(registry, request, `control:${request.params.id}`);
      const body = objectBody(request.body);
      const event = body['event'];
      const command = typeof event === 'string' ? parseControlEvent(event, body['payload'] === undefined ? [] : [body['payload']]) : undefined;
      if (command?.type !== 'control') throw new FramehubError(ErrorCode.InvalidBody, `event must be a control:* event or pointer:share (got ${describe(event)})`);
      const acknowledged = actAs(session, visitor(session, request).viewer, command, allows(grantOf(request).scopes, 'admin'));
      return { success: true, session_id: session.id, acknowledged };
    });

    app.post<ParticipantRoute>('/api/session/:id/participants/:participant/pointer', watch, async (request: ParticipantRequest) => {
      const session = find(registry, request, `view:session:${request.params.id}`);
      pointerOf(session, visitor(session, request).viewer, request.body);
      return { success: true };
    });
  });
}
