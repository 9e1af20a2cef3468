import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { TypedEmitter } from '../util/typed-emitter.js';

/** How an ffmpeg process ended. */
export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines ffmpeg wrote to stderr, oldest first. */
  stderrTail: string[];
  /** `true` when `stop()` asked for the exit. */
  requested: boolean;
  /** Set when the process could not be started at all (e.g. ENOENT: no ffmpeg on PATH). */
  spawnError?: Error;
}

export interface FfmpegProcessEvents {
  /** A chunk of stdout (the encoded stream). */
  data: Buffer;
  /** A chunk of extra output `index`, written to fd 3 + index (`pipe:3`, …). */
  output: { index: number; chunk: Buffer };
  /** One line of stderr, for the debug log. */
  stderr: string;
  exit: FfmpegExit;
}

export interface FfmpegProcessOptions {
  /** @default 'ffmpeg' */
  command?: string;
  /** Lines of stderr kept for the exit report. @default 20 */
  stderrLines?: number;
  /** Extra output pipes, at fd 3, 4, …. @default 0 */
  outputs?: number;
  /** Grace between SIGTERM and SIGKILL in `stop()`. @default 2000 */
  killAfterMs?: number;
}

/** Describes an exit for humans: the cause and ffmpeg's last words. */
export function describeFfmpegExit(exit: FfmpegExit): string {
  const cause = exit.spawnError
    ? `ffmpeg could not be started (${exit.spawnError.message})`
    : exit.signal
      ? `ffmpeg was killed (${exit.signal})`
      : `ffmpeg exited with code ${exit.code}`;
  const last = exit.stderrTail.slice(-3).join(' | ');
  return last ? `${cause}: ${last}` : cause;
}

/**
 * One ffmpeg child: spawned with the given arguments, stdout handed on as `data`, stderr kept in
 * a ring of its last lines (and emitted line by line for the debug log), killed by `stop()`.
 * It never restarts itself: the owner decides what an exit means.
 */
export class FfmpegProcess extends TypedEmitter<FfmpegProcessEvents> {
  readonly #child: ChildProcess & { stdout: Readable; stderr: Readable };
  readonly #ring: string[] = [];
  readonly #ringSize: number;
  readonly #killAfterMs: number;
  #partialLine = '';
  #requested = false;
  #exited: Promise<FfmpegExit>;

  constructor(readonly args: readonly string[], options: FfmpegProcessOptions = {}) {
    super();
    this.#ringSize = options.stderrLines ?? 20;
    this.#killAfterMs = options.killAfterMs ?? 2000;
    const outputs = options.outputs ?? 0;
    this.#child = spawn(options.command ?? 'ffmpeg', args, {
      stdio: ['ignore', 'pipe', 'pipe', ...Array.from({ length: outputs }, () => 'pipe' as const)],
    }) as ChildProcess & { stdout: Readable; stderr: Readable };
    this.#child.stdout.on('data', (chunk: Buffer) => this.emit('data', chunk));
    // Every pipe is read all the time: one left full would block ffmpeg, and with it the frames.
    for (let index = 0; index < outputs; index++) {
      (this.#child.stdio[3 + index] as Readable).on('data', (chunk: Buffer) => this.emit('output', { index, chunk }));
    }
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (text: string) => this.#onStderr(text));
    this.#exited = new Promise((resolve) => {
      let done = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
        if (done) return;
        done = true;
        if (this.#partialLine) this.#pushLine(this.#partialLine);
        const exit: FfmpegExit = {
          code, signal, stderrTail: [...this.#ring], requested: this.#requested,
          ...(spawnError && { spawnError }),
        };
        this.emit('exit', exit);
        resolve(exit);
      };
      this.#child.once('error', (error) => {
        // Spawning failed (ENOENT...): there will be no exit of a process that never ran.
        if (this.#child.pid === undefined) finish(null, null, error);
      });
      // 'close' (not 'exit'): stdout has been fully read by then, so no frame is lost.
      this.#child.once('close', (code, signal) => finish(code, signal));
    });
  }

  /** The child's process id (undefined when it could not be spawned). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  get stderrTail(): string[] {
    return [...this.#ring];
  }

  /** Resolves when the process has gone, however it went. */
  get exited(): Promise<FfmpegExit> {
    return this.#exited;
  }

  /** Asks ffmpeg to quit (SIGTERM), kills it if it has not after the grace; resolves on exit. Safe twice. */
  async stop(): Promise<FfmpegExit> {
    this.#requested = true;
    if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid !== undefined) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), this.#killAfterMs);
      timer.unref();
      void this.#exited.then(() => clearTimeout(timer));
    }
    return this.#exited;
  }

  /** Kills the process without it counting as requested: its exit is reported as a failure. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
  }

  #onStderr(text: string): void {
    // ffmpeg ends progress lines with \r; treat it as a line break too.
    const lines = (this.#partialLine + text).split(/\r?\n|\r/);
    this.#partialLine = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') this.#pushLine(line);
  }

  #pushLine(line: string): void {
    this.#ring.push(line);
    if (this.#ring.length > this.#ringSize) this.#ring.shift();
    this.emit('stderr', line);
  }
}
