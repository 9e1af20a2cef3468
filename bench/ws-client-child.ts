import { ClientSwarm } from './client-swarm.js';

/**
 * Child process holding some of a run's `ws` library clients (bench/ws-client-children.ts):
 * a `ws` client assembles every message into a fresh Buffer, about three times the raw
 * client's cost, so they are spread over a few processes, whose CPU is their own. Answers its
 * parent over IPC; exits when the parent goes away.
 */
export type WsChildRequest =
  | { type: 'connect'; id: number; count: number; concurrency: number; timeoutMs: number }
  | { type: 'first-frames'; id: number; timeoutMs: number }
  | { type: 'counts'; id: number }
  | { type: 'record'; id: number }
  | { type: 'recorded'; id: number }
  | { type: 'cpu'; id: number };

export interface WsChildReply {
  id: number;
  error?: string;
  frames?: number[];
  bytes?: number;
  /** Latencies as a plain array (IPC is JSON). */
  latencies?: number[];
  unstamped?: number;
  cpuMicros?: number;
}

if (process.send) {
  const swarm = new ClientSwarm('ws', process.argv[2]!);
  process.on('disconnect', function parentOnDisconnect() {
    void swarm.close();
    process.exit(0);
  });
  process.on('message', function parentOnMessage(request: WsChildRequest) {
    void answer(request).then(
      (reply) => process.send?.({ id: request.id, ...reply }),
      (error: unknown) => process.send?.({ id: request.id, error: (error as Error).message }),
    );
  });

  // Ready: messages sent before this listener existed would have been lost.
  process.send({ id: 0 });

  async function answer(request: WsChildRequest): Promise<Omit<WsChildReply, 'id'>> {
    switch (request.type) {
      case 'connect':
        await swarm.connect(request.count, request.concurrency, request.timeoutMs);
        return {};
      case 'first-frames':
        await swarm.firstFrames(request.timeoutMs);
        return {};
      case 'counts':
        return await swarm.counts();
      case 'record':
        swarm.record();
        return {};
      case 'recorded': {
        const { latencies, unstamped } = await swarm.recorded();
        return { latencies: Array.from(latencies), unstamped };
      }
      case 'cpu':
        return { cpuMicros: await swarm.cpuMicros() };
    }
  }
}
