import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SignJWT } from 'jose';
import { JWT_SECRET, numberedPng, startGenServer } from './generations-helpers.js';
import { waitUntil } from './wait.js';

/**
 * seeds/000's and seeds/001's own examples, verbatim but for the URL, against framehub: the
 * PixelSocket Quick Start and "Custom Image Processing" in Deno, and WebSocketClient's
 * "Node.js Usage" + "Basic Usage" handler in Node. Their imports point at framehub's built client.
 */

const root = new URL('..', import.meta.url).pathname;
const clientEntry = pathToFileURL(join(root, 'dist/client/index.js')).href;

before(async () => {
  // Build dist/ so this file runs on its own; others' type errors must not stop the build output.
  await new Promise<void>((resolve) => execFile(join(root, 'node_modules/.bin/tsc'), ['-p', root], () => resolve()));
  assert.ok(existsSync(join(root, 'dist/client/index.js')), 'dist/client was not built');
});

/** Runs a child, collects its stdout lines; `until` resolves when a predicate over them holds. */
function runChild(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(command, args, { cwd, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  const waiters: Array<() => void> = [];
  let buffered = '';
  child.stdout!.on('data', (chunk) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
    waiters.splice(0).forEach((w) => w());
  });
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  return {
    lines,
    until(predicate: (lines: string[]) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`)), timeoutMs);
        const check = () => {
          if (predicate(lines)) {
            clearTimeout(timer);
            resolve();
          } else if (child.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`${command} exited with ${child.exitCode}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
          } else waiters.push(check);
        };
        child.on('exit', () => waiters.splice(0).forEach((w) => w()));
        check();
      });
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

test('seeds/000: the PixelSocket Quick Start and Custom Image Processing examples run in Deno against /ws/streaming', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const dir = await mkdtemp(join(tmpdir(), 'framehub-seed000-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const url = `${srv.ws}/ws/streaming`;
  await writeFile(join(dir, 'pixel_socket.ts'), `export { PixelSocket } from ${JSON.stringify(clientEntry)};\n`);
  // Quick Start, verbatim but for the URL.
  await writeFile(join(dir, 'quick_start.ts'), `import { PixelSocket } from "./pixel_socket.ts";
const client = new PixelSocket({
    url: "${url}",
    saveDirectory: "./images",
    onImage: (imageData, metadata) => {
        console.log(\`Received image: \${imageData.length} bytes\`);
    },
    onConnect: () => {
        console.log("Connected to WebSocket server");
    },
});

await client.connect();
`);
  // Custom Image Processing, verbatim but for the URL (and the missing import line the README leaves out).
  await writeFile(join(dir, 'custom.ts'), `import { PixelSocket } from "./pixel_socket.ts";
const client = new PixelSocket({
  url: "${url}",
  saveDirectory: "./images",
  onImage: (imageData, metadata) => {
    // Custom processing
    if (imageData.length > 10000) {
      console.log("Large image received!");
      // Process large images differently
    }
    
    // Access metadata
    console.log(\`Format: \${metadata?.format}\`);
    console.log(\`Timestamp: \${metadata?.timestamp}\`);
    
    // Access generation parameters (if available)
    if (metadata?.params) {
      console.log(\`Workflow: \${metadata.params.workflowName}\`);
      console.log(\`Seed: \${metadata.params.seed}\`);
      console.log(\`Prompt: \${metadata.params.positivePrompt}\`);
    }
  },
});
await client.connect();
`);
  const deno = join(root, 'node_modules/.bin/deno');
  const quick = runChild(deno, ['run', '-A', '--no-prompt', 'quick_start.ts'], dir);
  const custom = runChild(deno, ['run', '-A', '--no-prompt', 'custom.ts'], dir);
  t.after(() => { quick.kill(); custom.kill(); });
  await quick.until((l) => l.includes('Connected to WebSocket server'), 'the Quick Start to connect');
  const png = [await numberedPng(5, 24), await numberedPng(6, 24)];
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'a seed-born robot', seed: '7419854775631041493', workflow: 'novaAnimeXL.json' });
  // custom.ts prints nothing on connect: wait until the server counts both Deno consumers.
  await waitUntil(async () => (await srv.api('GET', '/api/generations/stats')).json.consumers, (n) => n >= 2, { what: 'two consumers', timeoutMs: 30_000 });
  for (const [i, bytes] of png.entries()) await srv.publishImage(job.job_id, bytes, { imageIdx: i, imageLength: 2 });

  await quick.until((l) => l.filter((x) => x.startsWith('Received image:')).length === 2, 'two images in the Quick Start');
  assert.deepEqual(quick.lines.filter((x) => x.startsWith('Received image:')), png.map((b) => `Received image: ${b.length} bytes`));
  await custom.until((l) => l.filter((x) => x.startsWith('Prompt:')).length === 2, 'two images in Custom Image Processing');
  assert.ok(custom.lines.includes('Format: png'));
  assert.ok(custom.lines.includes('Workflow: novaAnimeXL.json'));
  assert.ok(custom.lines.includes('Seed: 7419854775631041493'));
  assert.ok(custom.lines.includes('Prompt: a seed-born robot'));
  // Both save what they receive into ./images (the write finishes after onImage).
  await waitUntil(async () => (await readdir(join(dir, 'images')).catch(() => [] as string[])).filter((f) => f.endsWith('.png')),
    (saved) => saved.length >= 2, { what: 'saved PNG files in ./images' });
});

test('seeds/001: the WebSocketClient Node.js Usage example receives image.generation.completed from /ws with a JWT', async (t) => {
  const srv = await startGenServer({ jwtSecret: JWT_SECRET });
  t.after(() => srv.close());
  const dir = await mkdtemp(join(tmpdir(), 'framehub-seed001-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'));
  await mkdir(join(dir, 'lib'));
  await writeFile(join(dir, 'lib', 'websocket-client.ts'), `export { WebSocketClient } from ${JSON.stringify(clientEntry)};\n`);
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
  // "Node.js Usage", verbatim but for the URL, plus the "Basic Usage" listener.
  await writeFile(join(dir, 'main.ts'), `import { WebSocket } from 'ws';
import { WebSocketClient } from './lib/websocket-client';

// Polyfill global WebSocket
(global as any).WebSocket = WebSocket;

// Use client normally
const client = new WebSocketClient(
  '${srv.ws}/ws',
  async () => process.env.JWT_TOKEN || ''
);

// Listen for events
client.on('image.generation.completed', (event) => {
  console.log('Image ready:', event.payload.image_url);
  console.log('Job ID:', event.payload.job_id);
});

client.on('connected', () => {
  console.log('WebSocket connected');
});

await client.connect();
`);
  const token = await new SignJWT({ scope: 'view' }).setProtectedHeader({ alg: 'HS256' }).setSubject('erin').setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
  const node = runChild(process.execPath, ['--import', 'tsx', 'main.ts'], dir, { JWT_TOKEN: token });
  t.after(() => node.kill());
  await node.until((l) => l.includes('WebSocket connected'), 'the example to connect');
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'for erin', user_id: 'erin' });
  const { json: image } = await srv.publishImage(job.job_id, await numberedPng(7));
  await node.until((l) => l.some((x) => x.startsWith('Job ID:')), 'the completed event');
  assert.ok(node.lines.includes(`Image ready: ${image.image_url}`));
  assert.ok(node.lines.includes(`Job ID: ${job.job_id}`));
});
