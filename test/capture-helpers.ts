import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { runProcess } from './run-process.js';
import { waitFor } from './wait.js';

/**
 * Test helpers for the capture sources: a private Xvfb, a tiny X11 client that makes plain
 * coloured windows (no toolkit, no extra Debian package: it speaks the core protocol over the
 * display's Unix socket), mean colours of captured frames, and ffmpeg-made video files.
 */

/** `ok` when `file` exits 0 within `timeoutMs`; never rejects (a missing tool is not ok). */
function run(file: string, args: string[], timeoutMs = 5000): Promise<{ ok: boolean; stdout: string }> {
  return runProcess(file, args, { timeoutMs }).then(
    ({ code, stdout }) => ({ ok: code === 0, stdout }),
    () => ({ ok: false, stdout: '' }),
  );
}

export interface XServer {
  display: string;
  width: number;
  height: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `Xvfb` on a display number it picks itself (`-displayfd`: no race with other X servers
 * on the machine), black root, and resolves once it accepts connections.
 */
export async function startXvfb(width = 1280, height = 720): Promise<XServer> {
  const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-br', '-noreset'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const number = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error('Xvfb did not report its display within 10 s')), 10_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    // Xvfb writes the display number once it is ready for clients.
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => {
      out += d;
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve(out.trim());
    });
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`Xvfb exited (${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`)));
  });
  const display = `:${number}`;
  // Belt and braces: the display answers a real client before tests use it.
  await waitFor(`Xvfb ${display}`, async () => (await run('xdpyinfo', ['-display', display], 2000)).ok, 10_000, 100);
  return {
    display, width, height, process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** A minimal X11 client: enough of the core protocol to create, move, resize and destroy windows. */
export class XClient {
  #socket: Socket;
  #buffer = Buffer.alloc(0);
  #setupDone: Promise<void>;
  #replies: Array<(reply: Buffer) => void> = [];
  #errors: Buffer[] = [];
  #idBase = 0;
  #idMask = 0;
  #nextId = 1;
  root = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#setupDone = new Promise((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        this.#buffer = Buffer.concat([this.#buffer, chunk]);
        if (this.#buffer.length < 8) return;
        const extra = this.#buffer.readUInt16LE(6) * 4;
        if (this.#buffer.length < 8 + extra) return;
        socket.off('data', onData);
        if (this.#buffer[0] !== 1) return reject(new Error(`X server refused the connection: ${this.#buffer.subarray(8, 8 + (this.#buffer[1] ?? 0)).toString()}`));
        const d = this.#buffer.subarray(8, 8 + extra);
        this.#idBase = d.readUInt32LE(4);
        this.#idMask = d.readUInt32LE(8);
        const vendorLength = d.readUInt16LE(16);
        const formats = d[21]!;
        const screen = 32 + Math.ceil(vendorLength / 4) * 4 + formats * 8;
        this.root = d.readUInt32LE(screen);
        this.#buffer = this.#buffer.subarray(8 + extra);
        socket.on('data', (more: Buffer) => this.#onData(more));
        resolve();
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
  }

  /** Connects to `display` (e.g. `:93`) over its Unix socket; Xvfb without `-auth` needs no cookie. */
  static async open(display: string): Promise<XClient> {
    const n = /^:(\d+)/.exec(display)?.[1];
    if (n === undefined) throw new Error(`unsupported display ${display}`);
    const socket = connect(`/tmp/.X11-unix/X${n}`);
    await once(socket, 'connect');
    const client = new XClient(socket);
    // Byte order 'l' (little-endian), protocol 11.0, no authorisation.
    const setup = Buffer.alloc(12);
    setup[0] = 0x6c;
    setup.writeUInt16LE(11, 2);
    socket.write(setup);
    await client.#setupDone;
    return client;
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 32) {
      const kind = this.#buffer[0]!;
      const size = kind === 1 ? 32 + this.#buffer.readUInt32LE(4) * 4 : 32;
      if (this.#buffer.length < size) return;
      const packet = this.#buffer.subarray(0, size);
      this.#buffer = this.#buffer.subarray(size);
      if (kind === 0) this.#errors.push(packet);
      else if (kind === 1) this.#replies.shift()?.(packet);
    }
  }

  #request(bytes: Buffer): void {
    this.#socket.write(bytes);
  }

  /** Round trip (GetInputFocus): every request sent before it has been handled. Throws on X errors. */
  async sync(): Promise<void> {
    const reply = new Promise<Buffer>((resolve) => this.#replies.push(resolve));
    const req = Buffer.alloc(4);
    req[0] = 43;
    req.writeUInt16LE(1, 2);
    this.#request(req);
    await reply;
    const error = this.#errors.shift();
    if (error) throw new Error(`X error ${error[1]} on request opcode ${error[10]}`);
  }

  /** Creates and maps a top-level window filled with `rgb` (0xRRGGBB on a TrueColor 24-bit screen). */
  async createWindow(opts: { x: number; y: number; width: number; height: number; rgb: number; title: string }): Promise<number> {
    const id = this.#idBase | (this.#nextId++ & this.#idMask);
    // CreateWindow: depth/visual from parent, InputOutput, value mask BackPixel (0x2).
    const create = Buffer.alloc(36);
    create[0] = 1;
    create.writeUInt16LE(9, 2);
    create.writeUInt32LE(id, 4);
    create.writeUInt32LE(this.root, 8);
    create.writeInt16LE(opts.x, 12);
    create.writeInt16LE(opts.y, 14);
    create.writeUInt16LE(opts.width, 16);
    create.writeUInt16LE(opts.height, 18);
    create.writeUInt16LE(0, 20);
    create.writeUInt16LE(1, 22);
    create.writeUInt32LE(0, 24);
    create.writeUInt32LE(0x2, 28);
    create.writeUInt32LE(opts.rgb, 32);
    this.#request(create);
    this.setTitle(id, opts.title);
    const map = Buffer.alloc(8);
    map[0] = 8;
    map.writeUInt16LE(2, 2);
    map.writeUInt32LE(id, 4);
    this.#request(map);
    await this.sync();
    return id;
  }

  /** The atom for `name` (InternAtom), created if needed. */
  async internAtom(name: string): Promise<number> {
    const bytes = Buffer.from(name, 'latin1');
    const padded = Math.ceil(bytes.length / 4) * 4;
    const req = Buffer.alloc(8 + padded);
    req[0] = 16;
    req.writeUInt16LE(2 + padded / 4, 2);
    req.writeUInt16LE(bytes.length, 4);
    bytes.copy(req, 8);
    const reply = new Promise<Buffer>((resolve) => this.#replies.push(resolve));
    this.#request(req);
    return (await reply).readUInt32LE(8);
  }

  /** Sets `_NET_WM_NAME` (UTF8_STRING), the EWMH title a window manager shows. */
  async setUtf8Title(id: number, title: string): Promise<void> {
    const [property, type] = [await this.internAtom('_NET_WM_NAME'), await this.internAtom('UTF8_STRING')];
    this.#changeProperty(id, property, type, Buffer.from(title, 'utf8'));
    await this.sync();
  }

  /** Sets WM_NAME (type STRING, Latin-1). */
  setTitle(id: number, title: string): void {
    this.#changeProperty(id, 39, 31, Buffer.from(title, 'latin1')); // WM_NAME, STRING
  }

  #changeProperty(id: number, property: number, type: number, data: Buffer): void {
    const padded = Math.ceil(data.length / 4) * 4;
    const req = Buffer.alloc(24 + padded);
    req[0] = 18; // ChangeProperty, mode Replace
    req.writeUInt16LE(6 + padded / 4, 2);
    req.writeUInt32LE(id, 4);
    req.writeUInt32LE(property, 8);
    req.writeUInt32LE(type, 12);
    req[16] = 8;
    req.writeUInt32LE(data.length, 20);
    data.copy(req, 24);
    this.#request(req);
  }

  /** Moves and/or resizes a window (ConfigureWindow). */
  async configure(id: number, geometry: { x?: number; y?: number; width?: number; height?: number }): Promise<void> {
    const fields = (['x', 'y', 'width', 'height'] as const).filter((k) => geometry[k] !== undefined);
    const req = Buffer.alloc(12 + fields.length * 4);
    req[0] = 12;
    req.writeUInt16LE(3 + fields.length, 2);
    req.writeUInt32LE(id, 4);
    let mask = 0;
    fields.forEach((k, i) => {
      mask |= { x: 1, y: 2, width: 4, height: 8 }[k];
      req.writeInt32LE(geometry[k]!, 12 + i * 4);
    });
    req.writeUInt16LE(mask, 8);
    this.#request(req);
    await this.sync();
  }

  /**
   * Paints raw RGB pixels (`width`x`height`, 3 bytes a pixel) into a window with PutImage, in
   * strips that fit the core protocol's request size limit (no BIG-REQUESTS needed).
   */
  async putRgb(id: number, rgb: Buffer, width: number, height: number): Promise<void> {
    const gc = this.#idBase | (this.#nextId++ & this.#idMask);
    const createGc = Buffer.alloc(16);
    createGc[0] = 55;
    createGc.writeUInt16LE(4, 2);
    createGc.writeUInt32LE(gc, 4);
    createGc.writeUInt32LE(id, 8);
    this.#request(createGc);
    const rows = Math.max(1, Math.floor((65535 * 4 - 24) / (width * 4)));
    for (let y0 = 0; y0 < height; y0 += rows) {
      const h = Math.min(rows, height - y0);
      const req = Buffer.alloc(24 + width * h * 4);
      req[0] = 72; // PutImage
      req[1] = 2; // ZPixmap
      req.writeUInt16LE(req.length / 4, 2);
      req.writeUInt32LE(id, 4);
      req.writeUInt32LE(gc, 8);
      req.writeUInt16LE(width, 12);
      req.writeUInt16LE(h, 14);
      req.writeInt16LE(0, 16);
      req.writeInt16LE(y0, 18);
      req[21] = 24;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < width; x++) {
          const src = ((y0 + y) * width + x) * 3;
          const dst = 24 + (y * width + x) * 4;
          // 32 bits a pixel, least significant byte first: B, G, R, unused.
          req[dst] = rgb[src + 2]!;
          req[dst + 1] = rgb[src + 1]!;
          req[dst + 2] = rgb[src]!;
        }
      }
      this.#request(req);
    }
    await this.sync();
  }

  async destroyWindow(id: number): Promise<void> {
    const req = Buffer.alloc(8);
    req[0] = 4;
    req.writeUInt16LE(2, 2);
    req.writeUInt32LE(id, 4);
    this.#request(req);
    await this.sync();
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Mean R, G, B of an encoded image (optionally of a region), via sharp's stats. */
export async function meanColour(bytes: Buffer, region?: { left: number; top: number; width: number; height: number }): Promise<[number, number, number]> {
  let image = sharp(bytes);
  if (region) image = image.extract(region);
  // extract + stats needs the crop materialised first.
  const { channels } = await sharp(await image.toBuffer()).stats();
  return [channels[0]!.mean, channels[1]!.mean, channels[2]!.mean];
}

/** True when every channel of `actual` is within `tolerance` of `expected` (0xRRGGBB). */
export function colourNear(actual: [number, number, number], rgb: number, tolerance = 24): boolean {
  const expected = [(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff];
  return actual.every((v, i) => Math.abs(v - expected[i]!) <= tolerance);
}

/** Writes a short test video with ffmpeg's `testsrc2` (or another lavfi source) (H.264 would need libx264; MPEG-4 part 2 is always there). */
export async function makeTestVideo(path: string, opts: { seconds: number; width: number; height: number; fps: number; /** e.g. `color=c=red:` (ends with a separator) */ lavfi?: string }): Promise<void> {
  const result = await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi',
    '-i', `${opts.lavfi ?? 'testsrc2='}size=${opts.width}x${opts.height}:rate=${opts.fps}:duration=${opts.seconds}`,
    '-c:v', 'mpeg4', '-q:v', '4', path,
  ], 60_000);
  if (!result.ok) throw new Error(`ffmpeg could not write ${path}`);
}

/**
 * The contract every Source keeps (style habit 10: one suite per interface), as test cases
 * registered with `it`: start/stop idempotent, frames that are what they claim, silence after
 * stop, a restart after stop. `make` builds a fresh source for each case.
 */
export function sourceContract(it: (name: string, fn: (t: { after(fn: () => unknown): void }) => Promise<void>) => unknown, make: () => import('../src/sources/source.js').Source): void {
  const nextFrame = (source: import('../src/sources/source.js').Source, timeoutMs = 15_000) =>
    new Promise<import('../src/sources/source.js').SourceFrame>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
      source.once('frame', (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });

  it('emits frames whose bytes are the format and size they claim', async (t) => {
    const source = make();
    t.after(() => source.stop());
    const frames: Array<import('../src/sources/source.js').SourceFrame> = [];
    source.on('frame', (f) => frames.push(f));
    await source.start();
    await source.start(); // idempotent
    await waitFor('three frames', () => frames.length >= 3, 15_000);
    const { sniffImage } = await import('../src/image/sniff.js');
    for (const frame of frames.slice(0, 3)) {
      const info = sniffImage(frame.bytes);
      assert.equal(info?.format, frame.format);
      assert.deepEqual([info?.width, info?.height], [frame.width, frame.height]);
      if (frame.quality !== undefined) assert.ok(frame.quality >= 1 && frame.quality <= 100);
    }
    assert.ok(frames[2]!.capturedAt >= frames[0]!.capturedAt, 'capture times do not go backwards');
  });

  it('is silent after stop() (twice is safe) and streams again after start()', async (t) => {
    const source = make();
    t.after(() => source.stop());
    await source.start();
    await nextFrame(source);
    await Promise.all([source.stop(), source.stop()]);
    let late = 0;
    const count = () => late++;
    source.on('frame', count);
    // Absence has no event to wait for: watch a fixed window well above one frame interval.
    await new Promise((resolve) => setTimeout(resolve, 400));
    source.off('frame', count);
    assert.equal(late, 0, 'no frame after stop()');
    await source.start();
    await nextFrame(source);
    await source.stop();
  });
}
