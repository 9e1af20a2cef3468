import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { once } from 'node:events';
import { GuardProxy } from '../src/sessions/guard-proxy.js';
import { checkResponseHead } from '../src/sessions/proxy-headers.js';
import { UrlGuard } from '../src/sessions/url-guard.js';
import { startHostileUpstream, type HostilePath, type HostileUpstream } from './hostile-upstream.js';
import { withTimeout as within } from './wait.js';

/** The documented header on the proxy's own 502/504 (docs/sessions.md), naming the fault. */
const UPSTREAM_ERROR = 'x-framehub-upstream-error';
/** How long any hostile case may take end to end; the proxy's idle timeout is 500 ms here. */
const BOUND_MS = 3000;

interface Proxied {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body arrived whole (`false`: the proxy cut the response). */
  complete: boolean;
  ms: number;
}

// Keep-alive like Chromium: a response the proxy leaves open would hang, not end with the socket.
const agent = new Agent({ keepAlive: true });

/** GETs `target` through the forward proxy at `proxy`, as a browser configured with it would. */
function viaProxy(proxy: string, target: string, headers: Record<string, string> = {}, onData?: (req: ReturnType<typeof request>) => void): Promise<Proxied> {
  const started = performance.now();
  const answered = new Promise<Proxied>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: new URL(proxy).port, path: target, headers: { host: new URL(target).host, ...headers }, agent });
    req.on('error', reject);
    req.on('response', function viaProxyOnResponse(res) {
      const chunks: Buffer[] = [];
      res.on('error', function viaProxyResponseOnError() {});
      res.on('data', function viaProxyOnData(chunk: Buffer) {
        chunks.push(chunk);
        onData?.(req);
      });
      res.on('close', function viaProxyResponseOnClose() {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete, ms: performance.now() - started });
      });
    });
    req.end();
  });
  return within(answered, BOUND_MS + 2000, `the proxy's answer for ${target}`);
}

describe('guard proxy against hostile upstreams', () => {
  let upstream: HostileUpstream;
  let proxy: GuardProxy;
  let proxyUrl: string;

  before(async () => {
    upstream = await startHostileUpstream();
    proxy = new GuardProxy(new UrlGuard('127.0.0.1'), { idleTimeoutMs: 500 });
    proxyUrl = await proxy.listen();
  });
  after(async () => {
    agent.destroy();
    await proxy?.close();
    await upstream?.close();
  });

  const malformed: Array<[HostilePath, number, string]> = [
    ['/status-099', 502, 'status'],
    ['/status-101', 502, 'status'],
    ['/status-600', 502, 'status'],
    ['/status-999', 502, 'status'],
    ['/status-text-control', 502, 'status-text'],
    ['/status-line-garbage', 502, 'malformed'],
    ['/header-name-invalid', 502, 'malformed'],
    ['/header-name-control', 502, 'malformed'],
    ['/header-value-control', 502, 'malformed'],
    ['/header-value-del', 502, 'malformed'],
    ['/content-length-duplicate', 502, 'malformed'],
    ['/content-length-and-chunked', 502, 'malformed'],
    ['/content-length-invalid', 502, 'malformed'],
    ['/huge-headers', 502, 'malformed'],
    ['/huge-header-count', 502, 'malformed'],
    ['/reset', 502, 'closed'],
    ['/silent', 504, 'timeout'],
  ];
  for (const [path, status, fault] of malformed) {
    it(`answers ${status} (${fault}) with a short plain body for ${path}`, async (t) => {
      const answer = await viaProxy(proxyUrl, upstream.url(path));
      t.diagnostic(`${path}: ${answer.status} ${answer.headers[UPSTREAM_ERROR]} after ${answer.ms.toFixed(1)} ms`);
      assert.equal(answer.status, status);
      assert.equal(answer.headers[UPSTREAM_ERROR], fault);
      assert.match(String(answer.headers['content-type']), /^text\/plain/);
      assert.ok(answer.complete && answer.body.length > 0 && answer.body.length < 200, answer.body.toString());
      assert.equal(answer.headers['x-framehub-refused'], undefined, 'not a refusal by the URL guard');
      assert.ok(answer.ms < BOUND_MS, `${Math.round(answer.ms)} ms`);
    });
  }

  it('answers 502 (unreachable) for a site that refuses the connection', async () => {
    const gone = await startHostileUpstream();
    await gone.close();
    const answer = await viaProxy(proxyUrl, `${gone.origin}/`);
    assert.equal(answer.status, 502);
    assert.equal(answer.headers[UPSTREAM_ERROR], 'unreachable');
  });

  it('passes the final answer on after interim 1xx answers', async () => {
    const answer = await viaProxy(proxyUrl, upstream.url('/interim-then-ok'));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), 'hi');
    assert.equal(answer.complete, true);
  });

  it('cuts a body that stalls mid-way after the idle timeout', async (t) => {
    const answer = await viaProxy(proxyUrl, upstream.url('/stall-mid-body'));
    t.diagnostic(`/stall-mid-body: ${answer.status}, ${answer.body.length} bytes, cut after ${answer.ms.toFixed(1)} ms`);
    assert.equal(answer.status, 200);
    assert.equal(answer.complete, false);
    assert.equal(answer.body.toString(), '0123456789');
    assert.ok(answer.ms >= 450 && answer.ms < BOUND_MS, `${Math.round(answer.ms)} ms`);
  });

  const cutMidBody: HostilePath[] = ['/truncated', '/truncated-html', '/truncated-chunked', '/bad-chunk', '/chunk-overflow', '/reset-mid-body'];
  for (const path of cutMidBody) {
    it(`ends the response at once, incomplete, when the body breaks off (${path})`, async (t) => {
      const answer = await viaProxy(proxyUrl, upstream.url(path));
      t.diagnostic(`${path}: ${answer.status}, ${answer.body.length} bytes, cut after ${answer.ms.toFixed(1)} ms`);
      assert.equal(answer.status, 200);
      assert.equal(answer.complete, false, 'the page must see a broken body, not a short one');
      // Well under the idle timeout's multiple: the break itself ends it, not a timer.
      assert.ok(answer.ms < 400, `${Math.round(answer.ms)} ms`);
    });
  }

  it('closes the upstream connection when the page stops reading an endless body', async () => {
    await within(upstream.whenIdle(), BOUND_MS, 'earlier cases to close their upstream connections');
    let received = 0;
    const answer = await viaProxy(proxyUrl, upstream.url('/endless'), {}, (req) => {
      received++;
      if (received === 20) req.destroy();
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.complete, false);
    await within(upstream.whenIdle(), 2000, 'the endless upstream to be closed');
  });

  it('stops reading an endless body while the page does not read it (backpressure, no buffering)', async (t) => {
    await within(upstream.whenIdle(), BOUND_MS, 'earlier cases to close their upstream connections');
    const { port } = new URL(proxyUrl);
    const socket = connectTcp(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.pause();
    const sentBefore = upstream.bytesSent;
    socket.write(`GET ${upstream.url('/endless')} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`);
    // "The upstream stopped sending" has no event: sample until two readings 200 ms apart agree.
    let last = -1;
    let sent = 0;
    for (let i = 0; i < 50 && sent !== last; i++) {
      last = sent;
      await new Promise((resolve) => setTimeout(resolve, 200));
      sent = upstream.bytesSent - sentBefore;
    }
    assert.equal(sent, last, 'the upstream is held back while the page reads nothing');
    // Kernel buffers on two loopback connections plus the proxy's stream buffers: a few MiB at most.
    assert.ok(sent < 32 * 1024 * 1024, `${(sent / 1048576).toFixed(1)} MiB sent towards one paused reader`);
    t.diagnostic(`/endless, page not reading: the site stalled after ${(sent / 1048576).toFixed(1)} MiB`);
    socket.destroy();
    await within(upstream.whenIdle(), 2000, 'the endless upstream to be closed');
  });

  it('drops hop-by-hop and framehub-reserved headers from the answer, keeps the rest', async () => {
    const answer = await viaProxy(proxyUrl, upstream.url('/header-reserved'));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), 'hi');
    assert.equal(answer.headers['x-kept'], 'yes');
    for (const name of ['x-framehub-refused', 'x-framehub-upstream-error', 'proxy-authenticate', 'x-hop']) {
      assert.equal(answer.headers[name], undefined, `${name} must not reach the page`);
    }
  });

  it('drops hop-by-hop and framehub-reserved headers from the request, and sends the checked host', async () => {
    const answer = await viaProxy(proxyUrl, upstream.url('/echo-headers'), {
      'proxy-authorization': 'Basic c2VjcmV0',
      'x-framehub-refused': 'spoofed',
      connection: 'keep-alive, x-secret',
      'x-secret': 'hop',
      'x-kept': 'yes',
      host: 'elsewhere.example',
    });
    const head = answer.body.toString().toLowerCase();
    assert.match(head, /^get \/echo-headers http\/1.1\r\n/);
    assert.match(head, /\r\nx-kept: yes\r\n/);
    assert.match(head, new RegExp(`\\r\\nhost: 127.0.0.1:${upstream.port}\\r\\n`));
    for (const name of ['proxy-authorization', 'x-framehub-refused', 'x-secret', 'elsewhere.example']) {
      assert.ok(!head.includes(name), `${name} must not reach the site:\n${head}`);
    }
  });

  it('refuses, as a fault of its own kind, a head that only the header validators catch', () => {
    // Node's parser refuses these on the wire first; the check must not rely on it.
    assert.equal(checkResponseHead(200, 'OK', ['X-Ok', 'a', 'X-Bad', 'a\u0001b']), 'header');
    assert.equal(checkResponseHead(200, 'OK', ['Bad Name', 'a']), 'header');
    assert.equal(checkResponseHead(200, 'O\nK', []), 'status-text');
    assert.equal(checkResponseHead(99, 'Oops', []), 'status');
    assert.equal(checkResponseHead(600, 'Beyond', []), 'status');
    assert.equal(checkResponseHead(101, 'Switching Protocols', []), 'status');
    assert.deepEqual(checkResponseHead(404, 'Not Found', ['Content-Length', '0', 'Connection', 'close, X-Hop', 'X-Hop', '1', 'X-Framehub-Refused', 'x']), {
      status: 404, statusText: 'Not Found', headers: ['Content-Length', '0'],
    });
  });

  it('still serves a well-formed page after all of that', async () => {
    const answer = await viaProxy(proxyUrl, upstream.url('/ok'));
    assert.equal(answer.status, 200);
    assert.equal(answer.complete, true);
    assert.match(answer.body.toString(), /<title>ok<\/title>/);
  });

  it('answers a CONNECT to a port nobody listens on with 502, and keeps tunnelling afterwards', async () => {
    const { port } = new URL(proxyUrl);
    async function tunnel(target: string): Promise<string> {
      const socket = connectTcp(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      const [chunk] = (await within(once(socket, 'data'), BOUND_MS, `the CONNECT answer for ${target}`)) as [Buffer];
      const status = chunk.toString('latin1').split('\r\n')[0]!;
      if (status.includes(' 200 ')) {
        // Through the tunnel, the upstream's reset must close the page's side too.
        socket.write('GET /reset HTTP/1.1\r\nHost: x\r\n\r\n');
        await within(once(socket, 'close'), BOUND_MS, 'the tunnel to close after the upstream reset');
      }
      socket.destroy();
      return status;
    }
    // A port that was free a moment ago: closed, so connecting is refused.
    const closed = await startHostileUpstream();
    await closed.close();
    assert.match(await tunnel(`127.0.0.1:${closed.port}`), /^HTTP\/1.1 502 /);
    assert.match(await tunnel(`127.0.0.1:${upstream.port}`), /^HTTP\/1.1 200 /);
  });
});
