import { spawn } from 'node:child_process';
import type { WebSocket, RawData } from 'ws';
import { parseVideoUnit, type VideoUnitMessage } from '../src/wire/video-unit.js';
import { withTimeout } from './wait.js';

/** Parses every binary message the socket receives from now on. */
export function collectUnits(ws: WebSocket): VideoUnitMessage[] {
  const units: VideoUnitMessage[] = [];
  ws.on('message', function socketOnMessage(data: RawData, isBinary: boolean) {
    if (isBinary) units.push(parseVideoUnit(new Uint8Array(data as Buffer)));
  });
  return units;
}

/**
 * Resolves once `holds()` is true, checked now and after every message `ws` receives (the
 * units `collectUnits` gathers arrive with them): an event, not a poll. Bounded by `timeoutMs`.
 */
export function untilUnits(ws: WebSocket, what: string, holds: () => boolean, timeoutMs: number): Promise<void> {
  if (holds()) return Promise.resolve();
  let onMessage: () => void = () => {};
  const reached = new Promise<void>((resolve) => {
    // Registered after collectUnits' listener, so the units of this message are counted already.
    onMessage = () => {
      if (holds()) resolve();
    };
    ws.on('message', onMessage);
  });
  return withTimeout(reached, timeoutMs, what).finally(() => ws.off('message', onMessage));
}

/** Units back to an Annex-B byte stream (parameter sets from each keyframe's avcC in front of it). */
export function annexBOf(units: readonly VideoUnitMessage[]): Buffer {
  const startCode = Buffer.from([0, 0, 0, 1]);
  const parts: Buffer[] = [];
  for (const unit of units) {
    if (unit.config) {
      const avcc = Buffer.from(unit.config);
      const spsLength = avcc.readUInt16BE(6);
      const sps = avcc.subarray(8, 8 + spsLength);
      const ppsLength = avcc.readUInt16BE(9 + spsLength);
      const pps = avcc.subarray(11 + spsLength, 11 + spsLength + ppsLength);
      parts.push(startCode, sps, startCode, pps);
    }
    const data = Buffer.from(unit.data);
    for (let at = 0; at < data.length;) {
      const length = data.readUInt32BE(at);
      parts.push(startCode, data.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
  }
  return Buffer.concat(parts);
}

/** Decodes an Annex-B stream with ffmpeg and returns the last picture as RGB. */
export function decodeLastPicture(annexB: Buffer, width: number, height: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'h264', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => { errors += chunk.toString(); });
    child.stdin.on('error', () => {});
    child.on('error', reject);
    child.on('close', (code) => {
      const all = Buffer.concat(out);
      const size = width * height * 3;
      if (code !== 0 || all.length < size) return reject(new Error(`ffmpeg decode failed (${code}, ${all.length} bytes): ${errors}`));
      resolve(all.subarray(all.length - size));
    });
    child.stdin.end(annexB);
  });
}

/** RGB of the pixel at (x, y). */
export function pixelAt(rgb: Buffer, width: number, x: number, y: number): [number, number, number] {
  const at = (y * width + x) * 3;
  return [rgb[at]!, rgb[at + 1]!, rgb[at + 2]!];
}
