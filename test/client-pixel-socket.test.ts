import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PixelSocket, type ImageMetadata } from '../src/client/index.js';
import { createImageSaver } from '../src/client/image-saver.js';
import { startServer, type TestServer } from './helpers.js';
import { Inbox, deferred, makeImage, startShapeServer, type ShapeServer, type TestImageKind } from './client-helpers.js';
import { withTimeout } from './wait.js';

interface Received { bytes: Uint8Array; metadata: ImageMetadata }

const b64 = (bytes: Buffer) => bytes.toString('base64');
const dataUrl = (bytes: Buffer, mime: string) => `data:${mime};base64,${b64(bytes)}`;

/** A PixelSocket that saves nothing unless told, with its images, errors and disconnects collected. */
function collector(url: string, extra: Partial<ConstructorParameters<typeof PixelSocket>[0]> = {}) {
  const images = new Inbox<Received>();
  const errors = new Inbox<Error>();
  const client = new PixelSocket({
    url,
    saveImages: false,
    autoReconnect: false,
    onImage: (bytes, metadata) => images.push({ bytes, metadata: metadata! }),
    onError: errors.push,
    ...extra,
  });
  return { client, images, errors };
}

describe('PixelSocket against a server that sends every message shape', () => {
  let server: ShapeServer;
  const clients: PixelSocket[] = [];
  before(async () => { server = await startShapeServer(); });
  after(async () => {
    for (const c of clients) c.disconnect();
    await server.close();
  });

  it('recognises binary images of every format and reads format and size from the bytes', async () => {
    const kinds: TestImageKind[] = ['png', 'jpeg', 'gif', 'webp-lossy', 'webp-lossless', 'webp-extended'];
    const sent = await Promise.all(kinds.map((kind, i) => makeImage(kind, 40 + i, 30 + i)));
    const { client, images } = collector(server.url);
    clients.push(client);
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    for (const bytes of sent) ws.send(bytes);
    const got = await images.next(sent.length);
    const expectedFormats = ['png', 'jpeg', 'gif', 'webp', 'webp', 'webp'];
    got.forEach((image, i) => {
      assert.deepEqual(Buffer.from(image.bytes), sent[i], `bytes of ${kinds[i]}`);
      assert.equal(image.metadata.format, expectedFormats[i], `format of ${kinds[i]}`);
      assert.equal(image.metadata.width, 40 + i, `width of ${kinds[i]}`);
      assert.equal(image.metadata.height, 30 + i, `height of ${kinds[i]}`);
      assert.equal(image.metadata.mimeType, `image/${expectedFormats[i]}`);
      assert.ok(image.metadata.timestamp instanceof Date);
    });
    assert.equal(client.getStats().imagesReceived, sent.length);
    assert.equal(client.getStats().bytesReceived, sent.reduce((n, b) => n + b.length, 0));
    client.disconnect();
  });

  it('recognises every JSON and text shape, with server metadata only filling gaps', async () => {
    const png = await makeImage('png', 64, 48);
    const jpeg = await makeImage('jpeg', 80, 60);
    const webp = await makeImage('webp-lossy', 24, 12);
    const gif = await makeImage('gif', 10, 7);
    const shapes: Array<{ name: string; message: string; bytes: Buffer; check?: (m: ImageMetadata) => void }> = [
      {
        name: 'seeds/002 frame',
        message: JSON.stringify({ type: 'frame', data: { data_url: dataUrl(jpeg, 'image/jpeg'), format: 'jpeg', width: 80, height: 60, timestamp: 1, frame_number: 7, size: jpeg.length } }),
        bytes: jpeg,
        check: (m) => { assert.equal(m.frame_number, 7); assert.equal(m.type, 'frame'); },
      },
      {
        name: 'Socket.IO-style {image}',
        message: JSON.stringify({ image: b64(jpeg), timestamp: 1700000000000, size: jpeg.length }),
        bytes: jpeg,
        check: (m) => assert.equal(m.serverTimestamp, 1700000000000),
      },
      {
        name: '{image, metadata} with wrong server dimensions',
        message: JSON.stringify({ image: b64(png), metadata: { filename: 'shot.png', width: 999, height: 999, format: 'gif', camera: 'north' } }),
        bytes: png,
        check: (m) => {
          assert.equal(m.filename, 'shot.png');
          assert.equal(m.camera, 'north');
          assert.equal(m.width, 64, 'the bytes win over the server');
          assert.equal(m.format, 'png');
        },
      },
      { name: 'bare base64', message: b64(webp), bytes: webp },
      { name: 'bare data URL', message: dataUrl(gif, 'image/gif'), bytes: gif },
      {
        name: 'seeds/000 image-generated',
        message: JSON.stringify({
          type: 'image-generated',
          data: {
            mode: 'push', promptId: '1bb04031', base64Data: b64(png), mimeType: 'image/png',
            imageInfo: { filename: 'ComfyUI_00548_.png', subfolder: '', type: 'output' },
            params: { positivePrompt: 'a lighthouse', negativePrompt: 'blur', seed: '7419854775631041493', width: 1024, height: 1536, workflowName: 'novaAnimeXL.json' },
            imageIdx: 0, imageLength: 1, timestamp: 1768307710712,
          },
        }),
        bytes: png,
        check: (m) => {
          assert.equal(m.filename, 'ComfyUI_00548_.png');
          assert.deepEqual(m.params, { positivePrompt: 'a lighthouse', negativePrompt: 'blur', seed: '7419854775631041493', width: 1024, height: 1536, workflowName: 'novaAnimeXL.json' });
          assert.equal(m.promptId, '1bb04031');
          assert.equal(m.width, 64, 'params hold the requested size; the bytes the real one');
          assert.equal(m.mimeType, 'image/png');
        },
      },
      {
        name: 'seeds/001 envelope with a data URL',
        message: JSON.stringify({ type: 'image.generation.completed', payload: { job_id: 'j1', image_url: dataUrl(jpeg, 'image/jpeg'), metadata: { model: 'x' } }, timestamp: new Date().toISOString(), id: 12 }),
        bytes: jpeg,
        check: (m) => { assert.equal(m.job_id, 'j1'); assert.equal(m.model, 'x'); },
      },
      { name: 'Socket.IO event packet', message: `42${JSON.stringify(['frame', { image: b64(gif), timestamp: 2, size: gif.length }])}`, bytes: gif },
    ];
    const { client, images, errors } = collector(server.url);
    clients.push(client);
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    // Non-images in between must be ignored without an error: stats, status, a URL, words.
    ws.send(JSON.stringify({ type: 'stats', data: { actual_fps: 3 } }));
    ws.send('hello there');
    ws.send(Buffer.from('not an image at all'));
    ws.send(JSON.stringify({ type: 'image.generation.completed', payload: { job_id: 'j0', image_url: 'https://example.com/a.png' } }));
    for (const shape of shapes) ws.send(shape.message);
    const got = await images.next(shapes.length, 5000, 'one image per shape');
    shapes.forEach((shape, i) => {
      const image = got[i]!;
      assert.deepEqual(Buffer.from(image.bytes), shape.bytes, `bytes of ${shape.name}`);
      shape.check?.(image.metadata);
    });
    assert.deepEqual(errors.items, []);
    assert.ok(client.isConnected());
    client.disconnect();
  });

  it('reports malformed JSON and a broken image field through onError and keeps the connection', async () => {
    const png = await makeImage('png', 5, 5);
    const disconnects: number[] = [];
    const { client, images, errors } = collector(server.url, { onDisconnect: (code) => disconnects.push(code) });
    clients.push(client);
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    ws.send('{"type": "frame", "data": {');
    ws.send(JSON.stringify({ type: 'image-generated', data: { base64Data: '***not base64***', mimeType: 'image/png' } }));
    ws.send(png);
    const [error1, error2] = await errors.next(2);
    assert.match(error1!.message, /malformed JSON/);
    assert.match(error2!.message, /base64Data/);
    await images.next(1);
    assert.ok(client.isConnected());
    assert.deepEqual(disconnects, []);
    client.disconnect();
  });

  it('reports a throwing onImage through onError and keeps receiving', async () => {
    const png = await makeImage('png', 6, 6);
    const errors = new Inbox<Error>();
    const images = new Inbox<number>();
    const client = new PixelSocket({
      url: server.url,
      saveImages: false,
      autoReconnect: false,
      onImage: (bytes) => {
        images.push(bytes.length);
        if (images.items.length === 1) throw new Error('user code bug');
      },
      onError: errors.push,
    });
    clients.push(client);
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    ws.send(png);
    ws.send(png);
    await images.next(2);
    const [error] = await errors.next(1);
    assert.match(error!.message, /onImage callback threw: user code bug/);
    assert.ok(client.isConnected());
    client.disconnect();
  });

  it('sends text and bytes, and refuses to send when not connected', async () => {
    const { client } = collector(server.url);
    clients.push(client);
    assert.throws(() => client.send('early'), /cannot send/);
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    const received = new Inbox<string>();
    ws.on('message', (data, isBinary) => received.push(isBinary ? `bin:${[...(data as Buffer)].join(',')}` : data.toString()));
    client.send('Hello, server!');
    client.send(new Uint8Array([1, 2, 3]));
    assert.deepEqual(await received.next(2), ['Hello, server!', 'bin:1,2,3']);
    client.disconnect();
    assert.equal(client.isConnected(), false);
    assert.throws(() => client.send('late'), /cannot send/);
  });

  it('saves each image with the right extension under a name that never collides', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'framehub-save-'));
    try {
      const kinds: TestImageKind[] = ['png', 'jpeg', 'gif', 'webp-lossy'];
      const sent = await Promise.all(kinds.map((k) => makeImage(k, 8, 8)));
      const saved = new Inbox<string>();
      const client = new PixelSocket({ url: server.url, saveDirectory: join(dir, 'images'), autoReconnect: false, onSaved: saved.push, maxPendingSaves: 64 });
      clients.push(client);
      const connection = server.nextConnection();
      await client.connect();
      const { ws } = await connection;
      // Ten rounds back to back: many land in the same millisecond.
      for (let round = 0; round < 10; round++) for (const bytes of sent) ws.send(bytes);
      await saved.next(40, 10000, '40 saved images');
      const files = (await readdir(join(dir, 'images'))).sort();
      assert.equal(files.length, 40);
      const byExt = (ext: string) => files.filter((f) => f.endsWith(`.${ext}`)).length;
      assert.deepEqual([byExt('png'), byExt('jpg'), byExt('gif'), byExt('webp')], [10, 10, 10, 10]);
      const firstPng = files.find((f) => f.endsWith('.png'))!;
      assert.deepEqual(await readFile(join(dir, 'images', firstPng)), sent[0]);
      client.disconnect();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('does not queue saves without bound: beyond maxPendingSaves images are delivered, not saved, and reported', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'framehub-bound-'));
    try {
      const png = await makeImage('png', 8, 8);
      const images = new Inbox<number>();
      const saved = new Inbox<string>();
      const errors = new Inbox<Error>();
      const client = new PixelSocket({
        url: server.url, saveDirectory: dir, autoReconnect: false, maxPendingSaves: 2,
        onImage: (b) => images.push(b.length), onSaved: saved.push, onError: errors.push,
      });
      clients.push(client);
      const connection = server.nextConnection();
      await client.connect();
      const { ws } = await connection;
      // One message holding 12 images: all are delivered in one turn, before any write completes.
      ws.send(JSON.stringify({ images: Array.from({ length: 12 }, () => b64(png)) }));
      await images.next(12);
      await saved.next(2);
      assert.equal(client.imagesNotSaved, 10);
      assert.equal(errors.items.length, 10);
      assert.match(errors.items[0]!.message, /too many saves in flight/);
      client.disconnect();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('image saver', () => {
  it('keeps two images from the same millisecond, even from two savers sharing a directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'framehub-saver-'));
    try {
      const at = new Date(Date.UTC(2026, 10, 22, 4, 53, 1, 123));
      const a = createImageSaver(dir)!;
      const b = createImageSaver(dir)!;
      const paths = await Promise.all([a.save(new Uint8Array([1]), 'png', at), a.save(new Uint8Array([2]), 'png', at), b.save(new Uint8Array([3]), 'png', at)]);
      assert.equal(new Set(paths).size, 3);
      const contents = await Promise.all(paths.map((p) => readFile(p)));
      assert.deepEqual(contents.map((c) => c[0]), [1, 2, 3]);
      // a's first save and b's first save race for the same name; whichever loses takes the suffix.
      const names = paths.map((p) => p.slice(p.lastIndexOf('/') + 1)).sort();
      assert.deepEqual(names, ['20261122-045301-123-000001-1.png', '20261122-045301-123-000001.png', '20261122-045301-123-000002.png']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('PixelSocket against framehub', () => {
  let framehub: TestServer;
  before(async () => { framehub = await startServer(); });
  after(async () => { await framehub.close(); });

  it('collects seeds/002 JSON frames from /stream/:id', async () => {
    const { client, images } = collector(`${framehub.ws}/stream/demo?fps=10&format=png`);
    try {
      await client.connect();
      const [first, second] = await images.next(2, 10000);
      for (const image of [first!, second!]) {
        assert.equal(image.metadata.format, 'png');
        assert.equal(image.metadata.width, 320);
        assert.equal(image.metadata.height, 180);
        assert.equal(typeof image.metadata.frame_number, 'number');
      }
    } finally {
      client.disconnect();
    }
  });

  it('collects binary JPEG frames from /ws/video_feed', async () => {
    const { client, images } = collector(`${framehub.ws}/ws/video_feed?stream=demo`);
    try {
      await client.connect();
      const [image] = await images.next(1, 10000);
      assert.equal(image!.metadata.format, 'jpeg');
      assert.equal(image!.metadata.width, 320);
    } finally {
      client.disconnect();
    }
  });

  it('runs seeds/000 examples unchanged but for the URL (Node)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'framehub-seed000-'));
    const log: string[] = [];
    const connected = deferred();
    const largeSeen = new Inbox<number>();
    try {
      // "Basic Usage" and "Custom Image Processing", with the documented options and callbacks.
      const client = new PixelSocket({
        url: `${framehub.ws}/stream/demo?fps=10&format=png`,
        saveDirectory: join(dir, 'images'),
        onImage: (imageData, metadata) => {
          log.push(`Received image: ${imageData.length} bytes`);
          if (imageData.length > 100) log.push('Large image received!');
          log.push(`Format: ${metadata?.format}`);
          log.push(`Timestamp: ${metadata?.timestamp}`);
          if (metadata?.params) log.push(`Workflow: ${metadata.params.workflowName}`);
          largeSeen.push(imageData.length);
        },
        onConnect: () => {
          log.push('Connected to WebSocket server');
          connected.resolve();
        },
        onError: (error) => log.push(`Error occurred: ${error.message}`),
      });
      try {
        await client.connect();
      } catch (error) {
        assert.fail(`Failed to connect: ${error}`);
      }
      await withTimeout(connected.promise, 5000, 'onConnect');
      await largeSeen.next(2, 10000);
      const stats = client.getStats();
      assert.ok(stats.imagesReceived >= 2);
      assert.ok(stats.bytesReceived > 0);
      assert.ok(stats.connectedAt instanceof Date);
      assert.equal(stats.isConnected, true);
      assert.equal(stats.reconnectAttempts, 0);
      assert.ok(client.isConnected());
      // "Sending Data to Server": framehub answers an unknown command with an error message,
      // which is not an image and must not disturb the stream.
      client.send(JSON.stringify({ action: 'start_stream' }));
      await largeSeen.next(3, 10000);
      client.disconnect();
      assert.equal(client.isConnected(), false);
      assert.ok(log.includes('Connected to WebSocket server'));
      assert.ok(log.some((l) => l === 'Format: png'));
      assert.ok(!log.some((l) => l.startsWith('Error occurred')), log.join('\n'));
      // Saves run after delivery; give the last writes a moment by polling the directory.
      const files = await withTimeout((async () => {
        for (;;) {
          const list = await readdir(join(dir, 'images')).catch(() => []);
          if (list.length >= 2) return list;
          await new Promise((r) => setImmediate(r));
        }
      })(), 5000, 'saved files');
      assert.ok(files.every((f) => f.endsWith('.png')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
