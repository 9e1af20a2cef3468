import { killHard, spawnServer, type ServerProcess } from './server-process.js';
import { tempDir, type TestCleanup } from './temp-dir.js';

// What the cluster session tests share: `framehub serve` nodes over one redis-server (npm run
// build first: they run from dist/), with static tokens of two owners and an admin.

/** Two owners (static tokens own `token:<hash>`): a session is reachable by its owner only, on every node. */
export const OWNER = 'owner-token-aaaaaaaaaaaaaaaa';
export const STRANGER = 'stranger-token-bbbbbbbbbbbbbbbb';
export const ADMIN = 'admin-token-cccccccccccccccc';
const ACCESS_TOKENS = `${OWNER}=control; ${STRANGER}=control; ${ADMIN}=admin`;

/** A node with those tokens and `extra` flags, SIGKILLed when the test `t` ends. */
export async function node(t: TestCleanup, redisUrl: string, extra: string[] = []): Promise<ServerProcess> {
  const dir = await tempDir(t);
  const server = await spawnServer(['--redis', redisUrl, '--idle-grace', '1', '--image-dir', dir, '--browser-allow-hosts', '127.0.0.1', '--access-tokens', ACCESS_TOKENS, ...extra]);
  t.after(() => killHard(server));
  return server;
}

/** A REST call with a token; status and parsed JSON body. */
export async function call(server: ServerProcess, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: await response.json() };
}
