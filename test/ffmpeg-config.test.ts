import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { createSource } from '../src/sources/create-source.js';
import { VideoSource } from '../src/sources/video-source.js';
import { X11ScreenSource } from '../src/sources/x11-screen-source.js';
import { X11WindowSource } from '../src/sources/x11-window-source.js';

const streams = (s: Record<string, unknown>) => loadConfig({ overrides: { streams: s as never } }).streams;

describe('stream config for ffmpeg sources', { timeout: 120_000 }, () => {
  it('accepts screen, window and video streams and builds their sources', () => {
    const parsed = streams({
      desk: { source: 'screen', fps: 30, display: ':5', mouse: false },
      win: { source: 'window', window: '0x400001' },
      clip: { source: 'video', file: '/tmp/a.mp4', loop: false, width: 640, height: 360, quality: 70 },
      cam: { source: 'video', device: '/dev/video0', fps: 15 },
      cctv: { source: 'video', url: 'rtsp://camera.local/stream1' },
      bars: { source: 'video', lavfi: 'testsrc2=size=1280x720:rate=30' },
      demo: { source: 'pattern' },
    });
    assert.deepEqual(parsed['win'], { source: 'window', window: 0x400001 });
    assert.deepEqual(parsed['clip'], { source: 'video', file: '/tmp/a.mp4', loop: false, width: 640, height: 360, quality: 70 });
    const defaults = { quality: 80, captureFps: 12 };
    const desk = createSource('desk', parsed['desk']!, defaults);
    assert.ok(desk instanceof X11ScreenSource);
    assert.equal((desk as X11ScreenSource).fps, 30);
    const win = createSource('win', parsed['win']!, defaults) as X11WindowSource;
    assert.ok(win instanceof X11WindowSource);
    assert.deepEqual([win.windowId, win.fps, win.quality], [0x400001, 12, 80]);
    const clip = createSource('clip', parsed['clip']!, defaults) as VideoSource;
    assert.deepEqual([clip.input, clip.quality, clip.fps], [{ file: '/tmp/a.mp4', loop: false }, 70, 30]);
    assert.deepEqual((createSource('cam', parsed['cam']!, defaults) as VideoSource).input, { device: '/dev/video0' });
    assert.deepEqual((createSource('bars', parsed['bars']!, defaults) as VideoSource).input, { lavfi: 'testsrc2=size=1280x720:rate=30' });
    assert.equal((streams({ f: { source: 'video', file: 'x.mp4' } })['f'] as { loop?: boolean }).loop, undefined, 'loop defaults in the source (true)');
  });

  it('refuses bad stream settings with a message naming the setting', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ source: 'video' }, /exactly one of file, device, url, lavfi \(got none\)/],
      [{ source: 'video', file: 'a.mp4', url: 'http://x/y' }, /exactly one of .* \(got file and url\)/],
      [{ source: 'video', url: 'http://x/y', loop: true }, /loop only applies to file inputs/],
      [{ source: 'video', url: 'ftp://x/y' }, /url must be an rtsp:\/\//],
      [{ source: 'video', device: 'video0' }, /device must be a device path/],
      [{ source: 'video', lavfi: 'color', width: 640 }, /both width and height/],
      [{ source: 'window' }, /window is required/],
      [{ source: 'window', window: 'abc' }, /must be an X window id/],
      [{ source: 'window', window: 1, width: 100, height: 100 }, /unknown setting "width" for source: window/],
      [{ source: 'screen', file: 'a.mp4' }, /unknown setting "file" for source: screen/],
      [{ source: 'screen', fps: 120 }, /fps must be an integer from 1 to 60/],
      [{ source: 'webcam' }, /must be one of: pattern, screen, window, video/],
    ];
    for (const [stream, message] of cases) {
      assert.throws(() => streams({ s: stream }), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(stream));
    }
  });

  it('turns screen capture on from the flag, SCREEN=1 or the file, display from DISPLAY', () => {
    assert.equal(loadConfig({}).screen, false);
    assert.equal(loadConfig({ flags: { screen: true as never } }).screen, true);
    assert.equal(loadConfig({ env: { SCREEN: '1', DISPLAY: ':7' } }).screen, true);
    assert.equal(loadConfig({ env: { DISPLAY: ':7' } }).display, ':7');
    assert.equal(loadConfig({ env: { CAPTURE_FPS: '30' } }).captureFps, 30);
    assert.throws(() => loadConfig({ env: { SCREEN: 'maybe' } }), /SCREEN must be true or false/);
  });
});
