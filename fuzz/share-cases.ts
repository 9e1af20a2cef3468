import { WebSocket } from 'ws';
import { io } from 'socket.io-client';
import { target, type FuzzContext } from './context.js';
import { anyValue, badInt, deepValue, invalidJson, notAnObject, weirdString, weirdStringJson } from './hostile-values.js';
import { signHs256 } from './jwt.js';
import type { Prng } from './prng.js';
import type { ServerUnderTest } from './server-under-test.js';
import { connectedWithin } from './socket-io-connect.js';

/**
 * Share links (docs/sessions.md "Share links"): hostile bodies to the share routes, forged
 * share-link tokens on every transport, and a real link's life (its uses counted, then revoked)
 * on the open server. Every answer is the one the docs give; a link past `max_uses` or revoked
 * is refused with `token_used_up` / `token_revoked` and close 4401.
 */
const ANSWER_MS = 10_000;
const SHARE_HEADER = '{"alg":"HS256","typ":"framehub-share+jwt"}';
const JSON_TYPE = { 'content-type': 'application/json' };

export async function shareCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const kind = r.int(3);
  if (kind === 0) return restSteps(ctx, r, caseIndex);
  if (kind === 1) return forgedTokenStep(ctx, r, caseIndex);
  return linkLife(ctx, r, caseIndex);
}

/** A share body no route accepts, and what it is. */
function badShareBody(r: Prng): { kind: string; body: string; json: boolean } {
  switch (r.int(6)) {
    case 0: return { kind: 'bad-mode', body: `{"mode":${r.pick(['"edit"', '"VIEW"', 'null', '1', '[]', weirdStringJson(r), deepValue(r)])}}`, json: true };
    case 1: return { kind: 'bad-ttl', body: `{"mode":"view","ttl":${badInt(r, 60, 604_800).replace(/^null$/, '0')}}`, json: true };
    // `null` is no limit: left out here, it would be a valid body.
    case 2: return { kind: 'bad-max-uses', body: `{"mode":"view","max_uses":${badInt(r, 1, 10_000).replace(/^null$/, '0')}}`, json: true };
    case 3: return { kind: 'not-an-object', body: notAnObject(r), json: true };
    case 4: return { kind: 'invalid-json', body: invalidJson(r), json: false };
    default: return { kind: 'junk-fields', body: `{"mode":${r.pick(['"control"', '"view"'])},"ttl":${r.pick(['59', '"3600"', anyValue(r)])}}`, json: true };
  }
}

async function restSteps(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const session = ctx.sessionId;
  const count = r.range(1, 5);
  for (let i = 0; i < count && ctx.budgetLeft() && !ctx.stopped; i++) {
    const bad = badShareBody(r);
    const unknown = r.chance(0.5) ? encodeURIComponent(Buffer.from(weirdString(r).slice(0, 100)).toString()) || 'x' : `missing-${r.int(1e6)}`;
    // A junk-fields body may by chance be a valid one: 201 is then its answer (429 once the target holds 32 links).
    const maybeValid = bad.kind === 'junk-fields' ? ['201', '429'] : [];
    const request = r.pick<() => [string, string, string, string | undefined, string[]]>([
      // Fastify reads the body before the handler looks the session up: invalid JSON is 400 either way.
      () => session && r.chance(0.6)
        ? ['POST /api/session/:id/share', 'POST', `/api/session/${session}/share`, bad.body, ['400', ...maybeValid]]
        : ['POST /api/session/:id/share', 'POST', `/api/session/${unknown}/share`, bad.body, bad.json ? ['404'] : ['400', '404']],
      () => r.chance(0.6)
        ? ['POST /api/streams/:id/share', 'POST', '/api/streams/demo/share', bad.body, ['400 invalid_body', '400 invalid_json', ...maybeValid.map((status) => (status === '429' ? '429 too_many_shares' : status))]]
        : ['POST /api/streams/:id/share', 'POST', `/api/streams/missing-${unknown}/share`, bad.body, bad.json ? ['404 stream_not_found'] : ['400 invalid_json', '404 stream_not_found']],
      () => ['DELETE /api/session/:id/shares/:link', 'DELETE', `/api/session/${session ?? unknown}/shares/${unknown}`, undefined, ['404']],
      () => ['DELETE /api/streams/:id/shares/:link', 'DELETE', `/api/streams/demo/shares/${unknown}`, undefined, ['404 share_not_found']],
      () => ['GET /api/session/:id/shares', 'GET', `/api/session/${session ?? unknown}/shares?${unknown}=${unknown}`, undefined, session ? ['200'] : ['404']],
    ])();
    const [route, method, path, body, expect] = request;
    const got = await send(ctx.main, method, path, body, route.includes('/api/streams') ? 'plain' : 'session');
    ctx.oracle.record({ target: target('rest', route), kind: bad.kind, caseIndex, index: i, data: `${method} ${path}\n${body ?? ''}`, where: 'main' }, got, expect);
  }
}

/** Tokens that say they are share links and are not good ones, each with the code it must get. */
function forgedShareToken(r: Prng, ctx: FuzzContext): [string[], string] {
  const now = Math.floor(Date.now() / 1000);
  const claims = (extra: object) => JSON.stringify({ jti: `fuzz-${r.int(1e9)}`, aud: 'framehub:share', scope: r.pick(['admin', 'view', 'view:demo', 'control:x']), iat: now, exp: now + 600, ...extra });
  // The auth server signs links with its JWT_SECRET, which the fuzzer knows: a token it signs names no link there.
  return r.pick<[string[], string]>([
    [['token_invalid'], signHs256(SHARE_HEADER, claims({}), ctx.jwtSecret)],
    [['token_invalid'], signHs256(SHARE_HEADER, claims({}), 'not-the-secret-0123456789')],
    [['token_invalid', 'token_alg_none'], `${Buffer.from('{"alg":"none","typ":"framehub-share+jwt"}').toString('base64url')}.${Buffer.from(claims({})).toString('base64url')}.`],
    [['token_expired', 'token_invalid'], signHs256(SHARE_HEADER, claims({ exp: now - 60 }), ctx.jwtSecret)],
    [['token_invalid'], signHs256(SHARE_HEADER, claims({ aud: 'elsewhere' }), ctx.jwtSecret)],
    [['token_invalid'], signHs256(SHARE_HEADER, JSON.stringify({ scope: 'admin', exp: now + 600 }), ctx.jwtSecret)],
    [['token_invalid'], signHs256(SHARE_HEADER, `${'['.repeat(3000)}${']'.repeat(3000)}`, ctx.jwtSecret)],
    [['token_invalid'], signHs256('{"alg":"HS512","typ":"framehub-share+jwt"}', claims({}), ctx.jwtSecret)],
  ]);
}

/** A forged share token on REST, Socket.IO or a stream socket, on the open server or the auth server: refused, open or not. */
async function forgedTokenStep(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const [codes, token] = forgedShareToken(r, ctx);
  const server = r.chance(0.5) ? ctx.main : ctx.auth;
  const channel = r.int(3);
  const sent = { caseIndex, index: 0, data: token.slice(0, 200), where: server.name };
  if (channel === 0) {
    const got = await send(server, 'GET', `/api/session/${ctx.sessionId ?? 'x'}/frame/data?token=${encodeURIComponent(token)}`, undefined, 'session');
    ctx.oracle.record({ ...sent, target: target('rest', 'GET /api/session/:id/frame/data'), kind: 'forged-share-token' }, got, ['401']);
  } else if (channel === 1) {
    const socket = io(server.http, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: ANSWER_MS, auth: { token } });
    const code = new Promise<string>((resolve) => socket.once('connect_error', (error: Error & { data?: { code?: string } }) => resolve(`connect_error:${error.data?.code}`)));
    const connected = await connectedWithin(socket, ANSWER_MS);
    const got = connected ? 'connect' : await Promise.race([code, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 100))]);
    socket.disconnect();
    ctx.oracle.record({ ...sent, target: target('socket.io', 'handshake-share-token'), kind: 'forged-share-token' }, got, codes.map((c) => `connect_error:${c}`));
  } else {
    const got = await streamSocket(`${server.ws}/stream/demo?token=${encodeURIComponent(token)}`);
    ctx.oracle.record({ ...sent, target: target('ws', '/stream/:id'), kind: 'forged-share-token' }, got, codes.map((c) => `error:${c}>close:4401`));
  }
}

/**
 * A real stream link on the open server: `max_uses` connections get frames, the next is
 * refused `token_used_up`; after the revoke the admitted ones are closed 4401 `token_revoked`
 * and a new one is refused the same way.
 */
async function linkLife(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const maxUses = r.range(1, 3);
  const made = await fetch(`${ctx.main.http}/api/streams/demo/share`, {
    method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ ttl: r.range(60, 600), max_uses: maxUses }), signal: AbortSignal.timeout(ANSWER_MS),
  }).then(async (res) => ({ status: res.status, body: await res.json().catch(() => ({})) as { token?: string; link?: { id?: string } } }), () => undefined);
  const sent = { target: target('rest', 'POST /api/streams/:id/share'), kind: 'valid', caseIndex, index: 0, data: `max_uses ${maxUses}`, where: 'main' };
  // Another case's links may fill the stream's 32 for a moment.
  if (!ctx.oracle.record(sent, made ? String(made.status) : 'no-answer', ['201', '429']) || made?.status !== 201) return;
  const { token, link } = made.body;
  if (!token || !link?.id) return ctx.oracle.flag(sent, JSON.stringify(made.body).slice(0, 120), 'a created link has a token and an id');
  const url = `${ctx.main.ws}/stream/demo?token=${encodeURIComponent(token)}`;
  const admitted: WebSocket[] = [];
  try {
    for (let i = 0; i <= maxUses && !ctx.stopped; i++) {
      const got = await streamSocket(url, admitted);
      ctx.oracle.record({ ...sent, target: target('ws', '/stream/:id'), kind: i < maxUses ? 'share-link-use' : 'share-link-used-up', index: i + 1 }, got, i < maxUses ? ['frame', 'close:1013'] : ['error:token_used_up>close:4401']);
    }
    const closes = admitted.map((ws) => closeLabel(ws));
    const revoked = await fetch(`${ctx.main.http}/api/streams/demo/shares/${link.id}`, { method: 'DELETE', signal: AbortSignal.timeout(ANSWER_MS) }).then((res) => String(res.status), () => 'no-answer');
    ctx.oracle.record({ ...sent, target: target('rest', 'DELETE /api/streams/:id/shares/:link'), kind: 'valid', index: 10 }, revoked, ['200']);
    for (const [i, close] of closes.entries()) {
      ctx.oracle.record({ ...sent, target: target('ws', '/stream/:id'), kind: 'share-link-revoked-open', index: 11 + i }, await close, ['close:4401 token_revoked']);
    }
    const after = await streamSocket(url);
    ctx.oracle.record({ ...sent, target: target('ws', '/stream/:id'), kind: 'share-link-revoked', index: 20 }, after, ['error:token_revoked>close:4401']);
  } finally {
    for (const ws of admitted) ws.terminate();
  }
}

/** Opens a stream socket: `frame` at its first frame (the socket kept in `keep`, else closed), or `error:<code>>close:<code>`. */
function streamSocket(url: string, keep?: WebSocket[]): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let error = '';
    let framed = false;
    const timer = setTimeout(() => finish('timeout'), ANSWER_MS);
    function finish(label: string) {
      clearTimeout(timer);
      resolve(label);
    }
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let message: { type?: string; error?: { code?: string } };
      try {
        message = JSON.parse(data.toString());
      } catch {
        return finish('not-json');
      }
      if (message.type === 'error') error ||= `error:${message.error?.code}>`;
      if (message.type === 'frame' && !framed) {
        framed = true;
        if (keep) keep.push(ws);
        else ws.terminate();
        finish('frame');
      }
    });
    ws.on('close', (code) => finish(`${error}close:${code}`));
  });
}

/** The close of an admitted socket, with the code of the error it got first. */
function closeLabel(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => {
    let code = '';
    const timer = setTimeout(() => resolve('timeout'), ANSWER_MS);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      try {
        const message = JSON.parse(data.toString()) as { type?: string; error?: { code?: string } };
        if (message.type === 'error') code ||= ` ${message.error?.code}`;
      } catch {
        // frames only
      }
    });
    ws.once('close', (close) => {
      clearTimeout(timer);
      resolve(`close:${close}${code}`);
    });
  });
}

/** Status (and code, on the root's routes) of a request: `<status>` for the session family, `<status> <code>` elsewhere. */
async function send(server: ServerUnderTest, method: string, path: string, body: string | undefined, family: 'session' | 'plain'): Promise<string> {
  try {
    const res = await fetch(`${server.http}${path}`, { method, headers: body === undefined ? {} : JSON_TYPE, ...(body !== undefined && { body }), signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    if (res.status < 400) return String(res.status);
    let parsed: any;
    try {
      parsed = JSON.parse(text);
    } catch {
      return `${res.status} not-json`;
    }
    if (family === 'session') return parsed?.success === false && typeof parsed.error === 'string' ? String(res.status) : `${res.status} unshaped`;
    return `${res.status} ${typeof parsed?.error === 'string' ? parsed.error : parsed?.error?.code}`;
  } catch {
    return 'no-answer';
  }
}
