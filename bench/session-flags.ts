// Which Chromium flags and screencast parameters a session's screencast costs least with
// (issue 20, point 4). Each configuration launches its own Chromium the way framehub does
// (CHROMIUM_ARGS, the same user and sandbox), opens the animated 1280x720 test page, runs
// Page.startScreencast as ScreencastSource does, and counts, over the window: frames Chromium
// sent, CPU seconds by process type (browser, GPU, renderer, other), CPU per frame, and the
// capture → CDP-arrival delay (metadata.timestamp to the event). Configurations run
// interleaved (A, B, C, A, B, C, …) so the load of a shared machine falls on all of them alike;
// the table gives medians over the rounds.
//
//   node --import tsx bench/session-flags.ts [--seconds 6 --rounds 3 --configs base,nth2]
import { parseArgs } from 'node:util';
import type { Browser, CDPSession } from 'playwright-core';
import { chromium } from 'playwright-core';
import { browserLaunch } from '../src/sessions/browser-user.js';
import { CHROMIUM_ARGS } from '../src/sessions/browser-pool.js';
import { startPageServer } from '../test/session-helpers.js';
import { chromiumTicks, cpuSeconds, totalOf, CHROMIUM_PROCESS_TYPES, type CpuTicks } from './chromium-cpu.js';

interface Config {
  /** Flags added to CHROMIUM_ARGS. */
  add?: string[];
  /** Flags of CHROMIUM_ARGS left out. */
  drop?: string[];
  everyNthFrame?: number;
  quality?: number;
  maxWidth?: number;
  maxHeight?: number;
  /** When frames are acked: at once (as ScreencastSource did), or paced: when the next frame is due. */
  ack?: 'immediate' | 'paced';
  maxFramesInFlight?: number;
  sendLastFrame?: boolean;
}

const CONFIGS: Record<string, Config> = {
  base: {},
  nth2: { everyNthFrame: 2 },
  paced: { ack: 'paced', maxFramesInFlight: 1 },
  pacedLast: { ack: 'paced', maxFramesInFlight: 1, sendLastFrame: true },
  inflight1: { maxFramesInFlight: 1 },
  q50: { quality: 50 },
  gpuOn: { drop: ['--disable-gpu'] },
  swiftshader: { drop: ['--disable-gpu'], add: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader'] },
  noSwRaster: { add: ['--disable-software-rasterizer'] },
  inProcessGpu: { add: ['--in-process-gpu'] },
  raster1: { add: ['--num-raster-threads=1'] },
  allStages: { add: ['--run-all-compositor-stages-before-draw'] },
  noThreadedAnim: { add: ['--disable-threaded-animation'] },
  noVsync: { add: ['--disable-gpu-vsync'] },
  noCheckerImaging: { add: ['--disable-checker-imaging'] },
  noPartialRaster: { add: ['--disable-partial-raster'] },
};

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '3' },
    configs: { type: 'string', default: 'base,nth2,gpuOn,inProcessGpu' },
    page: { type: 'string', default: 'animated' },
    lead: { type: 'string', default: '12' },
  },
});
const SECONDS = Number(values.seconds);
const ACK_LEAD_MS = Number(values.lead);
const ROUNDS = Number(values.rounds);
const NAMES = values.configs!.split(',');
for (const name of NAMES) if (!CONFIGS[name]) throw new Error(`unknown config ${name}; known: ${Object.keys(CONFIGS).join(', ')}`);

interface Sample { pageFps: number; fps: number; passedFps: number; cpu: CpuTicks; delays: number[]; passedDelays: number[] }

/** framehub's session fps: frames are passed on at most this often (ScreencastSource's pacing). */
const FPS = 30;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function runOnce(config: Config, pageUrl: string): Promise<Sample> {
  const plan = await browserLaunch(process.env['CHROME_PATH'] ?? '/usr/bin/chromium', process.env['BROWSER_USER'] ?? 'framehub-browser', (m) => console.error(m));
  const args = [...CHROMIUM_ARGS.filter((flag) => !config.drop?.includes(flag)), ...(config.add ?? [])];
  const browser: Browser = await chromium.launch({ executablePath: plan.executablePath, chromiumSandbox: plan.sandbox, env: plan.env, headless: true, args });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.goto(pageUrl);
    const cdp: CDPSession = await context.newCDPSession(page);
    let frames = 0;
    let passed = 0;
    let counting = false;
    const delays: number[] = [];
    const passedDelays: number[] = [];
    // ScreencastSource's pacing: pass a frame when due, else hold the latest until it is due.
    const interval = 1000 / FPS;
    let nextDue = 0;
    let held: { timestamp?: number } | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ackTimer: ReturnType<typeof setTimeout> | undefined;
    const pass = (metadata: { timestamp?: number }, now: number) => {
      nextDue = now + interval;
      if (!counting) return;
      passed++;
      if (metadata.timestamp !== undefined) passedDelays.push(Date.now() - metadata.timestamp * 1000);
    };
    cdp.on('Page.screencastFrame', (event) => {
      const ack = () => void cdp.send('Page.screencastFrameAck', { sessionId: event.sessionId }).catch(() => {});
      const now = performance.now();
      if (counting) {
        frames++;
        if (event.metadata.timestamp !== undefined) delays.push(Date.now() - event.metadata.timestamp * 1000);
      }
      if (now >= nextDue && timer === undefined) pass(event.metadata, now);
      else {
        held = event.metadata;
        timer ??= setTimeout(() => {
          timer = undefined;
          const h = held;
          held = undefined;
          if (h) pass(h, performance.now());
        }, Math.max(0, nextDue - now));
      }
      if (config.ack !== 'paced') return ack();
      clearTimeout(ackTimer);
      ackTimer = setTimeout(ack, Math.max(0, nextDue - performance.now() - ACK_LEAD_MS));
    });
    await cdp.send('Page.startScreencast', {
      format: 'jpeg', quality: config.quality ?? 80, maxWidth: config.maxWidth ?? 1280, maxHeight: config.maxHeight ?? 720, everyNthFrame: config.everyNthFrame ?? 1,
      ...(config.maxFramesInFlight !== undefined && { maxFramesInFlight: config.maxFramesInFlight }),
      ...(config.sendLastFrame !== undefined && { sendLastFrame: config.sendLastFrame }),
    });
    await new Promise((resolve) => setTimeout(resolve, 1500)); // settle
    // The animated page counts its animation frames in `n` (test/session-helpers.ts).
    const pageFrames = async () => Number(await page.evaluate('typeof n === "number" ? n : 0'));
    const framesBefore = await pageFrames();
    const before = chromiumTicks(process.pid);
    counting = true;
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    counting = false;
    const elapsed = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(before, chromiumTicks(process.pid));
    const pageFps = (await pageFrames() - framesBefore) / elapsed;
    for (const type of CHROMIUM_PROCESS_TYPES) cpu[type] /= elapsed;
    clearTimeout(timer);
    clearTimeout(ackTimer);
    await cdp.send('Page.stopScreencast').catch(() => {});
    return { pageFps, fps: frames / elapsed, passedFps: passed / elapsed, cpu, delays, passedDelays };
  } finally {
    await browser.close().catch(() => {});
  }
}

const pages = await startPageServer();
try {
  const samples = new Map<string, Sample[]>(NAMES.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of NAMES) {
      const sample = await runOnce(CONFIGS[name]!, `${pages.origin}/${values.page === 'animated' ? 'animated' : ''}`);
      samples.get(name)!.push(sample);
      console.error(`round ${round + 1} ${name}: page ${sample.pageFps.toFixed(1)} fps, ${sample.fps.toFixed(1)} sent, ${sample.passedFps.toFixed(1)} passed, ${totalOf(sample.cpu).toFixed(2)} cores (${CHROMIUM_PROCESS_TYPES.map((t) => `${t} ${sample.cpu[t].toFixed(2)}`).join(', ')})`);
    }
  }
  console.log(`\n# Screencast cost by configuration (${new Date().toISOString()}, ${values.page} 1280x720 page, ${SECONDS} s x ${ROUNDS} rounds, interleaved; medians)\n`);
  console.log(`| config | page frames/s | frames/s sent | passed (≤ ${FPS}/s) | cores total | browser | GPU | renderer | other | CPU ms per passed frame | browser ms per sent frame | GPU ms per page frame | renderer ms per page frame | capture → CDP p50 / p95 ms | capture → passed p50 / p95 ms |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const name of NAMES) {
    const list = samples.get(name)!;
    const fps = median(list.map((s) => s.fps));
    const total = median(list.map((s) => totalOf(s.cpu)));
    const passedFps = median(list.map((s) => s.passedFps));
    const perFrame = median(list.map((s) => (s.passedFps > 0 ? (1000 * totalOf(s.cpu)) / s.passedFps : NaN)));
    const delays = list.flatMap((s) => s.delays).sort((a, b) => a - b);
    const passedDelays = list.flatMap((s) => s.passedDelays).sort((a, b) => a - b);
    const p = (sorted: number[]) => (sorted.length ? `${percentile(sorted, 50).toFixed(0)} / ${percentile(sorted, 95).toFixed(0)}` : '-');
    const by = (type: keyof CpuTicks) => median(list.map((s) => s.cpu[type])).toFixed(2);
    const pageFps = median(list.map((s) => s.pageFps));
    // What each process costs per unit of its own work: the browser process per frame it
    // encoded and sent, the GPU process and the renderer per frame the page drew.
    const browserPerSent = median(list.map((s) => (1000 * s.cpu.browser) / s.fps));
    const gpuPerPage = median(list.map((s) => (1000 * s.cpu.gpu) / s.pageFps));
    const rendererPerPage = median(list.map((s) => (1000 * s.cpu.renderer) / s.pageFps));
    console.log(`| ${name} | ${pageFps.toFixed(1)} | ${fps.toFixed(1)} | ${passedFps.toFixed(1)} | ${total.toFixed(2)} | ${by('browser')} | ${by('gpu')} | ${by('renderer')} | ${by('other')} | ${perFrame.toFixed(1)} | ${browserPerSent.toFixed(1)} | ${gpuPerPage.toFixed(1)} | ${rendererPerPage.toFixed(1)} | ${p(delays)} | ${p(passedDelays)} |`);
  }
} finally {
  await pages.close();
}
