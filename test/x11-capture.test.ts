import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { WebSocket } from 'ws';
import { once } from 'node:events';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closed, nextJson, openSocket, startServer, type TestServer } from './helpers.js';
import { XClient, colourNear, meanColour, startXvfb, type XServer } from './capture-helpers.js';
import { runProcess, type ProcessResult } from './run-process.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait.js';
import type { FfmpegSource } from '../src/sources/ffmpeg-source.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function frameBytes(message: any): Buffer {
  return Buffer.from(String(message.data.data_url).split(',')[1]!, 'base64');
}

/** Next frame message for which `accept` holds (frames in flight from before a change are skipped). */
async function frameWhere(ws: import('ws').WebSocket, accept: (m: any) => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<any> {
  let found: any;
  await waitFor('a matching frame', async () => {
    const message = await nextJson(ws, (m) => m.type === 'frame');
    if (!(await accept(message))) return false;
    found = message;
    return true;
  }, timeoutMs, 0);
  return found;
}

/** Runs the framehub CLI from source in a child process; resolves with its exit code and output. */
function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ProcessResult> {
  return runProcess(process.execPath, ['--import', 'tsx', '-e', `import('./src/cli/main.ts').then((m) => m.main(${JSON.stringify(args)})).then((c) => process.exit(c))`], { cwd: ROOT, env, timeoutMs: 30_000 });
}

describe('screen and window capture on X11 (Xvfb, x11grab)', { timeout: 120_000 }, () => {
  let x: XServer;
  let client: XClient;
  let s: TestServer;
  let red = 0;
  let blue = 0;

  before(async () => {
    x = await startXvfb(1280, 720);
    client = await XClient.open(x.display);
    red = await client.createWindow({ x: 100, y: 100, width: 200, height: 150, rgb: 0xff0000, title: 'framehub red' });
    blue = await client.createWindow({ x: 700, y: 300, width: 240, height: 160, rgb: 0x0000ff, title: 'framehub blue' });
    s = await startServer({ screen: true, display: x.display, captureFps: 15 });
  });
  after(async () => {
    await s?.close();
    client?.close();
    await x?.stop();
  });

  it('lists the windows with title and geometry on GET /api/windows', async () => {
    const response = await fetch(`${s.http}/api/windows`);
    assert.equal(response.status, 200);
    const { windows } = (await response.json()) as { windows: any[] };
    const byTitle = Object.fromEntries(windows.map((w) => [w.title, w]));
    assert.deepEqual(byTitle['framehub red'], { handle: red, title: 'framehub red', x: 100, y: 100, width: 200, height: 150 });
    assert.deepEqual(byTitle['framehub blue'], { handle: blue, title: 'framehub blue', x: 700, y: 300, width: 240, height: 160 });
  });

  it('prefers the UTF-8 _NET_WM_NAME title over WM_NAME', async () => {
    const title = 'Grüße "quoted" \\ 窓';
    const win = await client.createWindow({ x: 10, y: 10, width: 50, height: 40, rgb: 0x808080, title: 'legacy name' });
    await client.setUtf8Title(win, title);
    const { windows } = (await (await fetch(`${s.http}/api/windows`)).json()) as { windows: any[] };
    await client.destroyWindow(win);
    assert.equal(windows.find((w) => w.handle === win)?.title, title);
  });

  it('streams the whole desktop as /stream/0: windows where they are, black root elsewhere', async () => {
    const ws = await openSocket(`${s.ws}/stream/0?quality=90`);
    const frame = await nextJson(ws, (m) => m.type === 'frame');
    ws.close();
    assert.deepEqual([frame.data.width, frame.data.height], [1280, 720]);
    const bytes = frameBytes(frame);
    const redArea = await meanColour(bytes, { left: 120, top: 120, width: 160, height: 110 });
    const blueArea = await meanColour(bytes, { left: 720, top: 320, width: 200, height: 120 });
    const root = await meanColour(bytes, { left: 400, top: 20, width: 200, height: 60 });
    assert.ok(colourNear(redArea, 0xff0000), `red window area ${redArea}`);
    assert.ok(colourNear(blueArea, 0x0000ff), `blue window area ${blueArea}`);
    assert.ok(colourNear(root, 0x000000), `root ${root}`);
    assert.equal(s.server.hub.resolve('0')?.source.kind, 'screen');
  });

  it('streams two windows at once, by decimal and by 0x id, each its own colour and size', async () => {
    const [a, b] = await Promise.all([openSocket(`${s.ws}/stream/${red}`), openSocket(`${s.ws}/stream/0x${blue.toString(16)}`)]);
    const [fa, fb] = await Promise.all([nextJson(a, (m) => m.type === 'frame'), nextJson(b, (m) => m.type === 'frame')]);
    a.close();
    b.close();
    assert.deepEqual([fa.data.width, fa.data.height], [200, 150]);
    assert.deepEqual([fb.data.width, fb.data.height], [240, 160]);
    assert.ok(colourNear(await meanColour(frameBytes(fa)), 0xff0000));
    assert.ok(colourNear(await meanColour(frameBytes(fb)), 0x0000ff));
    // Nobody watches any more: after the idle grace both window streams (and ffmpegs) are gone.
    const ids = [`0x${red.toString(16)}`, `0x${blue.toString(16)}`];
    await waitFor('idle window streams to be dropped', () => !s.server.hub.list().some((st) => ids.includes(st.id)), 5000);
  });

  it('follows a window that moves, and restarts the capture when it is resized', async () => {
    const ws = await openSocket(`${s.ws}/stream/${red}?fps=30`);
    await nextJson(ws, (m) => m.type === 'frame');
    await client.configure(red, { x: 820, y: 40 });
    // Frames after the move: still the red window, not the black it left behind.
    const capturedAfterMove = Date.now();
    const moved = await frameWhere(ws, (m) => m.data.timestamp > capturedAfterMove + 200);
    assert.ok(colourNear(await meanColour(frameBytes(moved)), 0xff0000), 'still the red window after the move');
    const listed = ((await (await fetch(`${s.http}/api/windows`)).json()) as { windows: any[] }).windows.find((w) => w.handle === red);
    assert.deepEqual([listed.x, listed.y], [820, 40]);

    const status = nextJson(ws, (m) => m.type === 'status');
    await client.configure(red, { width: 320, height: 90 });
    const resized = await frameWhere(ws, (m) => m.data.width === 320 && m.data.height === 90);
    ws.close();
    assert.match((await status).data.message, /320x90 on screen; capture restarted/);
    assert.ok(colourNear(await meanColour(frameBytes(resized)), 0xff0000));
  });

  it('captures the on-screen part of a window half off screen, pauses while it is off screen, resumes after', async () => {
    const yellow = await client.createWindow({ x: 40, y: 520, width: 200, height: 100, rgb: 0xffff00, title: 'framehub yellow' });
    const ws = await openSocket(`${s.ws}/stream/${yellow}?fps=30`);
    const first = await nextJson(ws, (m) => m.type === 'frame');
    assert.deepEqual([first.data.width, first.data.height], [200, 100]);
    await client.configure(yellow, { x: 1200 });
    const clipped = await frameWhere(ws, (m) => m.data.width === 80);
    assert.equal(clipped.data.height, 100);
    assert.ok(colourNear(await meanColour(frameBytes(clipped)), 0xffff00));
    const paused = nextJson(ws, (m) => m.type === 'status' && /not visible/.test(m.data.message));
    await client.configure(yellow, { x: 1400 });
    await paused;
    await client.configure(yellow, { x: 500 });
    const back = await frameWhere(ws, (m) => m.data.width === 200);
    ws.close();
    assert.ok(colourNear(await meanColour(frameBytes(back)), 0xffff00));
    await client.destroyWindow(yellow);
  });

  it('ends the stream of a window that closes: error message, then close 4410', async () => {
    const green = await client.createWindow({ x: 300, y: 450, width: 120, height: 80, rgb: 0x00ff00, title: 'framehub green' });
    const ws = await openSocket(`${s.ws}/stream/${green}`);
    const frame = await nextJson(ws, (m) => m.type === 'frame');
    assert.ok(colourNear(await meanColour(frameBytes(frame)), 0x00ff00));
    const ended = closed(ws);
    const error = nextJson(ws, (m) => m.type === 'error');
    await client.destroyWindow(green);
    const message = await error;
    assert.equal(message.error.code, 'stream_ended');
    assert.match(message.error.message, new RegExp(`window 0x${green.toString(16)} was closed`));
    assert.equal((await ended).code, 4410);
    await waitFor('the window stream to be dropped', () => !s.server.hub.list().some((st) => st.id === `0x${green.toString(16)}`), 5000);
  });

  it('refuses a window stream past --max-window-streams with stream_unavailable and 1013, and opens it once one ends', async (t) => {
    const limited = await startServer({ screen: true, display: x.display, captureFps: 15, maxWindowStreams: 1 });
    t.after(() => limited.close());
    const first = await openSocket(`${limited.ws}/stream/${red}`);
    await nextJson(first, (m) => m.type === 'frame');
    const second = new WebSocket(`${limited.ws}/stream/${blue}`);
    const refused = closed(second);
    const message = await nextJson(second, (m) => m.type === 'error');
    assert.equal(message.error.code, 'stream_unavailable');
    assert.match(message.error.message, /too many window streams \(1 open\)/);
    assert.equal((await refused).code, 1013);
    first.close();
    await waitFor('the first window stream to be dropped', () => limited.server.hub.list().every((st) => st.id !== `0x${red.toString(16)}`), 5000);
    const again = await openSocket(`${limited.ws}/stream/${blue}`);
    const frame = await nextJson(again, (m) => m.type === 'frame');
    again.close();
    assert.ok(colourNear(await meanColour(frameBytes(frame)), 0x0000ff));
  });

  it('answers a window id that does not exist with an error and close 4410', async () => {
    const ws = await openSocket(`${s.ws}/stream/0x1ffffff0`);
    const ended = closed(ws);
    const message = await nextJson(ws, (m) => m.type === 'error');
    assert.equal(message.error.code, 'stream_ended');
    assert.match(message.error.message, /window 0x1ffffff0 does not exist/);
    assert.equal((await ended).code, 4410);
  });

  it('restarts a killed desktop ffmpeg; the viewer gets an error notice, then frames again', async () => {
    const ws = await openSocket(`${s.ws}/stream/0?fps=30`);
    await nextJson(ws, (m) => m.type === 'frame');
    const source = s.server.hub.resolve('0')!.source as FfmpegSource;
    const pid = source.pid!;
    const notice = nextJson(ws, (m) => m.type === 'error');
    process.kill(pid, 'SIGKILL');
    assert.equal((await notice).error.code, 'source_error');
    const frame = await nextJson(ws, (m) => m.type === 'frame');
    ws.close();
    assert.equal(frame.data.width, 1280);
    assert.ok(source.pid !== undefined && source.pid !== pid);
  });

  it('turns capture on with framehub serve --screen', async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', `import('./src/cli/main.ts').then((m) => m.main(${JSON.stringify(['serve', '--screen', '--display', x.display, '--port', '0', '--host', '127.0.0.1'])}))`], { cwd: ROOT, env: { ...process.env, DISPLAY: '' } });
    t.after(() => { child.kill('SIGKILL'); });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await waitFor('the serving line', () => /framehub serving .* at http:\/\/[^"\s]+/.test(out), 30_000);
    const url = /framehub serving .* at (http:\/\/[^"\s]+)/.exec(out)![1]!;
    const response = await fetch(`${url}/api/windows`);
    assert.equal(response.status, 200);
    assert.ok(((await response.json()) as { windows: any[] }).windows.some((w) => w.title === 'framehub blue'));
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  });

  it('prints the window list with framehub windows', async () => {
    const json = await runCli(['windows', '--display', x.display, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const titles = (JSON.parse(json.stdout) as { windows: any[] }).windows.map((w) => w.title);
    assert.ok(titles.includes('framehub blue'));
    const table = await runCli(['windows', '--display', x.display]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, new RegExp(`0x${blue.toString(16)}\\s+${blue}\\s+240x160\\+700\\+300\\s+framehub blue`));
  });
});

/**
 * Starts a framehub with screen capture and a lavfi video stream in a child process with `env`
 * (so PATH and DISPLAY can lack things), and returns what GET /api/windows and the first
 * message of /stream/clip said.
 */
async function probeInChild(env: NodeJS.ProcessEnv): Promise<{ windows: any; video: any }> {
  const script = `
    const { WebSocket } = await import('ws');
    const { loadConfig } = await import('./src/config/config.ts');
    const { createServer } = await import('./src/server/create-server.ts');
    const server = await createServer(loadConfig({ env: process.env, overrides: {
      port: 0, host: '127.0.0.1', logLevel: 'silent', screen: true,
      streams: { clip: { source: 'video', lavfi: 'color=c=red:size=64x64:rate=5' } } } }));
    const { url } = await server.listen();
    const windows = await (await fetch(url + '/api/windows')).json();
    const ws = new WebSocket(url.replace('http', 'ws') + '/stream/clip');
    const video = await new Promise((resolve) => ws.on('message', (data) => resolve(JSON.parse(String(data)))));
    ws.close();
    await server.close();
    process.stdout.write(JSON.stringify({ windows, video }));
    process.exit(0);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await once(child, 'exit');
  clearTimeout(timer);
  assert.ok(stdout, `the child printed nothing; stderr: ${stderr}`);
  return JSON.parse(stdout);
}

describe('screen capture where it cannot run', { timeout: 120_000 }, () => {
  it('says capture is off when framehub runs without --screen, and id 0 stays the default stream', async () => {
    const s = await startServer();
    try {
      const response = await fetch(`${s.http}/api/windows`);
      assert.equal(response.status, 503);
      assert.equal(((await response.json()) as any).error.code, 'capture_disabled');
      const ws = await openSocket(`${s.ws}/stream/0`);
      await nextJson(ws, (m) => m.type === 'frame');
      ws.close();
    } finally {
      await s.close();
    }
  });

  it('names the missing X server on HTTP and WS; other streams keep working', async () => {
    const s = await startServer({ screen: true, display: ':1999' });
    try {
      const response = await fetch(`${s.http}/api/windows`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as any;
      assert.equal(body.error.code, 'capture_unavailable');
      assert.equal(body.error.missing, 'x-server');
      assert.match(body.error.message, /cannot connect to X display :1999/);

      const ws = await openSocket(`${s.ws}/stream/0`);
      const ended = closed(ws);
      const error = await nextJson(ws, (m) => m.type === 'error');
      assert.match(error.error.message, /screen capture unavailable: cannot connect to X display :1999/);
      assert.equal((await ended).code, 4410);

      const demo = await openSocket(`${s.ws}/stream/demo`);
      await nextJson(demo, (m) => m.type === 'frame');
      demo.close();
    } finally {
      await s.close();
    }
  });

  it('names ffmpeg when it is not installed (PATH without it)', async () => {
    const x = await startXvfb(320, 240);
    const bin = await tempDir();
    try {
      // A PATH with the X tools but no ffmpeg.
      for (const tool of ['xwininfo', 'xprop', 'xdpyinfo']) await symlink(`/usr/bin/${tool}`, join(bin.path, tool));
      const { windows, video } = await probeInChild({ ...process.env, PATH: bin.path, DISPLAY: x.display });
      assert.equal(windows.error.missing, 'ffmpeg');
      assert.match(windows.error.message, /ffmpeg is not installed/);
      assert.equal(video.error.code, 'stream_ended');
      assert.match(video.error.message, /ffmpeg is not installed/);
    } finally {
      await bin.cleanup();
      await x.stop();
    }
  });

  it('names the missing display when DISPLAY is not set', async () => {
    const { windows } = await probeInChild({ ...process.env, DISPLAY: '' });
    assert.equal(windows.error.missing, 'display');
    assert.match(windows.error.message, /no X display \(set DISPLAY or --display\)/);
  });
});
