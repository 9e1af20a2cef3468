import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CDPSession, Page } from 'playwright-core';
import { io as connect, type Socket } from 'socket.io-client';
import type { TestServer } from './helpers.js';
import { launchBrowser, type TestBrowser } from './browser-helpers.js';
import { createLoadedSession, postJson, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { nextEvent } from './wait.js';

/** What the touch page (test/session-helpers.ts `/touch`) records. */
interface Seen {
  mouse: [string, number, number, number][];
  contextmenu: number;
  keys: string[];
  wheel: [number, number][];
}

const WIDTH = 640;
const HEIGHT = 400;
/** Page pixels a touch may land off its target: screen → page scaling rounds (358 px shown for 640). */
const SLACK = 3;

function near(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= SLACK;
}

// The page plays H.264 where the browser decodes it (this Chromium does), JPEG frames with `?video=jpeg`: touch works on both.
for (const mode of ['h264', 'jpeg'] as const) describe(`web/session.html on a phone (${mode} picture): touch, on-screen keyboard, clipboard, resize`, () => {
  let pages: PageServer;
  let server: TestServer;
  let phone: TestBrowser;
  let page: Page;
  let errors: string[];
  let cdp: CDPSession;
  /** The session's own Chromium page, whose `window.seen` says what reached it. */
  let remote: Page;
  let size = { width: WIDTH, height: HEIGHT };

  /** Where page pixel (x, y) is on the phone's screen now (zoom and scaling included). */
  const onScreen = async (x: number, y: number) => {
    const box = await page.getByTestId('screen').boundingBox();
    assert.ok(box, 'the picture is shown');
    return { x: box.x + (x * box.width) / size.width, y: box.y + (y * box.height) / size.height };
  };
  const seen = () => remote.evaluate(() => (window as any).seen as Seen);
  const resetSeen = () => remote.evaluate(() => {
    (window as any).seen = { mouse: [], contextmenu: 0, keys: [], wheel: [] };
  });
  const touch = (type: 'touchStart' | 'touchMove' | 'touchEnd', points: { x: number; y: number }[]) =>
    cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points.map((p, id) => ({ x: p.x, y: p.y, id })) });
  /** Waits until the remote page has seen `count` mousedowns and returns what it saw. */
  const mouseDowns = async (count: number) => {
    await remote.waitForFunction((n) => (window as any).seen.mouse.filter((m: unknown[]) => m[0] === 'mousedown').length >= n, count, { timeout: 20_000 });
    return (await seen()).mouse.filter((m) => m[0] === 'mousedown');
  };

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer();
    phone = await launchBrowser({ mobile: true });
    await createLoadedSession(server, `${pages.origin}/touch`, { session_id: 'touch1', width: WIDTH, height: HEIGHT });
    remote = (await server.server.sessions.get('touch1')!.page()).page;
    ({ page, errors } = await phone.newPage());
    cdp = await page.context().newCDPSession(page);
    // A share link's URL: the page joins the session at once.
    await page.goto(`${server.http}/session.html?session=touch1${mode === 'jpeg' ? '&video=jpeg' : ''}`);
    await page.waitForFunction((w) => (document.querySelector('[data-testid=screen]') as HTMLImageElement).naturalWidth === w, WIDTH, { timeout: 30_000 });
    // The picture is there (a decoded H.264 picture on the canvas, or a JPEG frame): the session streams to this phone.
    await page.waitForFunction((h264) => h264
      ? ((document.querySelector('[data-testid=screen-video]') as HTMLCanvasElement | null)?.width ?? 0) > 0
      : (document.querySelector('[data-testid=screen]') as HTMLImageElement).src.startsWith('data:image/jpeg'), mode === 'h264', { timeout: 30_000 });
  });
  after(async () => {
    await phone?.close();
    await server?.close();
    await pages?.close();
  });

  it('a tap is a left click where the finger touched', async () => {
    await resetSeen();
    const at = await onScreen(50, 30);
    await page.touchscreen.tap(at.x, at.y);
    await remote.waitForFunction(() => (window as any).seen.mouse.some((m: unknown[]) => m[0] === 'mouseup'), undefined, { timeout: 20_000 });
    const { mouse, contextmenu } = await seen();
    const [type, x, y, button] = mouse[0]!;
    assert.equal(type, 'mousedown');
    assert.ok(near(x, 50) && near(y, 30), `clicked at ${x},${y}`);
    assert.equal(button, 0);
    assert.equal(contextmenu, 0);
    assert.equal(mouse.filter((m) => m[0] === 'mousedown').length, 1, JSON.stringify(mouse));
  });

  it('a one-finger drag is a button down, moves with the button held, and up where the finger lifts', async () => {
    await resetSeen();
    const from = await onScreen(300, 200);
    const to = await onScreen(420, 260);
    await touch('touchStart', [from]);
    for (let step = 1; step <= 6; step++) {
      await touch('touchMove', [{ x: from.x + ((to.x - from.x) * step) / 6, y: from.y + ((to.y - from.y) * step) / 6 }]);
    }
    await touch('touchEnd', []);
    await remote.waitForFunction(() => (window as any).seen.mouse.some((m: unknown[]) => m[0] === 'mouseup'), undefined, { timeout: 20_000 });
    const { mouse, contextmenu } = await seen();
    const down = mouse[0]!;
    const up = mouse[mouse.length - 1]!;
    assert.equal(down[0], 'mousedown');
    assert.ok(near(down[1], 300) && near(down[2], 200), `pressed at ${down[1]},${down[2]}`);
    assert.equal(up[0], 'mouseup');
    assert.ok(near(up[1], 420) && near(up[2], 260), `let go at ${up[1]},${up[2]}`);
    const moves = mouse.filter((m) => m[0] === 'mousemove');
    assert.ok(moves.length >= 1, `moves with the button held: ${JSON.stringify(mouse)}`);
    assert.equal(mouse.filter((m) => m[0] === 'mousedown').length, 1, 'one press, not a click per touch');
    assert.equal(contextmenu, 0);
  });

  it('a long press is a right click (the context menu), and no left click follows', async () => {
    await resetSeen();
    const at = await onScreen(100, 150);
    await touch('touchStart', [at]);
    // The finger stays down until the page's context menu has opened.
    await remote.waitForFunction(() => (window as any).seen.contextmenu > 0, undefined, { timeout: 20_000 });
    await touch('touchEnd', []);
    // A tap after it, as a barrier: whatever the lift sent has arrived by the time the tap has.
    const barrier = await onScreen(500, 350);
    await page.touchscreen.tap(barrier.x, barrier.y);
    const downs = await mouseDowns(2);
    assert.equal(downs.length, 2, JSON.stringify(downs));
    assert.equal(downs[0]![3], 2, 'the long press is the right button');
    assert.ok(near(downs[0]![1], 100) && near(downs[0]![2], 150), `pressed at ${downs[0]![1]},${downs[0]![2]}`);
    assert.equal(downs[1]![3], 0);
    assert.ok(near(downs[1]![1], 500), 'the second press is the barrier tap');
  });

  it('the on-screen keyboard types into the page: text, Enter and Backspace as keys', async () => {
    // Focus the page's text field (its top left) with a tap.
    await resetSeen();
    const field = await onScreen(20, 20);
    await page.touchscreen.tap(field.x, field.y);
    await mouseDowns(1);
    await resetSeen();
    await page.getByTestId('keys-keyboard').tap();
    await page.waitForFunction(() => document.activeElement?.id === 'keys-input');
    await page.keyboard.type('hey');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Backspace');
    await remote.waitForFunction(() => (window as any).seen.keys.includes('Backspace'), undefined, { timeout: 20_000 });
    assert.deepEqual((await seen()).keys, ['h', 'e', 'y', 'Enter', 'Backspace']);
    assert.equal(await remote.evaluate(() => (document.getElementById('field') as HTMLTextAreaElement).value), 'hey');
    // The phone's own field stays empty: what is typed goes to the remote page, not here.
    assert.equal(await page.getByTestId('keys-input').inputValue(), '');
    // The keys an on-screen keyboard lacks are buttons.
    await page.getByTestId('key-enter').tap();
    await remote.waitForFunction(() => (window as any).seen.keys.length === 6, undefined, { timeout: 20_000 });
    assert.equal((await seen()).keys[5], 'Enter');
  });

  it('paste puts text into the page: from the field\'s paste and from the Paste button', async () => {
    await remote.evaluate(() => {
      const field = document.getElementById('field') as HTMLTextAreaElement;
      field.value = '';
      field.focus();
    });
    await resetSeen();
    // What a phone's paste (long press on the field → Paste) delivers.
    await page.getByTestId('keys-input').evaluate((field) => {
      const data = new DataTransfer();
      data.setData('text/plain', 'pasted words ');
      field.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    });
    await remote.waitForFunction(() => (document.getElementById('field') as HTMLTextAreaElement).value === 'pasted words ', undefined, { timeout: 20_000 });
    // The Paste button reads the clipboard where the browser allows it.
    await phone.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.http });
    await page.evaluate(() => navigator.clipboard.writeText('from the clipboard'));
    await page.getByTestId('keys-paste').tap();
    await remote.waitForFunction(() => (document.getElementById('field') as HTMLTextAreaElement).value === 'pasted words from the clipboard', undefined, { timeout: 20_000 });
    // Inserted at once, not typed key by key.
    assert.deepEqual((await seen()).keys, []);
  });

  it('copy takes the page\'s selection out: the Copy button (clipboard:get) and REST', async () => {
    await remote.evaluate(() => {
      (document.activeElement as HTMLElement | null)?.blur();
      const range = document.createRange();
      range.selectNodeContents(document.getElementById('sentence')!);
      getSelection()!.removeAllRanges();
      getSelection()!.addRange(range);
    });
    await page.getByTestId('keys-copy').tap();
    await page.waitForFunction(() => (document.querySelector('[data-testid=keys-copied]') as HTMLTextAreaElement).value === 'copy this sentence', undefined, { timeout: 20_000 });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'copy this sentence');
    const response = await fetch(`${server.http}/api/session/touch1/clipboard`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { success: true, session_id: 'touch1', text: 'copy this sentence', truncated: false });
    // A selection inside a text field counts too.
    await remote.evaluate(() => {
      const field = document.getElementById('field') as HTMLTextAreaElement;
      field.value = 'alpha beta gamma';
      field.focus();
      field.setSelectionRange(6, 10);
    });
    const again = await (await fetch(`${server.http}/api/session/touch1/clipboard`)).json();
    assert.equal(again.text, 'beta');
  });

  it('two fingers moving up scroll the page down, without clicks', async () => {
    await remote.evaluate(() => scrollTo(0, 0));
    await resetSeen();
    const left = await onScreen(200, 300);
    const right = await onScreen(400, 300);
    const rise = (await onScreen(0, 150)).y - (await onScreen(0, 0)).y; // 150 page pixels, on screen
    await touch('touchStart', [left, right]);
    for (let step = 1; step <= 8; step++) {
      const dy = (rise * step) / 8;
      await touch('touchMove', [{ x: left.x, y: left.y - dy }, { x: right.x, y: right.y - dy }]);
    }
    await touch('touchEnd', []);
    // All of the swipe, to the page pixel (screen → page rounding aside): the last step is sent when the fingers lift.
    await remote.waitForFunction(() => (window as any).seen.wheel.reduce((sum: number, w: number[]) => sum + w[1]!, 0) >= 150 - 3, undefined, { timeout: 20_000 });
    await remote.waitForFunction(() => scrollY > 0, undefined, { timeout: 20_000 });
    const { wheel, mouse } = await seen();
    const total = wheel.reduce((sum, [, dy]) => sum + dy, 0);
    assert.ok(total <= 150 + 3, `scrolled ${total} px for a 150 px swipe`);
    assert.ok(wheel.every(([dx]) => dx === 0), `no sideways scroll: ${JSON.stringify(wheel)}`);
    assert.deepEqual(mouse, [], 'a two-finger scroll presses no button');
  });

  it('a pinch zooms the view only: the page gets no input, and taps land right on the zoomed picture', async () => {
    await resetSeen();
    const centre = await onScreen(320, 200);
    await touch('touchStart', [{ x: centre.x - 20, y: centre.y }, { x: centre.x + 20, y: centre.y }]);
    for (let step = 1; step <= 6; step++) {
      const half = 20 + step * 15;
      await touch('touchMove', [{ x: centre.x - half, y: centre.y }, { x: centre.x + half, y: centre.y }]);
    }
    await touch('touchEnd', []);
    const zoom = Number(await page.locator('#screen-box').getAttribute('data-zoom'));
    assert.ok(zoom > 1.5, `zoomed ${zoom}x`);
    // The tap maps through the zoom: page pixel (330, 210) is where it is on the zoomed picture now.
    const at = await onScreen(330, 210);
    await page.touchscreen.tap(at.x, at.y);
    const downs = await mouseDowns(1);
    assert.equal(downs.length, 1, `the pinch sent no clicks: ${JSON.stringify(downs)}`);
    assert.ok(near(downs[0]![1], 330) && near(downs[0]![2], 210), `tapped at ${downs[0]![1]},${downs[0]![2]}`);
    assert.deepEqual((await seen()).wheel, [], 'the pinch sent no scroll');
    // The remote page kept its size.
    assert.equal(await remote.evaluate(() => innerWidth), WIDTH);
    // Pinch back out, for the tests after this one.
    await touch('touchStart', [{ x: centre.x - 110, y: centre.y }, { x: centre.x + 110, y: centre.y }]);
    for (let step = 1; step <= 6; step++) {
      const half = 110 - step * 15;
      await touch('touchMove', [{ x: centre.x - half, y: centre.y }, { x: centre.x + half, y: centre.y }]);
    }
    await touch('touchEnd', []);
    assert.equal(await page.locator('#screen-box').getAttribute('data-zoom'), '1.00');
  });

  it('"Fit page to screen" resizes the session to the phone: the page, the frames and the input mapping follow', async () => {
    await page.getByTestId('keys-fit').tap();
    const want = await page.evaluate(() => {
      const wrap = document.getElementById('screen-wrap')!;
      return { width: wrap.clientWidth, height: Math.round(innerHeight - (wrap.getBoundingClientRect().top + scrollY)) };
    });
    assert.ok(want.width < WIDTH, `the phone is narrower than the page (${want.width})`);
    await remote.waitForFunction((w) => innerWidth === w.width && innerHeight === w.height, want, { timeout: 20_000 });
    // The picture follows: JPEG frames at the new size, or the H.264 canvas (even sizes: a pixel less for an odd one).
    await page.waitForFunction(({ w, h264 }) => {
      if (!h264) {
        const screen = document.querySelector('[data-testid=screen]') as HTMLImageElement;
        return screen.naturalWidth === w.width && screen.naturalHeight === w.height;
      }
      const canvas = document.querySelector('[data-testid=screen-video]') as HTMLCanvasElement;
      return Math.abs(canvas.width - w.width) <= 1 && Math.abs(canvas.height - w.height) <= 1;
    }, { w: want, h264: mode === 'h264' }, { timeout: 30_000 });
    const info = server.server.sessions.get('touch1')!.info();
    assert.equal(info['width'], want.width);
    assert.equal(info['height'], want.height);
    size = want;
    // Taps are scaled to the new size.
    await page.evaluate(() => scrollTo(0, 0));
    await resetSeen();
    const at = await onScreen(want.width - 40, 50);
    await page.touchscreen.tap(at.x, at.y);
    const [down] = await mouseDowns(1);
    assert.ok(near(down![1], want.width - 40) && near(down![2], 50), `tapped at ${down![1]},${down![2]}`);
    assert.deepEqual(errors, []);
  });
});

describe('touch, paste, resize and clipboard events with bad input', () => {
  let pages: PageServer;
  let server: TestServer;
  let socket: Socket;

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer();
    socket = connect(server.http, { reconnection: false, transports: ['websocket'] });
  });
  after(async () => {
    socket?.disconnect();
    await server?.close();
    await pages?.close();
  });

  const ask = (event: string, payload?: unknown) =>
    socket.timeout(30_000).emitWithAck(event, ...(payload === undefined ? [] : [payload])) as Promise<any>;

  it('gets a defined error code for each bad event and changes nothing', async () => {
    assert.equal((await ask('clipboard:get', {})).error?.code, 'input_not_accepted');
    assert.equal((await ask('input:resize', { width: 400, height: 300 })).error?.code, 'input_not_accepted');
    const id = await createLoadedSession(server, `${pages.origin}/touch`, { session_id: 'touch2', width: WIDTH, height: HEIGHT });
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { session_id: id });
    await subscribed;
    const bad: [string, unknown, string][] = [
      ['input:resize', { width: 199, height: 300 }, 'invalid_input'],
      ['input:resize', { width: 3841, height: 300 }, 'invalid_input'],
      ['input:resize', { width: 400, height: 2161 }, 'invalid_input'],
      ['input:resize', { width: 400.5, height: 300 }, 'invalid_input'],
      ['input:resize', { width: '400', height: 300 }, 'invalid_input'],
      ['input:resize', { width: 1e308, height: Number.NaN }, 'invalid_input'],
      ['input:resize', 'big', 'invalid_input'],
      ['input:down', { x: WIDTH + 1, y: 10 }, 'invalid_input'],
      ['input:down', { x: 10, y: -1 }, 'invalid_input'],
      ['input:up', { x: 10, y: 10, button: 'side' }, 'invalid_input'],
      ['input:up', [10, 10], 'invalid_input'],
      ['input:paste', { text: 'x'.repeat(10_001) }, 'invalid_input'],
      ['input:paste', { text: 5 }, 'invalid_input'],
      ['clipboard:get', 'selection', 'invalid_message'],
    ];
    for (const [event, payload, code] of bad) {
      const answer = await ask(event, payload);
      assert.equal(answer.error?.code, code, `${event} ${JSON.stringify(payload)?.slice(0, 60)}: ${JSON.stringify(answer).slice(0, 200)}`);
    }
    const session = server.server.sessions.get(id)!;
    assert.equal(session.options.width, WIDTH);
    assert.equal(session.options.height, HEIGHT);
    // Good ones are answered: a paste, a press and a release, the selection (none), a resize.
    assert.deepEqual(await ask('input:paste', { text: 'ok' }), { type: 'paste' });
    assert.deepEqual(await ask('input:down', { x: 10, y: 10, button: 'right' }), { type: 'down' });
    assert.deepEqual(await ask('input:up', { x: 12, y: 12, button: 'right' }), { type: 'up' });
    assert.deepEqual(await ask('clipboard:get'), { session_id: id, text: '', truncated: false });
    assert.deepEqual(await ask('input:resize', { width: 500, height: 300 }), { type: 'resize' });
    assert.equal(session.options.width, 500);
    assert.equal(await (await session.page()).page.evaluate(() => innerWidth), 500);
    // Input is checked against the new size.
    assert.equal((await ask('input:click', { x: 600, y: 10 })).error?.code, 'invalid_input');
  });

  it('takes the same over REST: resize and the new types, with 400 for bad ones', async () => {
    const base = `${server.http}/api/session/touch2`;
    assert.equal((await postJson(`${base}/input`, { type: 'resize', width: 100, height: 300 })).status, 400);
    assert.equal((await postJson(`${base}/input`, { type: 'paste', text: 'x'.repeat(10_001) })).status, 400);
    assert.equal((await postJson(`${base}/input`, { type: 'down', x: 10 })).status, 400);
    const resized = await postJson(`${base}/input`, { type: 'resize', width: 420, height: 360 });
    assert.deepEqual(resized.body, { success: true, session_id: 'touch2', type: 'resize' });
    assert.equal(server.server.sessions.get('touch2')!.info()['width'], 420);
    const missing = await fetch(`${server.http}/api/session/nope/clipboard`);
    assert.equal(missing.status, 404);
  });
});
