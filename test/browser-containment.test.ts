// Issue 15, point 4: the browser is contained. Chromium runs with its own sandbox (as a user of
// its own when framehub is root), its environment holds none of framehub's secrets, and a page
// cannot keep a popup open.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from './helpers.js';
import { listenLocal } from './listen-local.js';
import { createLoadedSession, near, pixelAt, startSessionServer, type Rgb } from './session-helpers.js';
import { descendants } from './server-process.js';
import { waitUntil } from './wait.js';

const GREEN: Rgb = [20, 200, 20];
const BLUE: Rgb = [20, 20, 220];
const SECRETS = { JWT_SECRET: 'containment-test-secret-0123456789', PRODUCER_TOKEN: 'containment-producer-token' };

/**
 * Opens a popup without a click, then paints itself green once the popup is gone, blue if it
 * still lives 10 s later (a loaded machine may take more than a moment to close it; one that
 * never does leaves it open).
 */
const POPUP_PAGE = `<!doctype html><body style="margin:0;background:rgb(220,20,20)"><script>
const popup = window.open('/target', '_blank');
const opened = Date.now();
const check = setInterval(() => {
  const closed = !popup || popup.closed;
  if (!closed && Date.now() - opened < 10000) return;
  clearInterval(check);
  document.body.style.background = closed ? 'rgb(20,200,20)' : 'rgb(20,20,220)';
}, 100);
</script></body>`;

function status(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}

function field(text: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1];
}

describe('a contained browser', () => {
  let s: TestServer;
  let pages: { origin: string; close: () => Promise<void> };
  const saved: Record<string, string | undefined> = {};

  before(async () => {
    // framehub's own environment holds the secrets, as it would in production.
    for (const [key, value] of Object.entries(SECRETS)) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(req.url === '/popup' ? POPUP_PAGE : '<p>target</p>');
    });
    const port = await listenLocal(server);
    pages = { origin: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
    s = await startSessionServer();
  });
  after(async () => {
    await s?.close();
    await pages?.close();
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('runs Chromium with its sandbox, as an unprivileged user when framehub is root, without framehub\'s secrets', async () => {
    await createLoadedSession(s, `${pages.origin}/target`);
    const pid = await s.server.sessions.pool.pid();
    assert.ok(pid, 'the browser process is known');
    const browser = status(pid);
    const uid = Number(field(browser, 'Uid')?.split(/\s+/)[0]);
    if (process.getuid?.() === 0) assert.notEqual(uid, 0, 'framehub runs as root, its browser must not');
    else assert.equal(uid, process.getuid?.());

    // The sandbox: every renderer runs under seccomp-bpf (mode 2), which --no-sandbox leaves off.
    const renderers = descendants(pid).filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('--type=renderer');
      } catch {
        return false;
      }
    });
    assert.ok(renderers.length > 0, 'the session has a renderer process');
    // A renderer turns its filter on shortly after it starts (a spare one may have just been
    // made): wait for it, bounded, since /proc fires no event. One that never does fails; one
    // that ended meanwhile has nothing left to check.
    for (const renderer of renderers) {
      const seccomp = () => {
        try {
          return field(status(renderer), 'Seccomp');
        } catch {
          return 'ended';
        }
      };
      const mode = await waitUntil(seccomp, (value) => value === '2' || value === 'ended', { timeoutMs: 10_000, what: `renderer ${renderer} under seccomp` })
        .catch(() => seccomp());
      assert.ok(mode === '2' || mode === 'ended', `renderer ${renderer} is not under seccomp (Seccomp: ${mode})`);
    }
    assert.doesNotMatch(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /--no-sandbox/);

    const environment = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    for (const [key, value] of Object.entries(SECRETS)) {
      assert.equal(process.env[key], value, 'the test process holds the secret');
      assert.ok(!environment.some((entry) => entry.startsWith(`${key}=`) || entry.includes(value)), `the browser's environment holds ${key}`);
    }
  });

  it('closes a popup a page opens without a click', async () => {
    const id = await createLoadedSession(s, `${pages.origin}/popup`, { width: 200, height: 200 });
    const colour = await waitUntil(async () => {
      const response = await fetch(`${s.http}/api/session/${id}/frame`);
      return pixelAt(Buffer.from(await response.arrayBuffer()), 100, 100);
    }, (rgb) => near(rgb, GREEN) || near(rgb, BLUE), { timeoutMs: 30_000, intervalMs: 200, what: 'the page to report on its popup' });
    assert.ok(near(colour, GREEN), `the popup stayed open (page colour ${colour.join(',')})`);
  });
});
