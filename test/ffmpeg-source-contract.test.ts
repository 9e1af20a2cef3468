import { after, before, describe, it } from 'node:test';
import { XClient, sourceContract, startXvfb, type XServer } from './capture-helpers.js';
import { PatternSource } from '../src/sources/pattern-source.js';
import { VideoSource } from '../src/sources/video-source.js';
import { X11ScreenSource } from '../src/sources/x11-screen-source.js';
import { X11WindowSource } from '../src/sources/x11-window-source.js';
import { PlaybackSource } from '../src/recording/playback-source.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './temp-dir.js';

/** The shared Source contract, run against every source kind of the capture work (and pattern, as the reference). */
describe('Source contract: pattern (reference)', { timeout: 120_000 }, () => {
  sourceContract(it, () => new PatternSource({ width: 160, height: 90, fps: 30 }));
});

describe('Source contract: video (lavfi)', { timeout: 120_000 }, () => {
  sourceContract(it, () => new VideoSource({ fps: 15, quality: 80, input: { lavfi: 'testsrc2=size=160x90:rate=15' } }));
});

describe('Source contract: a recording played back', { timeout: 120_000 }, () => {
  let dir: { path: string; cleanup(): Promise<void> };
  let file = '';
  before(async () => {
    dir = await tempDir();
    file = join(dir.path, 'clip.mp4');
    // A fragmented MP4 as the recorder writes them, long enough not to end under the contract.
    await promisify(execFile)('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=15:duration=30', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-pix_fmt', 'yuv420p', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', '-y', file]);
  });
  after(async () => {
    await dir?.cleanup();
  });
  sourceContract(it, () => new PlaybackSource({ fps: 15, quality: 80, recordingId: 'contract', file, isRecording: () => false }));
});

describe('Source contract: X11 screen and window', { timeout: 120_000 }, () => {
  let x: XServer;
  let client: XClient;
  let win = 0;
  before(async () => {
    x = await startXvfb(320, 240);
    client = await XClient.open(x.display);
    win = await client.createWindow({ x: 20, y: 20, width: 100, height: 60, rgb: 0x00ffff, title: 'contract' });
  });
  after(async () => {
    client?.close();
    await x?.stop();
  });
  describe('screen', () => {
    sourceContract(it, () => new X11ScreenSource({ fps: 15, quality: 80, display: x.display }));
  });
  describe('window', () => {
    sourceContract(it, () => new X11WindowSource({ fps: 15, quality: 80, display: x.display, windowId: win }));
  });
});
