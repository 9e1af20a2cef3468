// Unit tests of the publish API's codec (src/protocols/publish-schema.ts): what producers send
// over HTTP and `/ws/producer`, validated strictly into typed inputs. No server.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GenerationError } from '../src/generations/generation-error.js';
import { ErrorCode } from '../src/wire/errors.js';
import { parseFailure, parseImageFields, parseJobIdParam, parseJobInput, parseNotification, parseProgress } from '../src/protocols/publish-schema.js';
import { assertOnlyDefinedErrors, assertRefuses, prng, randomJson } from './codec-cases.js';

const INVALID = ErrorCode.InvalidBody;

/** `count` bodies: `shape` with fields replaced by odd values, odd fields added, and odd non-objects. */
function hostileBodies(seed: number, count: number, shape: Record<string, unknown>): unknown[] {
  const random = prng(seed);
  const bodies: unknown[] = [undefined, null, 0, '', 'body', [], [shape], Object.create(null)];
  while (bodies.length < count) {
    const body: Record<string, unknown> = { ...shape };
    for (const key of Object.keys(body)) if (random() < 0.5) body[key] = randomJson(random);
    if (random() < 0.2) body[random() < 0.5 ? 'extra' : 'constructor'] = randomJson(random);
    bodies.push(random() < 0.1 ? randomJson(random) : body);
  }
  return bodies;
}

describe('publish-schema: jobs', () => {
  it('reads a full job, with the aliases producers use', () => {
    assert.deepEqual(
      parseJobInput({ job_id: 'comfy:abc-1.2_x', prompt: 'a cat', negative_prompt: 'blur', seed: '18446744073709551615', width: 1024, height: '768', workflow: 'txt2img', user_id: 'alice' }),
      { id: 'comfy:abc-1.2_x', prompt: 'a cat', negativePrompt: 'blur', seed: '18446744073709551615', width: 1024, height: 768, workflow: 'txt2img', userId: 'alice' },
    );
    assert.deepEqual(
      parseJobInput({ prompt: 'p', negativePrompt: 'n', seed: 42, size: '512x640', workflowName: 'w', user: 'bob' }),
      { prompt: 'p', negativePrompt: 'n', seed: '42', width: 512, height: 640, workflow: 'w', userId: 'bob' },
    );
    assert.deepEqual(parseJobInput({ prompt: '' }), { prompt: '', negativePrompt: '', seed: '', workflow: '' });
    assert.deepEqual(parseJobInput({ prompt: 'p', seed: null, width: null, negative_prompt: null }), { prompt: 'p', negativePrompt: '', seed: '', workflow: '' });
  });

  it('refuses every malformed job with invalid_body and status 400, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [null, /body must be a JSON object/],
      [[{ prompt: 'p' }], /body must be a JSON object/],
      [{}, /prompt is required/],
      [{ prompt: 42 }, /prompt must be a string/],
      [{ prompt: 'x'.repeat(20_001) }, /prompt is longer than 20000 characters/],
      [{ prompt: 'p', colour: 'red' }, /unknown field "colour"/],
      [{ prompt: 'p', job_id: 'a/b' }, /job_id must be 1-128 letters/],
      [{ prompt: 'p', job_id: '' }, /job_id must be 1-128 letters/],
      [{ prompt: 'p', job_id: 'x'.repeat(129) }, /job_id is longer than 128/],
      [{ prompt: 'p', job_id: 'stats' }, /job_id "stats" is reserved/],
      [{ prompt: 'p', seed: 1.5 }, /seed must be an integer or a string of digits/],
      [{ prompt: 'p', seed: 2 ** 53 + 2 }, /seed must be an integer/],
      [{ prompt: 'p', seed: '12a' }, /seed must be/],
      [{ prompt: 'p', width: 0 }, /width must be an integer from 1 to 16384/],
      [{ prompt: 'p', height: 16385 }, /height must be an integer from 1 to 16384/],
      [{ prompt: 'p', width: '1e3' }, /width must be an integer/],
      [{ prompt: 'p', size: '1024*768' }, /size must look like "1024x1536"/],
      [{ prompt: 'p', size: '0x10' }, /size width must be an integer from 1/],
      [{ prompt: 'p', size: 1024 }, /size must look like/],
      [{ prompt: 'p', user_id: 7 }, /user_id must be a string/],
    ];
    for (const [body, message] of cases) {
      assertRefuses(() => parseJobInput(body), GenerationError, INVALID, message);
      try {
        parseJobInput(body);
      } catch (error) {
        assert.equal((error as GenerationError).status, 400);
      }
    }
  });

  it('throws nothing but GenerationError invalid_body on hostile bodies', () => {
    const bodies = hostileBodies(0x10b, 3000, { job_id: 'j1', prompt: 'p', negative_prompt: 'n', seed: 1, width: 64, height: 64, size: '64x64', workflow: 'w', user_id: 'u' });
    const refused = assertOnlyDefinedErrors(bodies, parseJobInput, GenerationError, [INVALID]);
    assert.ok(refused > 100 && refused < bodies.length, `refused ${refused} of ${bodies.length}`);
  });
});

describe('publish-schema: progress, failure, notification', () => {
  it('reads progress from 0 to 100 with an optional stage', () => {
    assert.deepEqual(parseProgress({ progress: 0 }), { progress: 0, stage: '' });
    assert.deepEqual(parseProgress({ progress: 99.5, stage: 'decode' }), { progress: 99.5, stage: 'decode' });
    for (const progress of [-0.1, 100.1, '50', null, NaN, Infinity]) {
      assertRefuses(() => parseProgress({ progress }), GenerationError, INVALID, /progress must be a number from 0 to 100/);
    }
    assertRefuses(() => parseProgress({ progress: 5, eta: 3 }), GenerationError, INVALID, /unknown field "eta"/);
    assertRefuses(() => parseProgress({ progress: 5, stage: 'x'.repeat(257) }), GenerationError, INVALID, /stage is longer than 256/);
  });

  it('reads a failure, retry_allowed false unless said', () => {
    assert.deepEqual(parseFailure({ error: 'oom' }), { error: 'oom', retryAllowed: false });
    assert.deepEqual(parseFailure({ error: 'oom', retry_allowed: true }), { error: 'oom', retryAllowed: true });
    assertRefuses(() => parseFailure({}), GenerationError, INVALID, /error is required/);
    assertRefuses(() => parseFailure({ error: 'x', retry_allowed: 'yes' }), GenerationError, INVALID, /retry_allowed must be true or false/);
    assertRefuses(() => parseFailure({ error: 'x'.repeat(4097) }), GenerationError, INVALID, /longer than 4096/);
  });

  it('reads a notification; action_url must be http(s) or a path', () => {
    assert.deepEqual(parseNotification({ message: 'hi' }), { severity: 'info', message: 'hi' });
    assert.deepEqual(parseNotification({ severity: 'error', message: 'down', action_url: 'https://status.example/x' }), { severity: 'error', message: 'down', actionUrl: 'https://status.example/x' });
    assert.deepEqual(parseNotification({ severity: 'warning', message: 'm', action_url: '/gallery.html' }), { severity: 'warning', message: 'm', actionUrl: '/gallery.html' });
    assertRefuses(() => parseNotification({ severity: 'fatal', message: 'm' }), GenerationError, INVALID, /severity must be one of info, warning, error/);
    assertRefuses(() => parseNotification({}), GenerationError, INVALID, /message is required/);
    for (const url of ['javascript:alert(1)', 'data:text/html,x', 'ftp://x', 'gallery.html', '']) {
      assertRefuses(() => parseNotification({ message: 'm', action_url: url }), GenerationError, INVALID, /action_url must be an http\(s\) URL or a path/);
    }
  });

  it('throws nothing but GenerationError invalid_body on hostile bodies', () => {
    for (const [seed, parse, shape] of [
      [1, parseProgress, { progress: 50, stage: 's' }],
      [2, parseFailure, { error: 'e', retry_allowed: false }],
      [3, parseNotification, { severity: 'info', message: 'm', action_url: '/x' }],
    ] as const) {
      const bodies = hostileBodies(seed, 1500, shape);
      const refused = assertOnlyDefinedErrors(bodies, parse as (body: unknown) => unknown, GenerationError, [INVALID]);
      assert.ok(refused > 50 && refused < bodies.length, `${parse.name}: refused ${refused} of ${bodies.length}`);
    }
  });
});

describe('publish-schema: image fields', () => {
  it('reads the fields from a query string or multipart form, params as JSON text or an object', () => {
    assert.deepEqual(parseImageFields({}), {});
    assert.deepEqual(
      parseImageFields({ filename: 'ComfyUI_00001_.png', subfolder: 'out', type: 'output', imageIdx: '1', imageLength: '4', params: '{"positivePrompt":"cat","seed":"18446744073709551615","width":"512","height":512}' }),
      { filename: 'ComfyUI_00001_.png', subfolder: 'out', type: 'output', imageIdx: 1, imageLength: 4, params: { positivePrompt: 'cat', seed: '18446744073709551615', width: 512, height: 512 } },
    );
    assert.deepEqual(parseImageFields({ params: { negativePrompt: 'blur', workflowName: 'w', seed: 7 } }), { params: { negativePrompt: 'blur', workflowName: 'w', seed: '7' } });
  });

  it('refuses paths in file names, odd indexes, bad params and unknown fields', () => {
    for (const filename of ['a/b.png', '..\\b.png', 'a\0.png', '']) {
      assertRefuses(() => parseImageFields({ filename }), GenerationError, INVALID, /filename must be a plain file name/);
    }
    assertRefuses(() => parseImageFields({ imageIdx: -1 }), GenerationError, INVALID, /imageIdx must be an integer from 0 to 9999/);
    assertRefuses(() => parseImageFields({ imageLength: 0 }), GenerationError, INVALID, /imageLength must be an integer from 1 to 10000/);
    assertRefuses(() => parseImageFields({ params: '{"seed":' }), GenerationError, INVALID, /params must be a JSON object \(it is not valid JSON\)/);
    assertRefuses(() => parseImageFields({ params: '[1]' }), GenerationError, INVALID, /params must be a JSON object/);
    assertRefuses(() => parseImageFields({ params: { steps: 20 } }), GenerationError, INVALID, /params: unknown field "steps"/);
    assertRefuses(() => parseImageFields({ params: { width: 0 } }), GenerationError, INVALID, /params.width must be an integer/);
    assertRefuses(() => parseImageFields({ autoComplete: true }), GenerationError, INVALID, /image fields: unknown field "autoComplete"/);
  });

  it('throws nothing but GenerationError invalid_body on hostile fields', () => {
    const fields = hostileBodies(0xf1e1d, 3000, { filename: 'a.png', subfolder: 's', type: 'output', params: { positivePrompt: 'p', seed: 1, width: 8, height: 8 }, imageIdx: 0, imageLength: 1 })
      .filter((body): body is Record<string, unknown> => typeof body === 'object' && body !== null && !Array.isArray(body));
    const refused = assertOnlyDefinedErrors(fields, parseImageFields, GenerationError, [INVALID]);
    assert.ok(refused > 100 && refused < fields.length, `refused ${refused} of ${fields.length}`);
  });
});

describe('publish-schema: job id in a path', () => {
  it('passes a well-formed id through and answers 404 job_not_found for any other', () => {
    assert.equal(parseJobIdParam('comfy:abc-1.2_x'), 'comfy:abc-1.2_x');
    for (const raw of ['', '../etc/passwd', 'a b', 'x'.repeat(129), 'ü']) {
      assertRefuses(() => parseJobIdParam(raw), GenerationError, ErrorCode.JobNotFound, /no job with id/);
    }
    try {
      parseJobIdParam('../x');
    } catch (error) {
      assert.equal((error as GenerationError).status, 404);
    }
  });
});
