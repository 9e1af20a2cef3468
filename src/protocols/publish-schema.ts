import type { Severity } from '../wire/envelope.js';
import { describe } from './values.js';
import type { ImageParams } from '../generations/generation-event.js';
import { GenerationError } from '../generations/generation-error.js';
import { ErrorCode } from '../wire/errors.js';
import type { ImageInput, JobInput } from '../generations/generations.js';

/**
 * Validation of everything producers send, shared by the HTTP publish API and the producer
 * socket. Strict: unknown fields are errors (a typo should not be silently dropped), and every
 * message names the field and what it must be.
 */

const JOB_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const MAX_TEXT = 20_000;

function fail(message: string): never {
  throw new GenerationError(ErrorCode.InvalidBody, message);
}

function object(raw: unknown, what: string): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${what} must be a JSON object`);
  return raw as Record<string, unknown>;
}

function onlyKeys(body: Record<string, unknown>, known: readonly string[], what: string): void {
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) fail(`${what}: unknown field ${describe(key)} (known: ${known.join(', ')})`);
  }
}

function text(raw: unknown, name: string, max = MAX_TEXT): string {
  if (typeof raw !== 'string') fail(`${name} must be a string (got ${describe(raw)})`);
  if (raw.length > max) fail(`${name} is longer than ${max} characters`);
  return raw;
}

function optText(raw: unknown, name: string, max = MAX_TEXT): string | undefined {
  return raw === undefined || raw === null ? undefined : text(raw, name, max);
}

function int(raw: unknown, name: string, min: number, max: number): number {
  const n = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(`${name} must be an integer from ${min} to ${max} (got ${describe(raw)})`);
  return n;
}

function optInt(raw: unknown, name: string, min: number, max: number): number | undefined {
  return raw === undefined || raw === null || raw === '' ? undefined : int(raw, name, min, max);
}

/** Seeds are kept as decimal strings: ComfyUI's exceed 2^53 and must not be rounded. */
function seed(raw: unknown, name: string): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) return String(raw);
  if (typeof raw === 'string' && /^-?\d{1,40}$/.test(raw)) return raw;
  fail(`${name} must be an integer or a string of digits (got ${describe(raw)})`);
}

function first(body: Record<string, unknown>, ...names: string[]): unknown {
  for (const name of names) if (body[name] !== undefined) return body[name];
  return undefined;
}

const JOB_FIELDS = ['job_id', 'prompt', 'negative_prompt', 'negativePrompt', 'seed', 'width', 'height', 'size', 'workflow', 'workflow_name', 'workflowName', 'user_id', 'user'] as const;

/** `POST /api/generations` body. `size` may be given as `"1024x1536"` instead of `width`/`height`. */
export function parseJobInput(raw: unknown): JobInput {
  const body = object(raw, 'body');
  onlyKeys(body, JOB_FIELDS, 'body');
  const prompt = text(body['prompt'] ?? fail('prompt is required'), 'prompt');
  let width = optInt(body['width'], 'width', 1, 16384);
  let height = optInt(body['height'], 'height', 1, 16384);
  if (body['size'] !== undefined) {
    const match = typeof body['size'] === 'string' ? /^(\d{1,5})x(\d{1,5})$/.exec(body['size']) : null;
    if (!match) fail(`size must look like "1024x1536" (got ${describe(body['size'])})`);
    width = int(match[1], 'size width', 1, 16384);
    height = int(match[2], 'size height', 1, 16384);
  }
  const id = optText(body['job_id'], 'job_id', 128);
  if (id !== undefined && !JOB_ID.test(id)) fail('job_id must be 1-128 letters, digits or "_ . : -"');
  if (id === 'stats') fail('job_id "stats" is reserved (GET /api/generations/stats)');
  return {
    ...(id !== undefined && { id }),
    prompt,
    negativePrompt: optText(first(body, 'negative_prompt', 'negativePrompt'), 'negative_prompt') ?? '',
    seed: seed(body['seed'], 'seed') ?? '',
    ...(width !== undefined && { width }),
    ...(height !== undefined && { height }),
    workflow: optText(first(body, 'workflow', 'workflow_name', 'workflowName'), 'workflow', 256) ?? '',
    ...(first(body, 'user_id', 'user') !== undefined && { userId: text(first(body, 'user_id', 'user'), 'user_id', 256) }),
  };
}

/** `POST /api/generations/:id/progress` body: `progress` 0-100, optional `stage`. */
export function parseProgress(raw: unknown): { progress: number; stage: string } {
  const body = object(raw, 'body');
  onlyKeys(body, ['progress', 'stage'], 'body');
  const progress = body['progress'];
  if (typeof progress !== 'number' || !Number.isFinite(progress) || progress < 0 || progress > 100) {
    fail(`progress must be a number from 0 to 100 (got ${describe(progress)})`);
  }
  return { progress, stage: optText(body['stage'], 'stage', 256) ?? '' };
}

/** `POST /api/generations/:id/fail` body. */
export function parseFailure(raw: unknown): { error: string; retryAllowed: boolean } {
  const body = object(raw, 'body');
  onlyKeys(body, ['error', 'retry_allowed'], 'body');
  const retry = body['retry_allowed'] ?? false;
  if (typeof retry !== 'boolean') fail(`retry_allowed must be true or false (got ${describe(retry)})`);
  return { error: text(body['error'] ?? fail('error is required'), 'error', 4096), retryAllowed: retry };
}

const SEVERITIES: readonly Severity[] = ['info', 'warning', 'error'];

/** `POST /api/notifications` body. */
export function parseNotification(raw: unknown): { severity: Severity; message: string; actionUrl?: string } {
  const body = object(raw, 'body');
  onlyKeys(body, ['severity', 'message', 'action_url'], 'body');
  const severity = body['severity'] ?? 'info';
  if (!SEVERITIES.includes(severity as Severity)) fail(`severity must be one of ${SEVERITIES.join(', ')} (got ${describe(severity)})`);
  const actionUrl = optText(body['action_url'], 'action_url', 2048);
  if (actionUrl !== undefined && !/^(https?:\/\/|\/)/.test(actionUrl)) fail('action_url must be an http(s) URL or a path starting with /');
  return { severity: severity as Severity, message: text(body['message'] ?? fail('message is required'), 'message', 4096), ...(actionUrl !== undefined && { actionUrl }) };
}

const PARAM_KEYS: readonly (keyof ImageParams)[] = ['positivePrompt', 'negativePrompt', 'seed', 'width', 'height', 'workflowName'];

/**
 * The image's fields, from the query string (raw body) or the multipart fields: `filename`,
 * `subfolder`, `type`, `params` (JSON of seeds/000's params), `imageIdx`, `imageLength`.
 */
export function parseImageFields(fields: Record<string, unknown>): ImageInput {
  onlyKeys(fields, ['filename', 'subfolder', 'type', 'params', 'imageIdx', 'imageLength'], 'image fields');
  const filename = optText(fields['filename'], 'filename', 255);
  if (filename !== undefined && (filename === '' || /[/\\\0]/.test(filename))) fail('filename must be a plain file name without slashes');
  const input: ImageInput = {
    ...(filename !== undefined && { filename }),
    ...(fields['subfolder'] !== undefined && { subfolder: text(fields['subfolder'], 'subfolder', 255) }),
    ...(fields['type'] !== undefined && { type: text(fields['type'], 'type', 64) }),
  };
  const imageIdx = optInt(fields['imageIdx'], 'imageIdx', 0, 9999);
  const imageLength = optInt(fields['imageLength'], 'imageLength', 1, 10000);
  if (imageIdx !== undefined) input.imageIdx = imageIdx;
  if (imageLength !== undefined) input.imageLength = imageLength;
  if (fields['params'] !== undefined) {
    let params: unknown = fields['params'];
    if (typeof params === 'string') {
      try {
        params = JSON.parse(params);
      } catch {
        fail('params must be a JSON object (it is not valid JSON)');
      }
    }
    const body = object(params, 'params');
    onlyKeys(body, PARAM_KEYS, 'params');
    const out: Partial<ImageParams> = {};
    for (const key of ['positivePrompt', 'negativePrompt', 'workflowName'] as const) {
      const value = optText(body[key], `params.${key}`);
      if (value !== undefined) out[key] = value;
    }
    const s = seed(body['seed'], 'params.seed');
    if (s !== undefined) out.seed = s;
    const w = optInt(body['width'], 'params.width', 1, 16384);
    const h = optInt(body['height'], 'params.height', 1, 16384);
    if (w !== undefined) out.width = w;
    if (h !== undefined) out.height = h;
    input.params = out;
  }
  return input;
}

export function parseJobIdParam(raw: string): string {
  if (!JOB_ID.test(raw)) throw new GenerationError(ErrorCode.JobNotFound, `no job with id ${describe(raw)}`);
  return raw;
}
