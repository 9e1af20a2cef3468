import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { startServer, type TestServer } from './helpers.js';
import { sniffImage } from '../src/image/sniff.js';

const PYTHON = '/usr/bin/python3';
const run = promisify(execFile);

/**
 * Clients written the way the seeds' own clients are (same calls, same parsing), run against
 * framehub with only host and port changed.
 */
describe('seed-style clients', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('seeds/002 Node client: ws + JSON.parse(data.toString()), saves frames by data_url and format', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'framehub-frames-'));
    const types = new Set<string>();
    let frameCount = 0;
    await new Promise<void>((resolve, reject) => {
      const params = new URLSearchParams({ fps: '15', quality: '85', format: 'jpeg' });
      const ws = new WebSocket(`${s.ws}/stream/0?${params}`);
      ws.on('open', () => ws.send(JSON.stringify({ command: 'update_options', options: { fps: 30 } })));
      ws.on('message', (data) => {
        const message = JSON.parse(data.toString());
        types.add(message.type);
        if (message.type === 'error') reject(new Error(message.error.message));
        if (message.type !== 'frame') return;
        frameCount++;
        const base64Data = message.data.data_url.replace(/^data:image\/\w+;base64,/, '');
        const buffer = Buffer.from(base64Data, 'base64');
        const filename = `frame_${frameCount.toString().padStart(6, '0')}.${message.data.format}`;
        writeFileSync(join(dir, filename), buffer);
        if (frameCount === 5) {
          ws.close();
          resolve();
        }
      });
      ws.on('error', reject);
    });
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ['frame_000001.jpeg', 'frame_000002.jpeg', 'frame_000003.jpeg', 'frame_000004.jpeg', 'frame_000005.jpeg']);
    for (const file of files) assert.equal(sniffImage(readFileSync(join(dir, file)))?.format, 'jpeg');
    assert.ok(!types.has('error'));
  });

  it('seeds/002 Python client (websockets) receives and saves frames', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'framehub-py-'));
    const script = fileURLToPath(new URL('./fixtures/stream_client.py', import.meta.url));
    const { stdout } = await run(PYTHON, [script, s.ws, '20', dir], { timeout: 60_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(result.error, undefined, JSON.stringify(result.error));
    assert.equal(result.frames, 20);
    for (const { file, size, bytes } of result.saved) {
      assert.equal(size, bytes, 'size is the image byte count');
      assert.deepEqual(sniffImage(readFileSync(file))?.format, 'jpeg');
    }
  });
});
