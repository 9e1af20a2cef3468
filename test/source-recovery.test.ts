// Issue 13, point 5: sources die, streams don't. Real ffmpeg and Chromium processes are killed
// (SIGKILL, page crash) or stopped (SIGSTOP) under viewers on real sockets; the viewers hear a
// notice, get frames of the new source within the bound and are never disconnected.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { io as connect, type Socket } from 'socket.io-client';
import { nextJson, openSocket, startServer, type TestServer } from './helpers.js';
import { createLoadedSession, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { startXvfb, type XServer } from './capture-helpers.js';
import { alive } from './server-process.js';
import { nextEvent, waitFor, withTimeout as within } from './wait.js';
import type { Stream } from '../src/hub/stream.js';
import type { FfmpegSource } from '../src/sources/ffmpeg-source.js';

/** Resolves with `mark()` taken when the stream notices its source is gone. */
function sourceLost(stream: Stream, mark: () => number): Promise<number> {
  return within(new Promise<number>((resolve) => {
    stream.on('state:change', function streamOnState({ newState }) {
      if (newState === 'running' || newState === 'starting') return;
      stream.off('state:change', streamOnState);
      resolve(mark());
    });
  }), 20_000, `stream ${stream.id} to lose its source`);
}

/** SIGKILL for a process a failed test may have left stopped. */
function reap(pid: number | undefined): void {
  if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Chromium's renderer processes below the browser process `browser`. */
function rendererPids(browser: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      // Renderers are forked by Chromium's zygote, itself a child of the browser.
      if (cmdline.includes('--type=renderer') && (ppid === browser || parentOf(ppid) === browser || parentOf(parentOf(ppid)) === browser)) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

describe('ffmpeg sources die, streams do not', () => {
  let server: TestServer;
  let ws: WebSocket;
  let stream: Stream;
  let closedEarly = false;

  before(async () => {
    server = await startServer({ streams: { cam: { source: 'video', lavfi: 'testsrc2=size=160x120:rate=15', fps: 15 } } });
    stream = server.server.hub.resolve('cam')!;
    ws = await openSocket(`${server.ws}/stream/cam?fps=15`);
    ws.on('close', () => {
      closedEarly = true;
    });
    await nextJson(ws, (m) => m.type === 'frame');
  });
  after(async () => {
    ws?.close();
    await server?.close();
  });

  // "now", or "in N ms" under 500 when the source had started less than 500 ms before (starts are
  // spaced); before restarts were immediate every restart waited 500 ms or more.
  it('delivers frames of a new ffmpeg within 2 s of a SIGKILL, tells the viewer and keeps it connected', async () => {
    const pid = (stream.source as FfmpegSource).pid!;
    const notice = nextJson(ws, (m) => m.type === 'error');
    const lost = sourceLost(stream, () => stream.stats().framesIn);
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');
    const boundary = await lost;
    const frame = await within(nextJson(ws, (m) => m.type === 'frame' && m.data.frame_number > boundary), 10_000, 'a frame of the new ffmpeg');
    const elapsed = performance.now() - killedAt;
    assert.match((await notice).error.message, /ffmpeg was killed \(SIGKILL\); restarting (now|in (\d{1,2}|[0-4]\d{2}) ms)/);
    assert.equal((await notice).error.code, 'source_error');
    assert.ok(frame.data.size > 0);
    assert.ok(elapsed < 2000, `frames again ${Math.round(elapsed)} ms after the kill (bound: 2000 ms)`);
    assert.notEqual((stream.source as FfmpegSource).pid, pid, 'a new ffmpeg');
    assert.equal(closedEarly, false, 'the viewer stayed connected');
    assert.equal(ws.readyState, WebSocket.OPEN);
  });

  it('finds a SIGSTOPped ffmpeg with its frame watchdog, kills it and delivers again', async () => {
    const pid = (stream.source as FfmpegSource).pid!;
    try {
      const notice = nextJson(ws, (m) => m.type === 'error');
      const lost = sourceLost(stream, () => stream.stats().framesIn);
      process.kill(pid, 'SIGSTOP');
      const boundary = await lost;
      // 15 fps: four frame intervals are under the 2 s floor, so 2 s it is.
      assert.match((await notice).error.message, /no frame from ffmpeg for 2000 ms/);
      await within(nextJson(ws, (m) => m.type === 'frame' && m.data.frame_number > boundary), 10_000, 'a frame of the new ffmpeg');
      await waitFor('the stopped ffmpeg to be gone', () => !alive(pid));
      assert.equal(closedEarly, false, 'the viewer stayed connected');
    } finally {
      reap(pid);
    }
  });
});

describe('the ffmpeg frame watchdog leaves a still desktop alone', () => {
  let x: XServer;
  let server: TestServer;

  before(async () => {
    x = await startXvfb(320, 240);
    server = await startServer({ screen: true, display: x.display, captureFps: 5 });
  });
  after(async () => {
    await server?.close();
    await x?.stop();
  });

  it('keeps one ffmpeg on an unchanging screen for three watchdog periods: x11grab sends every frame', async () => {
    const ws = await openSocket(`${server.ws}/stream/0?fps=5`);
    try {
      await nextJson(ws, (m) => m.type === 'frame');
      const stream = server.server.hub.resolve('0')!;
      const pid = (stream.source as FfmpegSource).pid;
      const notices: unknown[] = [];
      ws.on('message', (data) => {
        const message = JSON.parse(data.toString());
        if (message.type === 'error' || message.type === 'status') notices.push(message);
      });
      // 5 fps: the watchdog fires after 2 s without a frame. Nothing on the screen moves; the
      // frames keep coming, so after 6 s the same ffmpeg runs and nobody was told anything.
      const first = stream.stats().framesIn;
      await waitFor('6 s of a still screen', () => stream.stats().framesIn >= first + 30, 20_000);
      assert.equal((stream.source as FfmpegSource).pid, pid, 'the same ffmpeg');
      assert.deepEqual(notices, []);
    } finally {
      ws.close();
    }
  });
});

describe('browser sessions die, streams do not', () => {
  let pages: PageServer;
  let server: TestServer;
  let socket: Socket;
  let id: string;
  let disconnected = false;

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer();
    id = await createLoadedSession(server, `${pages.origin}/`, { session_id: 'recovering' });
    socket = connect(server.http, { reconnection: false, transports: ['websocket'] });
    socket.on('disconnect', () => {
      disconnected = true;
    });
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { session_id: id });
    await subscribed;
    await nextEvent(socket, 'frame');
  });
  after(async () => {
    socket?.disconnect();
    await server?.close();
    await pages?.close();
  });

  /**
   * Kills something, then waits for the loss notice and the first frame Chromium composited
   * after the loss. `boundMs` is loose: the targets (2 s for a page crash, 3 s for a
   * browser kill) hold on an idle machine and at the median of the kill bench on a loaded one
   * (docs/reliability.md), but a renderer started while twenty processes queue for two cores
   * takes seconds. What fails without the feature is the rest: the immediate restart, the
   * standby taking over, the watchdog. The time is reported as a diagnostic.
   */
  async function recover(t: TestContext, kill: () => void, message: RegExp, boundMs: number): Promise<number> {
    const stream = server.server.sessions.get(id)!.stream;
    const error = nextEvent(socket, 'error', (e) => message.test(e.message), 30_000);
    const back = nextEvent(socket, 'status', (s) => /back/.test(s.message), 30_000);
    const lost = sourceLost(stream, () => Date.now());
    const killedAt = performance.now();
    kill();
    const wallAtLoss = await lost;
    // Chromium stamps frames with the time it composited them: these come from the new page.
    await nextEvent(socket, 'frame', (f) => f.timestamp > wallAtLoss, 30_000);
    const elapsed = performance.now() - killedAt;
    await error;
    await back;
    assert.equal(disconnected, false, 'the viewer stayed connected');
    t.diagnostic(`frames again ${Math.round(elapsed)} ms after the kill`);
    assert.ok(elapsed < boundMs, `frames again ${Math.round(elapsed)} ms after the kill (bound: ${boundMs} ms)`);
    return elapsed;
  }

  it('restarts a crashed page at once on a warm spare page and delivers again', async (t) => {
    const { cdp } = await server.server.sessions.get(id)!.page();
    await recover(t, () => void cdp.send('Page.crash').catch(() => {}), /crashed; restarting (now|in (\d{1,2}|[0-4]\d{2}) ms)/, 10_000);
  });

  it('delivers again after a SIGKILL of Chromium: the standby browser takes over at once', async (t) => {
    const pool = server.server.sessions.pool;
    // The standby is launched a moment after the session opened; no event says it is up.
    await waitFor('the standby browser', async () => (await pool.standbyPid()) !== undefined, 30_000);
    const pid = (await pool.pid())!;
    const standby = await pool.standbyPid();
    await recover(t, () => process.kill(pid, 'SIGKILL'), /browser closed; restarting (now|in (\d{1,2}|[0-4]\d{2}) ms)/, 10_000);
    assert.equal(await pool.pid(), standby, 'the standby is the browser now');
    assert.equal(server.server.sessions.get(id)!.url, `${pages.origin}/`, 'the page was loaded again');
  });

  it('finds a SIGSTOPped page (renderer) through its watchdog, kills it and delivers again on the same browser', async (t) => {
    const pool = server.server.sessions.pool;
    const browser = (await pool.pid())!;
    const renderers = rendererPids(browser);
    assert.ok(renderers.length > 0, 'the browser has renderers');
    try {
      // Every renderer of the browser is stopped (the session's, and the spare pages'): the page
      // does not answer, the browser does; stopped renderers are killed and the page replaced.
      await recover(t, () => {
        for (const pid of renderers) process.kill(pid, 'SIGSTOP');
      }, /page (crashed|stopped responding).*; restarting (now|in (\d{1,2}|[0-4]\d{2}) ms)/, 20_000);
      assert.equal(await pool.pid(), browser, 'the same browser');
      await waitFor('the stopped renderers to be gone', () => renderers.every((pid) => !alive(pid)));
    } finally {
      for (const pid of renderers) reap(pid);
    }
  });

  it('finds a SIGSTOPped Chromium through its watchdog, kills it and delivers again', async (t) => {
    const pool = server.server.sessions.pool;
    await waitFor('the standby browser', async () => (await pool.standbyPid()) !== undefined, 30_000);
    const pid = (await pool.pid())!;
    try {
      // The page is static: 2 s without a frame, the page probe (2 s), the browser probe (1.5 s),
      // then the kill and the recovery on the standby.
      await recover(t, () => process.kill(pid, 'SIGSTOP'), /browser closed; restarting (now|in (\d{1,2}|[0-4]\d{2}) ms)/, 20_000);
      await waitFor('the stopped browser to be gone', () => !alive(pid));
    } finally {
      reap(pid);
    }
  });
});
