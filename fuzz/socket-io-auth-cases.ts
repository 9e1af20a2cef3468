import { io } from 'socket.io-client';
import { target, type FuzzContext } from './context.js';
import { weirdString } from './hostile-values.js';
import { badTokens, validToken } from './jwt.js';
import type { Prng } from './prng.js';

const ANSWER_MS = 5000;

/** What a handshake's `auth` may hold that is no token: Socket.IO passes any JSON. */
function notAToken(r: Prng): unknown {
  return r.pick<unknown>([undefined, '', 42, null, ['a', 'b'], { token: 'x' }, weirdString(r).slice(0, 2000), 'x'.repeat(8000)]);
}

/**
 * Socket.IO on the auth server (access.ts): the handshake's `auth: {token}` (seeds/003) must be
 * a valid token or the client gets `connect_error` with `data.code` (4401's codes); a valid
 * token may subscribe only to what its scope shows (`scope_missing` otherwise), and the socket
 * stays usable after a refusal.
 */
export async function socketIoAuthCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const name = target('socket.io', 'handshake-token');
  const choice = r.int(3);
  let token: unknown;
  let expect: string[];
  let scope = '';
  if (choice === 0) {
    token = notAToken(r);
    expect = ['connect_error:token_missing', 'connect_error:token_invalid'];
  } else if (choice === 1) {
    const [code, bad] = r.pick(badTokens(ctx.jwtSecret));
    token = bad;
    expect = [`connect_error:${code}`];
  } else {
    scope = r.pick(['view:demo', 'view:0 view:demo', 'view']);
    token = validToken(ctx.jwtSecret, weirdString(r).slice(0, 64), scope);
    expect = ['connect'];
  }
  const socket = io(ctx.auth.http, { transports: [r.pick(['websocket', 'polling'] as const)], forceNew: true, reconnection: false, timeout: ANSWER_MS, auth: token === undefined ? {} : { token } });
  try {
    const connected = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), ANSWER_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve('connect');
      });
      socket.once('connect_error', (error: Error & { data?: { code?: unknown } }) => {
        clearTimeout(timer);
        resolve(`connect_error:${String(error.data?.code ?? error.message).slice(0, 80)}`);
      });
    });
    const preview = typeof token === 'string' ? `${token.slice(0, 120)}${token.length > 120 ? '…' : ''}` : JSON.stringify(token)?.slice(0, 120) ?? 'undefined';
    ctx.oracle.record({ target: name, kind: ['no-token', 'bad-token', 'valid-token'][choice]!, caseIndex, index: 0, data: preview }, connected, expect);
    if (connected !== 'connect') return;
    // The stream the token may see, then one it may not, then the first again: a refusal changes nothing.
    const steps: [string, object, string][] = [
      ['subscribe-allowed', { stream: 'demo' }, 'subscribed'],
      ['subscribe-other', r.pick([{ stream: 'elsewhere' }, { session_id: weirdString(r).slice(0, 40) || 'x' }, { stream: `session:${r.int(1000)}` }]), 'error:scope_missing'],
      ['subscribe-allowed', { stream: 'demo' }, 'subscribed'],
    ];
    for (const [index, [kind, payload, wanted]] of steps.entries()) {
      const answer = await socket.timeout(ANSWER_MS).emitWithAck('subscribe', payload).then(
        (reply: { error?: { code?: string }; stream?: string; session_id?: string }) => (reply.error ? `error:${reply.error.code}` : 'subscribed'),
        () => 'timeout',
      );
      // Only `view` holds session streams and unknown ids: it meets the lookup's own refusals instead.
      const refusals = scope === 'view' ? ['error:stream_not_found', 'error:session_not_found'] : [wanted];
      const allowed = kind === 'subscribe-other' ? [...refusals, 'error:invalid_message'] : [wanted];
      ctx.oracle.record({ target: target('socket.io', 'subscribe-scoped'), kind, caseIndex, index: index + 1, data: JSON.stringify(payload) }, answer, allowed);
      if (answer === 'timeout') break;
    }
  } finally {
    socket.disconnect();
  }
}
