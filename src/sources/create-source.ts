import type { StreamConfig } from '../config/config.js';
import { PatternSource } from './pattern-source.js';
import type { Source } from './source.js';

/** Builds the source a config entry declares. New source kinds register here. */
export function createSource(id: string, config: StreamConfig, defaults: { quality: number }): Source {
  switch (config.source) {
    case 'pattern':
      return new PatternSource({
        ...config,
        quality: config.quality ?? defaults.quality,
        label: config.label ?? `FRAMEHUB ${id}`,
      });
  }
}
