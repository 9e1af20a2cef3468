import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type TestServer } from './helpers.js';
import { makeImage, startShapeServer, type ShapeServer } from './client-helpers.js';
import { withTimeout } from './wait.js';
import { numberedPng, startGenServer } from './generations-helpers.js';

/** `framehub collect` as users run it: the real CLI (bin/framehub.js on dist/) in a child process. */

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/framehub.js');

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once stderr so far matches `pattern` (checked on each chunk the child writes). */
  stderrMatch: (pattern: RegExp) => Promise<void>;
  exit: Promise<number | null>;
}

function startCli(args: string[], cwd: string): Run {
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const stderrMatch = (pattern: RegExp) => new Promise<void>((resolve) => {
    if (pattern.test(stderr)) return resolve();
    child.stderr!.on('data', function onData() {
      if (!pattern.test(stderr)) return;
      child.stderr!.off('data', onData);
      resolve();
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, stderrMatch, exit };
}

async function runCli(args: string[], cwd: string, ms = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args, cwd);
  try {
    const code = await withTimeout(run.exit, ms, `framehub ${args.join(' ')}`);
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    run.child.kill('SIGKILL');
  }
}

function waitForOutput(run: Run, pattern: RegExp, ms = 15_000): Promise<void> {
  return withTimeout(new Promise<void>((resolve) => {
    const check = () => {
      if (pattern.test(run.stdout())) {
        run.child.stdout!.off('data', check);
        resolve();
      }
    };
    run.child.stdout!.on('data', check);
    check();
  }), ms, `output matching ${pattern}`);
}

describe('framehub collect', () => {
  let framehub: TestServer;
  let shapes: ShapeServer;
  let dir: string;
  const children: ChildProcess[] = [];

  before(async () => {
    // bin/framehub.js runs dist/: build it so this file also runs on its own.
    await new Promise<void>((resolve) => execFile(join(root, 'node_modules/.bin/tsc'), ['-p', root], () => resolve()));
    assert.ok(existsSync(join(root, 'dist/cli/collect.js')), 'dist/cli/collect.js was not built');
    framehub = await startServer();
    shapes = await startShapeServer();
    dir = await mkdtemp(join(tmpdir(), 'framehub-collect-'));
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await framehub?.close();
    await shapes?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('saves --max images from framehub /stream/:id, one log line each, then a summary', async () => {
    const out = join(dir, 'max');
    const { code, stdout, stderr } = await runCli(['collect', `${framehub.ws}/stream/demo?fps=15&format=png`, '--out', out, '--max', '3'], dir);
    assert.equal(code, 0, stderr);
    const files = await readdir(out);
    assert.equal(files.length, 3);
    assert.ok(files.every((f) => f.endsWith('.png')));
    const lines = stdout.trim().split('\n');
    assert.equal(lines.filter((l) => /^saved .*\.png 320x180 png [\d.]+ (B|KiB)$/.test(l)).length, 3, stdout);
    assert.match(lines.at(-1)!, /^collected 3 image\(s\), .* in [\d.]+ s, 3 saved to /);
    assert.match(stderr, /connected to ws:\/\/127\.0\.0\.1:\d+\/stream\/demo/);
    assert.equal((await readFile(join(out, files[0]!))).subarray(1, 4).toString('latin1'), 'PNG');
  });

  it('stops after --duration on the binary /ws/video_feed', async () => {
    const started = Date.now();
    const { code, stdout, stderr } = await runCli(['collect', `${framehub.ws}/ws/video_feed?stream=demo`, '--no-save', '--duration', '1'], dir);
    assert.equal(code, 0, stderr);
    assert.ok(Date.now() - started >= 1000);
    assert.ok(stdout.split('\n').some((l) => /^received 320x180 jpeg /.test(l)), stdout);
    assert.match(stdout, /collected \d+ image\(s\)/);
  });

  it('keeps only the --format formats from a server sending several', async () => {
    const out = join(dir, 'formats');
    const images = await Promise.all((['jpeg', 'png', 'gif', 'webp-lossy'] as const).map((k) => makeImage(k, 12, 9)));
    shapes.wss.once('connection', function sendMixed(ws) {
      for (let i = 0; i < 3; i++) for (const image of images) ws.send(JSON.stringify({ image: image.toString('base64') }));
    });
    const { code, stderr } = await runCli(['collect', shapes.url, '--out', out, '--format', 'png,gif', '--max', '4'], dir);
    assert.equal(code, 0, stderr);
    const files = (await readdir(out)).map((f) => f.split('.').pop()).sort();
    assert.deepEqual(files, ['gif', 'gif', 'png', 'png']);
  });

  it('saves generated images from framehub /ws/streaming (seeds/000) under their own format, and sends --token', async () => {
    const gen = await startGenServer();
    try {
      const out = join(dir, 'streaming');
      const run = startCli(['collect', `${gen.ws}/ws/streaming`, '--out', out, '--max', '2', '--token', 'tok-1'], dir);
      children.push(run.child);
      await withTimeout(run.stderrMatch(/connected to /), 15_000, 'collect to connect');
      const job = await gen.api('POST', '/api/generations', { prompt: 'two foxes' });
      assert.equal(job.status, 201, JSON.stringify(job.json));
      for (let i = 0; i < 2; i++) {
        const published = await gen.publishImage(job.json.job_id, await numberedPng(i, 20), { imageIdx: i, imageLength: 2 });
        assert.equal(published.status, 201, JSON.stringify(published.json));
      }
      const code = await withTimeout(run.exit, 15_000, 'collect to exit');
      assert.equal(code, 0, run.stderr());
      const files = await readdir(out);
      assert.equal(files.length, 2);
      assert.ok(files.every((f) => f.endsWith('.png')));
      assert.equal(run.stdout().split('\n').filter((l) => /^saved .* 20x20 png /.test(l)).length, 2, run.stdout());
    } finally {
      await gen.close();
    }
    // A fresh server: the shared one has queued connections from earlier tests.
    const tokenServer = await startShapeServer();
    try {
      const tokenSeen = tokenServer.nextConnection();
      const { code } = await runCli(['collect', tokenServer.url, '--token', 'tok-2', '--duration', '0.3', '--no-save'], dir);
      assert.equal(code, 0);
      assert.equal((await tokenSeen).url.searchParams.get('token'), 'tok-2');
    } finally {
      await tokenServer.close();
    }
  });

  it('exits 1 with a clear message when the server cannot be reached after the retries', async () => {
    const gone = await startShapeServer();
    const url = gone.url;
    await gone.close();
    const { code, stdout, stderr } = await runCli(['collect', url, '--retries', '2', '--retry-delay', '50', '--no-save'], dir);
    assert.equal(code, 1);
    assert.match(stderr, /reconnecting in 50 ms \(attempt 1\/2\)/);
    assert.match(stderr, new RegExp(`framehub collect: cannot reach ${url.replace(/[/.]/g, '\\$&')}/ \\(first attempt and 2 retries failed\\)`));
    assert.match(stdout, /collected 0 image\(s\)/);
  });

  it('exits 1 when a server it was collecting from goes away for good', async () => {
    const server = await startShapeServer();
    const png = await makeImage('png', 4, 4);
    server.wss.once('connection', (ws) => ws.send(png));
    const run = startCli(['collect', server.url, '--retries', '1', '--retry-delay', '50', '--no-save'], dir);
    children.push(run.child);
    await waitForOutput(run, /received 4x4 png/);
    await server.kill();
    const code = await withTimeout(run.exit, 15_000, 'collect to exit');
    assert.equal(code, 1);
    assert.match(run.stderr(), /disconnected \(1006/);
    assert.match(run.stderr(), /lost ws:\/\/127\.0\.0\.1:\d+\/ and could not reconnect after 1 attempt/);
    assert.match(run.stdout(), /collected 1 image\(s\)/);
  });

  it('ends cleanly on Ctrl-C (SIGINT) with a summary', async () => {
    const out = join(dir, 'sigint');
    const run = startCli(['collect', `${framehub.ws}/stream/demo?fps=10`, '--out', out], dir);
    children.push(run.child);
    await waitForOutput(run, /^saved /m);
    run.child.kill('SIGINT');
    const code = await withTimeout(run.exit, 10_000, 'collect to exit on SIGINT');
    assert.equal(code, 0, run.stderr());
    assert.match(run.stderr(), /interrupted/);
    const summary = run.stdout().trim().split('\n').at(-1)!;
    const match = /^collected (\d+) image\(s\), .*, (\d+) saved to /.exec(summary);
    assert.ok(match, summary);
    assert.equal(match[1], match[2], 'every collected image was saved before exit');
    assert.equal((await readdir(out)).length, Number(match[2]));
  });

  it('shows a live progress line on a terminal', async () => {
    // `script` gives the CLI a real pseudo-terminal, so stdout.isTTY is true.
    const out = join(dir, 'tty');
    const command = [process.execPath, bin, 'collect', `${framehub.ws}/stream/demo?fps=15&format=png`, '--out', out, '--max', '8']
      .map((a) => `'${a}'`).join(' ');
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let output = '';
      child.stdout.on('data', (d) => { output += d; });
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no exit; output: ${output}`)); }, 30_000);
      child.on('close', (c) => { clearTimeout(timer); resolve({ code: c, stdout: output }); });
    });
    assert.equal(code, 0, stdout);
    assert.match(stdout, /\r\x1b\[2K\d+ images · [\d.]+ (B|KiB|MiB) · [\d.]+ img\/s · last 320x180 png /);
    assert.doesNotMatch(stdout, /^saved /m, 'no per-image lines on a terminal');
    assert.match(stdout, /collected 8 image\(s\)/);
  });

  it('refuses bad arguments with exit 2 and shows --help', async () => {
    for (const args of [['--max', '0'], ['--format', 'bmp'], ['--duration', 'soon'], ['--bogus']]) {
      const { code, stderr } = await runCli(['collect', 'ws://127.0.0.1:1/x', ...args], dir);
      assert.equal(code, 2, args.join(' '));
      assert.match(stderr, /^framehub collect: /);
    }
    const scheme = await runCli(['collect', 'ftp://example.com/'], dir);
    assert.equal(scheme.code, 2);
    assert.match(scheme.stderr, /unsupported URL scheme "ftp:"/);
    const help = await runCli(['collect', '--help'], dir);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: framehub collect <url>/);
    const top = await runCli(['--help'], dir);
    assert.match(top.stdout, /collect {4}save the images a WebSocket server sends/);
  });
});
