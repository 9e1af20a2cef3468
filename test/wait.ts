import type { TypedEmitter } from '../src/util/typed-emitter.js';

/**
 * Bounded waits for the tests: for a promise, for an event, for a polled condition. Every wait
 * has a deadline and names what it waited for, so a missing feature fails the test with a
 * message instead of hanging the suite.
 */

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Anything with `on`/`off`: a Socket.IO socket, a Node emitter. */
interface Listenable {
  on: Function;
  off: Function;
}

/**
 * The next `event` whose payload matches `predicate`, within `ms`. Typed for framehub's own
 * emitters (the client library); `any` for Socket.IO sockets and Node emitters.
 */
export function nextEvent<E extends { [K in keyof E]: unknown }, K extends keyof E>(emitter: TypedEmitter<E>, event: K, predicate?: (payload: E[K]) => boolean, ms?: number): Promise<E[K]>;
export function nextEvent<T = any>(emitter: Listenable, event: string, predicate?: (payload: T) => boolean, ms?: number): Promise<T>;
export function nextEvent(emitter: Listenable, event: string, predicate: (payload: unknown) => boolean = () => true, ms = 20_000): Promise<unknown> {
  let listener!: (payload: unknown) => void;
  const found = new Promise<unknown>((resolve) => {
    listener = (payload) => {
      if (!predicate(payload)) return;
      emitter.off(event, listener);
      resolve(payload);
    };
    emitter.on(event, listener);
  });
  return withTimeout(found, ms, `event "${event}"`).finally(() => emitter.off(event, listener));
}

/**
 * Polls `read` until `accept` holds and resolves with that value. For state that has no event
 * to wait for (a process table, a server counter, a file); where an event exists, wait for it,
 * and inside a browser page use `page.waitForFunction`.
 * Rejects after `timeoutMs` with the last value, also when a read itself hangs.
 */
export async function waitUntil<T>(
  read: () => Promise<T> | T,
  accept: (value: T) => boolean,
  { timeoutMs = 10_000, intervalMs = 50, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const expired = (last: string) => new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(expired('')), Math.max(0, deadline - Date.now()));
    });
    let value: T;
    try {
      value = await Promise.race([read(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (accept(value)) return value;
    if (Date.now() > deadline) throw expired(`; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `waitUntil` for a yes/no check, named first: `await waitFor('ffmpeg to exit', () => !alive(pid))`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 50): Promise<void> {
  await waitUntil(check, Boolean, { timeoutMs, intervalMs, what });
}
