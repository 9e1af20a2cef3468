import { target, type FuzzContext } from './context.js';
import { badTokens, validToken } from './jwt.js';
import { jsonDepth, MAX_JSON_DEPTH, weirdString } from './hostile-values.js';
import type { Sent } from './oracle.js';
import type { Prng } from './prng.js';
import { FUZZ_RECORDING_ID, type ServerUnderTest } from './server-under-test.js';
import { WsConversation } from './ws-conversation.js';
import {
  eventsMessage, oversize, PROBE, producerMessage, streamingMessage, streamMessage, videoFeedMessage, videoMessage, WS_ROUTES, type WsMessage, type WsRoute,
} from './ws-messages.js';

/** How long an answer may take under the fuzzer's own load before it counts as missing. */
export const ANSWER_MS = 10_000;

/**
 * A connection refused by MAX_CONNECTIONS(_PER_IP): close 1013 on every route (README). The
 * fuzzer's servers set those caps far above what it opens, so this only covers a race.
 */
export const CAP_REFUSALS = ['close:1013'];

/** What the first message on `route` may meet instead of its answer: a cap, `/ws/video_feed`'s share, the variant bound. */
function refusalsAtOpen(route: WsRoute): string[] {
  if (route === 'video_feed') return [...CAP_REFUSALS, 'close:1008', 'error:too_many_variants'];
  if (route === 'stream') return [...CAP_REFUSALS, 'error:too_many_variants'];
  return CAP_REFUSALS;
}

const PATHS: Record<WsRoute, string> = {
  stream: '/stream/0',
  video_feed: '/ws/video_feed',
  video: '/video/0',
  streaming: '/ws/streaming',
  ws: '/ws',
  producer: '/ws/producer',
};

function messageFor(route: WsRoute, r: Prng, tag: string, playback: boolean): WsMessage {
  const message = hostileMessage(route, r, tag, playback);
  // Too deep is refused before anything else is looked at.
  if (typeof message.data === 'string' && !message.binary && jsonDepth(message.data) > MAX_JSON_DEPTH && message.kind !== 'oversize') {
    return { ...message, expect: ['error:invalid_json'], then: undefined };
  }
  return message;
}

function hostileMessage(route: WsRoute, r: Prng, tag: string, playback: boolean): WsMessage {
  if (r.chance(0.03)) return oversize(r);
  switch (route) {
    case 'stream': return streamMessage(r);
    case 'video_feed': return videoFeedMessage(r, playback);
    case 'video': return videoMessage(r);
    case 'streaming': return streamingMessage(r);
    case 'ws': return eventsMessage(r);
    case 'producer': return producerMessage(r, tag);
  }
}

/** A valid connection to `route`: on `main`, or `/ws` on `auth` with a good token. */
function validUrl(ctx: FuzzContext, route: WsRoute, r: Prng): { server: ServerUnderTest; url: string; protocols?: string[]; headers?: Record<string, string> } {
  if (route === 'producer') return { server: ctx.main, url: `${ctx.main.ws}/ws/producer?token=${ctx.producerToken}` };
  if (route === 'ws' && r.chance(0.5)) {
    const token = validToken(ctx.jwtSecret, weirdString(r).slice(0, 64));
    const how = r.int(3);
    if (how === 0) return { server: ctx.auth, url: `${ctx.auth.ws}/ws?token=${encodeURIComponent(token)}` };
    if (how === 1) return { server: ctx.auth, url: `${ctx.auth.ws}/ws`, headers: { authorization: `Bearer ${token}` } };
    return { server: ctx.auth, url: `${ctx.auth.ws}/ws`, protocols: ['bearer', token] };
  }
  // The fuzz recording's playback, steered by the playback commands (server-under-test.ts).
  if (route === 'video_feed' && r.chance(0.4)) return { server: ctx.main, url: `${PATHS[route]}?stream=recording:${FUZZ_RECORDING_ID}` };
  const since = (route === 'ws' || route === 'streaming') && r.chance(0.3) ? `?since=${r.range(0, 50)}` : '';
  if (route === 'ws' || r.chance(0.85)) return { server: ctx.main, url: `${PATHS[route]}${since}` };
  // The auth server asks every route for a token with `view`.
  const token = encodeURIComponent(validToken(ctx.jwtSecret, weirdString(r).slice(0, 64)));
  return { server: ctx.auth, url: `${PATHS[route]}${since ? `${since}&` : '?'}token=${token}` };
}

/**
 * One connection to one of the six protocols and up to 40 hostile messages on it, each
 * awaited and classified; ends with a clean close or an abrupt one.
 */
export async function wsEpisode(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const route = r.pick(WS_ROUTES);
  const chosen = validUrl(ctx, route, r);
  const url = chosen.url.startsWith('ws://') ? chosen.url : `${chosen.server.ws}${chosen.url}`;
  const conversation = WsConversation.open(url, route, { ...(chosen.headers && { headers: chosen.headers }), ...(chosen.protocols && { protocols: chosen.protocols }) });
  const name = target('ws', PATHS[route]);
  const where = `${chosen.server.name} ${url.replace(/token=[^&]*/, 'token=…')}${chosen.headers ? ' +Authorization' : ''}${chosen.protocols ? ' +bearer subprotocol' : ''}`;
  const openSent: Sent = { target: name, kind: 'open', caseIndex, index: 0, data: url, where };
  const opened = await conversation.opened(ANSWER_MS);
  if (opened !== 'open') {
    ctx.oracle.record(openSent, opened, refusalsAtOpen(route));
    conversation.ws.terminate();
    return;
  }
  const count = r.range(1, 40);
  for (let i = 1; i <= count && ctx.budgetLeft() && !ctx.stopped; i++) {
    const message = messageFor(route, r, `${caseIndex}-${i}`, url.includes('stream=recording:'));
    const sent: Sent = { target: name, kind: message.kind, caseIndex, index: i, data: message.data, where };
    conversation.send(message.data, message.binary);
    if (message.then) conversation.send(message.then, true);
    const allowed = i === 1 ? [...message.expect, ...refusalsAtOpen(route)] : message.expect;
    if (message.expect.includes('none')) {
      // Silence is the answer: a probe with a certain answer must be answered first.
      conversation.send(PROBE.data, false);
      const got = await conversation.next(ANSWER_MS);
      if (got === PROBE.expect[0]) {
        ctx.oracle.record(sent, 'none', allowed);
        continue;
      }
      ctx.oracle.record(sent, got, allowed);
      if (got.startsWith('close:') || got === 'timeout') break;
      const probe = await conversation.next(ANSWER_MS);
      if (probe !== PROBE.expect[0]) ctx.oracle.record({ ...sent, kind: 'probe', data: PROBE.data }, probe, PROBE.expect);
      if (probe.startsWith('close:')) break;
      continue;
    }
    const got = await conversation.next(ANSWER_MS);
    const ok = ctx.oracle.record(sent, got, allowed);
    if (got === 'close:1009' && message.kind === 'oversize') break;
    if (!ok && got === 'timeout') break;
    if (got.startsWith('close:') || got.startsWith('http:')) break;
  }
  if (r.chance(0.5)) conversation.ws.terminate();
  else conversation.ws.close(1000);
}

/**
 * A connection the server must refuse: bad query, unknown stream, bad token, publishing off.
 * The answer is the error message and the close code the README's tables promise.
 */
export async function wsRefusedOpen(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const { server, path, expect, route, protocols, headers } = refusedOpen(ctx, r);
  const conversation = WsConversation.open(`${server.ws}${path}`, route, { ...(protocols && { protocols }), ...(headers && { headers }) });
  const sent: Sent = { target: target('ws', PATHS[route]), kind: 'refused-open', caseIndex, index: 0, data: path, where: `${server.name}${headers ? ' +Authorization' : ''}${protocols ? ' +bearer subprotocol' : ''}` };
  const first = await conversation.next(ANSWER_MS);
  const got = first.startsWith('error:') ? `${first}>${await conversation.next(ANSWER_MS)}` : first;
  if (ctx.oracle.record(sent, got, [...expect, ...refusalsAtOpen(route)]) && conversation.closeReason && Buffer.byteLength(conversation.closeReason) > 123) {
    ctx.oracle.flag(sent, got, 'close reason over 123 bytes');
  }
  if (conversation.clientError && conversation.closeCode === 1006) ctx.oracle.flag(sent, `1006 (${conversation.clientError})`, 'a valid close frame');
  conversation.ws.terminate();
}

interface RefusedOpen {
  server: ServerUnderTest;
  path: string;
  route: WsRoute;
  expect: string[];
  protocols?: string[];
  headers?: Record<string, string>;
}

/** Never a valid value of `fps`, `quality`, `format` or `osd`; `REPEAT` gives the parameter twice. */
const BAD_QUERY_VALUES = ['0', '101', '-1', 'high', '1e3', '%C3%A9', '%F0%9F%98%80', '%00', 'REPEAT', '%E2%80%AE', ''];

function badQuery(r: Prng, names: readonly string[]): string {
  const name = r.pick(names);
  const value = r.pick(BAD_QUERY_VALUES);
  return value === 'REPEAT' ? `${name}=10&${name}=20` : `${name}=${value}`;
}
const BAD_SINCE = ['-1', 'abc', '1e3', '%C3%A9%C3%A9%C3%A9', `${'%C3%BC'.repeat(60)}`, '1&since=2', '1234567890123456', '%00', '', '0x10', '%EF%BC%91'];

function refusedOpen(ctx: FuzzContext, r: Prng): RefusedOpen {
  const enc = (s: string) => encodeURIComponent(Buffer.from(s).toString()); // lone surrogates become U+FFFD
  switch (r.int(10)) {
    case 8: {
      // A valid token without the route's scope: 403's close code, after the route's own error.
      const [route, path, scope] = r.pick<readonly [WsRoute, string, string]>([
        ['stream', '/stream/0', 'view:elsewhere'],
        ['stream', '/stream/demo', r.pick(['view:demo2', 'control', 'publish', 'view:session:demo'])],
        ['video_feed', '/ws/video_feed?stream=demo', 'view:0'],
        ['streaming', '/ws/streaming', r.pick(['view:demo', 'publish', 'control:x'])],
        ['ws', '/ws', r.pick(['view:demo', 'generations:all'])],
        ['producer', '/ws/producer', r.pick(['view', 'control', 'view:demo'])],
      ]);
      const token = enc(validToken(ctx.jwtSecret, 'fuzz', scope));
      return { server: ctx.auth, route, path: `${path}${path.includes('?') ? '&' : '?'}token=${token}`, expect: ['error:scope_missing>close:4403'] };
    }
    case 0: return { server: ctx.main, route: 'stream', path: `/stream/${enc(r.chance(0.5) ? weirdString(r).slice(0, 300) : `does-not-exist-${r.int(1000)}`)}`, expect: ['error:stream_not_found>close:4404'] };
    case 1: return { server: ctx.main, route: 'stream', path: `/stream/0?${badQuery(r, ['fps', 'quality', 'format'])}`, expect: ['error:invalid_query>close:4400'] };
    case 2: return { server: ctx.main, route: 'video_feed', path: `/ws/video_feed?stream=${enc(weirdString(r).slice(0, 200))}`, expect: ['error:stream_not_found>close:4404', 'close:1008'] };
    case 3: return { server: ctx.main, route: 'video_feed', path: `/ws/video_feed?${badQuery(r, ['fps', 'quality', 'format', 'osd'])}`, expect: ['error:invalid_query>close:4400', 'close:1008'] };
    case 4: return r.chance(0.5)
      ? { server: ctx.main, route: 'streaming', path: `/ws/streaming?since=${r.pick(BAD_SINCE)}`, expect: ['error:invalid_query>close:4400'] }
      // The token is checked before the query is read: without one, the auth server says so first.
      : { server: ctx.auth, route: 'streaming', path: `/ws/streaming?token=${enc(validToken(ctx.jwtSecret))}&since=${r.pick(BAD_SINCE)}`, expect: ['error:invalid_query>close:4400'] };
    case 5: return { server: ctx.main, route: 'ws', path: `/ws?since=${r.pick(BAD_SINCE)}`, expect: ['error:invalid_query>close:4400'] };
    case 6: {
      // Every route asks for tokens the same way (access.ts), so every route refuses them alike.
      const [code, token] = r.pick(badTokens(ctx.jwtSecret));
      const how = r.int(3);
      const expect = [`error:${code}>close:4401`];
      const route = r.pick<WsRoute>(['ws', 'ws', 'stream', 'streaming', 'video_feed']);
      const path = route === 'stream' ? '/stream/demo' : PATHS[route];
      if (how === 0) return { server: ctx.auth, route, path: `${path}?token=${enc(token)}`, expect };
      if (how === 1) return { server: ctx.auth, route, path, headers: { authorization: `Bearer ${token}` }, expect };
      return { server: ctx.auth, route, path, protocols: ['bearer', token.replace(/[^A-Za-z0-9._-]/g, '') || 'x'], expect };
    }
    case 7: return r.chance(0.5)
      ? { server: ctx.auth, route: 'ws', path: '/ws', expect: ['error:token_missing>close:4401'] }
      : { server: ctx.auth, route: 'ws', path: '/ws?token=', expect: ['error:token_missing>close:4401', 'error:token_invalid>close:4401'] };
    default:
      return r.chance(0.5)
        ? { server: ctx.main, route: 'producer', path: `/ws/producer?token=${enc(weirdString(r).slice(0, 100))}`, expect: ['error:unauthorized>close:4401'] }
        // The auth server has no PRODUCER_TOKEN: the main server's is no token there (not a JWT).
        : { server: ctx.auth, route: 'producer', path: `/ws/producer?token=${enc(ctx.producerToken)}`, expect: ['error:token_invalid>close:4401'] };
  }
}
