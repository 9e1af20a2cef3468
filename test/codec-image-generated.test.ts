// Unit tests of seeds/000's `image-generated` codec (src/protocols/image-generated.ts, the
// `/ws/streaming` route): the message spliced around the base64 image, and client commands.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../src/wire/errors.js';
import { ProtocolError } from '../src/protocols/protocol-error.js';
import {
  IMAGE_GENERATED, imageGeneratedMessage, parseStreamingCommand, pongMessage, streamingErrorMessage, streamingGapMessage, subscribedMessage,
  type ImageGeneratedFields,
} from '../src/protocols/image-generated.js';
import { assertOnlyDefinedErrors, assertRefuses, hostileTexts } from './codec-cases.js';

const FIELDS: ImageGeneratedFields = {
  mode: 'push',
  promptId: 'prompt-"1"',
  mimeType: 'image/png',
  imageInfo: { filename: 'ComfyUI_00001_.png', subfolder: 'sub\\dir', type: 'output' },
  params: { positivePrompt: 'a cat, "studio light"\n{json} </script> ✓', negativePrompt: '', seed: '18446744073709551615', width: 1024, height: 1536, workflowName: 'txt2img' },
  imageIdx: 2,
  imageLength: 4,
  timestamp: 1_764_682_000_000,
};

describe('image-generated: the message', () => {
  it('is the seed\'s message with the image as base64Data, whatever the text fields hold', () => {
    const image = Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 37) % 256));
    const bytes = imageGeneratedMessage(99, FIELDS, image.toString('base64'));
    assert.ok(Buffer.isBuffer(bytes));
    const message = JSON.parse(bytes.toString('utf8'));
    assert.deepEqual(message, {
      type: IMAGE_GENERATED,
      id: 99,
      data: { mode: 'push', promptId: FIELDS.promptId, base64Data: image.toString('base64'), mimeType: 'image/png', imageInfo: FIELDS.imageInfo, params: FIELDS.params, imageIdx: 2, imageLength: 4, timestamp: FIELDS.timestamp },
    });
    assert.equal(message.type, 'image-generated');
    assert.deepEqual(Buffer.from(message.data.base64Data, 'base64'), image);
    assert.deepEqual(Object.keys(message.data), ['mode', 'promptId', 'base64Data', 'mimeType', 'imageInfo', 'params', 'imageIdx', 'imageLength', 'timestamp']);
  });

  it('keeps a seed beyond 2^53 as the string it was', () => {
    const message = JSON.parse(imageGeneratedMessage(1, FIELDS, '').toString());
    assert.equal(message.data.params.seed, '18446744073709551615');
    assert.equal(message.data.base64Data, '');
  });

  it('differs for different ids, fields and images', () => {
    const a = imageGeneratedMessage(1, FIELDS, 'AAAA').toString();
    assert.notEqual(imageGeneratedMessage(2, FIELDS, 'AAAA').toString(), a);
    assert.notEqual(imageGeneratedMessage(1, { ...FIELDS, imageIdx: 3 }, 'AAAA').toString(), a);
    assert.notEqual(imageGeneratedMessage(1, FIELDS, 'AAAB').toString(), a);
  });
});

describe('image-generated: replies and notices', () => {
  it('pong, subscribed, error and replay-gap round-trip through JSON', () => {
    assert.deepEqual(JSON.parse(pongMessage(1234)), { type: 'pong', timestamp: 1234 });
    assert.deepEqual(JSON.parse(subscribedMessage('all', 77)), { type: 'subscribed', mode: 'all', lastId: 77 });
    assert.deepEqual(JSON.parse(streamingErrorMessage('invalid_message', 'bad "mode"')), { type: 'error', error: { code: 'invalid_message', message: 'bad "mode"' } });
    assert.deepEqual(JSON.parse(streamingGapMessage({ reason: 'evicted', since: 5, resumeAfter: 50 })), { type: 'replay-gap', reason: 'evicted', since: 5, resumeAfter: 50 });
    assert.deepEqual(JSON.parse(streamingGapMessage({ reason: 'ahead', since: 500, resumeAfter: 9 })), { type: 'replay-gap', reason: 'ahead', since: 500, resumeAfter: 9 });
  });
});

describe('image-generated: client commands', () => {
  it('parses subscribe (mode all, or none given) and ping', () => {
    assert.deepEqual(parseStreamingCommand('{"type":"subscribe","mode":"all"}'), { type: 'subscribe', mode: 'all' });
    assert.deepEqual(parseStreamingCommand('{"type":"subscribe"}'), { type: 'subscribe', mode: 'all' });
    assert.deepEqual(parseStreamingCommand('{"type":"ping"}'), { type: 'ping' });
  });

  it('refuses anything else with a defined code', () => {
    assertRefuses(() => parseStreamingCommand('{"type":"subscribe","mode":"new"}'), ProtocolError, ErrorCode.InvalidMessage, /subscribe mode must be "all" \(got "new"\)/);
    assertRefuses(() => parseStreamingCommand('{"type":"subscribe","mode":["all"]}'), ProtocolError, ErrorCode.InvalidMessage);
    assertRefuses(() => parseStreamingCommand('{"mode":"all"}'), ProtocolError, ErrorCode.InvalidMessage, /needs a "type" field/);
    assertRefuses(() => parseStreamingCommand('{"type":"unsubscribe"}'), ProtocolError, ErrorCode.UnknownCommand, /known: subscribe, ping/);
    assertRefuses(() => parseStreamingCommand('{"type":'), ProtocolError, ErrorCode.InvalidJson);
    assertRefuses(() => parseStreamingCommand('"subscribe"'), ProtocolError, ErrorCode.InvalidMessage);
  });

  it('throws nothing but ProtocolError with a defined code on hostile text', () => {
    const texts = hostileTexts(0x0000, 3000, [{ type: 'subscribe', mode: 'all' }, { type: 'ping' }]);
    const refused = assertOnlyDefinedErrors(texts, parseStreamingCommand, ProtocolError, ['invalid_json', 'invalid_message', 'unknown_command']);
    assert.ok(refused > 100 && refused < texts.length, `refused ${refused} of ${texts.length}`);
  });
});
