import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { WebSocket, type RawData } from 'ws';
import type { ClusterView } from '../src/cluster/cluster.js';
import { ascending, median } from './percentiles.js';

// `npm run bench -- --scenario cluster`: three framehub processes over one redis-server on this
// machine, viewers of the demo stream on each. Counts the frames that cross Redis per node per
// source frame, each node's CPU per delivered GB (owner against followers), and the failover
// time over repeated kill -9 of the owner (a new node is started after each kill).

const BIN = fileURLToPath(new URL('../bin/framehub.js', import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);

export const CLUSTER_HELP = `npm run bench -- --scenario cluster [options]
  --nodes <n>        framehub processes (default 3)
  --viewers <n>      /ws/video_feed viewers per node (default 10)
  --duration <s>     measured seconds (default 20)
  --kills <n>        owner kills for the failover figure (default 20)
`;

interface Node {
  child: ChildProcess;
  http: string;
  ws: string;
  id: string;
  viewers: Viewer[];
}

interface Viewer {
  ws: WebSocket;
  frames: number;
  bytes: number;
  waiting: Set<(at: number) => void>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function startRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (data: Buffer) => {
      out += data;
      if (/Ready to accept connections/.test(out)) resolve();
    });
    child.once('exit', () => reject(new Error(`redis-server exited:\n${out}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

async function startNode(redis: string, viewers: number): Promise<Node> {
  const child = spawn(process.execPath, ['--max-semi-space-size=2', BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--redis', redis, '--idle-grace', '5', '--image-dir', `/tmp/framehub-bench-cluster-${process.pid}-${Date.now()}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (data: Buffer) => {
      out += data;
      const match = /framehub serving .* at (http:\/\/[^"\s]+)/.exec(out);
      if (match) resolve(match[1]!.replace('localhost', '127.0.0.1'));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => reject(new Error(`framehub exited:\n${out}`)));
  });
  child.stdout!.resume();
  child.stderr!.resume();
  const view = (await (await fetch(`${url}/api/cluster`)).json()) as ClusterView;
  const node: Node = { child, http: url, ws: url.replace('http', 'ws'), id: view.node, viewers: [] };
  for (let i = 0; i < viewers; i++) node.viewers.push(await openViewer(node));
  return node;
}

async function openViewer(node: Node): Promise<Viewer> {
  const ws = new WebSocket(`${node.ws}/ws/video_feed`);
  const viewer: Viewer = { ws, frames: 0, bytes: 0, waiting: new Set() };
  ws.on('error', () => undefined);
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (!isBinary) return;
    viewer.frames++;
    viewer.bytes += (data as Buffer).length;
    const at = performance.now();
    for (const resolve of viewer.waiting) resolve(at);
    viewer.waiting.clear();
  });
  await once(ws, 'open');
  return viewer;
}

const nextFrame = (viewer: Viewer) => new Promise<number>((resolve) => viewer.waiting.add(resolve));
const view = async (node: Node) => (await (await fetch(`${node.http}/api/cluster`)).json()) as ClusterView;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Clock ticks (user + system) of a process, from /proc: its CPU seconds × 100. */
async function cpuTicks(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function kill(node: Node): Promise<unknown> {
  for (const viewer of node.viewers) viewer.ws.terminate();
  node.child.kill('SIGKILL');
  return once(node.child, 'exit');
}

export async function runClusterBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { scenario: { type: 'string' }, nodes: { type: 'string' }, viewers: { type: 'string' }, duration: { type: 'string' }, kills: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return void process.stdout.write(CLUSTER_HELP);
  const nodeCount = Number(values.nodes ?? 3);
  const viewersPerNode = Number(values.viewers ?? 10);
  const duration = Number(values.duration ?? 20);
  const kills = Number(values.kills ?? 20);
  const redis = await startRedis();
  const nodes: Node[] = [];
  try {
    // The first node's viewers arrive first: it takes the lease and runs the source.
    for (let i = 0; i < nodeCount; i++) nodes.push(await startNode(redis.url, viewersPerNode));
    await sleep(5_000); // warm-up: every node encoding, every viewer receiving
    const before = await view(nodes[0]!);
    const ticksBefore = await Promise.all(nodes.map((n) => cpuTicks(n.child.pid!)));
    const bytesBefore = nodes.map((n) => n.viewers.reduce((sum, v) => sum + v.bytes, 0));
    await sleep(duration * 1000);
    const ticksAfter = await Promise.all(nodes.map((n) => cpuTicks(n.child.pid!)));
    const bytesAfter = nodes.map((n) => n.viewers.reduce((sum, v) => sum + v.bytes, 0));
    await sleep(1_500); // one more heartbeat of every node: its counters as of the end
    const after = await view(nodes[0]!);
    const owner = after.streams['demo']!.owner;
    const counter = (v: ClusterView, id: string, key: 'published' | 'received') => v.nodes.find((n) => n.id === id)?.streams.find((s) => s.id === 'demo')?.[key] ?? 0;
    const published = counter(after, owner!, 'published') - counter(before, owner!, 'published');
    const rows: string[] = [];
    const perGb: number[] = [];
    nodes.forEach((node, i) => {
      const isOwner = node.id === owner;
      const received = counter(after, node.id, 'received') - counter(before, node.id, 'received');
      const cpuSeconds = (ticksAfter[i]! - ticksBefore[i]!) / 100;
      const gb = (bytesAfter[i]! - bytesBefore[i]!) / 1e9;
      perGb.push(cpuSeconds / gb);
      rows.push(`| ${i + 1} | ${isOwner ? 'owner' : 'follower'} | ${isOwner ? published : received} ${isOwner ? 'published' : 'received'} (${isOwner ? '1' : (received / published).toFixed(3)} per source frame) | ${(cpuSeconds / duration * 100).toFixed(1)} % | ${(gb * 1000 / duration).toFixed(1)} MB/s | ${(cpuSeconds / gb).toFixed(1)} |`);
    });
    const ownerIndex = nodes.findIndex((n) => n.id === owner);
    const followerRatios = perGb.filter((_, i) => i !== ownerIndex).map((v) => v / perGb[ownerIndex]!);
    process.stdout.write(`\n${nodeCount} nodes, ${viewersPerNode} viewers each, ${duration} s, source frames published: ${published}\n\n`);
    process.stdout.write('| node | role | frames through Redis | CPU | delivered | CPU s per GB |\n| --- | --- | --- | --- | --- | --- |\n');
    process.stdout.write(`${rows.join('\n')}\n\nfollower CPU per GB / owner's: ${followerRatios.map((r) => r.toFixed(2)).join(', ')}\n`);

    // Failover: kill the owner, time until a viewer on another node gets a frame from the new owner.
    const pauses: number[] = [];
    for (let k = 0; k < kills; k++) {
      const current = (await view(nodes[0]!)).streams['demo']!.owner;
      const victim = nodes.find((n) => n.id === current);
      if (!victim) throw new Error(`no running node owns demo (owner ${current})`);
      const survivor = nodes.find((n) => n !== victim)!;
      const killedAt = performance.now();
      await kill(victim);
      nodes.splice(nodes.indexOf(victim), 1);
      for (;;) {
        const owner = (await view(survivor).catch(() => undefined))?.streams['demo']?.owner;
        if (owner && owner !== victim.id) break;
        await sleep(20);
      }
      const resumed = await nextFrame(survivor.viewers[0]!);
      pauses.push(resumed - killedAt);
      log(`kill ${k + 1}/${kills}: frames resumed after ${Math.round(resumed - killedAt)} ms`);
      nodes.push(await startNode(redis.url, viewersPerNode));
      await sleep(1_000);
    }
    if (pauses.length > 0) process.stdout.write(`\nfailover over ${pauses.length} kills of the owner: median ${Math.round(median(ascending(pauses)))} ms, max ${Math.round(Math.max(...pauses))} ms\n`);
  } finally {
    await Promise.all(nodes.map(kill));
    redis.child.kill('SIGKILL');
  }
}
