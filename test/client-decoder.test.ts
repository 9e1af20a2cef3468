import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeMessage } from '../src/client/index.js';
import { decodeBase64, parseDataUrl } from '../src/client/base64.js';
import { parseEvent } from '../src/client/websocket-client.js';
import { makeImage } from './client-helpers.js';

const root = new URL('..', import.meta.url).pathname;

describe('base64 and data URLs', () => {
  it('decodes standard, URL-safe, unpadded and wrapped base64, and refuses anything else', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xfe, 0x00, 0x10]);
    const std = bytes.toString('base64');
    assert.deepEqual(Buffer.from(decodeBase64(std)!), bytes);
    assert.deepEqual(Buffer.from(decodeBase64(bytes.toString('base64url'))!), bytes);
    assert.deepEqual(Buffer.from(decodeBase64(std.replace(/=+$/, ''))!), bytes);
    assert.deepEqual(Buffer.from(decodeBase64(`${std.slice(0, 4)}\n${std.slice(4)}`)!), bytes);
    for (const bad of ['', 'a', 'abc$', 'hello world!', 'ab=c']) assert.equal(decodeBase64(bad), undefined, bad);
  });

  it('parses data URLs with and without base64', () => {
    assert.deepEqual(parseDataUrl('data:image/png;base64,AAEC'), { mimeType: 'image/png', bytes: new Uint8Array([0, 1, 2]) });
    assert.deepEqual(parseDataUrl('data:,a%20b'), { mimeType: 'text/plain', bytes: new TextEncoder().encode('a b') });
    assert.equal(parseDataUrl('data:image/png;base64'), undefined);
    assert.equal(parseDataUrl('https://x/y.png'), undefined);
  });
});

describe('decodeMessage', () => {
  it('finds no image in ordinary text and JSON, and no error either', () => {
    for (const message of ['hello', 'ok', '{"type":"stats","data":{"fps":3}}', '{"type":"status","data":{"message":"source restarting"}}', '[]', '42["subscribed",{"session_id":"a"}]']) {
      const result = decodeMessage(message);
      assert.deepEqual(result.images, [], message);
      assert.equal(result.error, undefined, message);
    }
  });

  it('reports malformed JSON and undecodable image fields', () => {
    assert.match(decodeMessage('{"type":').error!.message, /malformed JSON/);
    assert.match(decodeMessage('42["frame",').error!.message, /malformed event packet/);
    assert.match(decodeMessage(JSON.stringify({ image: 'not base64 !!!' })).error!.message, /field "image"/);
  });

  it('keeps an explicit image field of an unknown format, with the server metadata', () => {
    const bmp = Buffer.from('BM this is a bitmap header and some pixels');
    const result = decodeMessage(JSON.stringify({ type: 'image-generated', data: { base64Data: bmp.toString('base64'), mimeType: 'image/bmp' } }));
    assert.equal(result.images.length, 1);
    assert.equal(result.images[0]!.sniffed, undefined);
    assert.equal(result.images[0]!.server['mimeType'], 'image/bmp');
  });

  it('does not take a loose field for an image unless the bytes are one', async () => {
    assert.deepEqual(decodeMessage(JSON.stringify({ data: 'SGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=' })).images, []);
    const png = await makeImage('png', 3, 2);
    assert.equal(decodeMessage(JSON.stringify({ data: png.toString('base64') })).images[0]!.sniffed?.width, 3);
  });

  it('reads every image of an images array and the top-level event id', async () => {
    const gif = await makeImage('gif', 2, 2);
    const result = decodeMessage(JSON.stringify({ id: 9, images: [gif.toString('base64'), `data:image/gif;base64,${gif.toString('base64')}`] }));
    assert.equal(result.images.length, 2);
    assert.equal(result.eventId, '9');
  });
});

describe('parseEvent (seeds/001 envelopes)', () => {
  it('accepts envelopes, defaults a missing payload and normalises a numeric timestamp', () => {
    const event = parseEvent(JSON.stringify({ type: 'x.y', timestamp: 0, id: 'a1' }));
    assert.ok(!(event instanceof Error));
    assert.deepEqual(event, { type: 'x.y', payload: {}, timestamp: '1970-01-01T00:00:00.000Z', id: 'a1' });
  });

  it('refuses what is not an envelope', () => {
    for (const bad of ['nope', 'null', '"x"', '{"type":5}', '{"type":"a","payload":[1]}', '{"type":"image.generation.progress","payload":{"progress":"50%"}}']) {
      assert.ok(parseEvent(bad) instanceof Error, bad);
    }
  });
});

describe('framehub/client has no Node built-ins at import time', () => {
  it('imports nothing statically but its own modules', async () => {
    for (const dir of ['src/client', 'src/react']) {
      for (const file of await readdir(join(root, dir))) {
        const text = await readFile(join(root, dir, file), 'utf8');
        const imports = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]!);
        const allowed = (spec: string) => spec.startsWith('.') || (dir === 'src/react' && spec === 'react');
        assert.deepEqual(imports.filter((spec) => !allowed(spec)), [], `${dir}/${file}`);
        // Whatever it reaches of the rest of the project must be isomorphic too (type-only
        // imports are erased, so they reach nothing).
        const valueImports = [...text.matchAll(/^\s*(?:import|export)\s(?!type\s)[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]!);
        for (const spec of valueImports.filter((s) => s.startsWith('../') && !s.startsWith('../client/'))) {
          // src/wire is isomorphic as a whole (checked below); of the rest, these modules are.
          assert.ok(spec.startsWith('../wire/') || [
            '../util/clock.js', '../util/typed-emitter.js', '../util/reconnect-policy.js', '../util/rate-meter.js', '../util/count-rate.js',
            '../image/sniff.js',
          ].includes(spec), `${dir}/${file} imports ${spec}`);
        }
      }
    }
  });

  it('src/wire, which the client imports whole, uses no Node built-in', async () => {
    for (const file of await readdir(join(root, 'src/wire'))) {
      const text = await readFile(join(root, 'src/wire', file), 'utf8');
      assert.doesNotMatch(text, /from\s+'node:|\bBuffer\b|\bprocess\./, `src/wire/${file}`);
    }
  });

  it('the browser bundle has no static imports at all', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    await promisify(execFile)(process.execPath, [join(root, 'scripts/build-client.mjs'), '--quiet']);
    const bundle = await readFile(join(root, 'dist/framehub-client.min.js'), 'utf8');
    assert.doesNotMatch(bundle, /(^|[;}\s])import\s*[{*\w][^(]*?from\s*["']/);
    assert.doesNotMatch(bundle, /\brequire\(/);
  });
});
