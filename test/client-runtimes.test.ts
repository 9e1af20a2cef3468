import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startServer, type TestServer } from './helpers.js';
import { startShapeServer, type ShapeServer } from './client-helpers.js';
import { runProcess, type ProcessResult } from './run-process.js';

/**
 * The built client (`dist/client`, the `framehub/client` entry) run by Deno, Bun and the Node
 * running the suite (Node 20 has no global WebSocket, so `ws` is loaded; Node 24 uses its own)
 * against a live framehub: JSON and binary images, saving, typed events, a malformed message.
 */

const root = new URL('..', import.meta.url).pathname;
const entry = join(root, 'dist/client/index.js');
const script = join(root, 'test/fixtures/client/runtime-check.mjs');
/** The suite runs on Node 20 and on Node 24 (.ci/run); Node has had a global WebSocket since 22. */
const NODE_HAS_WEBSOCKET = Number(process.versions.node.split('.')[0]) >= 22;

function run(command: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<ProcessResult> {
  return runProcess(command, args, { cwd, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' }, timeoutMs });
}

describe('the built client in Node, Deno and Bun', () => {
  let framehub: TestServer;
  let events: ShapeServer;

  before(async () => {
    // Build dist/ so this file also runs on its own; others' type errors must not hide our output.
    await new Promise<void>((resolve) => execFile(join(root, 'node_modules/.bin/tsc'), ['-p', root], () => resolve()));
    assert.ok(existsSync(entry), `${entry} was not built`);
    framehub = await startServer();
    events = await startShapeServer();
    // Every client that connects gets a malformed message, then a completed event.
    events.wss.on('connection', function eventsOnConnection(ws) {
      ws.send('{ this is not json');
      ws.send(JSON.stringify({ type: 'image.generation.completed', payload: { job_id: 'rt', image_url: 'http://img/rt.png' }, timestamp: new Date().toISOString() }));
    });
  });
  after(async () => {
    await framehub?.close();
    await events?.close();
  });

  it('package exports: framehub/client and framehub/react resolve to dist/ with exactly the documented names', async () => {
    const client = await import('framehub/client' as string);
    assert.deepEqual(Object.keys(client).sort(), [
      'ClientEvent', 'CloseCode', 'ConnectionStates', 'ExponentialBackoff', 'FINAL_CLOSE_CODES', 'FixedDelay', 'HEARTBEAT_TIMEOUT_CODE',
      'NO_RECONNECT', 'PixelSocket', 'ReceiveStats', 'ReconnectingSocket', 'SocketEvent', 'StopOnCloseCodes', 'StreamClient',
      'StreamClientEvent', 'VIDEO_TIER_NAMES', 'VideoPlayer', 'VideoPlayerEvent', 'WebSocketClient', 'decodeMessage', 'parseDataUrl',
      'parseEvent', 'parseStreamMessage', 'parseVideoUnit',
    ]);
    const react = await import('framehub/react' as string);
    assert.deepEqual(Object.keys(react).sort(), ['useLatestImage', 'useWebSocket']);
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    for (const entry of ['./client', './react']) {
      for (const file of Object.values(pkg.exports[entry]) as string[]) assert.ok(existsSync(join(root, file)), `${entry} → ${file}`);
    }
  });

  const runtimes: Array<[name: string, command: (config: string) => [string, string[]]]> = [
    ['node', (config) => [process.execPath, [script, config]]],
    ['deno', (config) => [join(root, 'node_modules/.bin/deno'), ['run', '-A', '--no-prompt', script, config]]],
    ['bun', (config) => [join(root, 'node_modules/.bin/bun'), [script, config]]],
  ];

  for (const [name, command] of runtimes) {
    it(`${name}: collects and saves JSON and binary images, receives events, reports a parse error`, async () => {
      const dir = await mkdtemp(join(tmpdir(), `framehub-${name}-`));
      try {
        const config = JSON.stringify({
          module: pathToFileURL(entry).href,
          streamUrl: `${framehub.ws}/stream/demo?fps=15&format=png`,
          feedUrl: `${framehub.ws}/ws/video_feed?stream=demo`,
          eventsUrl: `${events.url}/ws`,
          saveDirectory: join(dir, 'images'),
        });
        const [cmd, args] = command(config);
        const { code, stdout, stderr } = await run(cmd, args, dir);
        assert.equal(code, 0, `${name} exited ${code}\nstdout: ${stdout}\nstderr: ${stderr}`);
        const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
        assert.ok(line, `no RESULT line from ${name}:\n${stdout}\n${stderr}`);
        const result = JSON.parse(line.slice(7));
        assert.equal(result.runtime, name);
        // Node 20 has no global WebSocket, so the client loads `ws`; Node >= 22 (CI's Node 24 run) has one.
        if (name === 'node') assert.equal(result.globalWebSocket, NODE_HAS_WEBSOCKET ? 'function' : 'undefined', `the client in Node ${process.version} used ${NODE_HAS_WEBSOCKET ? 'the global WebSocket' : 'ws'}`);
        for (const image of result.json.images) assert.deepEqual(image, { ...image, isUint8Array: true, format: 'png', width: 320, height: 180 });
        assert.equal(result.json.connected, true);
        for (const image of result.binary.images) assert.deepEqual(image, { ...image, isUint8Array: true, format: 'jpeg', width: 320, height: 180 });
        assert.deepEqual(result.events.payload, { job_id: 'rt', image_url: 'http://img/rt.png' });
        assert.equal(result.events.parseErrors.length, 1);
        assert.equal(result.events.state, 'connected');
        assert.equal(result.events.sendThrew, true);
        const files = (await readdir(join(dir, 'images'))).sort();
        assert.equal(files.length, 2);
        assert.ok(files.every((f) => f.endsWith('.png')), files.join(', '));
        const png = await readFile(join(dir, 'images', files[0]!));
        assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
        assert.deepEqual(result.json.saved.map((p: string) => p.split('/').pop()).sort(), files);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
