import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { nextBinary, openSocket, startServer, type TestServer } from './helpers.js';
import { colourNear, meanColour } from './capture-helpers.js';
import { withTimeout as within } from './wait.js';
import { sniffImage } from '../src/image/sniff.js';
import type { Stream } from '../src/hub/stream.js';

/**
 * A real RTSP server: GStreamer's gst-rtsp-server (Debian gir1.2-gst-rtsp-server-1.0, driven
 * from /usr/bin/python3 through python3-gi) on 127.0.0.1 and a port the kernel picks. It
 * serves `launch` (a GStreamer pipeline whose payloader is `pay0`) at `mount`, prints
 * `port N` once it listens and `setup <Transport header>` for every SETUP a client sends, and
 * exits when its stdin closes, so it cannot outlive the test process.
 *
 * Not the npm package rtsp-streaming-server nor Debian's rtsp-server-perl: both relay RTP over
 * UDP only and refuse the RTP-over-TCP SETUP that framehub's ffmpeg sends (461 / 400).
 */
const RTSP_SERVER_PY = `
import sys, gi
gi.require_version('Gst', '1.0'); gi.require_version('GstRtsp', '1.0'); gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
Gst.init(None)
launch, mount = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer(address='127.0.0.1', service='0')
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(launch)
factory.set_shared(True)
server.get_mount_points().add_factory(mount, factory)
def on_setup(client, ctx):
    result, transport = ctx.request.get_header(GstRtsp.RTSPHeaderField.TRANSPORT, 0)
    print('setup ' + (transport or ''), flush=True)
server.connect('client-connected', lambda s, client: client.connect('setup-request', on_setup))
if server.attach(None) == 0:
    sys.exit('gst-rtsp-server could not listen on 127.0.0.1')
print('port %d' % server.get_bound_port(), flush=True)
loop = GLib.MainLoop()
GLib.io_add_watch(GLib.IOChannel.unix_new(0), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, lambda *a: loop.quit())
loop.run()
`;

/** A 160x90 magenta H.264 camera at 15 fps, a key frame every second, SPS/PPS with each one. */
const MAGENTA_H264 =
  'videotestsrc pattern=solid-color foreground-color=0xffff00ff is-live=true ! video/x-raw,width=160,height=90,framerate=15/1 ' +
  '! openh264enc gop-size=15 ! rtph264pay name=pay0 pt=96 config-interval=-1';

interface RtspServer {
  url: string;
  /** The Transport header of every SETUP request received so far. */
  setups: string[];
  process: ChildProcess;
  stop(): Promise<void>;
}

async function startRtspServer(launch: string, mount: string): Promise<RtspServer> {
  const child = spawn('/usr/bin/python3', ['-c', RTSP_SERVER_PY, launch, mount], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const setups: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('the RTSP server did not report its port within 10 s')), 10_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    lines.on('line', (line) => {
      const setup = /^setup (.*)$/.exec(line);
      if (setup) return void setups.push(setup[1]!);
      const listening = /^port (\d+)$/.exec(line);
      if (!listening) return;
      clearTimeout(timer);
      resolve(Number(listening[1]));
    });
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`the RTSP server exited (${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`)));
  });
  return {
    url: `rtsp://127.0.0.1:${port}${mount}`,
    setups,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin!.end(); // its main loop quits on EOF
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** An RTSP camera end to end: real RTSP server, real ffmpeg pulling from it, real sockets. */
describe('RTSP source through ffmpeg (gst-rtsp-server on 127.0.0.1)', { timeout: 60_000 }, () => {
  let rtsp: RtspServer;
  let s: TestServer;
  before(async () => {
    rtsp = await startRtspServer(MAGENTA_H264, '/cam');
    s = await startServer({ streams: { cam: { source: 'video', url: rtsp.url, fps: 15 } } });
  });
  after(async () => {
    await s?.close();
    await rtsp?.stop();
  });

  it('streams an rtsp:// URL as JPEG frames of the camera size and colour on /ws/video_feed', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=cam`);
    try {
      const frames: Buffer[] = [];
      // The first frame waits for ffmpeg's RTSP handshake, stream probe and a key frame (~3 s).
      for (let i = 0; i < 3; i++) frames.push(await within(nextBinary(ws), 20_000, `frame ${i + 1} from the RTSP stream`));
      for (const frame of frames) assert.deepEqual(sniffImage(frame), { format: 'jpeg', mimeType: 'image/jpeg', width: 160, height: 90 });
      const mean = await meanColour(frames[2]!);
      assert.ok(colourNear(mean, 0xff00ff), `mean colour ${mean} is magenta`);
      assert.equal((s.server.hub.resolve('cam') as Stream).source.kind, 'video');
    } finally {
      ws.close();
    }
  });

  it('asks the RTSP server for RTP interleaved over TCP, never UDP', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=cam`);
    try {
      await within(nextBinary(ws), 20_000, 'a frame from the RTSP stream');
    } finally {
      ws.close();
    }
    assert.ok(rtsp.setups.length >= 1, 'ffmpeg sent SETUP');
    for (const transport of rtsp.setups) assert.match(transport, /^RTP\/AVP\/TCP;unicast;interleaved=/, `SETUP Transport: ${transport}`);
  });
});
