import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { sniffImage } from '../src/image/sniff.js';
import { startServer, type TestServer } from './helpers.js';
import { canvasInk, useBrowser, type TestPage } from './browser-helpers.js';
import { waitUntil } from './wait.js';

/**
 * The web viewer at `/` driven in real headless Chromium against a real framehub: frames
 * arrive and are drawn, the controls change what the server sends, screenshots download,
 * disconnect and reset work, and server errors reach the status line.
 */

const WAIT = { timeout: 15_000 };

/** Opens the viewer in a new page that is closed when test `t` ends, passed or not. */
async function openViewer(t: TestContext, server: TestServer, newPage: () => Promise<TestPage>, query = ''): Promise<TestPage> {
  const opened = await newPage();
  t.after(() => opened.page.close());
  await opened.page.goto(`${server.http}/${query}`);
  await opened.page.waitForSelector('#controls[data-ready="true"]', WAIT);
  return opened;
}

/** A stat's machine-readable `data-value`. */
async function stat(page: Page, id: string): Promise<string> {
  return (await page.getAttribute(`#${id}`, 'data-value')) ?? '';
}

async function numberStat(page: Page, id: string): Promise<number> {
  return Number(await stat(page, id));
}

/** Waits until `data-value` of `#id` satisfies the predicate (evaluated in the page). */
async function waitForStat(page: Page, id: string, predicate: string): Promise<void> {
  await page.waitForFunction(
    ([id, predicate]) => {
      const value = document.getElementById(id!)?.dataset['value'] ?? '';
      return new Function('v', `return (${predicate});`)(value) as boolean;
    },
    [id, predicate],
    WAIT,
  );
}

async function connect(page: Page): Promise<void> {
  await page.click('#connect-button');
  await page.waitForSelector('#connection-state[data-state="connected"]', WAIT);
}

async function disconnect(page: Page): Promise<void> {
  await page.click('#connect-button');
  await page.waitForSelector('#connection-state[data-state="disconnected"]', WAIT);
}

/** Frames received per second over a measured interval of about `ms`. */
async function measureRate(page: Page, ms: number): Promise<number> {
  return page.evaluate(async (ms) => {
    const stat = document.getElementById('stat-frames')!;
    const read = () => Number(stat.dataset['value']);
    // data-value refreshes every 250 ms; count from the moment it changes so both ends align.
    const changed = () => new Promise<void>((resolve) => {
      const observer = new MutationObserver(() => { observer.disconnect(); resolve(); });
      observer.observe(stat, { attributes: true, attributeFilter: ['data-value'] });
    });
    const edge = async () => {
      const start = read();
      while (read() === start) await changed();
      return { frames: read(), at: performance.now() };
    };
    const first = await edge();
    await new Promise((r) => setTimeout(r, ms));
    const last = await edge();
    return ((last.frames - first.frames) * 1000) / (last.at - first.at);
  }, ms);
}

async function setRange(page: Page, selector: string, value: number): Promise<void> {
  await page.fill(selector, String(value));
}

async function subscribersOf(server: TestServer, id: string): Promise<number> {
  const body = (await (await fetch(`${server.http}/api/streams`)).json()) as { streams: { id: string; subscribers: number }[] };
  return body.streams.find((s) => s.id === id)?.subscribers ?? -1;
}

describe('web viewer in Chromium', { timeout: 180_000 }, () => {
  const browser = useBrowser();
  let server: TestServer;

  before(async () => {
    server = await startServer({
      streams: {
        demo: { source: 'pattern', width: 320, height: 180, fps: 30 },
        small: { source: 'pattern', width: 160, height: 90, fps: 30 },
      },
    });
  });
  after(async () => {
    await server?.close();
  });

  it('serves the page and its modules, and lists the streams from /api/streams', async (t) => {
    const { page, errors } = await openViewer(t, server, () => browser().newPage());
    const values = await page.$$eval('#stream-select option', (options) => options.map((o) => (o as HTMLOptionElement).value));
    assert.deepEqual(values, ['0', 'demo', 'small', '__custom__']);
    assert.match((await page.textContent('#stream-select option[value="0"]')) ?? '', /primary \(demo\)/);
    assert.equal(await page.getAttribute('#connection-state', 'data-state'), 'disconnected');
    assert.equal(await page.isDisabled('#screenshot-button'), true);
    assert.equal(await page.isVisible('#stream-custom-id'), false, 'the free-form id field shows only for "Other id…"');
    await page.selectOption('#stream-select', '__custom__');
    assert.equal(await page.isVisible('#stream-custom-id'), true);
    // The other pages are one click away: the gallery of generated images and browser sessions.
    for (const [testId, path] of [['link-gallery', '/gallery.html'], ['link-session', '/session.html']]) {
      const href = await page.getAttribute(`[data-testid=${testId}]`, 'href');
      assert.equal(href, path);
      assert.equal((await fetch(new URL(href!, server.http))).status, 200, path);
    }
    assert.deepEqual(errors, []);
  });

  it('connects, receives frames and draws the demo pattern on the canvas', async (t) => {
    const { page, errors } = await openViewer(t, server, () => browser().newPage());
    await connect(page);
    assert.equal(await page.isEnabled('#screenshot-button'), true);
    await waitForStat(page, 'stat-frames', 'Number(v) >= 5');
    await waitForStat(page, 'stat-drawn', 'Number(v) >= 3');

    const ink = await canvasInk(page, '#stream-canvas');
    assert.equal(ink.width, 320);
    assert.equal(ink.height, 180);
    assert.ok(ink.colours >= 6, `the canvas shows the colour bars (${ink.colours} colours)`);
    assert.ok(ink.inked > 500, `the canvas is not blank (${ink.inked} lit samples)`);

    assert.equal(await stat(page, 'stat-image'), 'jpeg');
    assert.ok((await numberStat(page, 'stat-data')) > 1000, 'data received is counted');
    const latency = await numberStat(page, 'stat-latency');
    t.diagnostic(`capture → screen latency of a 320×180 JPEG: ${latency} ms`);
    assert.ok(Number.isFinite(latency) && latency >= 0 && latency < 5000, `capture → screen latency is measured (${latency} ms)`);
    assert.ok(Number.isFinite(await numberStat(page, 'stat-arrival-latency')));
    assert.notEqual(await stat(page, 'stat-last-frame'), '');
    await waitForStat(page, 'server-target', "v === '10/80/jpeg'");
    await waitForStat(page, 'stat-connection-time', 'Number(v) >= 1');
    const frames = await numberStat(page, 'stat-frames');
    await waitForStat(page, 'stat-frames', `Number(v) > ${frames}`);
    assert.deepEqual(errors, []);
  });

  it('plays the stream picked from the list', async (t) => {
    const { page, errors } = await openViewer(t, server, () => browser().newPage());
    await page.selectOption('#stream-select', 'small');
    await connect(page);
    await waitForStat(page, 'stat-drawn', 'Number(v) >= 2');
    const ink = await canvasInk(page, '#stream-canvas');
    assert.deepEqual([ink.width, ink.height], [160, 90]);
    assert.match((await page.textContent('#stat-image')) ?? '', /160×90/);
    assert.equal(await subscribersOf(server, 'small'), 1);
    await disconnect(page);
    assert.deepEqual(errors, []);
  });

  it('applies format, quality and fps changes on the open connection', async (t) => {
    const { page, errors } = await openViewer(t, server, () => browser().newPage());
    await setRange(page, '#fps-input', 30);
    await setRange(page, '#quality-input', 90);
    assert.equal(await page.textContent('#fps-value'), '30');
    await connect(page);
    await waitForStat(page, 'server-target', "v === '30/90/jpeg'");
    const fast = await measureRate(page, 2000);

    // Format: the page starts receiving (and drawing) PNG frames.
    await page.selectOption('#format-select', 'png');
    await waitForStat(page, 'stat-image', "v === 'png'");
    await waitForStat(page, 'server-target', "v === '30/90/png'");
    const drawn = await numberStat(page, 'stat-drawn');
    await waitForStat(page, 'stat-drawn', `Number(v) > ${drawn}`);
    assert.ok((await canvasInk(page, '#stream-canvas')).colours >= 6, 'PNG frames are drawn');

    // Quality: JPEG frames at quality 10 are much smaller than at 90.
    await page.selectOption('#format-select', 'jpeg');
    await waitForStat(page, 'stat-image', "v === 'jpeg'");
    await waitForStat(page, 'stat-frame-number', `Number(v) > 0`);
    const sizeAt90 = await numberStat(page, 'stat-frame-size');
    await setRange(page, '#quality-input', 10);
    await waitForStat(page, 'server-target', "v === '30/10/jpeg'");
    await waitForStat(page, 'stat-frame-size', `Number(v) > 0 && Number(v) < ${sizeAt90 * 0.6}`);

    // Fps: the measured rate drops to the new cap.
    await setRange(page, '#fps-input', 3);
    await waitForStat(page, 'server-target', "v === '3/10/jpeg'");
    const slow = await measureRate(page, 3000);
    t.diagnostic(`measured receive rate: ${fast.toFixed(1)} fps at fps=30, ${slow.toFixed(1)} fps at fps=3`);
    assert.ok(fast >= 12, `at fps 30 the page receives many frames a second (${fast.toFixed(1)})`);
    assert.ok(slow <= 5 && slow > 0.5, `at fps 3 the page receives about 3 a second (${slow.toFixed(1)})`);
    assert.deepEqual(errors, []);
  });

  it('sends a dragged slider\'s settled value once rather than one message per step', async (t) => {
    const { page, errors } = await openViewer(t, server, () => browser().newPage());
    // Observe the page: what it sends on its real WebSocket (recorded, then passed through)
    // and how many distinct values the drag produced.
    await page.evaluate(() => {
      const w = window as unknown as { sentMessages: string[]; dragValues: Set<string> };
      const sent: string[] = (w.sentMessages = []);
      const values = (w.dragValues = new Set());
      const send = WebSocket.prototype.send;
      WebSocket.prototype.send = function recordSend(this: WebSocket, data) {
        if (typeof data === 'string') sent.push(data);
        return send.call(this, data);
      };
      const slider = document.getElementById('fps-input') as HTMLInputElement;
      slider.addEventListener('input', () => values.add(slider.value));
    });
    await connect(page);
    await waitForStat(page, 'server-target', "v === '10/80/jpeg'");

    // A real mouse drag across most of the slider.
    const box = (await page.locator('#fps-input').boundingBox())!;
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.15, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.85, y, { steps: 25 });
    await page.mouse.up();
    const final = await page.inputValue('#fps-input');
    await waitForStat(page, 'server-target', `v === '${final}/80/jpeg'`);

    const { sent, steps } = await page.evaluate(() => {
      const w = window as unknown as { sentMessages: string[]; dragValues: Set<string> };
      return { sent: w.sentMessages.map((m) => JSON.parse(m)), steps: w.dragValues.size };
    });
    const updates = sent.filter((m) => m.command === 'update_options');
    t.diagnostic(`a drag through ${steps} slider values sent ${updates.length} update_options message(s)`);
    assert.ok(steps >= 10, `the drag moved the slider through many values (${steps})`);
    assert.ok(updates.length >= 1 && updates.length <= 3, `${steps} values became ${updates.length} update_options messages`);
    assert.deepEqual(updates.at(-1), { command: 'update_options', options: { fps: Number(final) } });
    assert.deepEqual(errors, []);
  });

  for (const [format, extension] of [['png', 'png'], ['jpeg', 'jpg'], ['webp', 'webp']] as const) {
    it(`downloads a screenshot as a .${extension} file holding a ${format} image`, async (t) => {
      const { page, errors } = await openViewer(t, server, () => browser().newPage());
      await page.selectOption('#format-select', format);
      await connect(page);
      await waitForStat(page, 'stat-frames', 'Number(v) >= 1');
      const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#screenshot-button')]);
      assert.match(download.suggestedFilename(), new RegExp(`^framehub-0-.+\\.${extension}$`));
      const bytes = await readFile((await download.path())!);
      const info = sniffImage(bytes);
      assert.equal(info?.format, format);
      assert.deepEqual([info?.width, info?.height], [320, 180]);
      const decoded = await sharp(bytes).stats();
      assert.ok(decoded.channels.some((c) => c.max - c.min > 100), 'the screenshot decodes to the pattern, not a flat image');
      await page.waitForSelector('#status[data-level="ok"]', WAIT);
      assert.match((await page.textContent('#status')) ?? '', new RegExp(`Screenshot saved as .+\\.${extension}`));
      assert.deepEqual(errors, []);
      });
  }

  it('stops receiving frames on disconnect and zeroes its stats on reset', async (t) => {
    const { page, errors } = await openViewer(t, server, () => browser().newPage());
    await connect(page);
    await waitForStat(page, 'stat-frames', 'Number(v) >= 5');

    // Reset while connected: counting starts again from zero.
    const before = await numberStat(page, 'stat-frames');
    await page.click('#reset-button');
    const afterReset = await numberStat(page, 'stat-frames');
    assert.ok(afterReset < before && afterReset <= 1, `reset zeroes the frame counter (${before} → ${afterReset})`);
    await waitForStat(page, 'stat-frames', 'Number(v) >= 3');

    await disconnect(page);
    assert.equal(await page.isDisabled('#screenshot-button'), true);
    await waitUntil(() => subscribersOf(server, 'demo'), (n) => n === 0, { what: 'the server to drop the viewer' });
    const frames = await numberStat(page, 'stat-frames');
    // An absence is shown over an interval: at fps 10 a live connection would deliver ~8 frames here.
    await page.waitForTimeout(800);
    assert.equal(await numberStat(page, 'stat-frames'), frames, 'no frames arrive after disconnect');
    assert.equal(await stat(page, 'stat-connection-time'), '0');

    await page.click('#reset-button');
    for (const id of ['stat-frames', 'stat-drawn', 'stat-skipped', 'stat-data']) assert.equal(await stat(page, id), '0', id);
    for (const id of ['stat-latency', 'stat-arrival-latency', 'stat-last-frame', 'stat-image']) assert.equal(await stat(page, id), '', id);
    assert.equal(await page.textContent('#stat-last-frame'), 'Never');
    assert.deepEqual(errors, []);
  });

  it('skips and counts frames it cannot draw in time', async (t) => {
    const { page, errors } = await openViewer(t, server, () => browser().newPage());
    await setRange(page, '#fps-input', 30);
    await connect(page);
    await waitForStat(page, 'stat-drawn', 'Number(v) >= 2');
    // Block the page's main thread: frames pile up in the browser and arrive in a burst.
    await page.evaluate(() => {
      const until = performance.now() + 1500;
      while (performance.now() < until) { /* busy */ }
    });
    await waitForStat(page, 'stat-skipped', 'Number(v) >= 5');
    // One read of the three: they are rendered together, so they are consistent with each other.
    const { frames, drawn, skipped } = await page.evaluate(() => {
      const read = (id: string) => Number(document.getElementById(id)!.dataset['value']);
      return { frames: read('stat-frames'), drawn: read('stat-drawn'), skipped: read('stat-skipped') };
    });
    t.diagnostic(`after a 1.5 s stall: ${frames} received, ${drawn} drawn, ${skipped} skipped`);
    assert.ok(drawn + skipped <= frames, `each frame is drawn, skipped or pending once (${frames} = ${drawn} + ${skipped} + pending)`);
    // web/frame-painter.js: one decoding, one waiting to be decoded, one decoded waiting for an animation frame.
    assert.ok(frames - drawn - skipped <= 3, 'at most one frame is being decoded, one waits and one waits to be drawn');
    await disconnect(page);
    assert.deepEqual(errors, []);
  });

  it('shows the server error for an unknown stream id in the status line', async (t) => {
    const { page } = await openViewer(t, server, () => browser().newPage());
    await page.selectOption('#stream-select', '__custom__');
    await page.fill('#stream-custom-id', 'no-such-stream');
    await page.click('#connect-button');
    await page.waitForSelector('#connection-state[data-state="disconnected"]', WAIT);
    await page.waitForSelector('#status[data-level="error"]', WAIT);
    const status = (await page.textContent('#status')) ?? '';
    assert.match(status, /stream_not_found/);
    assert.match(status, /no-such-stream/);
    assert.match(status, /4404/);
    assert.equal(await numberStat(page, 'stat-frames'), 0);
  });

  it('stands on the client library: loads /framehub-client.min.js and no connection code of its own', async (t) => {
    const opened = await browser().newPage();
    t.after(() => opened.page.close());
    const paths: string[] = [];
    opened.page.on('request', (request) => paths.push(new URL(request.url()).pathname));
    await opened.page.goto(`${server.http}/`);
    await opened.page.waitForSelector('#controls[data-ready="true"]', WAIT);
    assert.ok(paths.includes('/framehub-client.min.js'), paths.join(' '));
    for (const gone of ['/stream-connection.js', '/viewer-stats.js']) {
      assert.ok(!paths.includes(gone), `${gone} is not loaded`);
      assert.equal((await fetch(`${server.http}${gone}`)).status, 404, gone);
    }
    assert.deepEqual(opened.errors, []);
  });

  it('reconnects by itself after the connection is lost, and keeps the changed options', async (t) => {
    const { page, errors } = await openViewer(t, server, () => browser().newPage());
    // Keep a handle on each WebSocket the page opens, so the test can break one.
    await page.evaluate(() => {
      const w = window as unknown as { sockets: WebSocket[] };
      w.sockets = [];
      const Native = WebSocket;
      window.WebSocket = class RecordedWebSocket extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          w.sockets.push(this);
        }
      };
    });
    await connect(page);
    await setRange(page, '#quality-input', 55);
    await waitForStat(page, 'server-target', "v === '10/55/jpeg'");
    // A drop the viewer did not ask for (code 3000 stands in for a network failure).
    await page.evaluate(() => (window as unknown as { sockets: WebSocket[] }).sockets[0]!.close(3000, 'test drop'));
    await page.waitForSelector('#connection-state[data-state="reconnecting"]', WAIT);
    assert.match((await page.textContent('#status')) ?? '', /code 3000.*Reconnecting in 1 s/);
    await page.waitForSelector('#connection-state[data-state="connected"]', WAIT);
    assert.equal(await page.evaluate(() => (window as unknown as { sockets: WebSocket[] }).sockets.length), 2);
    await waitForStat(page, 'server-target', "v === '10/55/jpeg'");
    const frames = await numberStat(page, 'stat-frames');
    await waitForStat(page, 'stat-frames', `Number(v) > ${frames}`);
    await disconnect(page);
    assert.deepEqual(errors, []);
  });

  it('opens a stream with the settings given in its own URL', async (t) => {
    const { page, errors } = await openViewer(t, server, () => browser().newPage(), '?stream=small&fps=5&quality=50&format=webp&connect=1');
    await page.waitForSelector('#connection-state[data-state="connected"]', WAIT);
    await waitForStat(page, 'server-target', "v === '5/50/webp'");
    await waitForStat(page, 'stat-image', "v === 'webp'");
    assert.equal(await page.inputValue('#stream-select'), 'small');
    assert.deepEqual(errors, []);
  });
});
