import { WebSocketServer, WebSocket } from 'ws';
import { BenchSource } from './bench-source.js';
import { runServerChild } from './child-ipc.js';

/**
 * Child process, baseline (a): the bare `ws` broadcast loop. Every frame goes to every open
 * client whose `bufferedAmount` is 0; a busy client skips the frame. Nothing else.
 */
await runServerChild(async ({ fps, frameBytes, quality }) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const source = new BenchSource({ fps, frameBytes, quality });
  const frameSizes = await source.prepare();
  source.on('frame', function sourceOnFrame(frame) {
    for (const ws of wss.clients) {
      if (ws.readyState === WebSocket.OPEN && ws.bufferedAmount === 0) ws.send(frame.bytes, { binary: true });
    }
  });
  await source.start();
  const address = wss.address();
  return { port: typeof address === 'object' && address ? address.port : 0, frameSizes, wireBytes: source.sampleBytes };
});
