// The `framehub/react` entry point: hooks over `framehub/client`. React is a peer dependency.
export { useWebSocket, type UseWebSocketResult } from './use-websocket.js';
export { useLatestImage, type LatestImage, type UseLatestImageResult, type UseLatestImageOptions } from './use-latest-image.js';
