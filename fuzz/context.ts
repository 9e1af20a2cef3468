import type { Oracle } from './oracle.js';
import type { ServerUnderTest } from './server-under-test.js';

/** What every case gets: the servers, their secrets, the oracle and the message budget. */
export interface FuzzContext {
  seed: number;
  oracle: Oracle;
  /** PRODUCER_TOKEN set (publish API and `/ws/producer` live), `/ws` open, a browser session if Chromium runs. */
  main: ServerUnderTest;
  /** JWT_SECRET set (every `/ws` token path), publishing off. */
  auth: ServerUnderTest;
  producerToken: string;
  jwtSecret: string;
  /** A live browser session on `main` (for Socket.IO `subscribe`, session REST), if Chromium started. */
  sessionId: string | undefined;
  /** A browser session on `auth` created by a token of its own owner, for the other-owner case (owner-cases.ts). */
  ownedSessionId: string | undefined;
  /** Messages still to send. */
  budgetLeft(): boolean;
  /** Set when a server process died: every case stops. */
  stopped: boolean;
  /** The hostile upstream (test/hostile-upstream.ts), when there is a browser session to load it. */
  upstream: { url(path: string): string; paths: readonly string[] } | undefined;
}

/** The route a message went to, as the summary names it. */
export function target(kind: 'ws' | 'raw' | 'rest' | 'socket.io' | 'engine.io' | 'upgrade' | 'upstream', name: string): string {
  return `${kind}:${name}`;
}
