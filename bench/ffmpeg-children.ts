// The ffmpeg processes a bench's in-process framehub runs, and test videos made with ffmpeg:
// shared by the codec and recording benches.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';

/**
 * utime + stime (clock ticks, 100 a second here) of this process's ffmpeg children, summed by
 * the key `classify` gives each one's argument list (`undefined`: not counted).
 */
export async function childFfmpegTicks(classify: (args: readonly string[]) => string | undefined): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== process.pid) continue;
      const key = classify((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0'));
      if (key === undefined) continue;
      out.set(key, (out.get(key) ?? 0) + Number(fields[11]) + Number(fields[12]));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** The H.264 encoders (libx264 children), by their input size (`1280x720`). */
export function encoderCpu(): Promise<Map<string, number>> {
  return childFfmpegTicks((args) => (args.includes('libx264') ? args[args.indexOf('-s') + 1] : undefined));
}

/** The capturing ffmpeg of a file or lavfi source (the one writing MJPEG), under one key. */
export function captureCpu(): Promise<Map<string, number>> {
  return childFfmpegTicks((args) => (args.includes('mjpeg') ? 'capture' : undefined));
}

/**
 * A video file from an ffmpeg lavfi graph. MPEG-4 part 2 at a high quality by default: always
 * in Debian's ffmpeg, and close to its source; `codec` gives other encoder arguments (lossless
 * FFV1 for a file that adds no noise of its own).
 */
export async function makeVideo(path: string, lavfi: string, codec: readonly string[] = ['-c:v', 'mpeg4', '-q:v', '2']): Promise<void> {
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', lavfi, ...codec, path], { stdio: 'inherit' });
  const [code] = (await once(child, 'close')) as [number];
  if (code !== 0) throw new Error(`ffmpeg could not make ${path}`);
}
