import { readFileSync } from 'node:fs';

export interface KernelQueues {
  /** Bytes waiting in the server side's send queues (sockets whose local port is `port`). */
  serverSend: number;
  /** Bytes waiting, unread, in the clients' receive queues (sockets whose remote port is `port`). */
  clientReceive: number;
}

/**
 * Sums the kernel's TCP queues of every connection to `port` on this machine, from
 * /proc/net/tcp{,6}. A stalled client's data piles up there, outside any process's RSS,
 * until the socket buffers are full; only then does the server's write stay pending.
 */
export function kernelQueues(port: number): KernelQueues {
  const queues: KernelQueues = { serverSend: 0, clientReceive: 0 };
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 5) continue;
      const localPort = parseInt(fields[1]!.split(':')[1]!, 16);
      const remotePort = parseInt(fields[2]!.split(':')[1]!, 16);
      const [tx, rx] = fields[4]!.split(':').map((hex) => parseInt(hex, 16));
      if (localPort === port) queues.serverSend += tx!;
      if (remotePort === port) queues.clientReceive += rx!;
    }
  }
  return queues;
}
