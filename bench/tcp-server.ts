import { createServer, type Socket } from 'node:net';
import { PatternSource } from '../src/sources/pattern-source.js';
import { ReaderDemand } from '../src/hub/reader-demand.js';
import { BenchSource } from './bench-source.js';
import { runServerChild } from './child-ipc.js';

/**
 * Child process, baseline (b): plain TCP. Each frame is a 4-byte big-endian length and the
 * bytes; the same skip rule as the ws loop (a socket with unflushed data skips the frame).
 */
await runServerChild(async ({ fps, frameBytes, quality, source: sourceKind }) => {
  const sockets = new Set<Socket>();
  const server = createServer(function serverOnConnection(socket) {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bench = sourceKind === 'demo' ? undefined : new BenchSource({ fps, frameBytes, quality });
  const frameSizes = bench ? await bench.prepare() : [];
  const source = bench ?? new PatternSource({ fps, quality });
  // A bare loop sends the demo's JPEG only: no reader of its raw pixels (demand.ts), as in framehub with only pass-through viewers.
  source.useDemand(new ReaderDemand());
  source.on('frame', function sourceOnFrame(frame) {
    // One length prefix per frame, shared by every socket, like a pre-framed broadcast.
    const prefix = Buffer.allocUnsafe(4);
    prefix.writeUInt32BE(frame.bytes.length, 0);
    for (const socket of sockets) {
      if (socket.writableLength > 0 || !socket.writable) continue;
      socket.cork();
      socket.write(prefix);
      socket.write(frame.bytes);
      socket.uncork();
    }
  });
  await source.start();
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, frameSizes, wireBytes: bench?.sampleBytes ?? 0 };
});
