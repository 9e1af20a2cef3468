import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';
import { WebSocket } from 'ws';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { sniffImage } from '../src/image/sniff.js';
import { startServer, type TestServer } from './helpers.js';
import { signalAndWait, spawnServer } from './server-process.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

/** A self-signed certificate for 127.0.0.1 and localhost, made now with openssl. */
async function makeCertificate(dir: string, name: string): Promise<{ cert: string; key: string; pem: string; fingerprint: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  const pem = readFileSync(cert, 'utf8');
  return { cert, key, pem, fingerprint: new (await import('node:crypto')).X509Certificate(pem).fingerprint256 };
}

/** The certificate a fresh TLS connection to `port` is served. */
async function servedFingerprint(port: number, ca: string | string[]): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  const fingerprint = socket.getPeerX509Certificate()!.fingerprint256;
  socket.destroy();
  return fingerprint;
}

describe('TLS: HTTPS and WSS on one port', () => {
  let dir: string;
  let first: Awaited<ReturnType<typeof makeCertificate>>;
  let s: TestServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'framehub-tls-'));
    first = await makeCertificate(dir, 'first');
    s = await startServer({ tlsCert: first.cert, tlsKey: first.key });
  });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the REST API over HTTPS to a client that trusts the certificate', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      https.get(`https://127.0.0.1:${s.port}/api/streams`, { ca: first.pem }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk) => (text += chunk)).on('end', () => resolve(text));
      }).on('error', reject);
    });
    assert.ok(Array.isArray(JSON.parse(body).streams ?? JSON.parse(body)), body);
  });

  it('does not answer plain HTTP on the TLS port', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get(`http://127.0.0.1:${s.port}/api/streams`, (res) => resolve(`status ${res.statusCode}`));
      req.on('error', (error) => resolve(`error ${(error as NodeJS.ErrnoException).code ?? error.message}`));
    });
    assert.match(outcome, /^(error|status 400)/);
  });

  it('streams frames over wss:// to the ws library', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${s.port}/stream/demo`, { ca: first.pem });
    ws.on('error', () => {});
    const [data, isBinary] = await once(ws, 'message') as [Buffer, boolean];
    const frame = isBinary ? data : Buffer.from(JSON.parse(data.toString()).data?.data_url?.split(',')[1] ?? '', 'base64');
    ws.close();
    assert.equal(sniffImage(frame)?.format, 'jpeg');
  });

  it('connects socket.io-client over wss:// and over HTTPS long-polling', async () => {
    for (const transports of [['websocket'], ['polling']] as const) {
      const socket = io(`https://127.0.0.1:${s.port}`, { transports: [...transports], ca: first.pem, reconnection: false });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        });
        assert.equal(socket.connected, true, transports[0]);
      } finally {
        socket.close();
      }
    }
  });

  it('serves the seeds/002 Python client over wss:// (its own websockets code, trusting the certificate through SSL_CERT_FILE)', async () => {
    const out = mkdtempSync(join(dir, 'py-'));
    const script = fileURLToPath(new URL('./fixtures/stream_client.py', import.meta.url));
    const { stdout } = await run(PYTHON, [script, `wss://127.0.0.1:${s.port}`, '3', out], { timeout: 60_000, env: { ...process.env, SSL_CERT_FILE: first.cert } });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(result.error, undefined, JSON.stringify(result.error));
    assert.equal(result.frames, 3);
  });

  it('serves a renewed certificate to new connections after reloadTls, and keeps the old one when the new files do not load', async () => {
    const second = await makeCertificate(dir, 'second');
    assert.equal(await servedFingerprint(s.port, first.pem), first.fingerprint);
    // The files the server was started with are replaced in place, as a renewal does.
    await run('cp', [second.cert, first.cert]);
    await run('cp', [second.key, first.key]);
    assert.equal(await s.server.reloadTls(), true);
    assert.equal(await servedFingerprint(s.port, [first.pem, second.pem]), second.fingerprint);
    // A half-written renewal: the reload throws and the server goes on with what it had.
    await run('sh', ['-c', `echo broken > ${first.key}`]);
    await assert.rejects(s.server.reloadTls());
    assert.equal(await servedFingerprint(s.port, [first.pem, second.pem]), second.fingerprint);
  });
});

describe('TLS settings', () => {
  it('refuses a certificate without a key (and a key without a certificate)', () => {
    assert.throws(() => loadConfig({ overrides: { tlsCert: '/x.crt' } }), ConfigError);
    assert.throws(() => loadConfig({ env: { TLS_KEY: '/x.key' } }), ConfigError);
  });

  it('reloads the certificate on SIGHUP in `framehub serve`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'framehub-tls-'));
    const first = await makeCertificate(dir, 'first');
    const second = await makeCertificate(dir, 'second');
    const server = await spawnServer(['--tls-cert', first.cert, '--tls-key', first.key]);
    try {
      const port = Number(new URL(server.http).port);
      assert.match(server.http, /^https:/);
      assert.equal(await servedFingerprint(port, first.pem), first.fingerprint);
      await run('cp', [second.cert, first.cert]);
      await run('cp', [second.key, first.key]);
      server.child.kill('SIGHUP');
      await server.printed(/TLS certificate and key reloaded/);
      assert.equal(await servedFingerprint(port, [first.pem, second.pem]), second.fingerprint);
      const exit = await signalAndWait(server, 'SIGTERM');
      assert.equal(exit.code, 0);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
