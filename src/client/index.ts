// The `framehub/client` entry point: isomorphic (browsers, Node >= 20, Deno, Bun), no Node
// built-ins at import time. Internal modules are not re-exported.
export {
  PixelSocket, type PixelSocketOptions, type ImageMetadata, type ConnectionStats,
} from './pixel-socket.js';
export {
  WebSocketClient, ClientEvent, parseEvent,
  type WebSocketClientOptions, type EventTypeMap, type EventHandler, type BaseEvent,
  type ImageGenerationStartedEvent, type ImageGenerationProgressEvent, type ImageGenerationCompletedEvent,
  type ImageGenerationFailedEvent, type SystemNotificationEvent, type ConnectedEvent, type DisconnectedEvent, type ReconnectingEvent,
  type ErrorEvent,
} from './websocket-client.js';
export {
  ReconnectingSocket, ConnectionStates, SocketEvent, HEARTBEAT_TIMEOUT_CODE,
  type ConnectionState, type StateChangeEvent, type ErrorContext, type SocketEvents, type ReconnectingSocketOptions,
  type TokenProvider,
} from './reconnecting-socket.js';
export {
  ExponentialBackoff, FixedDelay, NO_RECONNECT,
  type ReconnectPolicy, type CloseInfo, type ExponentialBackoffOptions, type FixedDelayOptions,
} from '../util/reconnect-policy.js';
export { StopOnCloseCodes } from './close-code-policy.js';
export { CloseCode, FINAL_CLOSE_CODES } from '../wire/close-codes.js';
export {
  StreamClient, StreamClientEvent, parseStreamMessage,
  type StreamClientOptions, type StreamClientEvents, type StreamFrameEvent, type StreamMessage,
  type StreamFrame, type StreamStats, type StreamServerError, type StreamOptions,
} from './stream-client.js';
export { ReceiveStats } from './receive-stats.js';
export {
  VideoPlayer, VideoPlayerEvent,
  type VideoPlayerOptions, type VideoPlayerStats, type VideoPlayerEvents, type PlayerCanvas,
} from './video-player.js';
export { parseVideoUnit, VIDEO_TIER_NAMES, type VideoUnitMessage, type VideoTierName, type VideoTierChoice } from '../wire/video-unit.js';
export { parseDataUrl, type DataUrl } from './base64.js';
export { decodeMessage, type DecodedImage, type DecodeResult } from './image-decoder.js';
export type { WebSocketLike, WebSocketConstructor } from './websocket-impl.js';
export type { Clock } from '../util/clock.js';
export type { ImageFormat, ImageInfo } from '../image/sniff.js';
