import { target, type FuzzContext } from './context.js';
import type { Sent } from './oracle.js';
import type { Prng } from './prng.js';
import { closeCodeOf, closeReasonValid, encodeFrame, parseServerFrames, rawRequest, upgradeRequest, type RawConnection } from './raw-ws.js';
import type { ServerUnderTest } from './server-under-test.js';
import { weirdString } from './hostile-values.js';
import { validToken } from './jwt.js';

/** An HTTP answer to an upgrade must come within this; "promptly" in the words. */
const PROMPT_MS = 3000;
/** An upgrade not answered by then is hanging, not late. */
const LATE_MS = 15_000;
/** A handshake that never finishes must be dropped by then (the issue asks for 10 s; Node checks every second). */
const HANDSHAKE_DROP_MS = 12_000;
/** How long the fuzzer watches an unfinished handshake that outlived HANDSHAKE_DROP_MS, to tell late from never. */
const HANDSHAKE_WATCH_MS = 30_000;

const OPEN_PATHS = ['/stream/0', '/ws/video_feed', '/video/0?tier=360p', '/ws/streaming', '/ws'];

function openPath(ctx: FuzzContext, r: Prng): string {
  return r.chance(0.2) ? `/ws/producer?token=${ctx.producerToken}` : r.pick(OPEN_PATHS);
}

/** Resolves with the server's close code once its close frame arrives (0: ended without one; -1: nothing within `ms`). */
function serverClose(conn: RawConnection, ms: number): Promise<number> {
  return new Promise((resolve) => {
    const check = () => {
      const code = closeCodeOf(parseServerFrames(conn.received()));
      if (code !== 0) return done(code);
    };
    const done = (code: number) => {
      clearTimeout(timer);
      conn.socket.off('data', check);
      conn.socket.off('close', onEnd);
      resolve(code);
    };
    const onEnd = () => done(closeCodeOf(parseServerFrames(conn.received())) || 0);
    const timer = setTimeout(() => done(-1), ms);
    conn.socket.on('data', check);
    conn.socket.on('close', onEnd);
    check();
  });
}

function closeLabel(code: number): string {
  return code === -1 ? 'none' : code === 0 ? 'ended-without-close(1006)' : `close:${code}`;
}

interface FrameAttack {
  kind: string;
  bytes: Buffer;
  expect: string[];
}

const INVALID_UTF8 = [
  Buffer.from([0xff, 0xfe, 0xfd]),
  Buffer.from([0xc0, 0xaf]), // overlong '/'
  Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), // beyond U+10FFFF
  Buffer.concat([Buffer.from('{"type":"ping","x":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}')]),
];

function frameAttack(r: Prng): FrameAttack {
  const text = (s: string) => Buffer.from(s);
  switch (r.int(13)) {
    case 0: return { kind: 'invalid-utf8', bytes: encodeFrame({ opcode: 1, payload: r.pick(INVALID_UTF8) }), expect: ['close:1007'] };
    case 1: {
      const bad = r.pick(INVALID_UTF8);
      return { kind: 'invalid-utf8-fragmented', bytes: Buffer.concat([encodeFrame({ opcode: 1, fin: false, payload: bad.subarray(0, 1) }), encodeFrame({ opcode: 0, payload: bad.subarray(1) })]), expect: ['close:1007'] };
    }
    case 2: return { kind: 'bad-opcode', bytes: encodeFrame({ opcode: r.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), payload: r.bytes(r.range(0, 50)) }), expect: ['close:1002'] };
    case 3: return { kind: 'unmasked', bytes: encodeFrame({ opcode: 1, payload: text('{"type":"ping"}'), mask: false }), expect: ['close:1002'] };
    case 4: return { kind: 'rsv-bits', bytes: encodeFrame({ opcode: r.pick([1, 2]), payload: text('{}'), rsv: r.range(1, 7) }), expect: ['close:1002'] };
    case 5: return { kind: 'long-control', bytes: encodeFrame({ opcode: r.pick([8, 9, 10]), payload: r.bytes(r.range(126, 1000)) }), expect: ['close:1002'] };
    case 6: return { kind: 'fragmented-control', bytes: encodeFrame({ opcode: 9, fin: false, payload: text('x') }), expect: ['close:1002'] };
    case 7: return { kind: 'orphan-continuation', bytes: encodeFrame({ opcode: 0, payload: text('{"type":"ping"}') }), expect: ['close:1002'] };
    case 8: return { kind: 'interleaved-data', bytes: Buffer.concat([encodeFrame({ opcode: 1, fin: false, payload: text('{"a":') }), encodeFrame({ opcode: 1, payload: text('1}') })]), expect: ['close:1002'] };
    case 9: return { kind: 'huge-length', bytes: encodeFrame({ opcode: r.pick([1, 2]), payload: Buffer.alloc(0), declaredLength: r.pick([70_000, 2 ** 32, Number.MAX_SAFE_INTEGER, 2 ** 60]) }), expect: ['close:1009'] };
    case 10: {
      const chunk = Buffer.alloc(40_000, 0x20);
      return { kind: 'oversize-fragments', bytes: Buffer.concat([encodeFrame({ opcode: 1, fin: false, payload: chunk }), encodeFrame({ opcode: 0, payload: chunk })]), expect: ['close:1009'] };
    }
    case 11: {
      const code = r.pick([0, 999, 1004, 1005, 1006, 1015, 1100, 2999, 5000, 65535]);
      const payload = Buffer.alloc(2);
      payload.writeUInt16BE(code);
      return { kind: 'bad-close-code', bytes: encodeFrame({ opcode: 8, payload: r.chance(0.2) ? Buffer.from([3]) : payload }), expect: ['close:1002'] };
    }
    default: {
      const code = r.pick([1000, 1001, 3000, 4000, 4999]);
      const invalidReason = r.chance(0.5);
      const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), invalidReason ? r.pick(INVALID_UTF8) : Buffer.from(weirdString(r).slice(0, 30))]);
      const valid = Buffer.byteLength(payload) <= 125;
      return { kind: invalidReason ? 'close-invalid-reason' : 'close', bytes: encodeFrame({ opcode: 8, payload: valid ? payload : payload.subarray(0, 125) }), expect: invalidReason ? ['close:1007'] : [`close:${code}`, 'close:1002', 'close:1007'] };
    }
  }
}

async function upgraded(ctx: FuzzContext, server: ServerUnderTest, path: string, sent: Sent): Promise<RawConnection | undefined> {
  const conn = await rawRequest(server.port, upgradeRequest(path), 10_000);
  if (conn.status === 101) return conn;
  ctx.oracle.record(sent, conn.status === 0 ? 'no-answer' : `http:${conn.status}`, ['http:101']);
  conn.destroy();
  return undefined;
}

/** One frame no WebSocket library would send, on an accepted connection: the answer is the RFC 6455 close code. */
export async function rawFrameCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const path = openPath(ctx, r);
  const attack = frameAttack(r);
  const sent: Sent = { target: target('raw', path.split('?')[0]!), kind: attack.kind, caseIndex, index: 0, data: attack.bytes };
  const conn = await upgraded(ctx, ctx.main, path, sent);
  if (!conn) return;
  conn.socket.write(attack.bytes);
  const code = await serverClose(conn, 5000);
  // A close frame the server already sent for another reason (the cap) is a refusal, not an answer.
  ctx.oracle.record(sent, closeLabel(code), [...attack.expect, 'close:1013', 'close:1008']);
  if (!closeReasonValid(parseServerFrames(conn.received()))) ctx.oracle.flag(sent, 'close reason', 'valid UTF-8 of at most 123 bytes');
  conn.destroy();
}

/**
 * The crash of issue 13: a connection the server refused (4404, 4400, 4401, 4403, 1008),
 * then at once a message the protocol forbids (5 MB, invalid UTF-8, a bad opcode). The
 * refusal must be the promised one and the process must live.
 */
export async function afterRefusalCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const [server, path, refusal] = r.pick<readonly [ServerUnderTest, string, number]>([
    [ctx.main, `/stream/does-not-exist-${r.int(100)}`, 4404],
    [ctx.main, '/stream/0?fps=500', 4400],
    [ctx.main, '/ws/video_feed?quality=high', 4400],
    [ctx.main, '/video/0?tier=4k', 4400],
    [ctx.main, `/video/does-not-exist-${r.int(100)}`, 4404],
    [ctx.main, `/ws/producer?token=wrong-${r.int(100)}`, 4401],
    [ctx.auth, '/ws/producer', 4401],
    [ctx.auth, `/ws/producer?token=${validToken(ctx.jwtSecret, 'fuzz', 'view')}`, 4403],
    [ctx.auth, '/stream/demo', 4401],
    [ctx.auth, '/ws', 4401],
    [ctx.main, '/ws?since=%C3%A9', 4400],
    [ctx.main, '/ws/streaming?since=x', 4400],
  ]);
  const after = r.pick<readonly [string, () => Buffer]>([
    ['5MB-after-refusal', () => encodeFrame({ opcode: 1, payload: Buffer.alloc(5 * 1024 * 1024, 0x61) })],
    ['invalid-utf8-after-refusal', () => encodeFrame({ opcode: 1, payload: r.pick(INVALID_UTF8) })],
    ['bad-opcode-after-refusal', () => encodeFrame({ opcode: r.pick([3, 7, 11, 15]), payload: Buffer.from('x') })],
    ['huge-length-after-refusal', () => encodeFrame({ opcode: 2, payload: Buffer.alloc(0), declaredLength: 2 ** 60 })],
  ]);
  const name = target('raw', path.split('?')[0]!.replace(/^\/stream\/does-not-exist-\d+$/, '/stream/<unknown>'));
  const refusedSent: Sent = { target: name, kind: 'refused-open', caseIndex, index: 0, data: path };
  const conn = await upgraded(ctx, server, path, refusedSent);
  if (!conn) return;
  const code = await serverClose(conn, 10_000);
  ctx.oracle.record(refusedSent, closeLabel(code), [`close:${refusal}`, 'close:1013', 'close:1008']);
  const bytes = after[1]();
  const sent: Sent = { target: name, kind: after[0], caseIndex, index: 1, data: bytes };
  if (conn.socket.destroyed) {
    ctx.oracle.record(sent, 'ended', ['ended', 'open']);
    return;
  }
  conn.socket.write(bytes);
  const ended = await conn.ended(3000);
  ctx.oracle.record(sent, server.alive ? (ended ? 'ended' : 'open') : 'server-exited', ['ended', 'open']);
  conn.destroy();
}

/** Half a frame, then the connection is destroyed: the server must only forget it. */
export async function halfFrameCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const path = openPath(ctx, r);
  const frame = encodeFrame({ opcode: r.pick([1, 2]), payload: r.bytes(r.range(10, 60_000)) });
  const cut = frame.subarray(0, r.range(1, frame.length - 1));
  const sent: Sent = { target: target('raw', path.split('?')[0]!), kind: 'half-frame-then-destroy', caseIndex, index: 0, data: cut };
  const conn = await upgraded(ctx, ctx.main, path, sent);
  if (!conn) return;
  conn.socket.write(cut);
  conn.socket.resetAndDestroy();
  ctx.oracle.record(sent, 'abandoned', ['abandoned']);
}

interface OddUpgrade {
  /** The summary's name for it; the path itself when not given. */
  kind?: string;
  path: string;
  expect: string[];
  headers?: string[];
  request?: string;
}

/** Upgrades on paths nobody owns, dot-segments, percent-encoding, broken handshakes. */
function oddUpgrade(r: Prng): OddUpgrade {
  const unknown = ['http:400', 'http:404'];
  return r.pick<() => OddUpgrade>([
    () => ({ path: '/ws/../socket.io/?EIO=4&transport=websocket', expect: unknown }),
    () => ({ path: '/socket.io/../ws/streaming', expect: unknown }),
    () => ({ path: '/socket.io/../ws/streaming?EIO=4&transport=websocket', expect: [...unknown, 'http:101'] }),
    () => ({ path: '/ws/./streaming', expect: unknown }),
    () => ({ path: '/ws/%2e%2e/ws/streaming', expect: unknown }),
    () => ({ path: '/ws%2Fstreaming', expect: unknown }),
    () => ({ path: '/WS/STREAMING', expect: unknown }),
    () => ({ path: '/ws//streaming', expect: unknown }),
    () => ({ kind: '/<non-ascii, control characters>', path: `/${encodeURIComponent(Buffer.from(weirdString(r).slice(0, 100)).toString())}`, expect: unknown }),
    () => ({ path: '/stream/%ZZ', expect: ['http:400'] }),
    () => ({ path: '/stream/%C0%AF', expect: ['http:400', 'http:101'] }),
    () => ({ kind: '/nope/<n>', path: `/nope/${r.int(1000)}`, expect: unknown }),
    () => ({ path: '/api/streams', expect: unknown }),
    () => ({ path: '/', expect: unknown }),
    () => ({ path: '/socket.io', expect: unknown }),
    () => ({ kind: 'Sec-WebSocket-Version: 8', path: '/ws/streaming', headers: ['Sec-WebSocket-Version: 8'], expect: ['http:400', 'http:426'] }),
    () => ({ kind: 'no Sec-WebSocket-Key', path: '/ws/streaming', request: 'GET /ws/streaming HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n', expect: ['http:400'] }),
    () => ({ kind: 'Upgrade: h2c', path: '/ws/streaming', request: 'GET /ws/streaming HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n', expect: ['http:400', 'http:404', 'http:426'] }),
    () => ({ path: '*', request: 'GET * HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n', expect: unknown }),
    () => ({ path: 'http://evil/ws/streaming', expect: [...unknown, 'http:101'] }),
    // DNS rebinding: a name that is not loopback (framehub listens on 127.0.0.1 without PUBLIC_HOSTS).
    () => ({ kind: 'foreign Host', path: '/ws/streaming', request: upgradeRequest('/ws/streaming').replace('Host: 127.0.0.1', `Host: ${r.pick(['evil.example', '127.0.0.1.evil.example', 'localhost.evil.example:80', 'xn--e1a.example'])}`), expect: ['http:403'] }),
    () => ({ kind: 'foreign Host (GET)', path: '/api/streams', request: 'GET /api/streams HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n', expect: ['http:403'] }),
    () => ({ kind: 'loopback Host', path: '/ws/streaming', request: upgradeRequest('/ws/streaming').replace('Host: 127.0.0.1', `Host: ${r.pick(['localhost', '[::1]:80', 'LOCALHOST', 'a.localhost', '127.1.2.3'])}`), expect: ['http:101'] }),
    () => ({ kind: 'NUL in the path', path: '/ws/streaming\u0000', request: 'GET /ws/stre\u0000aming HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', expect: unknown }),
  ])();
}

/** An upgrade on an odd path: exactly one HTTP answer, promptly, of the allowed status. */
export async function oddUpgradeCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const odd = oddUpgrade(r);
  const request = odd.request ?? upgradeRequest(odd.path, odd.headers);
  const server = r.chance(0.8) ? ctx.main : ctx.auth;
  const sent: Sent = { target: target('upgrade', 'odd-path'), kind: odd.kind ?? odd.path.slice(0, 60), caseIndex, index: 0, data: request };
  const began = performance.now();
  const conn = await rawRequest(server.port, request, LATE_MS);
  const seconds = (performance.now() - began) / 1000;
  if (conn.status === 0) {
    ctx.oracle.record(sent, conn.socket.destroyed ? 'closed-without-answer' : `hanging (${LATE_MS / 1000} s)`, odd.expect);
    conn.destroy();
    return;
  }
  if (seconds * 1000 > PROMPT_MS) {
    // Answered, but not promptly: on a starved machine that may be the load; the label says how late.
    ctx.oracle.record(sent, `http:${conn.status} after ${seconds.toFixed(1)} s`, odd.expect);
    conn.destroy();
    return;
  }
  // A second answer on the same connection (two listeners both claimed it) shows up right behind the first.
  if (conn.status !== 101) await conn.ended(500);
  else await serverClose(conn, 300);
  const answers = conn.received().toString('latin1').match(/HTTP\/1\.[01] \d{3}/g)?.length ?? 0;
  const got = answers > 1 ? `${answers}-answers` : `http:${conn.status}`;
  ctx.oracle.record(sent, got, odd.expect);
  conn.destroy();
}

/**
 * An upgrade whose request head never ends: the server must drop it (the issue: within 10 s).
 * Runs alongside the other cases; the answer is how it ended.
 */
export async function unfinishedHandshakeCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const path = r.pick(['/ws/streaming', '/stream/0', '/socket.io/?EIO=4&transport=websocket', '/nope']);
  const partial = upgradeRequest(path).slice(0, r.range(10, 60));
  const sent: Sent = { target: target('upgrade', 'unfinished-handshake'), kind: path.split('?')[0]!, caseIndex, index: 0, data: partial };
  const began = performance.now();
  const conn = await rawRequest(ctx.main.port, partial, 100);
  const ended = await conn.ended(HANDSHAKE_WATCH_MS);
  const seconds = (performance.now() - began) / 1000;
  const got = !ended ? `open after ${HANDSHAKE_WATCH_MS / 1000} s` : seconds * 1000 <= HANDSHAKE_DROP_MS ? 'dropped' : `dropped after ${seconds.toFixed(1)} s`;
  ctx.oracle.record(sent, got, ['dropped']);
  conn.destroy();
}
