import assert from 'node:assert/strict';

/**
 * What the codec unit tests share: a seeded generator of hostile input and the two assertions
 * every parser must pass (a refused input throws the codec's own error class with a defined
 * code; nothing else ever escapes).
 */

type ErrorClass = abstract new (...args: never[]) => Error & { code: string };

/** `fn()` throws an instance of `ErrorClass` whose `code` is `code` (and whose message matches `message`). */
export function assertRefuses(fn: () => unknown, ErrorClass: ErrorClass, code: string, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ErrorClass, `expected a ${ErrorClass.name}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/**
 * Runs `parse` on every input: it either returns or throws an `ErrorClass` with one of `codes`.
 * Returns how many inputs were refused, so a test can check the inputs reached the validators.
 */
export function assertOnlyDefinedErrors<T>(inputs: Iterable<T>, parse: (input: T) => unknown, ErrorClass: ErrorClass, codes: readonly string[]): number {
  let refused = 0;
  for (const input of inputs) {
    try {
      parse(input);
    } catch (error) {
      refused++;
      if (!(error instanceof ErrorClass) || !codes.includes(error.code)) {
        assert.fail(`input ${preview(input)} threw ${error instanceof Error ? `${error.name} ${(error as { code?: unknown }).code}: ${error.message}` : String(error)}`);
      }
      assert.ok(error.message.length > 0 && error.message.length < 400, `message of ${preview(input)} is ${error.message.length} characters`);
    }
  }
  return refused;
}

function preview(input: unknown): string {
  try {
    const text = typeof input === 'string' ? JSON.stringify(input) : JSON.stringify(input) ?? String(input);
    return text.length > 120 ? `${text.slice(0, 120)}…` : text;
  } catch {
    return String(input);
  }
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same cases on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** Values a client may put where a number, a string or a flag belongs. */
const ODD_VALUES: readonly unknown[] = [
  0, -1, 1, 1.5, 59, 60, 61, 100, 101, 1e308, -1e308, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, -0,
  '', ' ', '30', ' 30 ', '1e2', '0x1f', '30fps', 'NaN', 'Infinity', 'true', 'false', '1', '0',
  'JPEG', 'jpg', 'png', 'webp', 'gif', 'bmp', '\u0000', '\ud800', '🎞️', 'x'.repeat(5000),
  true, false, null, [], [1, 2], [16, 16], {}, { width: 320, height: 240 }, { __proto__: null },
];

/** A random JSON value, at most `depth` levels deep, with odd keys and odd leaves. */
export function randomJson(random: () => number, depth = 3): unknown {
  const roll = random();
  if (depth <= 0 || roll < 0.55) return pick(random, ODD_VALUES);
  if (roll < 0.75) return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth - 1));
  const object: Record<string, unknown> = {};
  const keys = ['type', 'command', 'options', 'fps', 'quality', 'format', 'osd', 'resize', 'mode', 'action', 'value', 'payload', '__proto__', 'constructor', ''];
  for (let i = Math.floor(random() * 4); i > 0; i--) object[pick(random, keys)] = randomJson(random, depth - 1);
  return object;
}

/** `count` hostile texts: random JSON of `shapes` (objects with their fields filled oddly), then broken text. */
export function hostileTexts(seed: number, count: number, shapes: readonly Record<string, unknown>[]): string[] {
  const random = prng(seed);
  const texts: string[] = [
    '', ' ', 'null', '0', '"text"', '[]', '[{}]', 'true', '{', '}', '{"type":', '{"type":"ping"', '{"type":"ping"}}',
    '\u0000', '\ufeff{}', '{"a":1,"a":2}', '[' .repeat(100) + ']'.repeat(100), '{"x":'.repeat(70) + '1' + '}'.repeat(70),
    '{"type":"' + '\\"'.repeat(1000) + '"}', JSON.stringify({ type: 'x'.repeat(100_000) }),
  ];
  while (texts.length < count) {
    const shape = pick(random, shapes);
    const message: Record<string, unknown> = { ...shape };
    for (const key of Object.keys(message)) if (random() < 0.6) message[key] = randomJson(random);
    if (random() < 0.3) message[pick(random, ['extra', '__proto__', 'constructor', 'type'])] = randomJson(random);
    let text = JSON.stringify(message);
    const cut = random();
    if (cut < 0.1) text = text.slice(0, Math.floor(random() * text.length));
    else if (cut < 0.15) text = text.replace(/[{}]/, '[');
    texts.push(text);
  }
  return texts;
}
