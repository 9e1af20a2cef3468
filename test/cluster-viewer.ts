import assert from 'node:assert/strict';
import { WebSocket, type RawData } from 'ws';
import { killHard, spawnServer, type ServerProcess } from './server-process.js';
import { tempDir, type TestCleanup } from './temp-dir.js';
import { withTimeout } from './wait.js';
import type { ClusterView } from '../src/cluster/cluster.js';

/** A `framehub serve` node over `redisUrl` (with `extra` flags), SIGKILLed when the test `t` ends. */
export async function clusterNode(t: TestCleanup, redisUrl: string, extra: string[] = []): Promise<ServerProcess> {
  const dir = await tempDir(t);
  const server = await spawnServer(['--redis', redisUrl, '--idle-grace', '1', '--image-dir', dir, ...extra]);
  t.after(() => killHard(server));
  return server;
}

/** `GET /api/cluster` of an open node. */
export async function clusterView(server: ServerProcess): Promise<ClusterView> {
  const response = await fetch(`${server.http}/api/cluster`);
  assert.equal(response.status, 200);
  return (await response.json()) as ClusterView;
}

/** A `/ws/video_feed` viewer of a cluster test: its frames, its text messages (parsed) and how it closed. */
export interface FeedViewer {
  readonly ws: WebSocket;
  frames: number;
  readonly texts: any[];
  /** Resolves at the next binary frame. */
  nextFrame(ms?: number): Promise<void>;
  /** Resolves with the first text message `match` accepts (one already received counts). */
  nextText(match: (message: any) => boolean, ms?: number): Promise<any>;
  /** Resolves when the socket closes, with its code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

/** Opens `/ws/video_feed?stream=<stream>` (with `token` when given) on `server`; resolves once it is open, terminated when `t` ends. */
export async function feedViewer(t: TestCleanup, server: ServerProcess, stream: string, token?: string): Promise<FeedViewer> {
  const query = new URLSearchParams({ stream, ...(token !== undefined && { token }) });
  const ws = new WebSocket(`${server.ws}/ws/video_feed?${query}`);
  ws.on('error', () => undefined); // a killed node's viewers see their socket end; tests assert on what arrived
  t.after(async () => ws.terminate());
  const frameWaiters = new Set<() => void>();
  const textWaiters = new Set<{ match: (message: any) => boolean; resolve: (message: any) => void }>();
  const texts: any[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const viewer: FeedViewer = {
    ws,
    frames: 0,
    texts,
    closed,
    nextFrame: (ms = 20_000) => withTimeout(new Promise<void>((resolve) => frameWaiters.add(resolve)), ms, 'a frame'),
    nextText: (match, ms = 20_000) => {
      const seen = texts.find(match);
      if (seen) return Promise.resolve(seen);
      return withTimeout(new Promise((resolve) => textWaiters.add({ match, resolve })), ms, 'a text message');
    },
  };
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (isBinary) {
      viewer.frames++;
      for (const resolve of frameWaiters) resolve();
      frameWaiters.clear();
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(data.toString());
    } catch {
      return;
    }
    texts.push(message);
    for (const waiter of [...textWaiters]) {
      if (!waiter.match(message)) continue;
      textWaiters.delete(waiter);
      waiter.resolve(message);
    }
  });
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', (code, reason) => reject(new Error(`closed before open: ${code} ${reason.toString()}`)));
  }), 20_000, 'the viewer to connect');
  return viewer;
}

/** Opens the same viewer but resolves with how the server answered: `open`, or the close code and reason of a refusal. */
export async function feedOutcome(t: TestCleanup, server: ServerProcess, stream: string, token: string): Promise<{ open: FeedViewer } | { refused: { code: number; reason: string; error?: string } }> {
  try {
    const open = await feedViewer(t, server, stream, token);
    // An admitted share viewer stays open; a refused one is closed right after the upgrade, with its error message first.
    const first = await Promise.race([open.nextFrame().then(() => 'frame' as const), open.closed.then(() => 'closed' as const)]);
    if (first === 'frame') return { open };
    const close = await open.closed;
    return { refused: { ...close, error: open.texts.find((m) => m?.type === 'error')?.error?.code } };
  } catch (error) {
    const match = /closed before open: (\d+) (.*)$/.exec((error as Error).message);
    if (!match) throw error;
    return { refused: { code: Number(match[1]), reason: match[2]! } };
  }
}
