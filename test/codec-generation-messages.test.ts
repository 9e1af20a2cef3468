// Unit tests of src/protocols/generation-messages.ts: log entries rendered into seeds/001 envelopes
// and seeds/000 `image-generated` messages, once per entry, the images' in a byte-bounded cache.
// The image store is a stand-in that counts reads; everything else is the real code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GenerationMessages } from '../src/protocols/generation-messages.js';
import type { GenerationEntry } from '../src/generations/generations.js';
import type { ImageStore } from '../src/generations/image-store.js';
import type { GenerationEvent, JobInfo, StoredImage } from '../src/generations/generation-event.js';

const AT = Date.UTC(2026, 11, 2, 12, 0, 0, 5);
const ISO = '2026-12-02T12:00:00.005Z';

const JOB: JobInfo = {
  id: 'job-1', userId: undefined, prompt: 'a "red" fox', negativePrompt: 'blur', seed: '18446744073709551615',
  width: 512, height: 512, workflow: 'txt2img', createdAt: AT - 1000,
};

function storedImage(name: string, size: number): StoredImage {
  return {
    name, url: `/images/${name}`, jobId: JOB.id, userId: undefined, mimeType: 'image/png', size,
    filename: `ComfyUI_${name}`, subfolder: '', type: 'output',
    params: { positivePrompt: 'a "red" fox', negativePrompt: 'blur', seed: '18446744073709551615', width: 512, height: 512, workflowName: 'txt2img' },
    imageIdx: 0, imageLength: 1, createdAt: AT,
  };
}

const entry = (id: number, event: GenerationEvent): GenerationEntry => ({ id, at: AT, event });

/** An image store that serves `bytesOf(name)` and counts reads; `failing` names fail once. */
function fakeStore(bytesOf: (name: string) => Buffer, failing = new Set<string>()) {
  const reads: string[] = [];
  const store = {
    read(image: StoredImage): Promise<Buffer> {
      reads.push(image.name);
      if (failing.delete(image.name)) return Promise.reject(new Error(`cannot read ${image.name}`));
      return Promise.resolve(bytesOf(image.name));
    },
  };
  return { store: store as unknown as ImageStore, reads };
}

const pixels = (name: string, size = 300) => Buffer.alloc(size, name.charCodeAt(0));

describe('GenerationMessages: envelopes', () => {
  const { store } = fakeStore((name) => pixels(name));

  it('renders every event kind as its seeds/001 envelope with the entry\'s id and time', () => {
    const wire = new GenerationMessages(store);
    const parse = (e: GenerationEntry) => JSON.parse(wire.envelope(e).toString('utf8'));
    assert.deepEqual(parse(entry(1, { kind: 'started', job: JOB })), {
      type: 'image.generation.started', payload: { job_id: 'job-1', user_id: null, prompt: 'a "red" fox' }, timestamp: ISO, id: 1,
    });
    assert.equal(parse(entry(1, { kind: 'started', job: { ...JOB, userId: 'alice' } })).payload.user_id, 'alice');
    assert.deepEqual(parse(entry(2, { kind: 'progress', job: JOB, progress: 37.5, stage: 'sampling' })), {
      type: 'image.generation.progress', payload: { job_id: 'job-1', progress: 37.5, stage: 'sampling' }, timestamp: ISO, id: 2,
    });
    assert.deepEqual(parse(entry(3, { kind: 'failed', job: JOB, error: 'out of memory', retryAllowed: true })), {
      type: 'image.generation.failed', payload: { job_id: 'job-1', error: 'out of memory', retry_allowed: true }, timestamp: ISO, id: 3,
    });
    assert.deepEqual(parse(entry(4, { kind: 'notification', severity: 'warning', message: 'disk full', actionUrl: undefined })), {
      type: 'system.notification', payload: { severity: 'warning', message: 'disk full', action_url: null }, timestamp: ISO, id: 4,
    });
    assert.equal(parse(entry(4, { kind: 'notification', severity: 'info', message: 'm', actionUrl: '/gallery.html' })).payload.action_url, '/gallery.html');
    assert.deepEqual(parse(entry(5, { kind: 'image', job: JOB, image: storedImage('a.png', 300) })), {
      type: 'image.generation.completed',
      payload: {
        job_id: 'job-1',
        image_url: '/images/a.png',
        metadata: {
          prompt: 'a "red" fox', negative_prompt: 'blur', seed: '18446744073709551615', width: 512, height: 512, workflow: 'txt2img',
          mime_type: 'image/png', size: 300, filename: 'ComfyUI_a.png', image_idx: 0, image_length: 1,
        },
      },
      timestamp: ISO,
      id: 5,
    });
  });

  it('builds an entry\'s envelope once, however many clients ask', () => {
    const wire = new GenerationMessages(store);
    const e = entry(9, { kind: 'progress', job: JOB, progress: 1, stage: '' });
    assert.equal(wire.envelope(e), wire.envelope(e));
    assert.notEqual(wire.envelope(e), wire.envelope({ ...e }), 'keyed by the entry itself');
  });
});

describe('GenerationMessages: image-generated', () => {
  it('is undefined for entries that are not images', () => {
    const { store, reads } = fakeStore((name) => pixels(name));
    const wire = new GenerationMessages(store);
    assert.equal(wire.imageGenerated(entry(1, { kind: 'started', job: JOB })), undefined);
    assert.equal(wire.imageGenerated(entry(2, { kind: 'notification', severity: 'info', message: 'm', actionUrl: undefined })), undefined);
    assert.deepEqual(reads, []);
  });

  it('renders the seeds/000 message with the file\'s bytes as base64, read once', async () => {
    const { store, reads } = fakeStore((name) => pixels(name, 1000));
    const wire = new GenerationMessages(store);
    const e = entry(7, { kind: 'image', job: JOB, image: storedImage('b.png', 1000) });
    const first = wire.imageGenerated(e)!;
    assert.equal(wire.imageGenerated(e), first, 'a second client gets the same message');
    const message = JSON.parse((await first).toString('utf8'));
    assert.equal(message.type, 'image-generated');
    assert.equal(message.id, 7);
    assert.deepEqual(Buffer.from(message.data.base64Data, 'base64'), pixels('b.png', 1000));
    assert.deepEqual({ ...message.data, base64Data: undefined }, {
      mode: 'push', promptId: 'job-1', base64Data: undefined, mimeType: 'image/png',
      imageInfo: { filename: 'ComfyUI_b.png', subfolder: '', type: 'output' },
      params: storedImage('b.png', 1000).params, imageIdx: 0, imageLength: 1, timestamp: AT,
    });
    assert.deepEqual(reads, ['b.png']);
    assert.equal(wire.imageBuilds, 1);
  });

  it('keeps at most cacheBytes of messages, dropping the least recently used, and rebuilds a dropped one', async () => {
    const { store, reads } = fakeStore((name) => pixels(name, 3000));
    const a = entry(1, { kind: 'image', job: JOB, image: storedImage('a.png', 3000) });
    const size = (await new GenerationMessages(fakeStore((name) => pixels(name, 3000)).store).imageGenerated(a)!).length;
    const wire = new GenerationMessages(store, Math.floor(size * 2.5)); // room for two messages
    const b = entry(2, { kind: 'image', job: JOB, image: storedImage('b.png', 3000) });
    const c = entry(3, { kind: 'image', job: JOB, image: storedImage('c.png', 3000) });
    await wire.imageGenerated(a);
    await wire.imageGenerated(b);
    await wire.imageGenerated(a); // a is now the most recently used
    assert.equal(wire.imageBuilds, 2);
    await wire.imageGenerated(c); // over the bound: b goes, a stays
    assert.equal(wire.imageBuilds, 3);
    await wire.imageGenerated(a);
    assert.equal(wire.imageBuilds, 3, 'a was kept');
    const rebuilt = JSON.parse((await wire.imageGenerated(b)!).toString());
    assert.equal(wire.imageBuilds, 4, 'b was dropped and is rebuilt from the store');
    assert.deepEqual(Buffer.from(rebuilt.data.base64Data, 'base64'), pixels('b.png', 3000));
    assert.deepEqual(reads, ['a.png', 'b.png', 'c.png', 'b.png']);
  });

  it('forgets a message whose file could not be read, so the next client tries again', async () => {
    const { store, reads } = fakeStore((name) => pixels(name), new Set(['gone.png']));
    const wire = new GenerationMessages(store);
    const e = entry(4, { kind: 'image', job: JOB, image: storedImage('gone.png', 300) });
    await assert.rejects(wire.imageGenerated(e)!, /cannot read gone.png/);
    const again = JSON.parse((await wire.imageGenerated(e)!).toString());
    assert.equal(again.id, 4);
    assert.deepEqual(reads, ['gone.png', 'gone.png']);
  });
});
