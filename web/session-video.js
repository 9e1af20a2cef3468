// The session page's picture as H.264 (docs/video.md): where the browser decodes it (WebCodecs,
// on a secure context: https or localhost), frames come from `WS /video/session:<id>` through
// the client library's VideoPlayer, drawn on a canvas laid over the <img> that takes the input;
// Socket.IO then subscribes with `frames: false` and carries events and input only. `?video=jpeg`
// keeps the seed's JPEG frames over Socket.IO.
import { VideoPlayer, VideoPlayerEvent } from '/framehub-client.min.js';

/** Whether this page plays H.264: the browser can, and the URL does not ask for JPEG. */
export function wantsVideo() {
  return VideoPlayer.supported && new URLSearchParams(location.search).get('video') !== 'jpeg';
}

/**
 * The picture of one session at a time. The <img> keeps its place and its input handlers: it
 * shows a transparent picture of the session's size (so it lays out, scales and maps
 * coordinates as with JPEG frames), and the canvas on top draws the decoded video.
 */
export class SessionVideo {
  /**
   * @param {HTMLImageElement} screen
   * @param {string} token
   * @param {(bytes: number, capturedAt: number) => void} onFrame each picture drawn, with the bytes received for it
   */
  constructor(screen, token, onFrame) {
    this.screen = screen;
    this.token = token;
    this.onFrame = onFrame;
    /** @type {VideoPlayer | null} */
    this.player = null;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'screen-video';
    this.canvas.dataset.testid = 'screen-video';
    screen.insertAdjacentElement('afterend', this.canvas);
  }

  /** Plays session `id`, `width`×`height` CSS pixels; replaces what played before. */
  play(id, width, height) {
    this.stop();
    this.screen.src = `data:image/svg+xml,${encodeURIComponent(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"/>`)}`;
    const player = new VideoPlayer({ url: location.origin, stream: `session:${id}`, canvas: this.canvas, ...(this.token && { token: this.token }) });
    let counted = 0;
    player.on(VideoPlayerEvent.Frame, ({ capturedAt }) => {
      const { bytes } = player.stats;
      this.onFrame(bytes - counted, capturedAt);
      counted = bytes;
    });
    this.player = player;
    player.connect();
  }

  stop() {
    this.player?.close();
    this.player = null;
  }
}
