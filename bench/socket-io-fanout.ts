import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Server, type Socket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { PreframedSocketIoPacket, writeSocketIoPacket } from '../src/server/preframed.js';

const HELP = `Usage: node --import tsx bench/socket-io-fanout.ts [options]

Server CPU per Socket.IO frame delivery: one \`frame\` event of ~87 KB (a 64 KiB image in base64,
as seeds/003 sends it) to N websocket clients at a fixed rate, written two ways in turn:

  engine      the packet string built once per frame, engine.io frames it per client
              (socket.conn.write(string)): what framehub did before src/server/preframed.ts
  preframed   encoded and framed once per frame (PreframedSocketIoPacket), one socket write of
              the shared bytes per client (writeSocketIoPacket): what framehub does

Each client has one write in flight at most, as a subscriber slot. The server runs in a child
process; the clients in this one.

  --clients <n>   clients (default 20)
  --fps <n>       frames per second (default 30)
  --seconds <s>   measured seconds per run, after 5 s of warm-up (default 15)
  --rounds <n>    rounds, each running both ways, in alternating order (default 5)
`;

type Way = 'engine' | 'preframed';

/** Child: the Socket.IO server, sending frames when told to, reporting its CPU. */
async function serve(way: Way, fps: number): Promise<void> {
  const http = createServer();
  const io = new Server(http, { perMessageDeflate: false, httpCompression: false });
  const sockets = new Set<Socket>();
  const busy = new WeakSet<Socket>();
  io.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('disconnect', () => sockets.delete(socket));
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const images = Array.from({ length: 4 }, () => randomBytes(64 * 1024));
  let seq = 0;
  let writes = 0;
  let previous: PreframedSocketIoPacket | undefined;
  const tick = () => {
    const image = images[seq++ % images.length]!;
    const payload = { image: image.toString('base64'), timestamp: Date.now(), size: image.length };
    if (way === 'engine') {
      const packet = `2${JSON.stringify(['frame', payload])}`;
      for (const socket of sockets) {
        if (busy.has(socket)) continue;
        busy.add(socket);
        writes++;
        socket.conn.write(packet, { compress: false }, () => busy.delete(socket));
      }
    } else {
      const packet = new PreframedSocketIoPacket(io.encoder, 'frame', payload);
      for (const socket of sockets) {
        if (busy.has(socket)) continue;
        busy.add(socket);
        writes++;
        writeSocketIoPacket(socket.conn, packet, () => busy.delete(socket));
      }
      previous?.retire();
      previous = packet;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  let start = process.cpuUsage();
  process.on('message', function processOnMessage(message: string) {
    if (message === 'go') timer = setInterval(tick, 1000 / fps);
    if (message === 'mark') {
      start = process.cpuUsage();
      writes = 0;
    }
    if (message === 'report') {
      clearInterval(timer);
      const { user, system } = process.cpuUsage(start);
      process.send!({ cpuMs: (user + system) / 1000, writes }, () => process.exit(0));
    }
  });
  process.send!({ port: (http.address() as { port: number }).port });
}

interface RunResult { way: Way; cpuPercent: number; cpuUsPerWrite: number; fps: number }

async function run(way: Way, clients: number, fps: number, seconds: number): Promise<RunResult> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['child', way, String(fps)], {
    execArgv: ['--import', 'tsx', '--max-semi-space-size=2'],
  });
  child.on('error', (error) => process.stderr.write(`child: ${error.message}\n`));
  const [{ port }] = (await once(child, 'message')) as [{ port: number }];
  let received = 0;
  const sockets: ClientSocket[] = [];
  for (let i = 0; i < clients; i++) {
    const socket = connect(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
    socket.on('frame', () => received++);
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
  }
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  child.send('go');
  await sleep(5000);
  child.send('mark');
  received = 0;
  const startedAt = performance.now();
  await sleep(seconds * 1000);
  const reported = once(child, 'message');
  child.send('report');
  const [{ cpuMs, writes }] = (await reported) as [{ cpuMs: number; writes: number }];
  const elapsed = (performance.now() - startedAt) / 1000;
  for (const socket of sockets) socket.disconnect();
  if (child.exitCode === null) await once(child, 'exit');
  return { way, cpuPercent: cpuMs / elapsed / 10, cpuUsPerWrite: (cpuMs * 1000) / writes, fps: received / elapsed / clients };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

if (process.argv[2] === 'child') {
  await serve(process.argv[3] as Way, Number(process.argv[4]));
} else {
  const { values } = parseArgs({
    options: { clients: { type: 'string' }, fps: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const clients = Number(values.clients ?? 20);
  const fps = Number(values.fps ?? 30);
  const seconds = Number(values.seconds ?? 15);
  const rounds = Number(values.rounds ?? 5);
  const results: RunResult[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternating order, so a drift in the machine's load falls on both ways alike.
    for (const way of (round % 2 ? ['preframed', 'engine'] : ['engine', 'preframed']) as Way[]) {
      const result = await run(way, clients, fps, seconds);
      results.push(result);
      console.log(`round ${round + 1} ${way}: ${result.cpuUsPerWrite.toFixed(1)} µs server CPU per delivery, ${result.cpuPercent.toFixed(1)} % CPU, ${result.fps.toFixed(1)} fps per client`);
    }
  }
  for (const way of ['engine', 'preframed'] as Way[]) {
    const mine = results.filter((r) => r.way === way);
    console.log(`${way}: median ${median(mine.map((r) => r.cpuUsPerWrite)).toFixed(1)} µs per delivery, ${median(mine.map((r) => r.cpuPercent)).toFixed(1)} % CPU, ${median(mine.map((r) => r.fps)).toFixed(1)} fps per client (${clients} clients, ${fps} fps, ${rounds} rounds)`);
  }
  process.exit(0);
}
