import { TypedEmitter } from '../util/typed-emitter.js';
import type { InputEvent } from './input.js';

export interface SessionActivityEvents {
  /** An input event was applied to the page (refused or failed input never gets here). */
  input: { at: number; event: InputEvent };
  /** The main frame committed a navigation: a load, a link followed, a redirect, a reload after a crash. */
  navigate: { at: number; url: string };
}

/**
 * What was done on a session's page and when, for whoever keeps a record of it (a recording's
 * input timeline, an audit). Told by the session as things reach the page; a listener that
 * throws is the listener's problem, never the page's: its error goes to `onError`.
 */
export class SessionActivity extends TypedEmitter<SessionActivityEvents> {
  constructor(private readonly onError: (error: unknown) => void = () => {}) {
    super();
  }

  input(event: InputEvent): void {
    this.emit('input', { at: Date.now(), event });
  }

  navigate(url: string): void {
    this.emit('navigate', { at: Date.now(), url });
  }

  protected override onListenerError(error: unknown): void {
    this.onError(error);
  }
}
