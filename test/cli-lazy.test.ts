// Each `framehub` command loads only what it uses: `collect` and `windows` start without the
// server's packages. The real CLI (bin/framehub.js on dist/) runs in a child process with a
// preloaded module that records every module it resolves (test/fixtures/module-trace).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { runProcess, type ProcessResult } from './run-process.js';
import { tempDir } from './temp-dir.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/framehub.js');
const TRACER = join(ROOT, 'test/fixtures/module-trace/register.mjs');

/** What only `serve` needs; issue 14 names these three. */
const SERVER_PACKAGES = ['fastify', 'sharp', 'playwright-core'];

/** A 1×1 PNG: enough for collect to recognise and count an image. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

interface TracedRun extends ProcessResult {
  /** Names of the npm packages the process resolved a module of (`ws`, `@fastify/multipart`). */
  packages: Set<string>;
  /** Every URL resolved, for the failure messages. */
  urls: string[];
}

/** The package a resolved URL belongs to: the path part after its last node_modules/. */
function packageOf(url: string): string | undefined {
  return /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(url)?.[1];
}

async function tracedRun(args: string[]): Promise<TracedRun> {
  const dir = await tempDir();
  const trace = join(dir.path, 'modules.txt');
  try {
    const run = await runProcess(process.execPath, ['--import', TRACER, BIN, ...args], {
      cwd: dir.path,
      env: { ...process.env, FRAMEHUB_MODULE_TRACE: trace },
    });
    const urls = existsSync(trace) ? (await readFile(trace, 'utf8')).split('\n').filter(Boolean) : [];
    const packages = new Set(urls.map(packageOf).filter((name): name is string => name !== undefined));
    return { ...run, packages, urls };
  } finally {
    await dir.cleanup();
  }
}

function assertNoServerPackages(run: TracedRun, what: string): void {
  const loaded = SERVER_PACKAGES.filter((name) => run.packages.has(name));
  assert.deepEqual(loaded, [], `${what} loaded ${loaded.join(', ')}; packages it loaded: ${[...run.packages].join(', ')}`);
}

describe('framehub commands load on demand', () => {
  before(async () => {
    // bin/framehub.js runs dist/: build it so this file also runs on its own.
    await new Promise<void>((resolve) => execFile(join(ROOT, 'node_modules/.bin/tsc'), ['-p', ROOT], () => resolve()));
    assert.ok(existsSync(join(ROOT, 'dist/cli/main.js')), 'dist/cli/main.js was not built');
  });

  it('the tracer sees the packages a command does load (serve --help loads the server)', async () => {
    const run = await tracedRun(['serve', '--help']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Usage: framehub serve/);
    assert.ok(run.urls.some((url) => url.endsWith('/dist/cli/main.js')), `trace lacks dist/cli/main.js:\n${run.urls.join('\n')}`);
    for (const name of ['fastify', 'sharp']) assert.ok(run.packages.has(name), `trace of serve --help lacks ${name}: ${[...run.packages].join(', ')}`);
  });

  it('collect --help loads neither Fastify, sharp nor playwright-core', async () => {
    const run = await tracedRun(['collect', '--help']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Usage: framehub collect/);
    assertNoServerPackages(run, 'framehub collect --help');
  });

  it('collect receiving and counting an image loads none of them either', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('error', () => {});
    wss.on('connection', function imageServerOnConnection(ws) {
      ws.on('error', () => {});
      ws.send(PNG);
    });
    await once(wss, 'listening');
    try {
      const { port } = wss.address() as AddressInfo;
      const run = await tracedRun(['collect', `ws://127.0.0.1:${port}/`, '--max', '1', '--no-save']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout + run.stderr, /png/i);
      assertNoServerPackages(run, 'framehub collect <url>');
    } finally {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  it('windows --help and the top-level help load none of them', async () => {
    for (const args of [['windows', '--help'], ['--help']]) {
      const run = await tracedRun(args);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /Usage: framehub/);
      assertNoServerPackages(run, `framehub ${args.join(' ')}`);
    }
  });
});
