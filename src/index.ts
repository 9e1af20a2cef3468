// The `framehub` entry point: the server side. Internal modules are not re-exported.
export { createServer, type FramehubServer, type ServerOptions } from './server/create-server.js';
export { loadConfig, ConfigError, type Config, type StreamConfig } from './config/config.js';
export { Hub, type StreamResolver } from './hub/hub.js';
export { Stream, type StreamStats, type StreamNotice, type SubscribeOptions, type Subscription } from './hub/stream.js';
export type { Deliver, DeliveryDone, FrameSink } from './hub/subscriber-slot.js';
export type { Frame } from './sources/frame.js';
export type { VariantSpec } from './hub/variant-spec.js';
export type { Encoder, EncodedImage } from './hub/encoder.js';
export { Source, type SourceEvents, type SourceFrame } from './sources/source.js';
export { PatternSource, type PatternOptions } from './sources/pattern-source.js';
export { VideoSource, type VideoSourceOptions, type VideoInput } from './sources/video-source.js';
export { X11ScreenSource, type X11ScreenOptions } from './sources/x11-screen-source.js';
export { X11WindowSource, type X11WindowOptions } from './sources/x11-window-source.js';
export { listWindows, type WindowInfo } from './sources/x11-windows.js';
export { sniffImage, type ImageFormat, type ImageInfo } from './image/sniff.js';
export { ErrorCode, FramehubError } from './wire/errors.js';
export { CloseCode } from './wire/close-codes.js';
