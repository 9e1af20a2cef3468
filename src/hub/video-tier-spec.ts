import type { VideoTierName } from '../wire/video-unit.js';
import type { AdaptiveLadder } from './adaptive-controller.js';

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

/**
 * The ladder a viewer on `tier=auto` moves on with the AdaptiveController: a tier needs a link
 * of about 1.25 times its bitrate ceiling (480p from 1 Mbit/s, 720p from 2.5), and the
 * controller's 20 % margin keeps a link near an edge from flapping.
 */
export const VIDEO_LADDER: AdaptiveLadder<VideoTierSpec> = Object.freeze({
  rungs: Object.freeze([VIDEO_TIERS[2]!, VIDEO_TIERS[1]!, VIDEO_TIERS[0]!]),
  edges: Object.freeze([1_000_000, 2_500_000]),
});

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
