import { ErrorCode, FramehubError } from '../wire/errors.js';
import type { BrowserContext, CDPSession, Page, Request, Response } from 'playwright-core';
import type { Encoder } from '../hub/encoder.js';
import { Stream } from '../hub/stream.js';
import { SessionActivity } from './session-activity.js';
import { ScreencastSource } from './screencast-source.js';
import type { BrowserPool } from './browser-pool.js';
import { UrlRefused, type UrlGuard } from './url-guard.js';
import { REFUSED_HEADER } from './guard-proxy.js';
import { applyInput, InputError, type InputEvent } from './input.js';
import { SessionControl } from './session-control.js';
import { Presence } from './presence.js';

export interface SessionOptions {
  id: string;
  /** Viewport, CSS pixels. */
  width: number;
  height: number;
  /** JPEG quality of the screencast, 10-100. */
  quality: number;
  /** Most frames a second the session streams, 1-60. */
  fps: number;
  /** Who created it, for the per-IP limit. */
  ip: string;
  /**
   * Whose it is (Principal.owner: `user:<sub>`, `token:<hash>`): bare `view`/`control` of
   * anyone else do not reach it. Unset on an open server.
   */
  owner?: string;
}

export interface SessionDeps {
  pool: BrowserPool;
  guard: UrlGuard;
  encoder: Encoder;
  idleGraceMs: number;
  /** ms the controller must be idle before a non-admin may take control (SESSION_CONTROL_IDLE); 0 = never. @default 60000 */
  controlIdleMs?: number;
  /** Errors nobody waits for (a failed reload after a crash). */
  onBackgroundError: (error: unknown) => void;
}

/** The page did not do what was asked (take a size, answer a question) in time: a 504 over REST. */
export class PageTimeout extends FramehubError {
  override readonly name = 'PageTimeout';
  constructor(message: string) {
    super(ErrorCode.Timeout, message);
  }
}

/** A navigation that could not complete (DNS failure, timeout, refused connection). */
export class NavigationError extends FramehubError {
  override readonly name = 'NavigationError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.NavigationFailed, message, options);
  }
}

interface QueuedInput {
  event: InputEvent;
  done: Promise<void>;
}

interface OpenPage {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
}

const NAVIGATION_TIMEOUT_MS = 20_000;
/** Opening a page (a renderer start, the reload of the last URL: 20 s at most) takes less than this. */
const OPEN_TIMEOUT_MS = 30_000;
/** A live page runs `1` within this, even on a loaded machine. */
const PAGE_PROBE_MS = 2000;
/** Input events queued on one page at most; more means the client floods faster than the page reacts. */
const MAX_PENDING_INPUT = 64;
/** Longest a screenshot may take before the request fails (a 502 from the REST route). */
const SCREENSHOT_TIMEOUT_MS = 10_000;
/** Longest a resize may take before the input fails. */
const RESIZE_TIMEOUT_MS = 5000;
/** Most characters of the page's selection `selectedText` returns (a selected book stays on the server). */
export const MAX_SELECTION_LENGTH = 100_000;
/** Longest a PNG request waits for the screencast to come back to full size before taking a page screenshot instead. */
const FULL_FRAME_WAIT_MS = 3000;
/** Concurrent PNG requests within this window share one screenshot. */
const SCREENSHOT_REUSE_MS = 100;

/**
 * One live page: its own browser context, its screencast as a hub stream (`session:<id>`),
 * input, navigation guarded by the URL guard, and recovery. When the page crashes or the
 * browser dies, the screencast fails (subscribers hear it), a new context is opened and the
 * last URL reloaded; the stream's restart then finds the new page.
 */
export class Session {
  readonly id: string;
  readonly options: SessionOptions;
  readonly stream: Stream;
  readonly source: ScreencastSource;
  readonly createdAt = Date.now();
  /** Who may send input: everyone allowed until someone asks for control, then one controller. */
  readonly control: SessionControl;
  /** Who watches, and the pointer relay between them. */
  readonly presence: Presence;
  lastActivity = Date.now();
  /** When the session's maximum lifetime ends it (ms since the epoch), if it has one. */
  endsAt: number | undefined;
  /** Input applied and navigations committed, as they happen (a recording's input timeline). */
  readonly activity: SessionActivity;
  /** The last URL loaded or navigated to in the main frame; reloaded after a crash. */
  url = 'about:blank';
  #open: Promise<OpenPage> | undefined;
  #closed = false;
  #inputChain: Promise<unknown> = Promise.resolve();
  #inputPending = 0;
  #queuedMove: QueuedInput | undefined;
  #shot: { at: number; png: Promise<Buffer> } | undefined;

  constructor(
    options: SessionOptions,
    private readonly deps: SessionDeps,
  ) {
    this.id = options.id;
    this.options = options;
    this.control = new SessionControl({ idleMs: deps.controlIdleMs ?? 60_000, onListenerError: deps.onBackgroundError });
    this.presence = new Presence({ onListenerError: deps.onBackgroundError });
    this.activity = new SessionActivity(deps.onBackgroundError);
    this.source = new ScreencastSource(
      { cdp: async () => (await this.page()).cdp, responsive: () => this.#responsive() },
      { quality: options.quality, fps: options.fps, maxWidth: options.width, maxHeight: options.height },
    );
    this.stream = new Stream(`session:${options.id}`, this.source, deps.encoder, { idleGraceMs: deps.idleGraceMs, label: options.id, owner: options.owner });
  }

  get closed(): boolean {
    return this.#closed;
  }

  touch(): void {
    this.lastActivity = Date.now();
  }

  /** The current page, opening one (again) when there is none. */
  page(): Promise<OpenPage> {
    if (this.#closed) return Promise.reject(new Error(`session ${this.id} is closed`));
    if (!this.#open) {
      const opening = this.#openBounded();
      this.#open = opening;
      opening.catch(() => {
        if (this.#open === opening) this.#open = undefined;
      });
    }
    return this.#open;
  }

  /**
   * Opens a page, giving up after OPEN_TIMEOUT_MS: a browser stopped while it was opening one
   * would otherwise hold the stream in `starting` for ever (the screencast watchdog runs only
   * once a page is there). The pool is asked whether the browser answers (a stuck one is killed);
   * a page that still arrives later is closed.
   */
  #openBounded(): Promise<OpenPage> {
    const opening = this.#openPage();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void this.deps.pool.probe();
        reject(new Error(`the browser did not open a page within ${OPEN_TIMEOUT_MS / 1000} s`));
      }, OPEN_TIMEOUT_MS);
      timer.unref();
    });
    const bounded = Promise.race([opening, deadline]).finally(() => clearTimeout(timer));
    opening.then((open) => {
      if (this.#open !== bounded) void open.context.close().catch(() => {});
    }, () => {});
    bounded.catch(() => {}); // the caller of page() hears it; this copy must not be unhandled
    return bounded;
  }

  /**
   * Navigates after the guard allowed the URL; throws `UrlRefused` or `NavigationError`.
   * The guard proxy refuses a redirect to a forbidden host; this turns that into a 403.
   */
  async load(raw: string): Promise<string> {
    const url = await this.deps.guard.check(raw);
    this.touch();
    const { page, cdp } = await this.page();
    // Every hop of the main-frame navigation, redirects included, to name a refused one.
    const hops: string[] = [];
    const pageOnRequest = (request: Request) => {
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) hops.push(request.url());
    };
    page.on('request', pageOnRequest);
    // A document whose body breaks off after its head (the guard proxy cuts it at once) leaves
    // Chromium "loading" for good: no DOMContentLoaded, so goto would wait out its timeout.
    let pageOnRequestFailed: (request: Request) => void = () => {};
    const brokenOff = new Promise<never>((_, reject) => {
      pageOnRequestFailed = (request: Request) => {
        if (!request.isNavigationRequest() || request.frame() !== page.mainFrame()) return;
        const failure = request.failure()?.errorText ?? 'failed';
        if (failure === 'net::ERR_ABORTED') return; // replaced by another navigation, not broken
        void request.response().then((head) => {
          if (head) reject(new BrokenOffError(`${failure} (the site broke off its answer)`));
        }, () => {});
      };
    });
    brokenOff.catch(() => {}); // may reject after goto won: heard by nobody, harmless
    page.on('requestfailed', pageOnRequestFailed);
    const navigation = page.goto(url.href, { waitUntil: 'domcontentloaded', timeout: NAVIGATION_TIMEOUT_MS });
    navigation.catch(() => {}); // when brokenOff wins, goto's own timeout comes later, unheard
    let response: Response | null;
    try {
      response = await Promise.race([navigation, brokenOff]);
    } catch (error) {
      // A document whose body broke off is committed but never painted: every screenshot of it
      // (Playwright's and CDP's own) waits for good. Leave it for a blank page.
      if (error instanceof BrokenOffError) await leaveForBlank(page);
      // A navigation that timed out is still pending in Chromium, and every screenshot waits for
      // its commit (a silent site's 504 from the proxy, 10 s later): stop it, keep the old page.
      else await cdp.send('Page.stopLoading').catch(() => {});
      // An https redirect to a forbidden host ends as a failed tunnel (the proxy refused CONNECT).
      const reason = await this.#refusedHop(hops);
      if (reason !== undefined) throw new UrlRefused(ErrorCode.UrlRefused, `navigation refused after a redirect: ${reason}`);
      throw new NavigationError(`could not load ${url.href}: ${firstLine(error)}`, { cause: error });
    } finally {
      page.off('request', pageOnRequest);
      page.off('requestfailed', pageOnRequestFailed);
    }
    const refused = response?.headers()[REFUSED_HEADER];
    if (refused !== undefined) throw new UrlRefused(ErrorCode.UrlRefused, `navigation refused after a redirect: ${decodeURIComponent(refused)}`);
    this.url = page.url();
    return this.url;
  }

  async #refusedHop(urls: readonly string[]): Promise<string | undefined> {
    for (const candidate of urls) {
      try {
        const reason = await this.deps.guard.forbiddenReason(new URL(candidate).hostname);
        if (reason !== undefined) return reason;
      } catch {
        // not a URL after all
      }
    }
    return undefined;
  }

  /**
   * Runs input events one after another on the page; a flood beyond the queue cap is refused.
   * Pointer moves still waiting in the queue are merged: only where the pointer ends up matters.
   */
  input(event: InputEvent): Promise<void> {
    if (event.type === 'move' && this.#queuedMove) {
      this.#queuedMove.event = event;
      this.touch();
      return this.#queuedMove.done;
    }
    if (this.#inputPending >= MAX_PENDING_INPUT) {
      return Promise.reject(new InputError('the page is busy; input dropped (too many events queued)'));
    }
    this.#inputPending++;
    this.touch();
    const queued: QueuedInput = { event, done: Promise.resolve() };
    // A move merges only into the last queued event: never past a click or key queued after it.
    this.#queuedMove = event.type === 'move' ? queued : undefined;
    const run = this.#inputChain.then(async () => {
      if (this.#queuedMove === queued) this.#queuedMove = undefined;
      const event = queued.event;
      if (event.type === 'resize') await this.#resize(event.width, event.height);
      else await applyInput((await this.page()).page, event);
      this.activity.input(queued.event);
    });
    queued.done = run;
    this.#inputChain = run.catch(() => {}).finally(() => this.#inputPending--);
    return run;
  }

  /**
   * The page's viewport becomes `width`x`height` (validated by parseInput), and the screencast
   * follows. Runs in the input queue, so input sent after it lands on the new layout. A page
   * reopened after a crash gets the new size too (it is read from `options`).
   */
  async #resize(width: number, height: number): Promise<void> {
    const { page } = await this.page();
    // Bounded: setViewportSize waits for the renderer without a limit (see browser-pool.ts).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PageTimeout(`the page did not take the size ${width}x${height} within ${RESIZE_TIMEOUT_MS / 1000} s`)), RESIZE_TIMEOUT_MS);
    });
    try {
      await Promise.race([page.setViewportSize({ width, height }), deadline]);
    } finally {
      clearTimeout(timer);
    }
    this.options.width = width;
    this.options.height = height;
    await this.source.resize(width, height);
  }

  /**
   * The text selected in the page now (its focused field's selection, else the document's),
   * at most MAX_SELECTION_LENGTH characters; `truncated` when it was longer.
   */
  async selectedText(): Promise<{ text: string; truncated: boolean }> {
    const { cdp } = await this.page();
    const expression = `(() => {
      const el = document.activeElement;
      let text = '';
      if (el && (el.tagName === 'TEXTAREA' || el.tagName === 'INPUT') && typeof el.selectionStart === 'number') text = el.value.slice(el.selectionStart, el.selectionEnd);
      if (!text) text = String(window.getSelection?.() ?? '');
      return [text.slice(0, ${MAX_SELECTION_LENGTH}), text.length > ${MAX_SELECTION_LENGTH}];
    })()`;
    // CDP, not page.evaluate: it runs in the page without waiting for a navigation to settle, and bounded.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PageTimeout(`the page did not answer within ${PAGE_PROBE_MS / 1000} s`)), PAGE_PROBE_MS);
    });
    try {
      const answer = await Promise.race([cdp.send('Runtime.evaluate', { expression, returnByValue: true }), deadline]);
      const value = answer.result.value as unknown;
      if (!Array.isArray(value) || typeof value[0] !== 'string') return { text: '', truncated: false };
      return { text: value[0], truncated: value[1] === true };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A PNG of the page now: the live frame when the stream runs, a screenshot otherwise. */
  async png(): Promise<{ png: Buffer; timestamp: number }> {
    if (this.stream.latest) {
      // The live frame at full size: the screencast may be following smaller viewers, and is
      // then asked for full size (a restart sends the page as it is); a page screenshot if it
      // does not come in time.
      const frame = await this.stream.frameFor({ kind: 'frames' }, FULL_FRAME_WAIT_MS).catch(() => undefined);
      if (frame && this.source.serves(frame, { pixels: false })) {
        const variant = await this.stream.variants.get(frame, { format: 'png', quality: 100 });
        return { png: variant.bytes, timestamp: frame.capturedAt };
      }
    }
    const now = Date.now();
    if (!this.#shot || now - this.#shot.at > SCREENSHOT_REUSE_MS) {
      // Bounded: a page that never finishes loading would hold the request for Playwright's 30 s.
      const png = this.page().then(({ page }) => page.screenshot({ type: 'png', timeout: SCREENSHOT_TIMEOUT_MS }));
      this.#shot = { at: now, png };
      png.catch(() => {
        this.#shot = undefined;
      });
    }
    return { png: await this.#shot.png, timestamp: this.#shot.at };
  }

  info(): Record<string, unknown> {
    return {
      session_id: this.id,
      url: this.url,
      width: this.options.width,
      height: this.options.height,
      quality: this.options.quality,
      fps: this.options.fps,
      created_at: this.createdAt / 1000,
      last_activity: this.lastActivity / 1000,
      /** When the maximum lifetime closes the session, keepalive or not (seconds since the epoch). */
      ends_at: this.endsAt === undefined ? null : this.endsAt / 1000,
      subscribers: this.stream.subscriberCount,
      /** Frames a second coming out of Chromium now (it paints only on change). */
      source_fps: Math.round(this.stream.fpsIn * 10) / 10,
      state: this.stream.state,
      // Only where there is one: an open server's answers stay as they were.
      ...(this.options.owner !== undefined && { owner: this.options.owner }),
    };
  }

  /** Tells subscribers why, closes stream and context; safe to call twice. */
  async close(reason = 'deleted'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.presence.close();
    this.source.end(new Error(`session ${this.id} was closed (${reason})`));
    await this.stream.close();
    const open = this.#open;
    this.#open = undefined;
    await open?.then(({ context }) => context.close(), () => {}).catch(() => {});
  }

  async #openPage(): Promise<OpenPage> {
    const { context, page } = await this.deps.pool.newPage({ width: this.options.width, height: this.options.height });
    try {
      const cdp = await context.newCDPSession(page);
      const open: OpenPage = { context, page, cdp };
      page.on('crash', () => {
        const kill = this.deps.pool.takeMemoryKill();
        if (!kill) return this.#lost(open, new Error('the browser page crashed'));
        // Reloading the page that ate the memory would only eat it again: a blank page instead.
        this.url = 'about:blank';
        this.#lost(open, new Error(`the page used ${kill.residentMb} MiB of memory, over the ${kill.limitMb} MiB a session's page may use: it was stopped, and the session shows a blank page`));
      });
      context.on('close', () => this.#lost(open, new Error('the browser closed')));
      page.on('framenavigated', (frame) => {
        if (frame !== page.mainFrame()) return;
        this.url = frame.url();
        this.activity.navigate(this.url);
      });
      if (this.#closed) throw new Error(`session ${this.id} is closed`);
      if (this.url !== 'about:blank') {
        // After a crash: bring the page back where it was. A failure leaves a blank page, not a dead session.
        await page.goto(this.url, { waitUntil: 'domcontentloaded', timeout: NAVIGATION_TIMEOUT_MS })
          .catch((error: unknown) => this.deps.onBackgroundError(error));
      }
      return open;
    } catch (error) {
      await context.close().catch(() => {});
      throw error;
    }
  }

  /**
   * The screencast watchdog's question after a silence: is the page alive (a static page paints
   * nothing), or stuck? A page that does not run a trivial script within PAGE_PROBE_MS is stuck:
   * if the browser does not answer either, the pool kills it (its sessions recover on the
   * standby); otherwise the page is replaced as after a crash.
   */
  async #responsive(): Promise<boolean> {
    const current = this.#open;
    const open = await current?.catch(() => undefined);
    if (!open || this.#closed) return true; // no page to judge: the stream's restart is under way
    const answered = await Promise.race([
      open.cdp.send('Runtime.evaluate', { expression: '1', returnByValue: true }).then(() => true, () => false),
      new Promise<false>((resolve) => setTimeout(resolve, PAGE_PROBE_MS, false).unref()),
    ]);
    if (answered || this.#open !== current) return true;
    if (!(await this.deps.pool.probe())) return false; // the browser was stuck and is killed: recovery follows
    // A stopped renderer would outlive its closed context; killed, it is a crash (same recovery).
    await this.deps.pool.killStopped();
    this.#lost(open, new Error(`the browser page stopped responding (no answer within ${PAGE_PROBE_MS} ms)`));
    return false;
  }

  #lost(open: OpenPage, error: Error): void {
    if (this.#closed) return;
    const current = this.#open;
    // Only the page in use counts; a context closed on purpose or replaced already does not.
    void current?.then((o) => {
      if (o !== open || this.#open !== current) return;
      this.#open = undefined;
      void open.context.close().catch(() => {});
      this.source.fail(error);
      // Reopen at once, so REST calls and the stream's restart find a page ready.
      this.page().catch((e: unknown) => this.deps.onBackgroundError(e));
    }, () => {});
  }

}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!;
}

/** The main document's body broke off after its head. */
class BrokenOffError extends Error {
  override readonly name = 'BrokenOffError';
}

/** Navigates to about:blank, bounded; a page that cannot even do that is left as it is. */
async function leaveForBlank(page: Page): Promise<void> {
  await page.goto('about:blank', { timeout: 5000 }).catch(() => {});
}
