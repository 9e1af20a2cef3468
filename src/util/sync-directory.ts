import { open } from 'node:fs/promises';

/**
 * Makes new names and renames in `dir` durable (Linux: fsync on the directory): a file synced
 * to disk is not found after a crash unless the directory entry naming it is synced too.
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
