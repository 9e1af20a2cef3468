import { HOSTILE_PATHS, startHostileUpstream, type HostilePath } from '../test/hostile-upstream.js';
import { target, type FuzzContext } from './context.js';
import type { Prng } from './prng.js';

/**
 * A hostile upstream behind a browser session: the session loads pages from a server that
 * misbehaves on purpose (test/hostile-upstream.ts: bad status lines, bad headers, truncated,
 * stalled and endless bodies, huge headers, resets), through framehub's guard proxy.
 */

export interface Upstream {
  url(path: string): string;
  paths: readonly string[];
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const upstream = await startHostileUpstream();
  return { url: (path) => upstream.url(path as HostilePath), paths: HOSTILE_PATHS, close: () => upstream.close() };
}

/** How long a page load may take: the session's navigation timeout plus the answer's way back. */
const LOAD_MS = 30_000;

/** One page load of a hostile path: `200` or `502`, in time, and the session still serves its frame after. */
export async function upstreamCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  if (!ctx.upstream || !ctx.sessionId) return;
  const path = r.pick(ctx.upstream.paths);
  const url = ctx.upstream.url(path);
  const sent = { target: target('upstream', 'POST /api/session/:id/load'), kind: path, caseIndex, index: 0, data: url };
  let got: string;
  try {
    const res = await fetch(`${ctx.main.http}/api/session/${ctx.sessionId}/load`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url }), signal: AbortSignal.timeout(LOAD_MS),
    });
    await res.arrayBuffer();
    got = String(res.status);
  } catch (error) {
    got = (error as Error).name === 'TimeoutError' ? `no-answer-in-${LOAD_MS / 1000}s` : 'connection-failed';
  }
  // 504: the session's page could not be opened in time (a renderer start on a starved machine).
  ctx.oracle.record(sent, got, ['200', '502', '504']);
  const frame = await fetch(`${ctx.main.http}/api/session/${ctx.sessionId}/frame/data`, { signal: AbortSignal.timeout(LOAD_MS) }).then((res) => res.arrayBuffer().then(() => String(res.status)), () => 'no-answer');
  ctx.oracle.record({ ...sent, kind: `frame after ${path}`, index: 1 }, frame, ['200']);
}
