import type { VideoTierName } from '../wire/video-unit.js';

/** One rung of the H.264 ladder: a height to fit in and a bitrate to hold. */
export interface VideoTierSpec {
  readonly name: VideoTierName;
  /** The picture is scaled to fit this height, keeping its aspect ratio; never enlarged. */
  readonly maxHeight: number;
  /** Maximum bitrate, bits per second; simpler pictures take less. */
  readonly bitrate: number;
}

/**
 * The ladder. A small one: each tier is one encoder process while someone watches it, so
 * fewer rungs means fewer processes; these three cover a desktop, a laptop on Wi-Fi and a phone.
 */
export const VIDEO_TIERS: readonly VideoTierSpec[] = Object.freeze([
  Object.freeze({ name: '720p', maxHeight: 720, bitrate: 2_000_000 }),
  Object.freeze({ name: '480p', maxHeight: 480, bitrate: 800_000 }),
  Object.freeze({ name: '360p', maxHeight: 360, bitrate: 400_000 }),
]);

export const DEFAULT_VIDEO_TIER = '720p';

export function videoTier(name: string): VideoTierSpec | undefined {
  return VIDEO_TIERS.find((tier) => tier.name === name);
}

/**
 * Encoded size of a `width`x`height` picture in `tier`: fitted into the tier's height, never
 * enlarged, both sides even (4:2:0 chroma needs it).
 */
export function tierSize(width: number, height: number, tier: VideoTierSpec): { width: number; height: number } {
  const scale = Math.min(1, tier.maxHeight / height);
  const even = (n: number) => Math.max(2, Math.floor(n / 2) * 2);
  return { width: even(width * scale), height: even(height * scale) };
}
