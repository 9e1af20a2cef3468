import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What `node:test` hands a test: enough to remove its directory when it ends. */
export interface TestCleanup {
  after(fn: () => Promise<void>): void;
}

/**
 * A fresh directory under the system's temporary directory. Given the test context `t`, it is
 * removed when that test ends and the path is returned; without one, the caller removes it
 * with `cleanup()` (for a directory shared by a whole `describe`).
 */
export async function tempDir(t: TestCleanup): Promise<string>;
export async function tempDir(): Promise<{ path: string; cleanup(): Promise<void> }>;
export async function tempDir(t?: TestCleanup): Promise<string | { path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'framehub-test-'));
  // Retried: a process that just stopped may still be finishing a write into it.
  const cleanup = () => rm(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  if (!t) return { path, cleanup };
  t.after(cleanup);
  return path;
}
