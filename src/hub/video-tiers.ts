import type { Stream } from './stream.js';
import { VideoTier, type VideoTierOptions } from './video-tier.js';
import type { VideoTierSpec } from './video-tier-spec.js';

/** Every stream's video tiers: one VideoTier per (stream, tier), made on first use, forgotten when idle. */
export class VideoTiers {
  readonly #tiers = new Map<Stream, Map<string, VideoTier>>();

  constructor(private readonly options: Omit<VideoTierOptions, 'onIdle'> = {}) {}

  get(stream: Stream, spec: VideoTierSpec): VideoTier {
    let byName = this.#tiers.get(stream);
    if (!byName) this.#tiers.set(stream, (byName = new Map()));
    let tier = byName.get(spec.name);
    if (!tier) {
      const created = new VideoTier(stream, spec, {
        ...this.options,
        onIdle: () => {
          const tiers = this.#tiers.get(stream);
          if (tiers?.get(spec.name) !== created || created.viewers > 0) return;
          tiers.delete(spec.name);
          if (tiers.size === 0) this.#tiers.delete(stream);
        },
      });
      tier = created;
      byName.set(spec.name, tier);
    }
    return tier;
  }

  /** Encoders running now. */
  get running(): number {
    let count = 0;
    for (const tiers of this.#tiers.values()) for (const tier of tiers.values()) if (tier.running) count++;
    return count;
  }

  async close(): Promise<void> {
    const all = [...this.#tiers.values()].flatMap((tiers) => [...tiers.values()]);
    this.#tiers.clear();
    await Promise.all(all.map((tier) => tier.close()));
  }
}
