import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { RecordedLatencies, ViewerCounts, Viewers } from './viewers.js';

const CHROME_PATH = process.env['CHROME_PATH'] ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-crash-reporter', '--disable-background-timer-throttling', '--disable-renderer-backgrounding'];

/** What each page keeps, read with `page.evaluate`. */
interface PageState {
  frames: number;
  bytes: number;
  recording: boolean;
  latencies: number[];
  unstamped: number;
}

/**
 * Chromium pages as viewers: each opens a WebSocket to the server as a page on the server's
 * own origin would (framehub's Origin check sees its own origin), takes every binary message as an ArrayBuffer, and reads the
 * capture stamp (bench/frame-stamp.ts) from its first bytes. Chromium's clock is the
 * machine's, as every bench process's (`performance.timeOrigin + performance.now()`).
 */
export class BrowserViewers implements Viewers {
  #context: BrowserContext | undefined;
  #dir: string | undefined;
  readonly #pages: Page[] = [];

  constructor(
    readonly url: string,
    readonly origin: string,
  ) {}

  async connect(count: number, _concurrency: number, timeoutMs: number): Promise<void> {
    if (!this.#context) {
      this.#dir = await mkdtemp(join(tmpdir(), 'framehub-bench-chromium-'));
      this.#context = await chromium.launchPersistentContext(this.#dir, { executablePath: CHROME_PATH, headless: true, args: CHROMIUM_ARGS, viewport: { width: 320, height: 240 } });
      // tsx compiles with esbuild's keepNames: functions given to page.evaluate call `__name`.
      await this.#context.addInitScript({ content: 'globalThis.__name ??= (fn) => fn;' });
    }
    for (let i = 0; i < count; i++) {
      const page = await this.#context.newPage();
      // Whatever the server answers (framehub a 404 page, the ws loop a 426): the page is then
      // on the server's own origin and loopback address. A page Playwright made up instead is
      // refused the connection by Chromium's local network access checks.
      await page.goto(`${this.origin}/bench-viewer`, { timeout: timeoutMs });
      await page.evaluate(openViewer, this.url);
      this.#pages.push(page);
    }
  }

  async firstFrames(timeoutMs: number): Promise<void> {
    await Promise.all(this.#pages.map((page) => page.waitForFunction(() => (globalThis as unknown as { bench: PageState }).bench.frames > 0, undefined, { timeout: timeoutMs })));
  }

  async counts(): Promise<ViewerCounts> {
    const states = await Promise.all(this.#pages.map((page) => page.evaluate(() => {
      const { frames, bytes } = (globalThis as unknown as { bench: PageState }).bench;
      return { frames, bytes };
    })));
    return { frames: states.map((s) => s.frames), bytes: states.reduce((sum, s) => sum + s.bytes, 0) };
  }

  async record(): Promise<void> {
    await Promise.all(this.#pages.map((page) => page.evaluate(() => {
      const bench = (globalThis as unknown as { bench: PageState }).bench;
      bench.latencies = [];
      bench.unstamped = 0;
      bench.recording = true;
    })));
  }

  async recorded(): Promise<RecordedLatencies> {
    const states = await Promise.all(this.#pages.map((page) => page.evaluate(() => {
      const bench = (globalThis as unknown as { bench: PageState }).bench;
      bench.recording = false;
      return { latencies: bench.latencies, unstamped: bench.unstamped };
    })));
    return {
      latencies: Float64Array.from(states.flatMap((s) => s.latencies)).sort(),
      unstamped: states.reduce((sum, s) => sum + s.unstamped, 0),
    };
  }

  /** Chromium's CPU is not counted in the client CPU figure (a few pages next to many raw clients). */
  async cpuMicros(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    await this.#context?.close().catch(() => {});
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
    this.#context = undefined;
  }
}

/** Runs in the page: one WebSocket, counting messages and reading stamps. */
function openViewer(url: string): Promise<void> {
  const bench: PageState = { frames: 0, bytes: 0, recording: false, latencies: [], unstamped: 0 };
  (globalThis as unknown as { bench: PageState }).bench = bench;
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (event: MessageEvent) => {
    if (!(event.data instanceof ArrayBuffer)) return;
    bench.frames++;
    bench.bytes += event.data.byteLength;
    if (!bench.recording) return;
    const view = new DataView(event.data);
    // frame-stamp.ts: SOI, COM marker, length, 'FHB1', capturedAt (float64), seq.
    if (event.data.byteLength < 22 || view.getUint16(2) !== 0xfffe || view.getUint32(6) !== 0x46484231) {
      bench.unstamped++;
      return;
    }
    bench.latencies.push(performance.timeOrigin + performance.now() - view.getFloat64(10));
  };
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`WebSocket to ${url} failed`));
  });
}
