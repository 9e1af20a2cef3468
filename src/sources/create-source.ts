import type { StreamConfig } from '../config/config.js';
import { PatternSource } from './pattern-source.js';
import type { Source } from './source.js';
import type { DebugLog } from './ffmpeg-source.js';
import { X11ScreenSource } from './x11-screen-source.js';
import { X11WindowSource } from './x11-window-source.js';
import { VideoSource, type VideoInput } from './video-source.js';

/** Server-wide settings a stream falls back on. */
export interface SourceDefaults {
  quality: number;
  /** Screen and window capture fps. @default 15 */
  captureFps?: number;
  /** X display for screen and window sources. */
  display?: string;
  /** Gets ffmpeg's stderr at debug level. */
  log?: DebugLog;
}

/** Builds the source a config entry declares. New source kinds register here. */
export function createSource(id: string, config: StreamConfig, defaults: SourceDefaults): Source {
  const common = {
    quality: config.quality ?? defaults.quality,
    ...(defaults.log && { log: defaults.log }),
  };
  switch (config.source) {
    case 'pattern':
      return new PatternSource({
        ...config,
        quality: config.quality ?? defaults.quality,
        label: config.label ?? `FRAMEHUB ${id}`,
      });
    case 'screen':
      return new X11ScreenSource({
        ...common,
        fps: config.fps ?? defaults.captureFps ?? 15,
        ...(config.width && config.height && { width: config.width, height: config.height }),
        ...((config.display ?? defaults.display) && { display: config.display ?? defaults.display }),
        ...(config.mouse !== undefined && { mouse: config.mouse }),
      });
    case 'window':
      return new X11WindowSource({
        ...common,
        fps: config.fps ?? defaults.captureFps ?? 15,
        windowId: config.window,
        ...((config.display ?? defaults.display) && { display: config.display ?? defaults.display }),
      });
    case 'video':
      return new VideoSource({
        ...common,
        fps: config.fps ?? 30,
        ...(config.width && config.height && { width: config.width, height: config.height }),
        input: videoInput(config),
      });
  }
}

function videoInput(config: Extract<StreamConfig, { source: 'video' }>): VideoInput {
  if (config.file !== undefined) return { file: config.file, loop: config.loop ?? true };
  if (config.device !== undefined) return { device: config.device };
  if (config.url !== undefined) return { url: config.url };
  if (config.lavfi !== undefined) return { lavfi: config.lavfi };
  throw new Error('source: video needs one of file, device, url, lavfi');
}
