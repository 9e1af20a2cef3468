import { execFile } from 'node:child_process';

/**
 * What the X server knows about windows, read with Debian's x11-utils (`xwininfo`, `xprop`)
 * rather than an X protocol library: no native npm dependency, and the same tools a person
 * would use to check by hand.
 */

/** One entry of `GET /api/windows` (seeds/002). `handle` is the X window id, usable as `/stream/<handle>`. */
export interface WindowInfo {
  handle: number;
  title: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowGeometry {
  /** Absolute position of the window's top-left corner on the screen. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** `false` while the window is unmapped (e.g. minimised). */
  viewable: boolean;
}

/** X resource ids are 29 bits wide (the top three bits are always zero). */
const MAX_XID = 0x1fffffff;

/** Parses a window id as a client writes it: decimal (`4194305`) or hex (`0x400001`). */
export function parseWindowId(text: string): number | undefined {
  const id = /^0x[0-9a-f]{1,8}$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : NaN;
  return Number.isInteger(id) && id > 0 && id <= MAX_XID ? id : undefined;
}

export function hexId(id: number): string {
  return `0x${id.toString(16)}`;
}

export interface ToolResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  /** Set when the tool could not be run at all (ENOENT: not installed). */
  missing: boolean;
}

/** Runs an X tool with a bounded time; never throws. */
export function runTool(file: string, args: string[], timeoutMs = 3000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C.UTF-8' } }, (error, stdout, stderr) => {
      const missing = (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
      resolve({ ok: !error, stdout: String(stdout), stderr: String(stderr), missing });
    });
  });
}

function field(text: string, name: string): number | undefined {
  const match = new RegExp(`^\\s*${name}:\\s*(-?\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Parses `xwininfo -id` output. */
export function parseXwininfo(text: string): WindowGeometry | undefined {
  const x = field(text, 'Absolute upper-left X');
  const y = field(text, 'Absolute upper-left Y');
  const width = field(text, 'Width');
  const height = field(text, 'Height');
  if (x === undefined || y === undefined || width === undefined || height === undefined) return undefined;
  return { x, y, width, height, viewable: /Map State:\s*IsViewable/.test(text) };
}

/** Geometry of window `id`, or `undefined` when the X server has no such window (it was closed). */
export async function windowGeometry(display: string, id: number): Promise<WindowGeometry | undefined> {
  const result = await runTool('xwininfo', ['-display', display, '-id', hexId(id)]);
  if (!result.ok) {
    if (/No such window|BadWindow/i.test(result.stderr)) return undefined;
    throw new Error(`xwininfo failed on ${display}: ${result.missing ? 'xwininfo is not installed (Debian x11-utils)' : result.stderr.trim() || 'no output'}`);
  }
  const geometry = parseXwininfo(result.stdout);
  if (!geometry) throw new Error(`xwininfo gave no geometry for ${hexId(id)}`);
  return geometry;
}

const rootCache = new Map<string, { at: number; geometry: Promise<WindowGeometry> }>();

/**
 * Size of the root window (the whole screen). `maxAgeMs` lets pollers share one recent answer:
 * the screen size almost never changes, and each read is a process.
 */
export async function rootGeometry(display: string, maxAgeMs = 0): Promise<WindowGeometry> {
  const cached = rootCache.get(display);
  if (cached && performance.now() - cached.at <= maxAgeMs) return cached.geometry;
  const geometry = runTool('xwininfo', ['-display', display, '-root']).then((result) => {
    const parsed = result.ok ? parseXwininfo(result.stdout) : undefined;
    if (!parsed) throw new Error(`cannot read the screen size of ${display}: ${result.stderr.trim() || 'xwininfo failed'}`);
    return parsed;
  });
  rootCache.set(display, { at: performance.now(), geometry });
  geometry.catch(() => rootCache.delete(display));
  return geometry;
}

/** Undoes xprop's C-style escaping of a quoted string value. */
export function unescapeXprop(quoted: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < quoted.length; i++) {
    const c = quoted[i]!;
    if (c !== '\\') {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
      continue;
    }
    const next = quoted[i + 1] ?? '';
    const octal = /^[0-7]{1,3}/.exec(quoted.slice(i + 1))?.[0];
    if (octal) {
      bytes.push(Number.parseInt(octal, 8) & 0xff);
      i += octal.length;
    } else {
      bytes.push(({ n: 10, t: 9, r: 13 } as Record<string, number>)[next] ?? next.charCodeAt(0));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Title of a window from `_NET_WM_NAME` (UTF-8), else `WM_NAME`; '' when it has none. */
export async function windowTitle(display: string, id: number): Promise<string> {
  const result = await runTool('xprop', ['-display', display, '-id', hexId(id), '-notype', '_NET_WM_NAME', 'WM_NAME']);
  for (const name of ['_NET_WM_NAME', 'WM_NAME']) {
    const match = new RegExp(`^${name} = "((?:[^"\\\\]|\\\\.)*)"`, 'm').exec(result.stdout);
    if (match) return unescapeXprop(match[1]!);
  }
  return '';
}

/** Ids of the application windows: the window manager's `_NET_CLIENT_LIST`, else the root's children. */
async function topLevelIds(display: string): Promise<number[]> {
  const clients = await runTool('xprop', ['-display', display, '-root', '-notype', '_NET_CLIENT_LIST']);
  const listed = /_NET_CLIENT_LIST: window id # (.*)$/m.exec(clients.stdout)?.[1];
  if (listed) return listed.split(',').map((s) => Number.parseInt(s.trim(), 16)).filter((n) => n > 0);
  const tree = await runTool('xwininfo', ['-display', display, '-root', '-children']);
  if (!tree.ok) throw new Error(`cannot list windows on ${display}: ${tree.missing ? 'xwininfo is not installed (Debian x11-utils)' : tree.stderr.trim()}`);
  return [...tree.stdout.matchAll(/^\s+(0x[0-9a-f]+) /gm)].map((m) => Number.parseInt(m[1]!.slice(2), 16));
}

/** Visible top-level windows with their titles and absolute geometry, in stacking order (bottom first). */
export async function listWindows(display: string): Promise<WindowInfo[]> {
  const ids = await topLevelIds(display);
  const windows: Array<WindowInfo | undefined> = new Array(ids.length);
  // A few tools at a time: a desktop can have dozens of windows and this machine has two cores.
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const index = next++;
      const handle = ids[index]!;
      const geometry = await windowGeometry(display, handle).catch(() => undefined);
      if (!geometry || !geometry.viewable || geometry.width < 2 || geometry.height < 2) continue;
      windows[index] = { handle, title: await windowTitle(display, handle), x: geometry.x, y: geometry.y, width: geometry.width, height: geometry.height };
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, ids.length) }, worker));
  return windows.filter((w): w is WindowInfo => w !== undefined);
}
