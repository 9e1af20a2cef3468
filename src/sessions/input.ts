import { ErrorCode, FramehubError } from '../wire/errors.js';
import type { Page } from 'playwright-core';
import { describe } from '../protocols/values.js';

/** One input event for a session's page, validated. Coordinates are page CSS pixels. */
export type InputEvent =
  | { type: 'click'; x: number; y: number; button: MouseButton }
  | { type: 'move'; x: number; y: number }
  | { type: 'scroll'; deltaX: number; deltaY: number; x?: number; y?: number }
  | { type: 'text'; text: string }
  | { type: 'key'; key: string }
  /** A button pressed (`down`) or let go (`up`) at a point: a drag is down, moves, up. */
  | { type: 'down' | 'up'; x: number; y: number; button: MouseButton }
  /** Text inserted at the caret at once, as a paste does (no key events per character). */
  | { type: 'paste'; text: string }
  /** The page's viewport, CSS pixels, within the sizes session creation takes. */
  | { type: 'resize'; width: number; height: number };

export type InputType = InputEvent['type'];
export type MouseButton = 'left' | 'right' | 'middle';

export const INPUT_TYPES: readonly InputType[] = ['click', 'move', 'scroll', 'text', 'key', 'down', 'up', 'paste', 'resize'];
/** Longest `input:text`: typing is one CDP round trip per character. */
export const MAX_TEXT_LENGTH = 500;
/** Longest `input:paste`: one CDP call (`Input.insertText`) whatever the length. */
export const MAX_PASTE_LENGTH = 10_000;
/** Viewport sizes, CSS pixels, a session may have: at creation and after `input:resize`. */
export const VIEWPORT_LIMITS = { width: [200, 3840], height: [200, 2160] } as const;
/** Largest scroll step either way, CSS pixels. */
export const MAX_SCROLL_DELTA = 10_000;
// Playwright key names (`Enter`, `ArrowLeft`, `F5`, `a`) with optional modifiers (`Control+a`).
const KEY = /^(?:(?:Shift|Control|Alt|Meta|ControlOrMeta)\+){0,4}(?:[A-Za-z][A-Za-z0-9]{0,19}|[\x21-\x7e])$/;

/** Bad input, with a message fit to send back to the client. */
export class InputError extends FramehubError {
  override readonly name = 'InputError';
  constructor(message: string) {
    super(ErrorCode.InvalidInput, message);
  }
}

/**
 * Checks one input event against the page size. Numbers must be finite and in range, text
 * is capped, keys must look like key names: nothing unchecked reaches the browser.
 */
export function parseInput(type: InputType, raw: unknown, viewport: { width: number; height: number }): InputEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputError(`input:${type} needs an object payload (got ${describe(raw)})`);
  }
  const data = raw as Record<string, unknown>;
  const coord = (name: 'x' | 'y'): number => {
    const max = name === 'x' ? viewport.width : viewport.height;
    return finite(data[name], name, 0, max, type);
  };
  switch (type) {
    case 'click':
    case 'down':
    case 'up': {
      const button = data['button'] ?? 'left';
      if (button !== 'left' && button !== 'right' && button !== 'middle') {
        throw new InputError(`input:${type} button must be left, right or middle (got ${describe(button)})`);
      }
      return { type, x: coord('x'), y: coord('y'), button };
    }
    case 'paste': {
      const text = data['text'];
      if (typeof text !== 'string') throw new InputError(`input:paste text must be a string (got ${describe(text)})`);
      if (text.length > MAX_PASTE_LENGTH) throw new InputError(`input:paste text is ${text.length} characters; at most ${MAX_PASTE_LENGTH}`);
      return { type, text };
    }
    case 'resize': {
      const size = (name: 'width' | 'height'): number => {
        const [min, max] = VIEWPORT_LIMITS[name];
        const value = finite(data[name], name, min, max, type);
        if (!Number.isInteger(value)) throw new InputError(`input:resize ${name} must be an integer from ${min} to ${max} (got ${describe(value)})`);
        return value;
      };
      return { type, width: size('width'), height: size('height') };
    }
    case 'move':
      return { type, x: coord('x'), y: coord('y') };
    case 'scroll': {
      const event: InputEvent = {
        type,
        deltaX: finite(data['deltaX'] ?? 0, 'deltaX', -MAX_SCROLL_DELTA, MAX_SCROLL_DELTA, type),
        deltaY: finite(data['deltaY'] ?? 0, 'deltaY', -MAX_SCROLL_DELTA, MAX_SCROLL_DELTA, type),
      };
      // The seed sends deltas only; a pointer position is optional (the wheel scrolls what is under it).
      if (data['x'] !== undefined || data['y'] !== undefined) Object.assign(event, { x: coord('x'), y: coord('y') });
      return event;
    }
    case 'text': {
      const text = data['text'];
      if (typeof text !== 'string') throw new InputError(`input:text text must be a string (got ${describe(text)})`);
      if (text.length > MAX_TEXT_LENGTH) throw new InputError(`input:text text is ${text.length} characters; at most ${MAX_TEXT_LENGTH}`);
      return { type, text };
    }
    case 'key': {
      const key = data['key'];
      if (typeof key !== 'string' || !KEY.test(key)) {
        throw new InputError(`input:key key must be a key name such as Enter, ArrowDown, a or Control+a (got ${describe(key)})`);
      }
      return { type, key };
    }
  }
}

function finite(raw: unknown, name: string, min: number, max: number, type: InputType): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < min || raw > max) {
    throw new InputError(`input:${type} ${name} must be a number from ${min} to ${max} (got ${describe(raw)})`);
  }
  return raw;
}

/** Performs a validated event on the page through Playwright's mouse and keyboard (CDP Input.*); the session does resizes itself (the screencast must follow). */
export async function applyInput(page: Page, event: Exclude<InputEvent, { type: 'resize' }>): Promise<void> {
  switch (event.type) {
    case 'click':
      return page.mouse.click(event.x, event.y, { button: event.button });
    case 'move':
      return page.mouse.move(event.x, event.y);
    case 'scroll':
      if (event.x !== undefined && event.y !== undefined) await page.mouse.move(event.x, event.y);
      return page.mouse.wheel(event.deltaX, event.deltaY);
    case 'text':
      return page.keyboard.type(event.text);
    case 'down':
    case 'up':
      await page.mouse.move(event.x, event.y);
      return event.type === 'down' ? page.mouse.down({ button: event.button }) : page.mouse.up({ button: event.button });
    case 'paste':
      return page.keyboard.insertText(event.text);
    case 'key':
      try {
        return await page.keyboard.press(event.key);
      } catch (error) {
        // The pattern lets through names Playwright does not know ("Foo"): say so, plainly.
        if (/Unknown key/i.test((error as Error).message)) throw new InputError(`input:key unknown key ${JSON.stringify(event.key)}`);
        throw error;
      }
  }
}
