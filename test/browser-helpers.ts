import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium unless CHROME_PATH names another. */
export const CHROME_PATH = process.env['CHROME_PATH'] ?? '/usr/bin/chromium';

/** Flags every test browser gets: headless, no sandbox (CI runs as root), nothing phoning home. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-crash-reporter',
];

export interface TestBrowser {
  /** A persistent context over a fresh `--user-data-dir`; downloads are accepted. */
  context: BrowserContext;
  /** Opens a page whose uncaught errors and console errors are collected in `errors`. */
  newPage(): Promise<TestPage>;
  /** Closes the browser and removes its profile directory. Safe to call twice. */
  close(): Promise<void>;
}

export interface TestPage {
  page: Page;
  /** Uncaught exceptions and `console.error` lines from the page, for `assert.deepEqual(errors, [])`. */
  errors: string[];
}

/**
 * Launches real headless Chromium with a fresh temporary profile. Playwright refuses a
 * `--user-data-dir` flag, so the profile goes through `launchPersistentContext` instead.
 */
/**
 * `bypassCSP`: framehub's pages forbid eval, which Playwright's string predicates
 * (`waitForFunction('…')`) and `addScriptTag` need; tests that drive the pages bypass the policy,
 * and test/web-security loads the pages with it on to show they work under it.
 */
/** `mobile`: a phone (390x844 CSS pixels, touch, a mobile viewport), for touch input tests. */
export async function launchBrowser(options: { bypassCSP?: boolean; mobile?: boolean } = {}): Promise<TestBrowser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'framehub-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROME_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
      acceptDownloads: true,
      bypassCSP: options.bypassCSP ?? true,
      ...(options.mobile
        ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true }
        : { viewport: { width: 1280, height: 900 } }),
    });
  } catch (error) {
    await rm(userDataDir, { recursive: true, force: true });
    throw error;
  }
  // tsx compiles test files with esbuild's keepNames, which wraps named functions in a
  // `__name(fn, "name")` helper; functions passed to page.evaluate carry those calls into the
  // page, where no such helper exists. Give every page an identity one.
  await context.addInitScript({ content: 'globalThis.__name ??= (fn) => fn;' });
  let closed = false;
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', function pageOnError(error) {
        errors.push(`pageerror: ${error.message}`);
      });
      page.on('console', function pageOnConsole(message) {
        if (message.type() === 'error') errors.push(`console: ${message.text()}`);
      });
      return { page, errors };
    },
    async close() {
      if (closed) return;
      closed = true;
      await context.close().catch(() => undefined);
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Registers `before`/`after` hooks that launch one browser for the enclosing suite and close
 * it afterwards. Call inside `describe`; the getter throws if used before the hook ran.
 */
export function useBrowser(): () => TestBrowser {
  let browser: TestBrowser | undefined;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('the browser is not launched yet (use it inside a test)');
    return browser;
  };
}

/**
 * Counts pixels in the canvas `selector` that are not near-black and the distinct coarse
 * colours among them: a drawn demo pattern has many of both, a blank canvas none.
 */
export async function canvasInk(page: Page, selector: string): Promise<{ width: number; height: number; inked: number; colours: number }> {
  return page.$eval(selector, (canvas) => {
    const c = canvas as HTMLCanvasElement;
    const ctx = c.getContext('2d');
    if (!ctx || c.width === 0 || c.height === 0) return { width: c.width, height: c.height, inked: 0, colours: 0 };
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    const colours = new Set<number>();
    let inked = 0;
    // Every 7th pixel is plenty to tell a pattern from a blank canvas.
    for (let i = 0; i < data.length; i += 4 * 7) {
      const r = data[i]!, g = data[i + 1]!, b = data[i + 2]!;
      if (r + g + b > 60) inked++;
      colours.add(((r >> 5) << 6) | ((g >> 5) << 3) | (b >> 5));
    }
    return { width: c.width, height: c.height, inked, colours: colours.size };
  });
}
