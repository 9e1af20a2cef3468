import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs the real Chromium as another user (bin/framehub-chromium; src/ and dist/ are both two levels down). */
const WRAPPER = fileURLToPath(new URL('../../bin/framehub-chromium', import.meta.url));

/** How the browser is started: which binary, with the sandbox or not, in which environment. */
export interface BrowserLaunch {
  executablePath: string;
  /** Chromium's own sandbox (seccomp-bpf, namespaces) on; off only when it cannot work (root without a browser user). */
  sandbox: boolean;
  /** The browser's whole environment: none of framehub's (PRODUCER_TOKEN, JWT_SECRET, …). */
  env: Record<string, string>;
  /** The user the browser runs as, for logs. */
  user: string;
}

/**
 * Decides how Chromium runs. Not as root: as framehub's own user, sandbox on. As root, where
 * Chromium refuses its sandbox: as `browserUser` (created as a system user without a home or a
 * login shell if it does not exist), sandbox on. Only when that user can neither be found nor
 * made does the browser run as root without its sandbox, and `warn` says so.
 */
export async function browserLaunch(chromePath: string, browserUser: string, warn: (message: string) => void): Promise<BrowserLaunch> {
  // A private HOME: Chromium keeps its NSS database and caches there, not in framehub's.
  const home = mkdtempSync(join(tmpdir(), 'framehub-browser-home-'));
  const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, LANG: process.env['LANG'] ?? 'C.UTF-8' };
  if (process.env['TZ']) env['TZ'] = process.env['TZ'];
  if (process.getuid?.() !== 0) return { executablePath: chromePath, sandbox: true, env, user: 'framehub\'s own' };
  const ids = await userIds(browserUser);
  if (!ids) {
    warn(`browser sessions run as root WITHOUT Chromium's sandbox: user ${browserUser} (BROWSER_USER) could not be found or created`);
    return { executablePath: chromePath, sandbox: false, env, user: 'root' };
  }
  chownSync(home, ids.uid, ids.gid);
  return {
    executablePath: WRAPPER,
    sandbox: true,
    env: { ...env, FRAMEHUB_CHROME: chromePath, FRAMEHUB_BROWSER_UID: String(ids.uid), FRAMEHUB_BROWSER_GID: String(ids.gid) },
    user: browserUser,
  };
}

async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const lookup = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    // Not there yet: a system user of its own, no home, no login.
    try {
      await run('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
      return await lookup();
    } catch {
      // Another framehub may have made it at the same moment.
      return lookup().catch(() => undefined);
    }
  }
}
