import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeComfyUi } from './generations-fake-comfyui.js';
import { numberedPng } from './generations-helpers.js';
import { servingUrl } from './server-process.js';
import { waitUntil } from './wait.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/framehub.js');

before(async () => {
  // bin/framehub.js runs dist/: build it so this file also runs on its own.
  await new Promise<void>((resolve) => execFile(join(ROOT, 'node_modules/.bin/tsc'), ['-p', ROOT], () => resolve()));
});

test('framehub serve --comfyui bridges a ComfyUI: its images reach the gallery', async (t) => {
  const comfy = new FakeComfyUi();
  await comfy.start();
  t.after(() => comfy.stop());
  const imageDir = await mkdtemp(join(tmpdir(), 'framehub-cli-gen-'));
  t.after(() => rm(imageDir, { recursive: true, force: true }));
  const connected = once(comfy, 'connection');
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--comfyui', `${comfy.url}/?clientId=cli`, '--image-dir', imageDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(async () => {
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  });
  const url = await servingUrl(child);
  const [sid] = await connected as [string];
  assert.equal(sid, 'cli');

  comfy.queue('cli-1', sid, {}, [{ filename: 'ComfyUI_00042_.png', bytes: await numberedPng(42, 40) }]);
  comfy.send(sid, 'execution_start', { prompt_id: 'cli-1', timestamp: Date.now() });
  comfy.send(sid, 'executed', { node: '9', output: { images: [{ filename: 'ComfyUI_00042_.png', subfolder: '', type: 'output' }] }, prompt_id: 'cli-1' });
  const images = await waitUntil(async () => (await (await fetch(`${url}/api/images`)).json() as { images: any[] }).images, (list) => list.length === 1, { what: 'the image in the gallery' });
  assert.equal(images[0].job_id, 'cli-1');
  assert.equal(images[0].filename, 'ComfyUI_00042_.png');
  assert.equal((await fetch(url + images[0].url)).status, 200);
});
