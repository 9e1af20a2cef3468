import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Hub } from '../hub/hub.js';
import { describe } from '../protocols/values.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { AccessError, SESSION_STREAM, driverOrAdminNeed, grantOf, reaches, type Access } from './access.js';
import type { Principal } from './auth.js';
import { answerErrors } from './route-errors.js';
import { MAX_SHARE_USES, SHARE_TTL, type ShareMode, type ShareRegistry } from './share-links.js';
import { resolveStream } from './stream-lookup.js';

interface IdRoute { Params: { id: string } }
/** In a cluster: the owner of a session another node runs (`undefined`: no node runs it). */
export type RemoteSessionOwners = (id: string) => Promise<{ owner?: string } | undefined>;
interface LinkRoute { Params: { id: string; link: string } }
type IdRequest = FastifyRequest<IdRoute>;

const MODES: readonly ShareMode[] = ['view', 'control'];

/** What a share request's body asks for, checked. */
interface ShareRequest {
  mode: ShareMode;
  ttl: number;
  maxUses: number | undefined;
}

/**
 * Share links (docs/sessions.md "Share links"): `POST /api/session/:id/share`, `GET
 * /api/session/:id/shares`, `DELETE /api/session/:id/shares/:link`, and the same under
 * `/api/streams/:id/` (view links only). A session's links are made, listed and revoked by
 * whoever drives it (`control:<id>` reaching it: its owner or admin); any other stream's by
 * `admin` only, since a link outlives the token that made it and a viewer could otherwise hand
 * out access its issuer cannot take back. A share link's own holder may do none of this.
 */
export function registerShareRoutes(root: FastifyInstance, hub: Hub, registry: SessionRegistry, access: Access, shares: ShareRegistry, remote?: RemoteSessionOwners): void {
  /**
   * Session `id` with its owner, here or (in a cluster) on another node: links live in Redis
   * there, so any node makes, lists and revokes them for its driver.
   */
  const sessionOf = async (id: string): Promise<{ owner: string | undefined } | undefined> => {
    const session = registry.get(id);
    if (session) return { owner: session.options.owner };
    const place = await remote?.(id);
    return place && { owner: place.owner };
  };
  // The session routes' scope and failure shape: `{success: false, error}`.
  void root.register(async function sessionShareRoutes(app) {
    app.removeContentTypeParser('text/plain');
    answerErrors(app, 'share request', (refusal) => ({
      success: false,
      error: refusal.code === ErrorCode.InternalError ? 'internal error' : refusal.message,
    }));
    const drive = { onRequest: access.hook((request) => `control:${(request as IdRequest).params.id}`) };
    /** The session's stream id, when the grant drives it; otherwise the unknown id's 404, word for word. */
    const target = async (request: FastifyRequest<IdRoute | LinkRoute>) => {
      const grant = makerOf(request);
      const { id } = request.params;
      const session = await sessionOf(id);
      if (!session || !reaches(grant, `control:${id}`, session.owner)) {
        throw new FramehubError(ErrorCode.SessionNotFound, `no session ${JSON.stringify(id.slice(0, 64))}`);
      }
      return `${SESSION_STREAM}${id}`;
    };

    app.post<IdRoute>('/api/session/:id/share', drive, async (request, reply) => {
      const stream = await target(request);
      const wanted = shareRequest(request.body, MODES);
      const { link, token } = await shares.create(stream, wanted.mode, wanted.ttl, wanted.maxUses);
      const path = `/session.html?session=${encodeURIComponent(request.params.id)}&token=${encodeURIComponent(token)}`;
      return reply.code(201).send({ success: true, link, token, path, url: absolute(request, path) });
    });
    app.get<IdRoute>('/api/session/:id/shares', drive, async (request) => ({ success: true, links: await shares.list(await target(request)) }));
    app.delete<LinkRoute>('/api/session/:id/shares/:link', drive, async (request) => {
      const link = await shares.revoke(await target(request), request.params.link);
      if (!link) throw noLink(request.params.link);
      return { success: true, link };
    });
  });

  // `/api/streams/…`: the root's failure shape `{error: <code>, message}`, as the recording routes there.
  void root.register(async function streamShareRoutes(app) {
    app.removeContentTypeParser('text/plain');
    const canonical = (id: string) => (id === '0' ? hub.primary : id);
    const manage = { onRequest: access.hook((request) => driverOrAdminNeed(canonical((request as IdRequest).params.id))) };
    const target = async (request: FastifyRequest<IdRoute | LinkRoute>) => {
      const grant = makerOf(request);
      const id = canonical(request.params.id);
      if (id.startsWith(SESSION_STREAM)) {
        const session = await sessionOf(id.slice(SESSION_STREAM.length));
        if (!session || !reaches(grant, driverOrAdminNeed(id), session.owner)) throw new FramehubError(ErrorCode.StreamNotFound, `no stream with id ${JSON.stringify(id.slice(0, 128))}`);
        return id;
      }
      return resolveStream(hub, id, grant).id;
    };

    app.post<IdRoute>('/api/streams/:id/share', manage, async (request, reply) => {
      const stream = await target(request);
      const wanted = shareRequest(request.body === undefined ? {} : request.body, ['view']);
      const { link, token } = await shares.create(stream, wanted.mode, wanted.ttl, wanted.maxUses);
      // The viewer page reads ?stream=&token=&connect=1 (web/viewer.js).
      const path = `/?stream=${encodeURIComponent(stream)}&token=${encodeURIComponent(token)}&connect=1`;
      return reply.code(201).send({ link, token, path, url: absolute(request, path) });
    });
    app.get<IdRoute>('/api/streams/:id/shares', manage, async (request) => ({ links: await shares.list(await target(request)) }));
    app.delete<LinkRoute>('/api/streams/:id/shares/:link', manage, async (request) => {
      const link = await shares.revoke(await target(request), request.params.link);
      if (!link) throw noLink(request.params.link);
      return { link };
    });
  });
}

/** The request's grant, unless it is a share link's: a link does not make, list or revoke links (it would outlive its own revocation). */
function makerOf(request: FastifyRequest): Principal {
  const grant = grantOf(request);
  if (grant.share) throw new AccessError(ErrorCode.ScopeMissing, 'forbidden: a share link cannot make, list or revoke share links');
  return grant;
}

function noLink(id: string): FramehubError {
  return new FramehubError(ErrorCode.ShareNotFound, `no share link ${JSON.stringify(id.slice(0, 64))}`);
}

/** `{mode, ttl?, max_uses?}` checked: mode one of `modes`, ttl whole seconds within SHARE_TTL, max_uses 1..MAX_SHARE_USES or null. */
function shareRequest(body: unknown, modes: readonly ShareMode[]): ShareRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new FramehubError(ErrorCode.InvalidBody, 'the body must be a JSON object');
  const fields = body as Record<string, unknown>;
  // A stream link has one mode, so it may be left out there; a session's must say which.
  const mode = fields['mode'] ?? (modes.length === 1 ? modes[0] : undefined);
  if (typeof mode !== 'string' || !modes.includes(mode as ShareMode)) {
    throw new FramehubError(ErrorCode.InvalidBody, `mode must be ${modes.map((m) => JSON.stringify(m)).join(' or ')} (got ${describe(mode)})`);
  }
  const ttl = fields['ttl'] ?? SHARE_TTL.default;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < SHARE_TTL.min || ttl > SHARE_TTL.max) {
    throw new FramehubError(ErrorCode.InvalidBody, `ttl must be an integer from ${SHARE_TTL.min} to ${SHARE_TTL.max} seconds (got ${describe(ttl)})`);
  }
  const maxUses = fields['max_uses'] ?? undefined;
  if (maxUses !== undefined && (typeof maxUses !== 'number' || !Number.isInteger(maxUses) || maxUses < 1 || maxUses > MAX_SHARE_USES)) {
    throw new FramehubError(ErrorCode.InvalidBody, `max_uses must be an integer from 1 to ${MAX_SHARE_USES}, or null for no limit (got ${describe(maxUses)})`);
  }
  return { mode: mode as ShareMode, ttl, maxUses: maxUses as number | undefined };
}

/**
 * The link as the caller reached this server: its scheme and Host (which the request gate has
 * checked against PUBLIC_HOSTS where that is set). A link for another name is the caller's own to make.
 */
function absolute(request: FastifyRequest, path: string): string {
  // An HTTP/1.0 request may carry no Host: the path alone is then all that can be said.
  return request.host ? `${request.protocol}://${request.host}${path}` : path;
}
