import type { Browser, BrowserContext, BrowserContextOptions } from 'playwright-core';
import { TypedEmitter } from '../util/typed-emitter.js';

/** The flags every framehub Chromium runs with: headless, no sandbox (containers), nothing phoning home. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-crash-reporter',
];

export interface BrowserPoolEvents {
  /** The browser process went away without `close()` (crash, killed). Every context is gone. */
  disconnected: { error: Error };
}

/**
 * One Chromium process shared by every session; each session gets its own context (cookies,
 * storage, cache apart). Launched on first use, relaunched on the next use after it died.
 */
export class BrowserPool extends TypedEmitter<BrowserPoolEvents> {
  #browser: Promise<Browser> | undefined;
  #closed = false;

  constructor(
    private readonly executablePath: string,
    /** Every connection of the browser goes through this proxy (the URL guard); started on first launch. */
    private readonly proxyUrl: () => Promise<string>,
  ) {
    super();
  }

  async newContext(options: BrowserContextOptions): Promise<BrowserContext> {
    const launching = this.#launch();
    const browser = await launching;
    try {
      return await browser.newContext(options);
    } catch (error) {
      // Contexts learn of a dead browser before the browser's own 'disconnected' arrives:
      // drop it and try once on a fresh one.
      if (browser.isConnected() && !/has been closed/.test((error as Error).message)) throw error;
      if (this.#browser === launching) this.#browser = undefined;
      return (await this.#launch()).newContext(options);
    }
  }

  /** Pid of the browser process, or `undefined` when none runs. For tests and diagnostics. */
  async pid(): Promise<number | undefined> {
    if (!this.#browser) return undefined;
    const browser = await this.#browser;
    const cdp = await browser.newBrowserCDPSession();
    try {
      const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
      return processInfo.find((p) => p.type === 'browser')?.id;
    } finally {
      await cdp.detach().catch(() => {});
    }
  }

  /** Closes the browser; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    const browser = this.#browser;
    this.#browser = undefined;
    if (browser) await (await browser.catch(() => undefined))?.close().catch(() => {});
  }

  #launch(): Promise<Browser> {
    if (this.#closed) return Promise.reject(new Error('browser pool is closed'));
    if (this.#browser) return this.#browser;
    // playwright-core is loaded on the first launch, not with the server: it is over half of
    // an idle framehub's heap (~27 of ~40 MiB), which every major GC of a server that never
    // opens a browser session would otherwise mark again (docs/benchmarks.md).
    const launching = Promise.all([this.proxyUrl(), import('playwright-core')]).then(([proxy, { chromium }]) => chromium.launch({
      executablePath: this.executablePath,
      headless: true,
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
    this.#browser = launching;
    launching.then(
      (browser) => browser.on('disconnected', () => {
        if (this.#browser !== launching) return;
        this.#browser = undefined;
        if (!this.#closed) this.emit('disconnected', { error: new Error('the browser process exited') });
      }),
      () => {
        // Next use tries again.
        if (this.#browser === launching) this.#browser = undefined;
      },
    );
    return launching;
  }
}
