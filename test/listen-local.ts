import { once } from 'node:events';
import type { Server } from 'node:net';

/** Listens on 127.0.0.1 on a port the system picks (port 0) and resolves with that port. */
export async function listenLocal(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('the server has no TCP address');
  return address.port;
}
