import { ErrorCode, FramehubError } from '../wire/errors.js';
import type { SessionDirectory } from './session-directory.js';

/** Marks a request one node forwarded to another: it is answered where it lands, never forwarded again. */
export const FORWARDED_HEADER = 'x-framehub-forwarded';

/** The cluster's secret, proving a forwarded call comes from a node (session-directory.ts). */
const SECRET_HEADER = 'x-framehub-cluster-secret';
/** The address of the client a forwarded call came from: what a create's per-address cap counts. */
const CLIENT_IP_HEADER = 'x-framehub-client-ip';
/**
 * The presence id a forwarded Socket.IO input comes from (remote-participant.ts): the session's
 * node takes it as that participant's input, believed only beside the secret and from the node
 * that holds the participant. Never passed on from a client's own headers.
 */
export const PARTICIPANT_HEADER = 'x-framehub-participant';

/**
 * The request headers that travel with a forwarded call: who asks (the owner node checks the
 * token again), the body's type, and a REST script's control key (session-control-routes.ts).
 */
const PASSED_REQUEST_HEADERS = ['authorization', 'content-type', 'accept', 'x-control-holder'] as const;
/** The answer headers that come back. */
export const PASSED_ANSWER_HEADERS = ['content-type', 'cache-control', 'www-authenticate'] as const;

/** How long a node has to answer for its sessions in a cluster-wide list (a list is not worth a 10 s wait for one node). */
const LIST_TIMEOUT_MS = 3_000;

/** The largest answer taken back (a 4K PNG of a busy page is well under it). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export interface ForwardedCall {
  method: string;
  /** `/api/session/<id>…` with its query; nothing else is forwarded. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  /** The caller's address, passed on for the per-address cap of a create. */
  clientIp?: string;
  /** The participant a Socket.IO viewer is in the session (its presence id there), for its input. */
  participant?: string;
}

export interface ForwardedAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * A session REST call (or a Socket.IO input event, as the REST input call) made on this node
 * for a session another node runs, sent to that node over HTTP and answered with its answer.
 *
 * HTTP rather than a Redis request/reply channel: the owner node answers through its own
 * routes, so the token, the owner check, validation, rate limits and error shapes are the ones
 * a local call meets, with nothing copied; and PNG answers (megabytes) do not pass through
 * Redis's single thread, where they would hold up the leases. It costs nodes reaching each
 * other at the address each announces. Never an open relay: only to the node the directory
 * names for that session (a live member of the cluster), only `/api/session/<id>` paths (and
 * `/api/sessions` to the members, for the cluster-wide list), and a forwarded call is never
 * forwarded again.
 */
export class SessionForward {
  constructor(
    private readonly directory: SessionDirectory,
    /** How long the owner node has to answer. @default 10000 */
    private readonly timeoutMs = 10_000,
  ) {}

  /** Whether `headers` mark a call another node forwarded here. */
  static forwarded(headers: Record<string, unknown>): boolean {
    return headers[FORWARDED_HEADER] !== undefined;
  }

  /**
   * The address a call came from: the one a forwarding node names when the call carries the
   * cluster's secret, otherwise the connection's own (`ip`). A client cannot name another address.
   */
  clientIp(headers: Record<string, unknown>, ip: string): string {
    const named = headers[CLIENT_IP_HEADER];
    return typeof named === 'string' && named.length <= 64 && this.directory.isSecret(headers[SECRET_HEADER]) ? named : ip;
  }

  /**
   * The node that forwarded a call here, when the call carries the cluster's secret; `undefined`
   * for any other call (a client's own, whatever headers it sends).
   */
  sender(headers: Record<string, unknown>): string | undefined {
    const node = headers[FORWARDED_HEADER];
    return typeof node === 'string' && node.length <= 128 && this.directory.isSecret(headers[SECRET_HEADER]) ? node : undefined;
  }

  /**
   * A create sent to the node with the most room (session-directory.ts `roomiest`), answered
   * with its answer; `undefined` when this node is the place (or the chosen node could not be
   * connected to: this node then makes the session itself rather than fail it).
   */
  async create(localSessions: number, call: ForwardedCall): Promise<ForwardedAnswer | undefined> {
    const target = this.directory.roomiest(localSessions);
    if (!target || call.path !== '/api/session/create') return undefined;
    try {
      return await this.#fetch(target, call, 'a new session');
    } catch (error) {
      // Never reached: made here instead. A timeout is thrown: the other node may have made it.
      if (error instanceof FramehubError && error.code === ErrorCode.NodeUnreachable) return undefined;
      throw error;
    }
  }

  /** The owner node's answer to `call` for session `id`; `undefined` when no other node runs it. Throws `node_unreachable` / `timeout`. */
  async send(id: string, call: ForwardedCall): Promise<ForwardedAnswer | undefined> {
    const place = await this.directory.lookup(id);
    if (!place) return undefined;
    const prefix = `/api/session/${encodeURIComponent(id)}`;
    if (!place.url || !(call.path === prefix || call.path.startsWith(`${prefix}/`) || call.path.startsWith(`${prefix}?`))) {
      throw new FramehubError(ErrorCode.NodeUnreachable, `session ${JSON.stringify(id.slice(0, 64))} runs on node ${place.node}, which announced no address`);
    }
    return this.#fetch({ node: place.node, url: place.url }, call, `session ${JSON.stringify(id.slice(0, 64))}`);
  }

  /** This node's id: what a cluster-wide session list names as the node of this node's sessions. */
  get nodeId(): string {
    return this.directory.nodeId;
  }

  /**
   * Every other node's entries of `GET /api/sessions`, asked of each with the caller's token (each
   * node lists what that token may see of its own sessions, by its own rules, with its `node`),
   * all at once. A node that does not answer within `LIST_TIMEOUT_MS` is listed from the directory:
   * its sessions' ids, node and owner (those `visible` lets through), with `state: "unreachable"`.
   */
  async list(headers: Record<string, string | string[] | undefined>, visible: (owner: string | undefined) => boolean): Promise<Record<string, unknown>[]> {
    const lists = await Promise.all(this.directory.others().map(async ({ node, url, sessions }) => {
      try {
        if (!url) throw new Error('no address announced');
        const answer = await this.#fetch({ node, url }, { method: 'GET', path: '/api/sessions', headers }, 'the session list', LIST_TIMEOUT_MS);
        const body = JSON.parse(answer.body.toString('utf8')) as { sessions?: unknown };
        if (answer.status !== 200 || !Array.isArray(body.sessions)) throw new Error(`answered ${answer.status}`);
        return body.sessions.filter((entry): entry is Record<string, unknown> => typeof entry === 'object' && entry !== null && !Array.isArray(entry));
      } catch {
        return sessions
          .filter((session) => visible(session.owner))
          .map((session) => ({ session_id: session.id, node, state: 'unreachable', ...(session.owner !== undefined && { owner: session.owner }) }));
      }
    }));
    return lists.flat();
  }

  async #fetch(target: { node: string; url: string }, call: ForwardedCall, what: string, timeoutMs = this.timeoutMs): Promise<ForwardedAnswer> {
    const headers: Record<string, string> = {
      [FORWARDED_HEADER]: this.directory.nodeId,
      [SECRET_HEADER]: this.directory.secret,
      ...(call.clientIp !== undefined && { [CLIENT_IP_HEADER]: call.clientIp }),
      ...(call.participant !== undefined && { [PARTICIPANT_HEADER]: call.participant }),
    };
    for (const name of PASSED_REQUEST_HEADERS) {
      const value = call.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const hasBody = call.body !== undefined && call.method !== 'GET' && call.method !== 'HEAD';
    if (hasBody) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(new URL(call.path, target.url), {
        method: call.method,
        headers,
        ...(hasBody && { body: JSON.stringify(call.body) }),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await readBounded(response);
      const answerHeaders: Record<string, string> = {};
      for (const name of PASSED_ANSWER_HEADERS) {
        const value = response.headers.get(name);
        if (value !== null) answerHeaders[name] = value;
      }
      return { status: response.status, headers: answerHeaders, body };
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') {
        throw new FramehubError(ErrorCode.Timeout, `${what} runs on node ${target.node}, which did not answer within ${timeoutMs / 1000} s`, { cause: error });
      }
      throw new FramehubError(ErrorCode.NodeUnreachable, `${what} runs on node ${target.node}, which cannot be reached: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * One input event for session `id`, sent as the REST input call with `token` (the owner node
   * checks it, the owner and the event there). Resolves when the page took it; throws a
   * FramehubError with the owner's message otherwise (its code read from the status: the REST
   * answer carries the message only).
   */
  async input(id: string, token: string | undefined, type: string, payload: Record<string, unknown>, participant?: string): Promise<void> {
    const answer = await this.send(id, {
      method: 'POST',
      path: `/api/session/${encodeURIComponent(id)}/input`,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      body: { ...payload, type },
      ...(participant !== undefined && { participant }),
    });
    if (!answer) throw new FramehubError(ErrorCode.SessionNotFound, `no session ${JSON.stringify(id.slice(0, 64))}`);
    if (answer.status < 300) return;
    let message = `input:${type} refused by node ${(await this.directory.lookup(id))?.node ?? 'unknown'} (${answer.status})`;
    try {
      const body = JSON.parse(answer.body.toString('utf8')) as { error?: unknown };
      if (typeof body.error === 'string') message = body.error;
    } catch {
      // Not JSON: the status says enough.
    }
    throw new FramehubError(STATUS_CODES[answer.status] ?? ErrorCode.SourceError, message);
  }
}

/** The code a Socket.IO client gets for a forwarded input's REST status. */
const STATUS_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.InvalidInput,
  401: ErrorCode.Unauthorized,
  403: ErrorCode.ScopeMissing,
  404: ErrorCode.SessionNotFound,
  // What input meets once someone asked for the session's control and another holds it.
  409: ErrorCode.ControlRequired,
  429: ErrorCode.RateLimited,
  504: ErrorCode.Timeout,
};

async function readBounded(response: Response): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (!response.body) return Buffer.alloc(0);
  for await (const chunk of response.body) {
    size += (chunk as Uint8Array).byteLength;
    if (size > MAX_ANSWER_BYTES) throw new Error(`its answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}
