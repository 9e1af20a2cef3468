import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { runProcess } from './run-process.js';
import { servingUrl } from './server-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/framehub.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runProcess(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd: ROOT });
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

describe('framehub CLI', () => {
  it('prints help with the commands', async () => {
    const { code, stdout } = await run(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /Usage: framehub <command>/);
    assert.match(stdout, /serve/);
  });

  it('prints serve help with every option and its environment name', async () => {
    const { code, stdout } = await run(['serve', '--help']);
    assert.equal(code, 0);
    for (const text of ['--port', '--host', '--config', 'WS_FRAME_RATE', 'WS_QUALITY', 'WS_MAX_CLIENTS', 'WS_PING_INTERVAL', 'SESSION_TIMEOUT']) {
      assert.ok(stdout.includes(text), `help mentions ${text}`);
    }
    // One column for the options, one for their descriptions, however long a flag is.
    const lines = stdout.split('\n').filter((line) => /^  -/.test(line));
    const columns = new Set(lines.map((line) => line.search(/\S {2,}\S/) + line.match(/\S {2,}/)![0].length));
    assert.equal(columns.size, 1, `descriptions start in one column:\n${lines.join('\n')}`);
  });

  it('refuses a bad flag value with a clear message and exit code 2', async () => {
    const { code, stderr } = await run(['serve', '--port', 'eighty']);
    assert.equal(code, 2);
    assert.match(stderr, /invalid configuration: --port must be an integer from 0 to 65535 \(got "eighty"\)/);
  });

  it('refuses a bad environment value with a clear message', async () => {
    const { code, stderr } = await run(['serve'], { WS_QUALITY: '500' });
    assert.equal(code, 2);
    assert.match(stderr, /WS_QUALITY must be an integer from 10 to 100 \(got "500"\)/);
  });

  it('refuses unknown flags and commands', async () => {
    const flag = await run(['serve', '--turbo']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /turbo/);
    const command = await run(['fly']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command "fly"/);
  });

  it('serves until SIGTERM, then exits cleanly', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1'], { cwd: ROOT });
    try {
      const url = await servingUrl(child);
      const health = await (await fetch(`${url}/healthz`)).json();
      assert.equal(health.status, 'ok');
    } finally {
      assert.equal(await stop(child), 0);
    }
  });

  it('passes `npm start -- --port` flags through to serve', async () => {
    const child = spawn('npm', ['start', '--silent', '--', '--port', '0', '--host', '127.0.0.1'], { cwd: ROOT, detached: true });
    try {
      const url = await servingUrl(child);
      const streams = await (await fetch(`${url}/api/streams`)).json();
      assert.equal(streams.streams[0].id, 'demo');
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        process.kill(-child.pid!, 'SIGTERM');
        await exited;
      }
    }
  });
});
