import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestServer } from './helpers.js';
import { BLUE, createLoadedSession, near, pixelAt, RED, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { runProcess } from './run-process.js';

/**
 * A client written the way seeds/003's Python example is: `socketio.Client()`, handlers with
 * `@sio.on('frame')` and `@sio.on('subscribed')`, `sio.connect`, `sio.emit('subscribe', ...)`,
 * `sio.emit('input:click', ...)`. Instead of `sio.wait()` forever it sleeps until it has what it
 * came for, and it saves frames instead of `img.show()` (PIL is not installed).
 */
const CLIENT = String.raw`
import base64, json, os, sys, time
import socketio

url, session_id, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
sio = socketio.Client()
state = {'frames': 0, 'subscribed': None, 'acks': [], 'errors': [], 'sizes_ok': True}

@sio.on('frame')
def on_frame(data):
    img_data = base64.b64decode(data['image'])
    state['frames'] += 1
    state['sizes_ok'] = state['sizes_ok'] and data['size'] == len(img_data) and isinstance(data['timestamp'], (int, float))
    if state['frames'] <= 60:
        with open(os.path.join(out_dir, 'frame-%03d.jpg' % state['frames']), 'wb') as f:
            f.write(img_data)

@sio.on('subscribed')
def on_subscribed(data):
    state['subscribed'] = data

@sio.on('input:acknowledged')
def on_ack(data):
    state['acks'].append(data)

@sio.on('error')
def on_error(data):
    state['errors'].append(data)

sio.connect(url)
sio.emit('subscribe', {'session_id': session_id})

def wait_for(check, seconds):
    deadline = time.time() + seconds
    while not check() and time.time() < deadline:
        sio.sleep(0.05)
    return check()

wait_for(lambda: state['frames'] >= 1, 20)
sio.emit('input:click', {'x': 100, 'y': 100})
wait_for(lambda: len(state['acks']) >= 1, 20)
frames_at_ack = state['frames']
# The click repaints the page once; its frame may come just before or after the ack.
wait_for(lambda: state['frames'] > frames_at_ack, 3)
sio.disconnect()
print(json.dumps(state))
`;

async function runPython(args: string[]): Promise<string> {
  const { code, signal, stdout, stderr } = await runProcess('/usr/bin/python3', args, { timeoutMs: 60_000 });
  if (code !== 0) throw new Error(`python client failed: exit ${code ?? signal}\n${stderr}`);
  return stdout;
}

describe("seeds/003's Python Socket.IO client pattern (Debian python3-socketio)", () => {
  let pages: PageServer;
  let server: TestServer;
  let dir: string;

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer();
    dir = await mkdtemp(join(tmpdir(), 'framehub-py-'));
  });
  after(async () => {
    await server?.close();
    await pages?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('subscribes, receives frames, clicks and sees the page change', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/`, { session_id: 'my_session' });
    const script = join(dir, 'client.py');
    await writeFile(script, CLIENT);
    const frameDir = join(dir, 'frames');
    await mkdir(frameDir);
    const state = JSON.parse((await runPython([script, server.http, id, frameDir])).trim().split('\n').pop()!);
    assert.deepEqual(state.errors, []);
    assert.equal(state.subscribed.session_id, id);
    assert.equal(typeof state.subscribed.fps, 'number');
    assert.equal(typeof state.subscribed.quality, 'number');
    assert.deepEqual(state.acks, [{ type: 'click' }]);
    assert.equal(state.sizes_ok, true);
    const files = (await readdir(frameDir)).sort();
    assert.ok(files.length >= 2, `${files.length} frames`);
    assert.ok(near(await pixelAt(await readFile(join(frameDir, files[0]!)), 10, 10), RED), 'first frame red');
    assert.ok(near(await pixelAt(await readFile(join(frameDir, files.at(-1)!)), 10, 10), BLUE), 'last frame blue');
  });
});
