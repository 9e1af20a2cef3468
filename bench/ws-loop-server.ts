import { WebSocketServer, WebSocket } from 'ws';
import { PatternSource } from '../src/sources/pattern-source.js';
import { ReaderDemand } from '../src/hub/reader-demand.js';
import { BenchSource } from './bench-source.js';
import { runServerChild } from './child-ipc.js';

/**
 * Child process, baseline (a): the bare `ws` broadcast loop. Every frame goes to every open
 * client whose `bufferedAmount` is 0; a busy client skips the frame. Nothing else. The frames
 * are the bench's pre-encoded ones, or with `--source demo` the demo pattern's.
 */
await runServerChild(async ({ fps, frameBytes, quality, source: sourceKind }) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  // `--source demo`: framehub's own demo pattern, drawn and encoded here as in framehub's process.
  const bench = sourceKind === 'demo' ? undefined : new BenchSource({ fps, frameBytes, quality });
  const frameSizes = bench ? await bench.prepare() : [];
  const source = bench ?? new PatternSource({ fps, quality });
  // A bare loop sends the demo's JPEG only: no reader of its raw pixels (demand.ts), as in framehub with only pass-through viewers.
  source.useDemand(new ReaderDemand());
  source.on('frame', function sourceOnFrame(frame) {
    for (const ws of wss.clients) {
      if (ws.readyState === WebSocket.OPEN && ws.bufferedAmount === 0) ws.send(frame.bytes, { binary: true });
    }
  });
  await source.start();
  const address = wss.address();
  return { port: typeof address === 'object' && address ? address.port : 0, frameSizes, wireBytes: bench?.sampleBytes ?? 0 };
});
