import type { Browser, BrowserContext, Page } from 'playwright-core';
import { TypedEmitter } from '../util/typed-emitter.js';
import type { BrowserLaunch } from './browser-user.js';
import { descendants, isRenderer, processState, residentBytes } from './process-tree.js';

/** The flags every framehub Chromium runs with: headless, nothing phoning home (the sandbox is decided in browser-user.ts). */
export const CHROMIUM_ARGS = [
  '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-crash-reporter',
  // A page's script heap is capped, so one page cannot take the machine's memory.
  '--js-flags=--max-old-space-size=512',
];

/**
 * Every session's context: downloads refused (a page could otherwise fill the disk in a loop),
 * and popups closed as they open (see `containPopups`).
 */
const CONTEXT_OPTIONS = { deviceScaleFactor: 1, acceptDownloads: false } as const;

/** Closes every page a context opens after its first: a session shows one page, and a popup nobody sees may not run on. */
function containPopups(context: BrowserContext, main: Page): void {
  context.on('page', function contextOnPage(page) {
    if (page !== main) void page.close().catch(() => {});
  });
}

export interface BrowserPoolEvents {
  /** The browser process went away without `close()` (crash, killed). Every context is gone. */
  disconnected: { error: Error };
}

export interface BrowserPoolOptions {
  /**
   * Keep a second Chromium running, with a page ready, while any session is open: when the
   * browser dies, the standby takes over at once instead of sessions waiting for a launch
   * (0.6 s on an idle machine, 3 s and more on a loaded one). @default true
   */
  standby?: boolean;
  /** Wait this long after a launch or a take before warming the next standby or spare page. @default 1000 */
  warmDelayMs?: number;
  /**
   * A renderer (a page's process) resident over this many MiB is killed: the script heap is
   * capped by V8, but array buffers, WebAssembly memory, canvases and images are not. 0 = no
   * limit. @default 1024
   */
  rendererMemoryLimitMb?: number;
}

/** A renderer the memory watch killed: its page crashes, and the session asks why (`takeMemoryKill`). */
export interface MemoryKill {
  pid: number;
  residentMb: number;
  limitMb: number;
  at: number;
}

/** A new page in its own context (cookies, storage, cache apart from every other session). */
export interface PoolPage {
  context: BrowserContext;
  page: Page;
}

/** One Chromium process and the page it keeps warm for the next session that needs one. */
interface BrowserSlot {
  browser: Promise<Browser>;
  /** Pid of the browser process, read once at launch: a stopped browser cannot be asked for it. */
  pid: Promise<number | undefined>;
  /** Contexts with a blank page, their renderer already started: taking one skips ~0.7-3 s. */
  spares: Promise<PoolPage | undefined>[];
  retired: boolean;
}

/**
 * Pages the standby keeps warm: one per open session up to this, so that when the browser dies
 * the sessions on it (the default cap is 10) mostly find a page ready. Each is a renderer at
 * about:blank, ~20-30 MiB.
 */
const STANDBY_PAGES = 3;

/** How often renderers' resident memory is read while sessions are open. */
const MEMORY_CHECK_MS = 1000;

/** A page that crashes this long after a memory kill is taken to be the one killed. */
const MEMORY_KILL_ATTRIBUTION_MS = 5000;

/** A spare page that is not ready, or not resized, within this is passed over for a fresh one. */
const SPARE_WAIT_MS = 5000;

/** Chromium answers a browser-level command within this, or it is considered stuck. */
const PROBE_TIMEOUT_MS = 1500;

/**
 * A launch that has not connected within this is given up (the slot retires, the next page
 * launches afresh). Playwright's own default is 180 s, during which every session waiting for
 * the browser would wait with it; a loaded machine launches in 3 s and less.
 */
const LAUNCH_TIMEOUT_MS = 30_000;

/**
 * One Chromium process shared by every session; each session gets its own context. Launched on
 * first use. While sessions are open it keeps a page warm (a spare context whose renderer is
 * already running) and a standby Chromium, so a crashed page or a killed browser is back within
 * a second or two: see docs/sessions.md, "Crashes".
 */
export class BrowserPool extends TypedEmitter<BrowserPoolEvents> {
  #active: BrowserSlot | undefined;
  #standby: BrowserSlot | undefined;
  #closed = false;
  /** Open sessions (told by the registry): warm spares and the standby exist only while > 0. */
  #demand = 0;
  #warmTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #standbyOn: boolean;
  readonly #warmDelayMs: number;
  readonly #memoryLimitBytes: number;
  #memoryTimer: ReturnType<typeof setInterval> | undefined;
  /** Kills whose page has not crashed yet (normally one at a time; a few kept, oldest dropped). */
  readonly #memoryKills: MemoryKill[] = [];

  /** How the browser runs (user, sandbox, environment): decided once, at the first launch. */
  #launchPlan: Promise<BrowserLaunch> | undefined;

  constructor(
    private readonly launchPlan: () => Promise<BrowserLaunch>,
    /** Every connection of the browser goes through this proxy (the URL guard); started on first launch. */
    private readonly proxyUrl: () => Promise<string>,
    options: BrowserPoolOptions = {},
  ) {
    super();
    this.#standbyOn = options.standby ?? true;
    this.#warmDelayMs = options.warmDelayMs ?? 1000;
    this.#memoryLimitBytes = (options.rendererMemoryLimitMb ?? 1024) * 1024 * 1024;
  }

  #plan(): Promise<BrowserLaunch> {
    return (this.#launchPlan ??= this.launchPlan());
  }

  /** A fresh page of `width`×`height` CSS pixels in a context of its own. */
  async newPage(viewport: { width: number; height: number }): Promise<PoolPage> {
    for (let attempt = 0; ; attempt++) {
      const slot = this.#activeSlot();
      try {
        const taken = await this.#takeSpare(slot, viewport);
        return taken ?? await this.#freshPage(slot, viewport);
      } catch (error) {
        // Contexts learn of a dead browser before the browser's own 'disconnected' arrives:
        // retire it and try once on the next one.
        const browser = await slot.browser.catch(() => undefined);
        if (attempt > 0 || (browser?.isConnected() && !/has been closed|Target closed/.test((error as Error).message))) throw error;
        this.#retire(slot);
      }
    }
  }

  /** How many sessions are open: what the pool keeps warm follows it (nothing when 0). */
  setDemand(sessions: number): void {
    if (sessions === this.#demand) return;
    this.#demand = sessions;
    this.#scheduleWarm();
    this.#watchMemory(sessions > 0);
  }

  /**
   * The memory kill behind a page crash that happened just now, if any; taken once, so a kill
   * is told to one session. A renderer belongs to one context (contexts never share a process),
   * so the page that crashes right after the kill is the one that was over the limit.
   */
  takeMemoryKill(): MemoryKill | undefined {
    const now = Date.now();
    while (this.#memoryKills.length > 0 && now - this.#memoryKills[0]!.at > MEMORY_KILL_ATTRIBUTION_MS) this.#memoryKills.shift();
    return this.#memoryKills.shift();
  }

  #watchMemory(on: boolean): void {
    if (on && this.#memoryTimer === undefined && this.#memoryLimitBytes > 0 && !this.#closed) {
      this.#memoryTimer = setInterval(() => void this.#checkMemory().catch(() => {}), MEMORY_CHECK_MS);
      this.#memoryTimer.unref();
    } else if (!on && this.#memoryTimer !== undefined) {
      clearInterval(this.#memoryTimer);
      this.#memoryTimer = undefined;
    }
  }

  /** Kills every renderer of the active browser resident over the limit (its page crashes). */
  async #checkMemory(): Promise<void> {
    const root = await this.#active?.pid;
    if (root === undefined) return;
    for (const pid of descendants(root)) {
      if (!isRenderer(pid)) continue;
      const resident = residentBytes(pid);
      if (resident <= this.#memoryLimitBytes) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue; // gone meanwhile
      }
      this.#memoryKills.push({ pid, residentMb: Math.round(resident / 1048576), limitMb: Math.round(this.#memoryLimitBytes / 1048576), at: Date.now() });
      if (this.#memoryKills.length > 8) this.#memoryKills.shift();
    }
  }

  /** Pid of the browser process, or `undefined` when none runs. For tests and diagnostics. */
  async pid(): Promise<number | undefined> {
    return this.#active?.pid;
  }

  /** Pid of the standby browser, when one is running. */
  async standbyPid(): Promise<number | undefined> {
    return this.#standby?.pid;
  }

  /**
   * Whether the browser answers a browser-level command; one that does not (stopped, hung) is
   * killed with SIGKILL, so its sessions recover on the standby. Resolves `true` when it answered.
   */
  async probe(): Promise<boolean> {
    const slot = this.#active;
    if (!slot) return true;
    // A browser still launching is not stuck: its launch is bounded by LAUNCH_TIMEOUT_MS.
    const browser = await slot.browser.catch(() => undefined);
    if (!browser || !browser.isConnected()) return false;
    const answered = await withTimeout((async () => {
      const cdp = await browser.newBrowserCDPSession();
      try {
        await cdp.send('Browser.getVersion');
      } finally {
        void cdp.detach().catch(() => {});
      }
      return true;
    })().catch(() => false), PROBE_TIMEOUT_MS, false);
    if (answered || slot.retired || this.#active !== slot) return answered;
    const pid = await slot.pid;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    this.#retire(slot);
    return false;
  }

  /**
   * SIGKILLs the active browser's processes that are stopped (SIGSTOP, state `T` in /proc):
   * closing a stuck page's context would leave its renderer behind, stopped, for ever. Linux
   * only (where framehub's Chromium runs); elsewhere nothing is found. Resolves with the count.
   */
  async killStopped(): Promise<number> {
    const root = await this.#active?.pid;
    if (root === undefined) return 0;
    let killed = 0;
    for (const pid of descendants(root)) {
      if (processState(pid) !== 'T') continue;
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // gone meanwhile
      }
    }
    return killed;
  }

  /** Closes the browsers; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watchMemory(false);
    if (this.#warmTimer !== undefined) clearTimeout(this.#warmTimer);
    this.#warmTimer = undefined;
    const slots = [this.#active, this.#standby];
    this.#active = undefined;
    this.#standby = undefined;
    await Promise.all(slots.map((slot) => slot && closeSlot(slot)));
  }

  #activeSlot(): BrowserSlot {
    if (this.#closed) throw new Error('browser pool is closed');
    if (!this.#active) {
      // The standby is promoted only by #retire; a pool without a running browser launches one.
      this.#active = this.#launch();
      this.#scheduleWarm();
    }
    return this.#active;
  }

  async #takeSpare(slot: BrowserSlot, viewport: { width: number; height: number }): Promise<PoolPage | undefined> {
    const spare = slot.spares.shift();
    if (!spare) return undefined;
    const ready = await withTimeout(spare.catch(() => undefined), SPARE_WAIT_MS, undefined);
    if (!ready) {
      // Passed over: when it does come, nobody holds it any more.
      void spare.then((late) => late?.context.close(), () => {}).catch(() => {});
      return undefined;
    }
    if (ready.page.isClosed()) return undefined;
    // A resize waits for the renderer to answer: one that never finished starting (a loaded
    // machine, a renderer stuck at birth) would hold the session's page for ever.
    const resized = await withTimeout(ready.page.setViewportSize(viewport).then(() => true, () => false), SPARE_WAIT_MS, false);
    if (resized) {
      this.#scheduleWarm();
      return ready;
    }
    void ready.context.close().catch(() => {});
    return undefined;
  }

  async #freshPage(slot: BrowserSlot, viewport: { width: number; height: number }): Promise<PoolPage> {
    const browser = await slot.browser;
    const context = await browser.newContext({ ...CONTEXT_OPTIONS, viewport });
    try {
      const page = await context.newPage();
      containPopups(context, page);
      return { context, page };
    } catch (error) {
      await context.close().catch(() => {});
      throw error;
    }
  }

  /** The browser is gone (or stuck and killed): its sessions move to the standby, if one is ready. */
  #retire(slot: BrowserSlot): void {
    if (slot.retired) return;
    slot.retired = true;
    if (this.#active === slot) {
      this.#active = this.#standby;
      this.#standby = undefined;
    } else if (this.#standby === slot) {
      this.#standby = undefined;
    }
    void closeSlot(slot);
    this.#scheduleWarm();
  }

  /**
   * Warms what sessions will need next: a spare page on the active browser and a standby browser
   * with a spare page of its own, or, with no session open, drops the standby. Delayed so the
   * warming does not compete for CPU with a session that is recovering right now.
   */
  #scheduleWarm(): void {
    if (this.#closed || this.#warmTimer !== undefined) return;
    this.#warmTimer = setTimeout(() => {
      this.#warmTimer = undefined;
      this.#warm();
    }, this.#warmDelayMs);
    this.#warmTimer.unref();
  }

  #warm(): void {
    if (this.#closed) return;
    if (this.#demand === 0) {
      // No session: nothing kept warm. The active browser stays, as before.
      const standby = this.#standby;
      this.#standby = undefined;
      if (standby) void closeSlot(standby);
      const spares = this.#active?.spares.splice(0) ?? [];
      for (const spare of spares) void spare.then((warm) => warm?.context.close(), () => {}).catch(() => {});
      return;
    }
    const active = this.#active;
    if (active && active.spares.length === 0) active.spares.push(this.#spareOn(active));
    if (this.#standbyOn) {
      this.#standby ??= this.#launch();
      const standby = this.#standby;
      while (standby.spares.length < Math.min(this.#demand, STANDBY_PAGES)) standby.spares.push(this.#spareOn(standby));
    }
  }

  #spareOn(slot: BrowserSlot): Promise<PoolPage | undefined> {
    const spare: Promise<PoolPage | undefined> = slot.browser.then(async (browser) => {
      const context = await browser.newContext({ ...CONTEXT_OPTIONS, viewport: { width: 1280, height: 720 } });
      try {
        const page = await context.newPage();
        containPopups(context, page);
        page.once('crash', function spareOnCrash() {
          // A spare whose renderer died is no use to anybody: drop it (the next warm replaces it).
          const at = slot.spares.indexOf(spare);
          if (at >= 0) slot.spares.splice(at, 1);
          void context.close().catch(() => {});
        });
        return { context, page };
      } catch (error) {
        await context.close().catch(() => {});
        throw error;
      }
    });
    spare.then(undefined, () => {
      // A spare that could not be made is simply not there; the next take makes a fresh page.
      const at = slot.spares.indexOf(spare);
      if (at >= 0) slot.spares.splice(at, 1);
    });
    return spare;
  }

  #launch(): BrowserSlot {
    // playwright-core is loaded on the first launch, not with the server: it is over half of
    // an idle framehub's heap (~27 of ~40 MiB), which every major GC of a server that never
    // opens a browser session would otherwise mark again (docs/benchmarks.md).
    const browser = Promise.all([this.proxyUrl(), this.#plan(), import('playwright-core')]).then(([proxy, plan, { chromium }]) => chromium.launch({
      executablePath: plan.executablePath,
      chromiumSandbox: plan.sandbox,
      env: plan.env,
      headless: true,
      timeout: LAUNCH_TIMEOUT_MS,
      // framehub's own SIGINT/SIGTERM handling closes the browser as part of its shutdown;
      // Playwright's would race it and exit with 130 before pending publishes are on disk.
      handleSIGINT: false,
      handleSIGTERM: false,
      args: [
        ...CHROMIUM_ARGS,
        `--proxy-server=${proxy}`,
        // Chromium sends localhost and 127.0.0.1 around any proxy unless told otherwise.
        '--proxy-bypass-list=<-loopback>',
        // WebRTC's UDP would go around the proxy (and its address check): no UDP unless proxied.
        '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
      ],
    }));
    const slot: BrowserSlot = { browser, pid: browser.then(browserPid, () => undefined), spares: [], retired: false };
    browser.then(
      (launched) => launched.on('disconnected', () => {
        const wasActive = this.#active === slot;
        this.#retire(slot);
        if (wasActive && !this.#closed) this.emit('disconnected', { error: new Error('the browser process exited') });
      }),
      () => this.#retire(slot),
    );
    return slot;
  }
}

async function browserPid(browser: Browser): Promise<number | undefined> {
  // A browser that died (or was closed) right after its launch refuses the session itself:
  // no pid then, and no rejection for a `slot.pid` nobody may be awaiting.
  const cdp = await browser.newBrowserCDPSession().catch(() => undefined);
  if (!cdp) return undefined;
  try {
    const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
    return processInfo.find((p) => p.type === 'browser')?.id;
  } catch {
    return undefined;
  } finally {
    await cdp.detach().catch(() => {});
  }
}

async function closeSlot(slot: BrowserSlot): Promise<void> {
  slot.retired = true;
  const browser = await slot.browser.catch(() => undefined);
  if (!browser) return;
  // A stuck browser would not answer close(): it has been SIGKILLed by then, or close() is bounded.
  await withTimeout(browser.close().catch(() => {}), 5000, undefined);
  if (browser.isConnected()) {
    const pid = await slot.pid;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(fallback), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
